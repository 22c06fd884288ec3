"""Fixtures of the engine tests: blobs on disk, an Api on the reference server, a proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from blobflow.api import Api, DatasetInfo, ProjectInfo

from ._helpers import Blob, Faults, make_blob


@pytest.fixture
def blob_factory(tmp_path: Path) -> Callable[..., Blob]:
    def make(stem: str, n: int, **kw: Any) -> Blob:
        return make_blob(tmp_path / "local", stem, n, **kw)

    return make


@pytest.fixture
async def dataset(api: Api, server: Any) -> tuple[ProjectInfo, DatasetInfo]:
    project = await api.project.create(server.workspace_id, "p", change_name_if_conflict=True)
    assert project.id is not None
    ds = await api.dataset.create(project.id, "ds")
    return project, ds


FAULTS = web.AppKey("faults", Faults)
UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def _forward(request: web.Request) -> web.StreamResponse:
    faults = request.app[FAULTS]
    method = request.match_info["method"]
    faults.seen.append(method)
    fault = faults.next(method)
    if fault == "503":
        return web.json_response({"error": "injected"}, status=503)
    body = await request.read()
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() in ("x-api-key", "content-type", "range")
    }
    url = f"{request.app[UPSTREAM]}/public/api/v3/{method}"
    async with request.app[SESSION].request(
        request.method, url, data=body, headers=headers, params=request.query
    ) as up:
        payload = await up.read()
        if fault == "drop_answer":  # the server did the work; the client never hears back
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        resp = web.StreamResponse(status=up.status)
        for k in ("Content-Type", "Content-Range", "x-content-checksum-sha256"):
            if k in up.headers:
                resp.headers[k] = up.headers[k]
        resp.content_length = len(payload)
        await resp.prepare(request)
        if fault == "cut":  # half the body, then the connection drops
            await resp.write(payload[: len(payload) // 2])
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write(payload)
        await resp.write_eof()
        return resp


@pytest.fixture
async def proxy(server: Any) -> AsyncIterator[tuple[str, Faults]]:
    """A fault-injecting HTTP proxy in front of the reference server."""
    app = web.Application(client_max_size=1024**3)
    faults = Faults()
    app[FAULTS] = faults
    app[UPSTREAM] = server.address
    app.router.add_route("*", "/public/api/v3/{method}", _forward)
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        app[SESSION] = session
        ts = TestServer(app)
        await ts.start_server()
        try:
            yield str(ts.make_url("")).rstrip("/"), faults
        finally:
            await ts.close()
