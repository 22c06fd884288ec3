"""Shared test configuration.

* Every async test runs twice: on the stdlib event loop and on uvloop (when installed).
* Every async test runs under blockbuster: a blocking call (sync file or socket I/O,
  ``time.sleep``...) made by blobflow code on the event loop thread fails the test.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
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
        yield bb


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


@pytest.fixture
async def server(tmp_path: Path) -> Any:
    """An in-process blobflow reference server on a fresh data dir (a ``ServerHandle``)."""
    from blobflow.server import serve_in_process

    async with serve_in_process(tmp_path / "server-data", token="test-token") as handle:
        yield handle
