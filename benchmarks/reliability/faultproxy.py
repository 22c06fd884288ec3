"""A fault-injecting TCP proxy for loopback reliability tests.

Placed between a client and a server, it forwards bytes both ways and, per connection, may inject
one fault drawn from a seeded schedule:

* ``cut``: abort the connection (RST) once N bytes have gone through in one direction;
* ``truncate``: forward N bytes of the response, then close cleanly (FIN), short of the body;
* ``stall``: stop forwarding for D seconds at byte N, then carry on;
* ``slow``: forward one direction at a low rate (a slow reader or a slow link);
* ``http503``: answer ``HTTP/1.1 503`` itself to the connection's first request, without
  forwarding it upstream. 503s come in bursts: the next few connections get one too.

The schedule is deterministic for a seed and a connection index, so a failing trial can be
replayed. Only loopback upstreams are accepted: these tests must never touch a real network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Fault", "FaultSchedule", "FaultProxy", "FAULT_KINDS"]

Direction = Literal["up", "down"]  # up: client -> server; down: server -> client
FAULT_KINDS = ("cut", "truncate", "stall", "slow", "http503")
_CHUNK = 64 * 1024
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Fault:
    """One fault to inject on one connection."""

    kind: str
    direction: Direction = "down"
    at_byte: int = 0  # position in the chosen direction's byte stream
    seconds: float = 0.0  # stall duration
    rate_bps: int = 0  # slow: bytes per second


@dataclass
class FaultSchedule:
    """Seeded random faults: connection ``i`` gets ``fault_for(i)`` (or None)."""

    seed: int
    rate: float = 0.3  # probability that a connection gets a fault
    kinds: tuple[str, ...] = FAULT_KINDS
    max_at_byte: int = 256 * 1024  # faults fire within the first max_at_byte bytes
    max_at_byte_down: int | None = None  # the same for responses (None: max_at_byte)
    max_stall: float = 0.5
    burst: tuple[int, int] = (1, 3)  # 503 bursts: this many consecutive connections
    _burst_left: int = field(default=0, init=False, repr=False)

    def fault_for(self, index: int) -> Fault | None:
        if self._burst_left > 0:
            self._burst_left -= 1
            return Fault("http503")
        rng = random.Random(f"{self.seed}:{index}")
        if rng.random() >= self.rate or not self.kinds:
            return None
        kind = rng.choice(self.kinds)
        direction: Direction = rng.choice(("up", "down"))
        limit = self.max_at_byte
        if direction == "down" and self.max_at_byte_down is not None:
            limit = self.max_at_byte_down
        at = rng.randrange(0, limit + 1)
        if kind == "http503":
            self._burst_left = rng.randint(*self.burst) - 1
            return Fault("http503")
        if kind == "truncate":
            return Fault("truncate", "down", at)
        if kind == "stall":
            return Fault("stall", direction, at, seconds=rng.uniform(0.05, self.max_stall))
        if kind == "slow":
            return Fault("slow", direction, at, rate_bps=rng.choice((64_000, 256_000, 1_000_000)))
        return Fault("cut", direction, at)


class FaultProxy:
    """An asyncio TCP proxy on 127.0.0.1 that injects the faults of a :class:`FaultSchedule`.

    ``async with FaultProxy(upstream_port, schedule) as proxy:`` then point the client at
    ``proxy.address``. ``proxy.enabled = False`` turns faults off (for the clean re-run);
    ``proxy.stats`` counts connections and injected faults by kind.
    """

    def __init__(
        self,
        upstream_port: int,
        schedule: FaultSchedule | None = None,
        *,
        upstream_host: str = "127.0.0.1",
        max_faults: int | None = None,
    ) -> None:
        if upstream_host not in _LOOPBACK:
            raise ValueError(f"FaultProxy only proxies to loopback, not {upstream_host!r}")
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.schedule = schedule
        self.max_faults = max_faults  # None: no cap on the number of faults injected
        self.enabled = True
        self.stats: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._index = 0
        self.port = 0

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> FaultProxy:
        """Listen on ``port`` (0: a free one; a closed proxy's port to bring it back)."""
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def faults_injected(self) -> int:
        return sum(v for k, v in self.stats.items() if k.startswith("fault."))

    def _next_fault(self) -> Fault | None:
        index = self._index
        self._index += 1
        if not self.enabled or self.schedule is None:
            return None
        if self.max_faults is not None and self.faults_injected >= self.max_faults:
            return None
        return self.schedule.fault_for(index)

    async def _on_client(
        self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(cwriter)
        self.stats["connections"] += 1
        fault = self._next_fault()
        try:
            if fault is not None and fault.kind == "http503":
                self.stats["fault.http503"] += 1
                await _answer_503(creader, cwriter)
                return
            try:
                ureader, uwriter = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
            except OSError:
                self.stats["upstream_refused"] += 1
                cwriter.transport.abort()
                return
            self._writers.add(uwriter)
            try:
                await self._relay(creader, cwriter, ureader, uwriter, fault)
            finally:
                self._writers.discard(uwriter)
                uwriter.transport.abort()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(cwriter)
            with contextlib.suppress(Exception):
                cwriter.close()
            self._tasks.discard(task)

    async def _relay(
        self,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        ureader: asyncio.StreamReader,
        uwriter: asyncio.StreamWriter,
        fault: Fault | None,
    ) -> None:
        up = asyncio.ensure_future(self._pump(creader, uwriter, "up", fault, (cwriter, uwriter)))
        down = asyncio.ensure_future(
            self._pump(ureader, cwriter, "down", fault, (cwriter, uwriter))
        )
        try:
            # The connection ends when the server side ends (or a fault ends it); a client
            # half-close alone does not end an HTTP exchange.
            done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if up in done and not down.done() and not up.result():
                await down
        finally:
            for t in (up, down):
                t.cancel()
            await asyncio.gather(up, down, return_exceptions=True)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: Direction,
        fault: Fault | None,
        both: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> bool:
        """Forward one direction; returns True when a fault ended the connection."""
        mine = fault if fault is not None and fault.direction == direction else None
        sent = 0
        fired = False
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return False
            if mine is not None and not fired and sent + len(data) > mine.at_byte:
                head, data = data[: mine.at_byte - sent], data[mine.at_byte - sent :]
                if head:
                    writer.write(head)
                    await writer.drain()
                    sent += len(head)
                fired = True
                self.stats[f"fault.{mine.kind}"] += 1
                if mine.kind == "cut":
                    for w in both:
                        w.transport.abort()
                    return True
                if mine.kind == "truncate":
                    for w in both:
                        with contextlib.suppress(Exception):
                            w.close()
                    return True
                if mine.kind == "stall":
                    await asyncio.sleep(mine.seconds)
            if mine is not None and fired and mine.kind == "slow":
                await _slow_write(writer, data, mine.rate_bps)
            else:
                writer.write(data)
                await writer.drain()
            sent += len(data)


async def _slow_write(writer: asyncio.StreamWriter, data: bytes, rate_bps: int) -> None:
    step = max(1, rate_bps // 20)  # 20 writes per second
    for i in range(0, len(data), step):
        writer.write(data[i : i + step])
        await writer.drain()
        await asyncio.sleep(0.05)


async def _answer_503(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request head (bounded), answer 503 with the SDK's error shape, close."""
    with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    body = json.dumps(
        {"error": "injected fault", "details": {"message": "fault proxy: 503 burst"}}
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    writer.write(head + body)
    with contextlib.suppress(OSError):
        await writer.drain()
