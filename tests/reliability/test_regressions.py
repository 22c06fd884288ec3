"""Regression tests for bugs the reliability suite found in other parts (one test per fix)."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from blobflow.api import Api


async def test_gather_limited_cancels_siblings_when_one_fails() -> None:
    # Found by the crash trials: when one annotation batch failed, the others kept running
    # after the job had failed and the Api was closed (they re-opened a session that nobody
    # closed), and the batches still waiting on the semaphore were never awaited.
    api = Api("http://127.0.0.1:9", "token")
    started: list[int] = []
    finished: list[int] = []

    async def work(i: int) -> int:
        started.append(i)
        if i == 0:
            raise RuntimeError("first batch failed")
        await asyncio.sleep(0.2)
        finished.append(i)
        return i

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="first batch failed"):
            await api.gather_limited(work(i) for i in range(40))
        await asyncio.sleep(0.3)
        gc.collect()
    await api.close()
    assert finished == [], "sibling batches kept running after the failure"
    never_awaited = [w for w in caught if "was never awaited" in str(w.message)]
    assert not never_awaited
