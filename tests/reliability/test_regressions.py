"""Regression tests for bugs the reliability suite found in other parts (one test per fix)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from pathlib import Path

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


def _corpus_item(name: str) -> bytes:
    from benchmarks.reliability.corpora import pickle_corpus

    return next(i.data for i in pickle_corpus("/nonexistent") if i.name == name)


@pytest.mark.parametrize("item", ["bytearray_bomb", "bytes_bomb"])
def test_offsets_pickle_cannot_call_allocating_builtins(tmp_path: Path, item: str) -> None:
    # Found by the pickle corpus: bytearray/bytes were on the allow-list, so a 40-byte
    # pickle REDUCE-d ``bytearray(2**31)`` and made the reader allocate 2 GiB before its type
    # check refused the entry. No offsets file needs them; they are refused at find_class.
    from blobflow import BlobImageInfo, UnsafePickleError

    path = tmp_path / f"{item}.pkl"
    path.write_bytes(_corpus_item(item))
    with pytest.raises(UnsafePickleError, match="not allowed"):
        list(BlobImageInfo.load_from_pickle_generator(path))


@pytest.mark.parametrize(
    "item", ["name_traversal", "name_absolute", "name_empty", "name_nul", "huge_offsets"]
)
def test_offsets_pickle_entries_must_be_file_names_and_real_offsets(
    tmp_path: Path, item: str
) -> None:
    # Found by the pickle corpus: entries named "../../etc/passwd", "/etc/passwd", "" or with a
    # NUL, or with offsets past 2**63, loaded as valid (a title must be a file name: clients
    # write img/<name>; no file has an offset past 2**63).
    from blobflow import BlobImageInfo, UnsafePickleError

    path = tmp_path / f"{item}.pkl"
    path.write_bytes(_corpus_item(item))
    with pytest.raises(UnsafePickleError, match=path.name):
        list(BlobImageInfo.load_from_pickle_generator(path))
