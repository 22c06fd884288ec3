"""A download's small files written by a child process (or a thread), and what goes wrong."""

from __future__ import annotations

import errno
import io
import json
import logging
import sys
from pathlib import Path

import pytest

from blobflow import BlobflowError, TransferConfig
from blobflow._write_child import FRAME_HEAD, serve
from blobflow.engine._writer import (
    FileWriter,
    ProcessFileWriter,
    ThreadFileWriter,
    open_file_writer,
)


async def _writers() -> list[FileWriter]:
    return [await ProcessFileWriter.start(), ThreadFileWriter()]


async def test_both_writers_write_frames_into_created_folders(tmp_path: Path) -> None:
    for n, writer in enumerate(await _writers()):
        folder = tmp_path / str(n) / "ann"
        await writer.write(folder, {"a.png.json": b'{"x":1}', "b.png.json": b""})
        await writer.write(folder, {f"{i}.json": bytes([i % 256]) * i for i in range(300)})
        await writer.write(folder, {"a.png.json": b"{}"})  # an existing file is replaced
        await writer.aclose()
        assert (folder / "a.png.json").read_bytes() == b"{}"
        assert (folder / "b.png.json").read_bytes() == b""
        assert (folder / "299.json").read_bytes() == bytes([299 % 256]) * 299
        assert len(list(folder.iterdir())) == 302  # no temp file left


async def test_child_exits_when_closed() -> None:
    writer = await ProcessFileWriter.start()
    await writer.aclose()
    assert writer._proc.returncode == 0


async def test_os_error_in_the_child_is_an_os_error_here(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    for writer in await _writers():
        with pytest.raises(OSError) as err:  # a folder below a file: ENOTDIR or EEXIST
            await writer.write(tmp_path / "file" / "ann", {"a.json": b"{}"})
        assert err.value.errno in (errno.ENOTDIR, errno.EEXIST)
        await writer.write(tmp_path / "ok", {"a.json": b"{}"})  # still usable afterwards
        await writer.aclose()
        assert (tmp_path / "ok" / "a.json").read_bytes() == b"{}"


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".."])
async def test_unsafe_names_are_refused_before_any_write(tmp_path: Path, name: str) -> None:
    for writer in await _writers():
        with pytest.raises(BlobflowError, match="unsafe"):
            await writer.write(tmp_path / "ann", {"ok.json": b"1", name: b"2"})
        await writer.aclose()
    assert not (tmp_path / "ann").exists() and not (tmp_path / "evil").exists()


def _frame(
    folder: str, names: list[str], sizes: list[int], data: bytes, **extra: object
) -> bytes:
    header = json.dumps({"dir": folder, "names": names, "sizes": sizes, **extra}).encode()
    return FRAME_HEAD.pack(len(header), len(data)) + header + data


def test_child_checks_names_and_sizes_itself(tmp_path: Path) -> None:
    frames = [
        _frame(str(tmp_path), ["../evil"], [1], b"x"),
        _frame(str(tmp_path), ["a"], [5], b"xy"),  # sizes do not add up to the data
        _frame(str(tmp_path), ["a", "b"], [1], b"x"),
        _frame(str(tmp_path), ["good"], [2], b"ok"),
        _frame(str(tmp_path), ["plain"], [2], b"pl", plain=True),
        _frame(str(tmp_path), ["../evil"], [1], b"x", plain=True),
    ]
    out = io.BytesIO()
    serve(io.BytesIO(b"".join(frames)), out)
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r.get("ok") for r in replies] == [None, None, None, 1, 1, None]
    assert "unsafe" in replies[0]["error"] and replies[0]["errno"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "plain"]


def test_a_cut_frame_ends_the_child_with_an_error(tmp_path: Path) -> None:
    frame = _frame(str(tmp_path), ["a"], [4], b"abcd")
    with pytest.raises(EOFError):
        serve(io.BytesIO(frame[:-2]), io.BytesIO())
    assert list(tmp_path.iterdir()) == []


async def test_a_dead_child_is_a_clear_error(tmp_path: Path) -> None:
    writer = await ProcessFileWriter.start()
    writer._proc.kill()
    await writer._proc.wait()
    with pytest.raises(BlobflowError, match="exited unexpectedly"):
        await writer.write(tmp_path, {"a.json": b"{}"})
    with pytest.raises(BlobflowError, match="unusable"):
        await writer.write(tmp_path, {"a.json": b"{}"})
    await writer.aclose()


async def test_open_file_writer_follows_the_config(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    writer = await open_file_writer(TransferConfig(writer_process=True))
    assert isinstance(writer, ProcessFileWriter)
    await writer.aclose()
    in_thread = await open_file_writer(TransferConfig(writer_process=False))
    assert isinstance(in_thread, ThreadFileWriter)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with caplog.at_level(logging.WARNING):
        fallback = await open_file_writer(TransferConfig(writer_process=True))
    assert isinstance(fallback, ThreadFileWriter)
    assert "writing in a thread" in caplog.text
