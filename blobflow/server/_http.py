"""Response helpers: JSON, Range, zero-copy files, and the optional WAN rate shaping.

Binary bodies are never compressed (the SDK writes what it reads, undecoded).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from blobflow import _json
from blobflow.server._errors import RangeNotSatisfiable

__all__ = [
    "Encoded", "json_response", "parse_range", "send_bytes", "send_file", "send_stream",
    "RateShaper",
]

_CHUNK = 256 << 10


class Encoded(bytes):
    """A JSON body already serialised by a hot path (sent as is)."""


def json_response(data: Any, status: int = 200) -> web.Response:
    body = bytes(data) if isinstance(data, Encoded) else _json.dumps(data)
    return web.Response(body=body, status=status, content_type="application/json")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` -> ``(start, end_exclusive)``; ``None`` means "send it all".

    Only single ranges are honoured (a multi-range request gets the whole body, which
    RFC 9110 allows); a start past the end is a 416.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[6:].strip().partition("-")
    if not sep:
        return None
    try:
        if not first:  # suffix: the last N bytes
            n = int(last)
            return (max(size - n, 0), size) if n > 0 else None
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start < 0 or (last and end <= start):
        return None  # syntactically invalid: ignore the header
    if start >= size:
        raise RangeNotSatisfiable(f"range start {start} is past the end ({size} bytes)")
    return start, min(end, size)


class RateShaper:
    """A link of ``bandwidth_mbps`` each way, shared by every connection (WAN simulation).

    Response bodies are paced through the downlink. A request body is read at full speed and
    then charged to the uplink from the moment the request began: the response waits until the
    body would have arrived. (Charged from when the body ended instead, a body the client
    produces as it sends, such as a blob packed on the fly, paid its production time and then
    the link's time again, where a real link carries it while it is produced.)
    """

    def __init__(self, bandwidth_mbps: float) -> None:
        self.bytes_per_s = bandwidth_mbps * 1e6 / 8
        self._down_free = 0.0  # when each direction of the link is free again
        self._up_free = 0.0

    def _after(self, free_at: float, nbytes: int, start: float | None = None) -> float:
        """When ``nbytes`` sent from ``start`` (default now) behind a direction free at
        ``free_at`` are through it."""
        begin = time.monotonic() if start is None else start
        return max(begin, free_at) + nbytes / self.bytes_per_s

    async def write(self, resp: web.StreamResponse, data: bytes) -> None:
        for i in range(0, len(data), _CHUNK):
            chunk = data[i : i + _CHUNK]
            done_at = self._down_free = self._after(self._down_free, len(chunk))
            await resp.write(chunk)
            await asyncio.sleep(max(done_at - time.monotonic(), 0))

    async def charge_upload(self, nbytes: int, started: float) -> None:
        """Wait until a request body of ``nbytes`` whose first byte came at ``started``
        (``time.monotonic()``) would have come through the uplink."""
        if nbytes > 0:
            done_at = self._up_free = self._after(self._up_free, nbytes, started)
            await asyncio.sleep(max(done_at - time.monotonic(), 0))


def _range_headers(
    resp: web.StreamResponse, rng: tuple[int, int] | None, size: int, checksum: str | None
) -> tuple[int, int]:
    if rng is None:
        if checksum:
            resp.headers["x-content-checksum-sha256"] = checksum
        resp.headers["Accept-Ranges"] = "bytes"
        return 0, size
    resp.set_status(206)
    resp.headers["Content-Range"] = f"bytes {rng[0]}-{rng[1] - 1}/{size}"
    return rng


async def send_bytes(
    request: web.Request,
    data: bytes,
    *,
    checksum: str | None = None,
    shaper: RateShaper | None = None,
    content_type: str = "application/octet-stream",
) -> web.StreamResponse:
    """A small binary body with Range support (the checksum header only for a whole body)."""
    rng = parse_range(request.headers.get("Range"), len(data))
    resp = web.StreamResponse()
    resp.content_type = content_type
    start, end = _range_headers(resp, rng, len(data), checksum)
    resp.content_length = end - start
    await resp.prepare(request)
    if shaper is not None:
        await shaper.write(resp, data[start:end])
    else:
        await resp.write(data[start:end])
    await resp.write_eof()
    return resp


async def send_file(
    request: web.Request,
    path: Path,
    size: int,
    *,
    checksum: str | None = None,
    shaper: RateShaper | None = None,
) -> web.StreamResponse:
    """A whole stored file: zero-copy sendfile via ``FileResponse`` (Range and all), or a
    chunked shaped copy when WAN simulation is on."""
    if shaper is None:
        headers = {"Content-Type": "application/octet-stream"}
        if checksum and "Range" not in request.headers:
            headers["x-content-checksum-sha256"] = checksum
        return web.FileResponse(path, chunk_size=1 << 20, headers=headers)
    rng = parse_range(request.headers.get("Range"), size)
    resp = web.StreamResponse()
    resp.content_type = "application/octet-stream"
    start, end = _range_headers(resp, rng, size, checksum)
    resp.content_length = end - start
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    fd = await loop.run_in_executor(None, os.open, path, os.O_RDONLY)
    try:
        pos = start
        while pos < end:
            chunk = await loop.run_in_executor(None, os.pread, fd, min(1 << 20, end - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            await shaper.write(resp, chunk)
    finally:
        await loop.run_in_executor(None, os.close, fd)
    await resp.write_eof()
    return resp


async def send_stream(
    request: web.Request,
    size: int,
    read: Callable[[int, int], AsyncIterator[bytes]],
    *,
    checksum: str | None = None,
    shaper: RateShaper | None = None,
) -> web.StreamResponse:
    """A stored file of ``size`` bytes streamed from ``read(start, end)`` (a remote store's
    ranged read), with Range support like :func:`send_file`."""
    rng = parse_range(request.headers.get("Range"), size)
    resp = web.StreamResponse()
    resp.content_type = "application/octet-stream"
    start, end = _range_headers(resp, rng, size, checksum)
    resp.content_length = end - start
    chunks = read(start, end) if end > start else None
    # The first chunk before the headers: a store that fails now is still an error answer.
    first = await anext(chunks, b"") if chunks is not None else b""
    await resp.prepare(request)
    write = resp.write if shaper is None else (lambda data: shaper.write(resp, data))
    if first:
        await write(first)
    if chunks is not None:
        async for chunk in chunks:
            await write(chunk)
    await resp.write_eof()
    return resp


async def shape_response(
    request: web.Request, resp: web.StreamResponse, shaper: RateShaper
) -> web.StreamResponse:
    """Re-send a buffered ``web.Response`` body through the shaper."""
    if not isinstance(resp, web.Response) or resp.prepared or not isinstance(resp.body, bytes):
        return resp
    body = resp.body
    out = web.StreamResponse(status=resp.status, reason=resp.reason)
    for key, value in resp.headers.items():
        if key.lower() not in ("content-length", "transfer-encoding"):
            out.headers.add(key, value)
    out.content_length = len(body)
    await out.prepare(request)
    await shaper.write(out, body)
    await out.write_eof()
    return out
