"""WAN simulation: a latency per request and a rate limit per connection (lower bounds only:
these check the feature works, they are not performance measurements)."""

from __future__ import annotations

import time

import aiohttp

from blobflow.server import serve_in_process

from .conftest import API, Client


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
