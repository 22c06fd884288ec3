"""``Api``: the async client object, its groups, and paginated listing."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from blobflow._config import TransferConfig
from blobflow._gc import gc_paused
from blobflow._portal import Portal, owned_portal, portal_for
from blobflow.api._transport import HttpTransport, Transport

__all__ = ["Api", "SemaphoreKind", "normalize_address", "portal_of", "read_env_file"]

T = TypeVar("T")
#: the shared concurrency limits of an Api, each sized by ``TransferConfig.<kind>_concurrency``
SemaphoreKind = Literal["request", "registration", "download", "upload"]


def normalize_address(address: str) -> str:
    """Strip slashes; prepend ``http://`` when no scheme is given (as the SDK)."""
    address = address.strip().strip("/")
    if not address.startswith(("http://", "https://")):
        address = "http://" + address
    return address


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file (comments, ``export`` and quotes allowed)."""
    values: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class Api:
    """Async client for the Supervisely public API v3 (and ``blobflow serve``).

    ::

        async with Api("http://127.0.0.1:8000", token) as api:
            project = await api.project.create(workspace_id, "demo", change_name_if_conflict=True)

    One ``aiohttp.ClientSession`` (created on first use, closed by ``async with`` or
    :meth:`close`) carries every request; ``config`` sets pool size, timeouts, retries and
    concurrency. ``transport`` replaces the HTTP layer (tests, proxies).
    """

    def __init__(
        self,
        server_address: str | None = None,
        token: str | None = None,
        config: TransferConfig | None = None,
        *,
        transport: Transport | None = None,
    ) -> None:
        server_address = server_address or os.environ.get("SERVER_ADDRESS")
        if not server_address:
            raise ValueError("Api needs a server address (argument or env SERVER_ADDRESS)")
        self.server_address = normalize_address(server_address)
        self.token = token if token is not None else os.environ.get("API_TOKEN")
        self.config = config or TransferConfig()
        api_server = os.environ.get("SUPERVISELY_API_SERVER_ADDRESS")
        base = normalize_address(api_server) if api_server else self.server_address + "/public/api"
        headers = {"x-api-key": self.token} if self.token else {}
        task_id = os.environ.get("SUPERVISELY_TASK_ID")
        if task_id:
            headers["x-task-id"] = task_id
        self.transport: Transport = transport or HttpTransport(base + "/v3", headers, self.config)
        self._sems: dict[SemaphoreKind, asyncio.Semaphore] = {}

        from blobflow.api._annotation import AnnotationApi
        from blobflow.api._dataset import DatasetApi
        from blobflow.api._file import FileApi
        from blobflow.api._image import ImageApi
        from blobflow.api._project import ProjectApi
        from blobflow.api._team import TeamApi, WorkspaceApi

        self.file = FileApi(self)
        self.team = TeamApi(self)
        self.workspace = WorkspaceApi(self)
        self.project = ProjectApi(self)
        self.dataset = DatasetApi(self)
        self.image = ImageApi(self)
        self.annotation = AnnotationApi(self)

    @classmethod
    def from_env(
        cls,
        env_file: str | os.PathLike[str] = "~/supervisely.env",
        config: TransferConfig | None = None,
    ) -> Api:
        """Read ``SERVER_ADDRESS`` / ``API_TOKEN``; in development (env ``ENV`` != production)
        fill missing ones from ``env_file``; set variables win. Unlike the SDK, the process
        environment is left unchanged.
        """
        names = ("SERVER_ADDRESS", "API_TOKEN")
        values = {n: os.environ.get(n, "") for n in names}
        if not all(values.values()):
            if os.environ.get("ENV", "development") == "production":
                raise ValueError("SERVER_ADDRESS and API_TOKEN must be set in production")
            path = Path(env_file).expanduser()
            if not str(path).endswith(".env"):
                raise ValueError(f"env file must end with .env: {path}")
            if not path.is_file():
                raise FileNotFoundError(f"env file not found: {path}")
            # Filled locally, never into os.environ: reading a file must not leak
            # credentials into the rest of the process (or into subprocesses).
            from_file = read_env_file(path)
            values = {n: values[n] or from_file.get(n, "") for n in names}
        missing = [n for n in names if not values[n]]
        if missing:
            raise KeyError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(values["SERVER_ADDRESS"], values["API_TOKEN"], config)

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        portal = owned_portal(self)
        if portal is not None and not portal.in_portal_thread():
            # Synchronous calls ran this client on its portal's loop: its session lives there
            # and is closed there (the portal awaits ``transport.aclose`` before stopping).
            await asyncio.to_thread(portal.close)
            return
        await self.transport.aclose()

    # -- helpers shared by the groups -------------------------------------------------------

    async def post(self, method: str, body: Any, **kw: Any) -> Any:
        """POST a JSON body to ``<api>/v3/<method>`` and return the decoded JSON."""
        return await self.transport.post_json(method, body, **kw)

    def semaphore(self, kind: SemaphoreKind) -> asyncio.Semaphore:
        """One shared semaphore per kind, sized by ``config.<kind>_concurrency``."""
        sem = self._sems.get(kind)
        if sem is None:
            size = {
                "request": self.config.request_concurrency,
                "registration": self.config.registration_concurrency,
                "download": self.config.download_concurrency,
                "upload": self.config.upload_concurrency,
            }[kind]
            sem = self._sems[kind] = asyncio.Semaphore(size)
        return sem

    async def gather_limited(
        self, coros: Iterable[Awaitable[T]], kind: SemaphoreKind = "request"
    ) -> list[T]:
        """Run ``coros`` concurrently under the ``kind`` semaphore; results in order."""
        sem = self.semaphore(kind)

        async def one(c: Awaitable[T]) -> T:
            try:
                async with sem:
                    return await c
            finally:
                if inspect.iscoroutine(c):
                    c.close()  # cancelled before it started: no "never awaited" warning

        # On the first failure cancel the siblings: a failed job must not leave requests
        # running behind it (they would outlive the Api and re-open its session).
        with gc_paused(self.config.pause_gc):
            tasks = [asyncio.ensure_future(one(c)) for c in coros]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    async def list_pages(self, method: str, body: dict[str, Any]) -> AsyncIterator[list[Any]]:
        """Yield the entity pages of a paginated list call, in order (the SDK's protocol).

        The first page tells ``pagesCount`` and ``perPage``; up to ``config.list_prefetch`` next
        pages are requested while the caller works on the current one.
        """
        body = dict(body)
        if "sort" not in body:
            body["sort"], body["sort_order"] = "id", "asc"
        first = await self.post(method, body)
        entities = list(first.get("entities") or [])
        yield entities
        pages = int(first.get("pagesCount") or 1)
        total = first.get("total")
        if pages <= 1 and (total is None or len(entities) >= int(total)):
            return
        per_page = first.get("perPage") or len(entities)
        ahead: deque[asyncio.Task[Any]] = deque()
        nxt = 2

        def refill() -> None:
            nonlocal nxt
            while nxt <= pages and len(ahead) < self.config.list_prefetch:
                page_body = {**body, "page": nxt, "per_page": per_page}
                ahead.append(asyncio.ensure_future(self.post(method, page_body)))
                nxt += 1

        try:
            refill()
            while ahead:
                data = await ahead.popleft()
                refill()
                yield list(data.get("entities") or [])
        finally:
            for task in ahead:
                task.cancel()
            await asyncio.gather(*ahead, return_exceptions=True)

    async def list_all(self, method: str, body: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        async for page in self.list_pages(method, body):
            out.extend(page)
        return out


def portal_of(api: object) -> Portal:
    """The private event loop (in its own thread) that synchronous callers run ``api`` on.

    One per ``Api``, created on first use, so the client's session and semaphores stay on one
    loop across any number of synchronous calls; it closes (closing the session there) with
    ``await api.close()``, when ``api`` is garbage-collected, or at interpreter exit.
    """
    if not isinstance(api, Api):
        raise TypeError(
            f"api must be a blobflow Api, not {type(api).__name__}: "
            "pass Api(server_address, token) or Api.from_env()"
        )
    return portal_for(api, api.transport.aclose)
