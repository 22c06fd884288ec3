"""The counted, process-wide pause of the cyclic garbage collector (blobflow._gc)."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator

import pytest

from blobflow._gc import gc_paused


@pytest.fixture(autouse=True)
def _gc_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_pause_restores_the_collector() -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_pause_keeps_a_disabled_collector_disabled() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_disabled_pause_is_a_no_op() -> None:
    with gc_paused(False):
        assert gc.isenabled()


def test_restored_after_an_exception() -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


async def test_overlapping_tasks_resume_when_the_last_ends() -> None:
    first_out, second_in = asyncio.Event(), asyncio.Event()
    states: list[bool] = []

    async def first() -> None:
        with gc_paused():
            await second_in.wait()
        first_out.set()

    async def second() -> None:
        with gc_paused():
            second_in.set()
            await first_out.wait()
            states.append(gc.isenabled())  # the first pause ended, this one has not
        states.append(gc.isenabled())

    await asyncio.gather(first(), second())
    assert states == [False, True]


def test_threads_share_one_count() -> None:
    inside, leave = threading.Barrier(2), threading.Event()

    def worker() -> None:
        with gc_paused():
            inside.wait()
            leave.wait()

    thread = threading.Thread(target=worker)
    thread.start()
    with gc_paused():
        inside.wait()
    assert not gc.isenabled()  # the worker's pause still holds
    leave.set()
    thread.join()
    assert gc.isenabled()
