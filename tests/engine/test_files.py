"""Batched small-file I/O, the ordered pipeline helper, progress and the loop helper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from blobflow import BlobflowError, _write_child
from blobflow._files import _READ_CHUNK, write_file_atomic, write_files_in
from blobflow.api import ImageInfo, Progress
from blobflow.api._register import _ordered
from blobflow.engine import (
    extract_ranges,
    install_uvloop,
    read_files,
    run,
    write_files,
)


async def test_write_and_read_files_batched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = asyncio.to_thread

    async def counting(fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real(fn, *a, **kw)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    items = [(tmp_path / "d" / f"{i}.png", bytes([i % 256]) * 4000) for i in range(2500)]
    assert await write_files(items, batch_size=1000, threads=4) == 2500
    assert calls == 4  # 2,500 files spread over 4 executor calls, never one call per file
    calls = 0
    datas = await read_files([p for p, _ in items], batch_size=1000, threads=1)
    assert datas == [d for _, d in items] and calls == 3  # at most 1,000 files per call
    assert not list((tmp_path / "d").glob("*.tmp"))


async def test_read_and_write_any_size_and_clean_up_on_failure(tmp_path: Path) -> None:
    # empty, one byte, exactly one read chunk, and several chunks (os-level reads and writes)
    sizes = [0, 1, _READ_CHUNK, 3 * _READ_CHUNK + 7]
    items = [(tmp_path / f"{n}.bin", bytes(range(256)) * (n // 256) + b"x" * (n % 256))
             for n in sizes]
    await write_files(items)
    assert await read_files([p for p, _ in items]) == [d for _, d in items]
    with pytest.raises(FileNotFoundError):
        await read_files([tmp_path / "missing"])
    with pytest.raises(IsADirectoryError):
        await read_files([tmp_path])
    (tmp_path / "sub").mkdir()
    with pytest.raises(IsADirectoryError):  # the rename fails: the temp file is removed
        await asyncio.to_thread(write_file_atomic, tmp_path / "sub", b"data")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([p.name for p, _ in items] + ["sub"])


@pytest.mark.parametrize("at_dir", [True, False])
def test_write_files_in_one_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at_dir: bool
) -> None:
    # at_dir=False: the portable way, for platforms without dir_fd
    monkeypatch.setattr(_write_child, "_AT_DIR", at_dir and _write_child._AT_DIR)
    write_files_in(tmp_path, [("a.json", b"{}"), ("b.json", b"[1]"), ("a.json", b"{\"x\":1}")])
    assert (tmp_path / "a.json").read_bytes() == b'{"x":1}'
    assert (tmp_path / "b.json").read_bytes() == b"[1]"
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError):  # the rename onto a folder fails after "c" is written
        write_files_in(tmp_path, iter([("c", b"1"), ("d", b"2"), ("e", b"3")]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "c", "d"]


def test_plain_writes_go_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the bench floor's least work: no temporary name, so a failed write leaves what it wrote
    renames: list[object] = []
    monkeypatch.setattr(_write_child.os, "replace", lambda *a, **k: renames.append(a))
    write_files_in(tmp_path, [("a.json", b"{}"), ("a.json", b"[2]")], plain=True)
    assert (tmp_path / "a.json").read_bytes() == b"[2]"
    assert renames == []
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


async def test_extract_ranges(tmp_path: Path) -> None:
    blob = tmp_path / "b.tar"
    blob.write_bytes(b"0123456789abcdef")
    n = await extract_ranges(blob, tmp_path / "img", [("a", 0, 4), ("b", 10, 16), ("e", 5, 5)])
    assert n == 3
    assert (tmp_path / "img" / "a").read_bytes() == b"0123"
    assert (tmp_path / "img" / "b").read_bytes() == b"abcdef"
    assert (tmp_path / "img" / "e").read_bytes() == b""


@pytest.mark.parametrize("name", ["../evil", "/abs", "a/b", "", "..", "x\\y"])
async def test_extract_refuses_escaping_names(tmp_path: Path, name: str) -> None:
    blob = tmp_path / "b.tar"
    blob.write_bytes(b"0123456789")
    with pytest.raises(BlobflowError, match="unsafe image name"):
        await extract_ranges(blob, tmp_path / "img", [("ok", 0, 1), (name, 0, 4)])
    assert not (tmp_path / "evil").exists() and not (tmp_path / "img" / "ok").exists()


async def test_extract_refuses_range_outside_blob(tmp_path: Path) -> None:
    blob = tmp_path / "b.tar"
    blob.write_bytes(b"0123456789")
    with pytest.raises(BlobflowError, match="outside the blob"):
        await extract_ranges(blob, tmp_path / "img", [("a", 8, 20)])
    assert not (tmp_path / "img" / "a").exists()


def _info(i: int) -> list[ImageInfo]:
    return [ImageInfo(id=i)]


async def _jobs(
    n: int, delays: list[float], started: list[int]
) -> AsyncIterator[Callable[[], Awaitable[list[ImageInfo]]]]:
    for i in range(n):

        async def job(i: int = i) -> list[ImageInfo]:
            started.append(i)
            await asyncio.sleep(delays[i])
            return _info(i)

        yield job


async def test_ordered_yields_in_order_and_bounds_lookahead() -> None:
    started: list[int] = []
    delays = [0.03, 0.0, 0.01, 0.0, 0.02, 0.0]
    out = []
    async for batch in _ordered(_jobs(6, delays, started), window=2):
        out.append(batch[0].id)
        assert len(started) <= len(out) + 2  # never more than `window` ahead of the consumer
    assert out == list(range(6))


async def test_ordered_propagates_errors_and_cancels_the_rest() -> None:
    finished = []

    async def jobs() -> AsyncIterator[Callable[[], Awaitable[list[ImageInfo]]]]:
        async def boom() -> list[ImageInfo]:
            raise RuntimeError("batch failed")

        async def slow() -> list[ImageInfo]:
            await asyncio.sleep(0.2)
            finished.append(1)
            return []

        yield boom
        yield slow

    with pytest.raises(RuntimeError, match="batch failed"):
        async for _ in _ordered(jobs(), window=4):
            pass
    await asyncio.sleep(0.3)
    assert finished == []  # the later job was cancelled, not left running
    assert asyncio.all_tasks() == {asyncio.current_task()}


def test_progress_accepts_tqdm_like_callable_and_nested() -> None:
    seen: list[int] = []

    class Bar:
        n = 0

        def update(self, k: int) -> None:
            self.n += k

    bar = Bar()
    p = Progress(bar)
    p.advance(5)
    p.rewind(2)
    assert bar.n == 3 and p.done == 3
    outer = Progress(seen.append)
    Progress(outer).advance(4)
    assert seen == [4] and outer.done == 4
    assert not Progress(None)
    with pytest.raises(TypeError):
        Progress(42)


def test_run_uses_uvloop_when_available() -> None:
    async def loop_name() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run(loop_name()).startswith("uvloop")
    assert not run(loop_name(), use_uvloop=False).startswith("uvloop")
    policy = asyncio.get_event_loop_policy()
    try:
        assert install_uvloop() is True
        assert type(asyncio.get_event_loop_policy()).__module__.startswith("uvloop")
    finally:
        asyncio.set_event_loop_policy(policy)
