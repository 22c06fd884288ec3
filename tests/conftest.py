"""Shared test configuration.

* Every async test runs twice: on the stdlib event loop and on uvloop (when installed).
* Every async test runs under blockbuster: a blocking call (sync file or socket I/O,
  ``time.sleep``...) made by blobflow code on the event loop thread fails the test.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import hypothesis  # imported early: see below
import pytest
from blockbuster import blockbuster_ctx

# hypothesis's pytest plugin imports hypothesis at the terminal summary when no test did. On
# CPython 3.11.7 that late import, deep in pluggy's stack, trips gh-106905 (fixed in 3.11.8):
# "SystemError: AST constructor recursion depth mismatch" after every test of a partial run
# (tests/project tests/cli) passed. Importing it here, at the top of the stack, avoids it.

# Property tests check results, not speed: on a shared 2-core machine (and in CI) example
# generation and runs can be slow, which hypothesis's deadline and too_slow check report as
# failures. One profile for every @given test.
hypothesis.settings.register_profile(
    "blobflow", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("blobflow")

# Files the official SDK wrote, and the seed tutorial, kept inside the repository so a fresh clone
# needs nothing beside it. tests/test_fixture_copies.py checks them against ../shared when present.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SDK_FIXTURES = FIXTURES / "sdk"
SEED_TUTORIAL = FIXTURES / "seed" / "optimized-import-of-small-images.md"


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories


@pytest.fixture(autouse=True)
def no_blocking_calls(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Fail an async test when blobflow code blocks the event loop thread."""
    if not inspect.iscoroutinefunction(getattr(request.node, "function", None)):
        yield None
        return
    if request.node.get_closest_marker("allow_blocking"):
        yield None
        return
    with blockbuster_ctx(["blobflow"]) as bb:
        for function in bb.functions.values():
            for filename, names in THIRD_PARTY_SETUP:
                function.can_block_in(filename, names)
        yield bb


# Drivers of the scale-out backends that touch a few local files when they connect: asyncpg
# looks for ~/.pgpass and ~/.postgresql/*, botocore reads its bundled service models. That
# happens once per pooled connection or client (at start-up), in the library, not per request.
THIRD_PARTY_SETUP: list[tuple[str, set[str]]] = [
    ("asyncpg/connect_utils.py", {"_parse_connect_dsn_and_args"}),
    ("botocore/loaders.py", {"load_service_model", "load_data_with_path", "load_data",
                             "list_available_services", "list_api_versions"}),
    ("aiobotocore/session.py", {"_create_client"}),
]


@pytest.fixture(scope="session")
def sdk_fixtures() -> Path:
    """Files written by the official SDK (read-only ground truth)."""
    return SDK_FIXTURES


# --- server fixtures (owned by the server engineer) ----------------------------------------


