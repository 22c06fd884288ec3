"""The portal: a private event loop in a background thread for synchronous callers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from blobflow._portal import Portal, PortalClosedError, blocking, portal_for


async def _where(x: int) -> tuple[int, int, asyncio.AbstractEventLoop]:
    await asyncio.sleep(0)
    return x * 2, threading.get_ident(), asyncio.get_running_loop()


async def _count(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def test_calls_run_on_one_loop_in_another_thread() -> None:
    portal = Portal()
    try:
        a, thread_a, loop_a = portal.call(_where, 2)
        b, thread_b, loop_b = portal.call(_where, x=5)
        assert (a, b) == (4, 10)
        assert thread_a == thread_b != threading.get_ident()
        assert loop_a is loop_b and loop_a.is_running()
    finally:
        portal.close()
    assert loop_a.is_closed()
    with pytest.raises(PortalClosedError):
        portal.call(_where, 1)


def test_exceptions_propagate_unchanged() -> None:
    async def boom() -> None:
        raise KeyError("nope")

    portal = Portal()
    try:
        with pytest.raises(KeyError, match="nope"):
            portal.call(boom)
        assert portal.call(_where, 1)[0] == 2  # still usable
    finally:
        portal.close()


def test_iterate_steps_on_the_loop_and_closes_early_exits() -> None:
    closed: list[bool] = []

    async def gen() -> AsyncIterator[int]:
        try:
            for i in range(10):
                yield i
        finally:
            asyncio.get_running_loop()  # the finally runs on the portal's loop
            closed.append(True)

    portal = Portal()
    try:
        assert list(portal.iterate(_count(4))) == [0, 1, 2, 3]
        for i in portal.iterate(gen()):
            if i == 2:
                break
        gc.collect()
        assert closed == [True]
    finally:
        portal.close()


def test_close_runs_cleanups_and_cancels_leftover_work() -> None:
    events: list[str] = []
    started = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            events.append("cancelled")

    async def cleanup() -> None:
        events.append("cleanup")

    portal = Portal()
    portal.add_cleanup(cleanup)
    box: list[BaseException] = []

    def waiter() -> None:
        try:
            portal.call(forever)
        except BaseException as exc:
            box.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    assert started.wait(10)
    portal.close()
    t.join(10)
    assert events == ["cancelled", "cleanup"]
    assert len(box) == 1 and isinstance(box[0], concurrent.futures.CancelledError)


async def test_usable_inside_a_running_loop() -> None:
    """As in Jupyter: the caller's thread already runs a loop; the portal uses its own."""
    portal = Portal()
    try:
        mine = asyncio.get_running_loop()
        value, _, theirs = await asyncio.to_thread(portal.call, _where, 3)
        assert value == 6 and theirs is not mine
    finally:
        await asyncio.to_thread(portal.close)


@pytest.mark.allow_blocking  # a synchronous call blocks its caller's loop by design (notebooks)
async def test_blocking_call_made_on_a_running_loop_thread() -> None:
    portal = Portal()
    try:
        value, thread, theirs = portal.call(_where, 7)
        assert value == 14 and theirs is not asyncio.get_running_loop()
        assert thread != threading.get_ident()
    finally:
        portal.close()


def test_a_call_from_the_portals_own_thread_is_refused() -> None:
    portal = Portal()

    async def reenter() -> Any:
        return portal.call(_where, 1)

    try:
        with pytest.raises(RuntimeError, match="own event loop"):
            portal.call(reenter)
    finally:
        portal.close()


class _Owner:
    pass


def test_portal_for_is_per_owner_and_closes_with_it() -> None:
    cleaned: list[int] = []

    async def cleanup() -> None:
        cleaned.append(1)

    a, b = _Owner(), _Owner()
    pa = portal_for(a, cleanup)
    assert portal_for(a) is pa and portal_for(b) is not pa
    pa.call(_where, 1)
    del a
    gc.collect()
    assert pa.closed and cleaned == [1]
    portal_for(b).close()


def test_blocking_keeps_the_signature_and_uses_the_owners_portal() -> None:
    import inspect

    async def flow(x: int, api: _Owner, *, scale: int = 1) -> tuple[int, int]:
        """Doc of the flow."""
        _, thread, _ = await _where(0)
        return x * scale, thread

    sync = blocking(flow, portal_for)
    assert inspect.signature(sync) == inspect.signature(flow)
    assert "Doc of the flow." in (sync.__doc__ or "")
    owner = _Owner()
    v1, t1 = sync(2, owner, scale=3)
    v2, t2 = sync(x=1, api=owner)
    assert (v1, v2) == (6, 1) and t1 == t2
    portal_for(owner).close()
    with pytest.raises(TypeError):
        blocking(flow, portal_for, owner="client")
