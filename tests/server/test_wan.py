"""WAN simulation: a latency per request and one rate-limited link each way (lower bounds
only: these check the feature works, they are not performance measurements)."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from blobflow.server import serve_in_process
from blobflow.server._http import RateShaper

from ._helpers import API, Client


async def test_latency_is_added_per_request() -> None:
    async with serve_in_process(token="t", latency_ms=100) as srv:
        async with aiohttp.ClientSession(srv.address) as s:
            start = time.perf_counter()
            for _ in range(3):
                async with s.post(API + "users.me", json={}, headers={"x-api-key": "t"}) as r:
                    assert r.status == 200
            assert time.perf_counter() - start >= 0.3


async def test_bandwidth_limits_bodies_and_keeps_them_intact() -> None:
    data = bytes(range(256)) * 1200  # 300 KiB
    async with serve_in_process(token="t", bandwidth_mbps=8) as srv:  # 1 MB/s
        async with aiohttp.ClientSession(srv.address) as s:
            client = Client(s, "t")
            await client.upload(srv.team_id, "/f.bin", data)
            body = {"teamId": srv.team_id, "path": "/f.bin"}
            start = time.perf_counter()
            async with s.post(API + "file-storage.download", json=body,
                              headers={"x-api-key": "t"}) as r:
                assert r.status == 200 and int(r.headers["Content-Length"]) == len(data)
                assert "x-content-checksum-sha256" in r.headers
                assert await r.read() == data
            assert time.perf_counter() - start >= 0.25
            async with s.post(API + "file-storage.download", json=body,
                              headers={"x-api-key": "t", "Range": "bytes=10-19"}) as r:
                assert r.status == 206 and await r.read() == data[10:20]
            listed = await client.ok("file-storage.list", {"teamId": srv.team_id, "path": "/"})
            assert listed[0]["path"] == "/f.bin"  # JSON bodies go through the shaper too


async def test_uploads_are_charged_to_the_uplink() -> None:
    data = bytes(range(256)) * 1200  # 300 KiB
    async with serve_in_process(token="t", bandwidth_mbps=8) as srv:  # 1 MB/s
        async with aiohttp.ClientSession(srv.address) as s:
            client = Client(s, "t")
            start = time.perf_counter()
            await client.upload(srv.team_id, "/up.bin", data)
            assert time.perf_counter() - start >= 0.25
            body = {"teamId": srv.team_id, "path": "/up.bin"}
            async with s.post(API + "file-storage.download", json=body,
                              headers={"x-api-key": "t"}) as r:
                assert await r.read() == data


async def test_the_link_is_shared_by_concurrent_bodies() -> None:
    class Sink:
        def __init__(self) -> None:
            self.got = b""

        async def write(self, data: bytes) -> None:
            self.got += data

    shaper = RateShaper(8)  # 1 MB/s each way
    sinks = [Sink(), Sink()]
    data = b"x" * 200_000
    start = time.perf_counter()
    now = time.monotonic()
    await asyncio.gather(*(shaper.write(sink, data) for sink in sinks),  # type: ignore[arg-type]
                         shaper.charge_upload(200_000, now), shaper.charge_upload(200_000, now))
    # 400 KB down and 400 KB up over a 1 MB/s link: both directions ~0.4 s, side by side
    assert time.perf_counter() - start >= 0.35
    assert [s.got for s in sinks] == [data, data]


async def test_an_upload_is_charged_from_its_first_byte() -> None:
    # A body the client produced while sending it (a blob packed on the fly) was on the link
    # all along: only what the link still owes is waited for, not its whole time again.
    shaper = RateShaper(8)  # 1 MB/s
    start = time.perf_counter()
    await shaper.charge_upload(300_000, time.monotonic() - 0.3)  # began 0.3 s ago: all through
    assert time.perf_counter() - start < 0.2
    start = time.perf_counter()
    await shaper.charge_upload(300_000, time.monotonic())  # just began: 0.3 s more
    assert time.perf_counter() - start >= 0.25


async def test_a_client_gone_mid_download_is_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    data = bytes(range(256)) * 16384  # 4 MiB: at 80 Mbit/s the body is still in flight
    async with serve_in_process(token="t", bandwidth_mbps=80) as srv:
        async with aiohttp.ClientSession(srv.address) as s:
            client = Client(s, "t")
            await client.upload(srv.team_id, "/big.bin", data)
            body = {"teamId": srv.team_id, "path": "/big.bin"}
            r = await s.post(API + "file-storage.download", json=body, headers={"x-api-key": "t"})
            await r.content.readexactly(100_000)
            r.close()  # drop the connection mid-body
            await asyncio.sleep(0.5)
            me = await client.ok("users.me", {})  # the server carries on
            assert me["login"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("client disconnected during POST" in r.getMessage() for r in caplog.records)