class ThreadServer:
    """The reference server on its own event loop in a background thread: for synchronous
    code under test (the CLI, ``blobflow.sly``), which runs its own loops in the test thread."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self.handle: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(data_dir,), daemon=True)

    def _run(self, data_dir: Path) -> None:
        from blobflow.server import serve_in_process

        async def serve() -> None:
            self._stop = asyncio.Event()
            try:
                async with serve_in_process(data_dir, token="thread-token") as handle:
                    self.handle = handle
                    self._started.set()
                    await self._stop.wait()
            except BaseException as exc:  # surface start-up failures to the test
                self.error = exc
                self._started.set()

        self.loop.run_until_complete(serve())

    def __enter__(self) -> Any:
        self.thread.start()
        self._started.wait(30)
        if self.error is not None:
            raise self.error
        return self.handle

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)
        self.loop.close()



@pytest.fixture
def thread_server(tmp_path: Path) -> Iterator[Any]:
    """A :class:`ThreadServer` on a fresh data dir; yields its ``ServerHandle``."""
    with ThreadServer(tmp_path / "server-data") as handle:
        yield handle


# The server suites run on each storage backend: the embedded default (SQLite + files in the
# data dir) and the scale-out one (PostgreSQL + S3-compatible storage) when the services are
# given: BLOBFLOW_TEST_DB=postgresql://... and BLOBFLOW_TEST_S3=s3://bucket (with the AWS_*
# variables). Without them the scale-out runs skip, unless BLOBFLOW_REQUIRE_SCALE=1 (CI), where
# a missing service fails them.
BACKENDS = ["embedded", "pg+s3"]


def scale_settings() -> tuple[str, str] | None:
    """``(db_url, s3_url)`` of the test services, ``None`` (skip) or a failure (CI)."""
    db, s3 = os.environ.get("BLOBFLOW_TEST_DB"), os.environ.get("BLOBFLOW_TEST_S3")
    if db and s3:
        return db, s3
    if os.environ.get("BLOBFLOW_REQUIRE_SCALE") == "1":
        pytest.fail("BLOBFLOW_REQUIRE_SCALE=1 but BLOBFLOW_TEST_DB / BLOBFLOW_TEST_S3 are unset")
    pytest.skip("no PostgreSQL + S3 test services (BLOBFLOW_TEST_DB, BLOBFLOW_TEST_S3)")


async def _pg_admin(db_url: str, statement: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(db_url)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def _create_backend(db_url: str, s3_url: str) -> dict[str, Any]:
    from aiobotocore.session import get_session

    name = f"t{uuid.uuid4().hex[:16]}"
    bucket = s3_url[len("s3://"):].split("/", 1)[0]
    await _pg_admin(db_url, f"CREATE SCHEMA {name}")
    async with get_session().create_client("s3") as s3:
        with suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            await s3.create_bucket(Bucket=bucket)
    sep = "&" if "?" in db_url else "?"
    return {"db_url": f"{db_url}{sep}search_path={name}", "storage_url": f"s3://{bucket}/{name}"}


async def _drop_backend(db_url: str, urls: dict[str, Any]) -> None:
    from aiobotocore.session import get_session

    bucket, _, name = urls["storage_url"][len("s3://"):].partition("/")
    await _pg_admin(db_url, f"DROP SCHEMA {name} CASCADE")
    async with get_session().create_client("s3") as s3:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=name + "/")
        async for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                await s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


@asynccontextmanager
async def scale_backend() -> AsyncIterator[dict[str, Any]]:
    """A fresh PostgreSQL schema and S3 prefix for one server (or several sharing them):
    the ``db_url`` and ``storage_url`` keywords of ``serve_in_process``; removed afterwards."""
    settings = scale_settings()
    assert settings is not None
    urls = await _create_backend(*settings)
    try:
        yield urls
    finally:
        await _drop_backend(settings[0], urls)


@contextmanager
def scale_backend_sync() -> Iterator[dict[str, Any]]:
    """:func:`scale_backend` for synchronous (session) fixtures."""
    settings = scale_settings()
    assert settings is not None
    urls = asyncio.run(_create_backend(*settings))
    try:
        yield urls
    finally:
        asyncio.run(_drop_backend(settings[0], urls))


@pytest.fixture(scope="session", name="scale_backend_sync")
def _scale_backend_sync_fixture() -> Callable[[], Any]:
    """:func:`scale_backend_sync`, for conftests that cannot import this module."""
    return scale_backend_sync


@pytest.fixture(scope="session", params=BACKENDS)
def session_backend(request: pytest.FixtureRequest) -> str:
    """One run per entry of :data:`BACKENDS`, for session-scoped servers."""
    return str(request.param)


@pytest.fixture
async def scale_urls() -> AsyncIterator[dict[str, Any]]:
    """A fresh PostgreSQL schema and S3 prefix for several nodes to share (skips, or fails
    under BLOBFLOW_REQUIRE_SCALE=1, without the services)."""
    async with scale_backend() as urls:
        yield urls


@pytest.fixture
def backend() -> str:
    """The backend of the ``server`` fixture; the server suites (tests/server,
    tests/reliability) override it with ``each_backend``."""
    return "embedded"


@pytest.fixture(params=BACKENDS)
def each_backend(request: pytest.FixtureRequest) -> str:
    """One run per entry of :data:`BACKENDS`."""
    return str(request.param)


@pytest.fixture
async def backend_urls(backend: str) -> AsyncIterator[dict[str, Any]]:
    """The ``db_url``/``storage_url`` keywords (of ``serve_in_process`` and ``ServerProcess``)
    for ``backend``: none for the embedded one, a fresh schema and prefix for pg+s3."""
    if backend == "embedded":
        yield {}
        return
    async with scale_backend() as urls:
        yield urls


@pytest.fixture
async def server(backend_urls: dict[str, Any], tmp_path: Path) -> Any:
    """An in-process blobflow reference server on a fresh data dir (a ``ServerHandle``) on
    ``backend``."""
    from blobflow.server import serve_in_process

    async with serve_in_process(
        tmp_path / "server-data", token="test-token", **backend_urls
    ) as handle:
        yield handle


@pytest.fixture
async def api(server: Any) -> AsyncIterator[Any]:
    """A :class:`blobflow.Api` on the ``server`` fixture, with fast retries (``FAST``)."""
    from blobflow.api import Api

    from ._helpers import FAST

    async with Api(server.address, server.token, FAST) as client:
        yield client
