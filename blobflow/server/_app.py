"""The aiohttp application: routing, middlewares, start-up and shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

# Importing the method groups registers their methods.
import blobflow.server._annotations
import blobflow.server._core
import blobflow.server._files
import blobflow.server._images
import blobflow.server._projects  # noqa: F401
from blobflow.server._auth import authenticate
from blobflow.server._backends import open_backends
from blobflow.server._context import (
    JSON_METHODS,
    RAW_METHODS,
    STATE,
    Ctx,
    ServerConfig,
    State,
    parse_json,
)
from blobflow.server._db import bootstrap, stored_paths
from blobflow.server._errors import ApiError, BadRequest, NotFound
from blobflow.server._http import RateShaper, json_response, shape_response
from blobflow.server._rules import check_keys

__all__ = ["create_app", "sweep_orphans", "API_PREFIX"]

API_PREFIX = "/public/api/v3/"
log = logging.getLogger("blobflow.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error_response(status: int, message: str) -> web.Response:
    return json_response({"error": message, "details": {"message": message}}, status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the SDK's JSON error shape; nothing a client sends is a 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response(exc.body(), exc.status)
    except web.HTTPException as exc:
        return _error_response(exc.status, exc.text or exc.reason)
    except HttpProcessingError as exc:  # e.g. a malformed multipart part header
        return _error_response(400, f"malformed request body: {exc.message}")
    except asyncio.CancelledError:
        raise
    except ConnectionError:
        # The client went away mid-request: one line, not a traceback. The answer reaches no
        # one; aiohttp drops the connection quietly when it cannot be written.
        log.info("client disconnected during %s %s", request.method, request.path)
        return web.Response(status=499, reason="Client Closed Request")
    except Exception:
        if request.writer is not None and request.writer.output_size > 0:
            raise  # the answer is already on the wire: let aiohttp drop the connection
        log.exception("unexpected error in %s %s", request.method, request.path)
        return _error_response(500, "internal server error")


@web.middleware
async def _wan(request: web.Request, handler: Handler) -> web.StreamResponse:
    """WAN simulation: a fixed latency per request; request and response bodies through a
    rate-limited link."""
    state = request.app[STATE]
    if state.config.latency_ms > 0:
        await asyncio.sleep(state.config.latency_ms / 1000)
    started = time.monotonic()  # the body's first byte, as the link sees it
    resp = await handler(request)
    if state.shaper is not None:
        await state.shaper.charge_upload(request.content.total_bytes, started)
        return await shape_response(request, resp, state.shaper)
    return resp


async def _healthz(request: web.Request) -> web.Response:
    """Ready when the database and the object store both answer (else a 503 naming which)."""
    state = request.app[STATE]
    await state.db.ping()
    await state.storage.ping()
    return json_response({"status": "ok"})


async def _dispatch(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    name = request.match_info["method"]
    raw = RAW_METHODS.get(name)
    handler = JSON_METHODS.get(name)
    if raw is None and handler is None:
        raise NotFound(f"unknown method {name!r}")
    ctx = Ctx(request, state, await authenticate(request, state))
    if raw is not None:
        return await raw(ctx)
    assert handler is not None
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])
    raw_body = await request.read()
    if raw_body.strip() and request.content_type != "application/json":
        raise BadRequest(
            f"{name}: a JSON method needs Content-Type: application/json,"
            f" got {request.content_type!r}"
        )
    data = parse_json(raw_body)
    check_keys(name, data)
    return json_response(await handler(ctx, data))


async def sweep_orphans(state: State) -> int:
    """Remove stored files no row refers to (what a crashed node left); returns how many."""
    known = await state.db.read(stored_paths)
    removed = await state.storage.sweep(known)
    if removed:
        log.warning("removed %d orphaned stored files", removed)
    return removed


async def create_app(config: ServerConfig) -> web.Application:
    """Open (or create) the stores and build the app; closing the app closes them."""
    db, storage = await open_backends(config)
    try:
        admin = await db.write(bootstrap, config.token)
        await sweep_orphans(State(config, db, storage, admin, None))
    except BaseException:
        await db.close()
        await storage.close()
        raise
    shaper = RateShaper(config.bandwidth_mbps) if config.bandwidth_mbps else None
    state = State(config, db, storage, admin, shaper)

    app = web.Application(client_max_size=config.max_json_bytes, middlewares=[_errors, _wan])
    app[STATE] = state
    app.router.add_get("/healthz", _healthz)
    app.router.add_route("*", API_PREFIX + "{method}", _dispatch)

    async def sweeper(app: web.Application) -> AsyncIterator[None]:
        task = None
        if config.sweep_interval_s > 0:
            task = asyncio.create_task(_sweep_every(state, config.sweep_interval_s))
        yield
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(app: web.Application) -> None:
        await db.close()
        await storage.close()

    app.cleanup_ctx.append(sweeper)
    app.on_cleanup.append(close)
    return app


async def _sweep_every(state: State, interval: float) -> None:
    """What a node that crashed left is removed by the nodes that did not, while they run."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_orphans(state)
        except ApiError as exc:  # the store is unreachable now: next time
            log.warning("sweep skipped: %s", exc.message)

