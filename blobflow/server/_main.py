"""``blobflow serve`` / ``python -m blobflow.server``: run until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from typing import TYPE_CHECKING

# The server itself (aiohttp, asyncio) is imported by ``run``: ``blobflow serve --help`` and
# every other sub-command's parser only need ``add_serve_arguments``.
if TYPE_CHECKING:
    import asyncio

    from blobflow.server._context import ServerConfig
    from blobflow.server._embedded import ServerHandle

__all__ = ["add_serve_arguments", "run_serve"]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (0 = any free port)")
    parser.add_argument(
        "--data-dir", default="./blobflow-data", help="where metadata and files live"
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("BLOBFLOW_DB") or None,
        help="metadata database: postgresql://user@host:port/db (default $BLOBFLOW_DB, else "
        "SQLite in the data dir); needs blobflow[server-scale]",
    )
    parser.add_argument(
        "--storage",
        default=os.environ.get("BLOBFLOW_STORAGE") or None,
        help="where stored bytes live: s3://bucket/prefix (endpoint, region and credentials from "
        "the AWS_* environment variables; default $BLOBFLOW_STORAGE, else files in the data dir)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=30.0,
        help="seconds to wait at start for the database and the object store (default 30)",
    )
    parser.add_argument(
        "--sweep-interval",
        type=float,
        default=None,
        help="seconds between sweeps of orphaned stored files while running (default: 3600 "
        "with --storage s3://, else only at start-up; 0: only at start-up)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("BLOBFLOW_TOKEN") or None,  # an empty variable means unset
        help="API token to register (default $BLOBFLOW_TOKEN, else the stored or a new one)",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="WAN simulation: delay added per request"
    )
    parser.add_argument(
        "--bandwidth-mbps",
        type=float,
        default=None,
        help="WAN simulation: a link of this many Mbit/s each way, shared by all connections",
    )
    parser.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="also stop when stdin reaches end of file (a parent holding the other end of the "
        "pipe closes it when it exits, however it dies)",
    )


def _announce(handle: ServerHandle, as_json: bool, quiet: bool) -> None:
    if as_json:
        info = {
            "address": handle.address,
            "token": handle.token,
            "team_id": handle.team_id,
            "workspace_id": handle.workspace_id,
            "data_dir": str(handle.data_dir),
            "pid": os.getpid(),
        }
        print(json.dumps(info), flush=True)
    elif not quiet:
        print(
            f"blobflow server listening on {handle.address}\n"
            f"  team id {handle.team_id}, workspace id {handle.workspace_id}\n"
            f"  token {handle.token}\n"
            f"  data dir {handle.data_dir}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )


def _stop_on_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    import threading

    def wait_for_eof() -> None:
        try:
            fd = sys.stdin.fileno()
            while os.read(fd, 4096):
                pass
        except (OSError, ValueError, AttributeError):  # no usable stdin counts as closed
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, name="blobflow-stdin-eof", daemon=True).start()


# A bulk request body (10,000 images, or 50 annotations of ~30 objects each) is tens of
# thousands of containers that refcounting frees; almost none form cycles. At CPython's
# default (700, 10, 10) the collector ran ~1,150 times in a 30,000-image quick import plus
# fast download, 0.38 s of server CPU; at these thresholds 3 times, 0.03 s.
GC_THRESHOLDS = (50_000, 20, 100)


def _tune_gc() -> None:
    """A process of its own: collect less often; objects made at start-up are never scanned."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _serve(
    config: ServerConfig, as_json: bool, quiet: bool, stop_on_stdin_eof: bool = False
) -> None:
    import asyncio
    import signal

    from blobflow.server._embedded import start_site

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if stop_on_stdin_eof:  # the embedded server never outlives the process that started it
        _stop_on_stdin_eof(loop, stop)
    runner, handle = await start_site(config)
    _tune_gc()
    try:
        _announce(handle, as_json, quiet)
        await stop.wait()
    finally:
        await runner.cleanup()
    if not quiet and not as_json:
        print("blobflow server stopped", file=sys.stderr)


def _sweep_interval(args: argparse.Namespace) -> float:
    interval: float | None = getattr(args, "sweep_interval", None)
    if interval is None:  # nodes sharing a bucket: survivors clean up after a crashed one
        return 3600.0 if getattr(args, "storage", None) else 0.0
    return interval


def run_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from blobflow._loop import run as run_loop
    from blobflow.server._context import ServerConfig

    config = ServerConfig(
        Path(args.data_dir).resolve(),
        token=args.token,
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        bandwidth_mbps=args.bandwidth_mbps,
        db_url=getattr(args, "db", None),
        storage_url=getattr(args, "storage", None),
        startup_timeout_s=getattr(args, "startup_timeout", 30.0),
        sweep_interval_s=_sweep_interval(args),
    )
    coro = _serve(
        config,
        getattr(args, "json", False),
        getattr(args, "quiet", False),
        getattr(args, "stop_on_stdin_eof", False),
    )
    run_loop(coro)
    return 0
