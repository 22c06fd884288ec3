"""The server inside the caller's event loop, on a free port (tests, benchmarks, apps)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from blobflow.server._app import create_app
from blobflow.server._context import STATE, ServerConfig
from blobflow.server._db import add_tenant

__all__ = ["ServerHandle", "serve_in_process"]


@dataclass
class ServerHandle:
    """Where a running server is and how to talk to it."""

    address: str
    token: str
    team_id: int
    workspace_id: int
    data_dir: Path
    _app: web.Application | None = field(default=None, repr=False)

    async def add_tenant(self, token: str) -> tuple[int, int]:
        """Register another user (own team and workspace) for ``token``:
        returns ``(team_id, workspace_id)``."""
        if self._app is None:
            raise RuntimeError("the server is not running")
        tenant = await self._app[STATE].db.write(add_tenant, token)
        return tenant.team_id, tenant.workspace_id


async def start_site(config: ServerConfig) -> tuple[web.AppRunner, ServerHandle]:
    """Build the app, listen, and describe the running server."""
    app = await create_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    port = runner.addresses[0][1]
    host = f"[{config.host}]" if ":" in config.host else config.host
    admin = app[STATE].admin
    handle = ServerHandle(
        f"http://{host}:{port}", admin.token, admin.team_id, admin.workspace_id,
        config.data_dir, app,
    )
    return runner, handle


@asynccontextmanager
async def serve_in_process(  # noqa: PLR0913 - the server's options, as `blobflow serve`'s
    data_dir: str | Path | None = None,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float = 0,
    bandwidth_mbps: float | None = None,
    db_url: str | None = None,
    storage_url: str | None = None,
    startup_timeout_s: float = 30.0,
    sweep_grace_s: float | None = None,
    sweep_interval_s: float = 0.0,
) -> AsyncIterator[ServerHandle]:
    """Run the reference server in this event loop; yields its :class:`ServerHandle`.

    Without ``data_dir`` the data lives in a temporary directory removed on exit.
    ``db_url``/``storage_url`` select the scale-out backends (see ``blobflow serve --db``).
    """
    loop = asyncio.get_running_loop()
    temp = None
    if data_dir is None:
        temp = await loop.run_in_executor(None, tempfile.mkdtemp, None, "blobflow-server-")
        data_dir = temp
    config = ServerConfig(
        Path(data_dir), token=token, host=host, port=port, latency_ms=latency_ms,
        bandwidth_mbps=bandwidth_mbps, db_url=db_url, storage_url=storage_url,
        startup_timeout_s=startup_timeout_s, sweep_grace_s=sweep_grace_s,
        sweep_interval_s=sweep_interval_s,
    )
    try:
        runner, handle = await start_site(config)
        try:
            yield handle
        finally:
            handle._app = None
            await runner.cleanup()
    finally:
        if temp is not None:
            await loop.run_in_executor(None, shutil.rmtree, temp, True)
