"""Streamed downloads and uploads against a tiny fault-injecting aiohttp server.

Every fault ends in identical data or a clear error, and nothing corrupt ever appears under
the final file name.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from blobflow import IntegrityError
from blobflow.api import Api, ApiError, RetryBudgetExceeded

from .._helpers import FAST as BASE_FAST

DATA = os.urandom(1_000_003)
SHA = base64.standard_b64encode(hashlib.sha256(DATA).digest()).decode()
FAST = BASE_FAST.with_(chunk_size=64 * 1024)  # small chunks: a body spans several


@dataclass
class Faults:
    """Per-request faults, consumed in order (one entry per request)."""

    download: list[str] = field(default_factory=list)
    upload: list[str] = field(default_factory=list)
    ranges: list[str | None] = field(default_factory=list)
    uploads: list[bytes] = field(default_factory=list)
    upload_lengths: list[str | None] = field(default_factory=list)


FAULTS = web.AppKey("faults", Faults)


async def _download(request: web.Request) -> web.StreamResponse:
    faults: Faults = request.app[FAULTS]
    mode = faults.download.pop(0) if faults.download else "ok"
    rng = request.headers.get("Range")
    faults.ranges.append(rng)
    if mode == "503":
        return web.json_response({"error": "busy"}, status=503)
    start = 0
    if rng and mode != "ignore_range":
        start = int(rng.removeprefix("bytes=").split("-")[0])
    body = DATA[start:]
    resp = web.StreamResponse(status=206 if start else 200)
    resp.content_length = len(body)
    if not start:
        bad = mode == "bad_checksum"
        resp.headers["x-content-checksum-sha256"] = SHA[::-1] if bad else SHA
    else:
        resp.headers["Content-Range"] = f"bytes {start}-{len(DATA) - 1}/{len(DATA)}"
    await resp.prepare(request)
    if mode in ("cut", "truncate"):
        await resp.write(body[: len(body) // 3])
        assert request.transport is not None
        request.transport.close()  # connection dropped mid-body
        return resp
    await resp.write(body)
    await resp.write_eof()
    return resp


async def _upload(request: web.Request) -> web.Response:
    faults: Faults = request.app[FAULTS]
    mode = faults.upload.pop(0) if faults.upload else "ok"
    faults.upload_lengths.append(request.headers.get("Content-Length"))
    if mode == "cut":
        await request.content.read(100_000)
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)
    body = await request.read()
    if mode == "503":
        return web.json_response({"error": "busy"}, status=503)
    faults.uploads.append(body)
    digest = base64.standard_b64encode(hashlib.sha256(body).digest()).decode()
    path = request.query["path"]
    return web.json_response(
        {"id": 1, "teamId": 1, "path": path, "name": path.rsplit("/", 1)[-1], "hash": digest}
    )


@pytest.fixture
async def fake() -> AsyncIterator[tuple[Api, Faults]]:
    app = web.Application()
    faults = Faults()
    app[FAULTS] = faults
    app.router.add_post("/public/api/v3/images.data.download", _download)
    app.router.add_post("/public/api/v3/file-storage.download", _download)
    app.router.add_post("/public/api/v3/file-storage.upload", _upload)
    server = TestServer(app)
    await server.start_server()
    try:
        async with Api(str(server.make_url("")), "tok", FAST) as api:
            yield api, faults
    finally:
        await server.close()


def _read(path: Path) -> bytes:
    return path.read_bytes()


class Bar:
    """A tqdm-like bar recording every update."""

    def __init__(self) -> None:
        self.n = 0
        self.updates: list[int] = []

    def update(self, n: int) -> None:
        self.n += n
        self.updates.append(n)


async def test_download_ok_verified(fake: tuple[Api, Faults], tmp_path: Path) -> None:
    api, faults = fake
    bar = Bar()
    res = await api.image.download_blob_file(1, "d", tmp_path / "b.tar", progress_cb=bar)
    assert not isinstance(res, bytes)
    assert res.checksum_verified and res.size == len(DATA)
    assert _read(tmp_path / "b.tar") == DATA
    assert bar.n == len(DATA)
    assert not (tmp_path / "b.tar.part").exists()
    assert faults.ranges == [None]


async def test_download_resumes_with_range_after_cut(
    fake: tuple[Api, Faults], tmp_path: Path
) -> None:
    api, faults = fake
    faults.download = ["cut", "cut"]
    bar = Bar()
    await api.image.download_blob_file(1, "d", tmp_path / "b.tar", progress_cb=bar)
    assert _read(tmp_path / "b.tar") == DATA
    assert faults.ranges[0] is None
    # each retry resumes from the cumulative byte count it kept
    assert all(r is not None and r.startswith("bytes=") for r in faults.ranges[1:])
    starts = [int(r.removeprefix("bytes=").rstrip("-")) for r in faults.ranges[1:] if r]
    assert starts == sorted(starts) and 0 < starts[0] < len(DATA)
    assert bar.n == len(DATA)


async def test_download_restarts_when_range_ignored(
    fake: tuple[Api, Faults], tmp_path: Path
) -> None:
    api, faults = fake
    faults.download = ["cut", "ignore_range"]
    bar = Bar()
    await api.image.download_blob_file(1, "d", tmp_path / "b.tar", progress_cb=bar)
    assert _read(tmp_path / "b.tar") == DATA
    assert bar.n == len(DATA) and any(u < 0 for u in bar.updates)  # rewound


async def test_download_bad_checksum_retried_then_ok(
    fake: tuple[Api, Faults], tmp_path: Path
) -> None:
    api, faults = fake
    faults.download = ["bad_checksum"]
    await api.image.download_blob_file(1, "d", tmp_path / "b.tar")
    assert _read(tmp_path / "b.tar") == DATA
    assert faults.ranges == [None, None]  # restarted from zero


async def test_download_bad_checksum_forever_is_integrity_error(
    fake: tuple[Api, Faults], tmp_path: Path
) -> None:
    api, faults = fake
    faults.download = ["bad_checksum"] * 20
    with pytest.raises(IntegrityError, match="corrupt"):
        await api.image.download_blob_file(1, "d", tmp_path / "b.tar")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no final file, no .part left


async def test_download_truncated_forever_is_clear_error(
    fake: tuple[Api, Faults], tmp_path: Path
) -> None:
    api, faults = fake
    faults.download = ["truncate"] * 50
    with pytest.raises(RetryBudgetExceeded):
        await api.image.download_blob_file(1, "d", tmp_path / "b.tar")
    assert list(tmp_path.iterdir()) == []


async def test_download_503_burst(fake: tuple[Api, Faults], tmp_path: Path) -> None:
    api, faults = fake
    faults.download = ["503"] * 4
    data = await api.image.download_blob_file(1, "d")
    assert data == DATA


async def test_download_expected_size_mismatch(fake: tuple[Api, Faults], tmp_path: Path) -> None:
    api, faults = fake
    cfg = FAST.with_(retry_attempts=2)
    async with Api(api.server_address, "tok", cfg) as api2:
        with pytest.raises(IntegrityError, match="size"):
            await api2.image.download_blob_file(
                1, "d", tmp_path / "b.tar", expected_size=len(DATA) + 1
            )
    assert list(tmp_path.iterdir()) == []


async def test_file_download_replaces_stale_part(fake: tuple[Api, Faults], tmp_path: Path) -> None:
    api, _ = fake
    (tmp_path / "f.bin.part").write_bytes(b"stale garbage")
    res = await api.file.download(1, "/x/f.bin", tmp_path / "f.bin")
    assert res.checksum_verified and _read(tmp_path / "f.bin") == DATA


async def test_upload_replays_whole_file_after_cut(
    fake: tuple[Api, Faults], tmp_path: Path
) -> None:
    api, faults = fake
    src = tmp_path / "b.tar"
    src.write_bytes(DATA)
    faults.upload = ["cut", "503"]
    bar = Bar()
    info = await api.file.upload(1, src, "/blob-files/b.tar", progress_cb=bar)
    assert info.hash == SHA and info.path == "/blob-files/b.tar"
    assert faults.uploads == [DATA]  # the accepted body is whole
    assert faults.upload_lengths == [str(len(DATA))] * 3  # Content-Length on every attempt
    assert bar.n == len(DATA) and any(u < 0 for u in bar.updates)


async def test_upload_gives_up_after_budget(fake: tuple[Api, Faults], tmp_path: Path) -> None:
    api, faults = fake
    src = tmp_path / "b.tar"
    src.write_bytes(DATA)
    faults.upload = ["503"] * 50
    bar = Bar()
    with pytest.raises(RetryBudgetExceeded) as info:
        await api.file.upload(1, src, "/blob-files/b.tar", progress_cb=bar)
    assert info.value.status == 503
    assert isinstance(info.value.last_error, ApiError)
    assert faults.uploads == []


async def test_upload_bulk_parallel(fake: tuple[Api, Faults], tmp_path: Path) -> None:
    api, faults = fake
    srcs = []
    for i in range(3):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(DATA)
        srcs.append(p)
    infos = await api.file.upload_bulk(1, srcs, [f"/d/f{i}.bin" for i in range(3)])
    assert [i.path for i in infos] == ["/d/f0.bin", "/d/f1.bin", "/d/f2.bin"]
    assert faults.uploads == [DATA] * 3
