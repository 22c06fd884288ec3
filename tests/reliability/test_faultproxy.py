"""The fault proxy itself, against a tiny aiohttp server: each fault kind does what it says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from benchmarks.reliability.faultproxy import Fault, FaultProxy, FaultSchedule

BODY = bytes(range(256)) * 2048  # 512 KiB, recognisable


class _Fixed(FaultSchedule):
    """Every connection gets the same fault."""

    def __init__(self, fault: Fault | None) -> None:
        super().__init__(seed=0)
        self.fault = fault

    def fault_for(self, index: int) -> Fault | None:
        return self.fault


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[int, list[bytes]]]:
    received: list[bytes] = []

    async def get_blob(request: web.Request) -> web.Response:
        received.append(b"")
        return web.Response(body=BODY)

    async def put(request: web.Request) -> web.Response:
        data = await request.read()
        received.append(data)
        return web.json_response({"size": len(data)})

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_get("/blob", get_blob)
    app.router.add_post("/put", put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield port, received
    finally:
        await runner.cleanup()


async def _get(address: str) -> tuple[int, bytes]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.get(address + "/blob") as r:
        return r.status, await r.read()


async def _post(address: str, data: bytes) -> tuple[int, bytes]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as s,
        s.post(address + "/put", data=data) as r,
    ):
        return r.status, await r.read()


async def test_no_fault_forwards_bytes_identically(upstream: tuple[int, list[bytes]]) -> None:
    port, received = upstream
    async with FaultProxy(port, _Fixed(None)) as proxy:
        assert await _get(proxy.address) == (200, BODY)
        status, _ = await _post(proxy.address, BODY)
        assert status == 200 and received[-1] == BODY
        assert proxy.faults_injected == 0 and proxy.stats["connections"] == 2


async def test_cut_down_breaks_the_response(upstream: tuple[int, list[bytes]]) -> None:
    port, _ = upstream
    async with FaultProxy(port, _Fixed(Fault("cut", "down", 100_000))) as proxy:
        with pytest.raises(aiohttp.ClientError):
            await _get(proxy.address)
        assert proxy.stats["fault.cut"] == 1


async def test_cut_up_breaks_the_request_before_the_server_sees_it(
    upstream: tuple[int, list[bytes]],
) -> None:
    port, received = upstream
    async with FaultProxy(port, _Fixed(Fault("cut", "up", 50_000))) as proxy:
        with pytest.raises(aiohttp.ClientError):
            await _post(proxy.address, BODY)
        assert received == []  # the server never got a complete body
        assert proxy.stats["fault.cut"] == 1


async def test_truncate_gives_a_short_body_error(upstream: tuple[int, list[bytes]]) -> None:
    port, _ = upstream
    async with FaultProxy(port, _Fixed(Fault("truncate", "down", 200_000))) as proxy:
        with pytest.raises(aiohttp.ClientPayloadError):
            await _get(proxy.address)
        assert proxy.stats["fault.truncate"] == 1


async def test_503_is_answered_by_the_proxy_without_forwarding(
    upstream: tuple[int, list[bytes]],
) -> None:
    port, received = upstream
    async with FaultProxy(port, _Fixed(Fault("http503"))) as proxy:
        status, body = await _get(proxy.address)
        assert status == 503 and b"injected fault" in body
        assert received == []
        assert proxy.stats["fault.http503"] == 1


async def test_stall_delays_but_delivers(upstream: tuple[int, list[bytes]]) -> None:
    port, _ = upstream
    async with FaultProxy(port, _Fixed(Fault("stall", "down", 1000, seconds=0.3))) as proxy:
        t0 = time.monotonic()
        assert await _get(proxy.address) == (200, BODY)
        assert time.monotonic() - t0 >= 0.3
        assert proxy.stats["fault.stall"] == 1


async def test_slow_read_delays_but_delivers(upstream: tuple[int, list[bytes]]) -> None:
    port, _ = upstream
    # 512 KiB at 1 MB/s after the first 100 KB: at least ~0.4 s.
    async with FaultProxy(port, _Fixed(Fault("slow", "down", 100_000, rate_bps=1_000_000))) as p:
        t0 = time.monotonic()
        assert await _get(p.address) == (200, BODY)
        assert time.monotonic() - t0 >= 0.35


async def test_max_faults_and_disable(upstream: tuple[int, list[bytes]]) -> None:
    port, _ = upstream
    async with FaultProxy(port, _Fixed(Fault("http503")), max_faults=1) as proxy:
        assert (await _get(proxy.address))[0] == 503
        assert await _get(proxy.address) == (200, BODY)  # budget spent
        proxy.max_faults = None
        proxy.enabled = False
        assert await _get(proxy.address) == (200, BODY)
        assert proxy.faults_injected == 1


def test_schedule_is_deterministic_and_mixes_kinds() -> None:
    a = [FaultSchedule(seed=7, rate=0.5).fault_for(i) for i in range(400)]
    b = [FaultSchedule(seed=7, rate=0.5).fault_for(i) for i in range(400)]
    assert a == b
    kinds = {f.kind for f in a if f is not None}
    assert kinds == {"cut", "truncate", "stall", "slow", "http503"}
    none_share = sum(f is None for f in a) / len(a)
    assert 0.3 < none_share < 0.7


def test_refuses_non_loopback_upstream() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(80, upstream_host="10.0.0.1")


async def test_close_ends_hanging_connections(upstream: tuple[int, list[bytes]]) -> None:
    port, _ = upstream
    proxy = await FaultProxy(port, _Fixed(Fault("stall", "down", 10, seconds=30))).start()
    task = asyncio.ensure_future(_get(proxy.address))
    await asyncio.sleep(0.2)
    await asyncio.wait_for(proxy.close(), timeout=5)
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(task, timeout=5)
