"""Packing on two cores (a forked child writes the second half): the same bytes as one process,
read back by tarfile, and every way the child can fail falls back to this process."""

from __future__ import annotations

import hashlib
import os
import signal
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from blobflow import BlobFormatError, archive_directory, archive_directory_parts
from blobflow.blob import _members, _parallel
from blobflow.blob._tar import build_header

from ._helpers import tarfile_offsets

Tree = Callable[[dict[str, bytes]], Path]


def _data(n: int, seed: int) -> bytes:
    return hashlib.sha256(b"%d" % seed).digest() * (n // 32) + bytes(n % 32)


def _files() -> dict[str, bytes]:
    """Short, long (> 100 bytes) and non-ASCII names, nested folders, sizes from 1 byte to over
    one read (64 KiB), on both sides of the split."""
    files = {f"d{i % 3}/img_{i:03d}.png": _data(1 + 977 * i % 9000, i) for i in range(40)}
    files["d1/" + "long_" * 30 + ".png"] = _data(3000, 100)
    files["ünï/名前.jpg"] = _data(700, 101)
    files["z/" + "ü" * 60 + ".png"] = _data(5000, 102)  # long and non-ASCII
    files["z/big.png"] = _data(200_000, 103)
    return files


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Pack in two processes whatever the number of files; yields the member counts of the
    calls that did (so a test can tell the path was taken)."""
    calls: list[int] = []
    real = _parallel.pack_in_two

    def spy(files: list[Any], *args: Any) -> Any:
        calls.append(len(files))
        return real(files, *args)

    monkeypatch.setattr(_parallel, "MIN_FILES", 2)
    monkeypatch.setattr(_parallel, "pack_in_two", spy)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    yield calls


def _one_process(src: Path, out: Path, **kw: Any) -> bytes:
    """What the one-process packer writes for src."""
    saved = _parallel.MIN_FILES
    _parallel.MIN_FILES = 10**9
    try:
        archive_directory_parts(src, out, **kw)
    finally:
        _parallel.MIN_FILES = saved
    return out.read_bytes()


def _pkl(folder: Path, stem: str) -> bytes:
    return (folder / f"{stem}_offsets.pkl").read_bytes()


def _check_blob(tar: Path, files: dict[str, bytes], offsets: list[tuple[str, int, int]]) -> None:
    """tarfile reads it; each offset range holds exactly that file's bytes."""
    assert offsets == tarfile_offsets(tar)
    blob = tar.read_bytes()
    by_name = {os.path.basename(k): hashlib.sha256(v).hexdigest() for k, v in files.items()}
    assert {name for name, _s, _e in offsets} == set(by_name)
    for name, start, end in offsets:
        assert hashlib.sha256(blob[start:end]).hexdigest() == by_name[name]
    with tarfile.open(tar) as t:
        assert sorted(m.name for m in t.getmembers()) == sorted(files)


def test_two_processes_write_the_one_process_bytes(
    make_tree: Tree, tmp_path: Path, two_cores: list[int]
) -> None:
    files = _files()
    src = make_tree(files)
    infos = archive_directory(src, tmp_path / "two.tar", offsets_dir=tmp_path)
    assert two_cores == [len(files)]
    one = _one_process(src, tmp_path / "one.tar", offsets_dir=tmp_path)
    assert (tmp_path / "two.tar").read_bytes() == one
    assert (tmp_path / "two_offsets.pkl").read_bytes() == (
        tmp_path / "one_offsets.pkl"
    ).read_bytes()
    _check_blob(
        tmp_path / "two.tar", files, [(i.name, i.offset_start, i.offset_end) for i in infos]
    )


@pytest.mark.parametrize("streams", ["one straddles the parts", "none straddles", "just one"])
def test_streamed_offsets_are_the_same_pkl(
    make_tree: Tree, tmp_path: Path, two_cores: list[int], monkeypatch: pytest.MonkeyPatch,
    streams: str,
) -> None:  # fmt: skip
    """keep_infos=False (the command line's way): the .pkl, cut into several streams, each
    process encoding those in its part, the child also the one they share."""
    half = round(len(_files()) * _parallel.FIRST_SHARE)  # this process's part
    batch = {"one straddles the parts": 7, "none straddles": half, "just one": 1000}[streams]
    assert (half % batch == 0) == (streams == "none straddles")  # "just one" straddles too
    monkeypatch.setattr("blobflow.blob._pickle.OFFSETS_PKL_BATCH_SIZE", batch)
    src = make_tree(_files())
    (part,) = archive_directory_parts(
        src, tmp_path / "two.tar", offsets_dir=tmp_path, keep_infos=False
    )
    assert two_cores and part.infos == [] and part.member_count == len(_files())
    one = _one_process(src, tmp_path / "one.tar", offsets_dir=tmp_path, keep_infos=False)
    assert (tmp_path / "two.tar").read_bytes() == one
    assert (tmp_path / "two_offsets.pkl").read_bytes() == (
        tmp_path / "one_offsets.pkl"
    ).read_bytes()


def _fails_in_child(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make ``<name>`` fail in the forked child only (this process runs it too)."""
    parent = os.getpid()
    real = getattr(_parallel, name)

    def flaky(*args: Any) -> Any:
        if os.getpid() != parent:
            raise OSError("the child fails")
        return real(*args)

    monkeypatch.setattr(_parallel, name, flaky)


@pytest.mark.parametrize("where", ["predict_run", "write_run", "write_streams"])
def test_a_failed_child_is_redone_here(
    make_tree: Tree, tmp_path: Path, two_cores: list[int], monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:  # fmt: skip
    monkeypatch.setattr("blobflow.blob._pickle.OFFSETS_PKL_BATCH_SIZE", 7)
    src = make_tree(_files())
    out = tmp_path / "out"
    kw: dict[str, Any] = {"offsets_dir": out, "keep_infos": False}
    _fails_in_child(monkeypatch, where)
    archive_directory_parts(src, out / "two.tar", **kw)
    assert two_cores
    assert (out / "two.tar").read_bytes() == _one_process(src, out / "one.tar", **kw)
    assert _pkl(out, "two") == _pkl(out, "one")
    assert sorted(p.name for p in out.iterdir()) == [
        "one.tar",
        "one_offsets.pkl",
        "two.tar",
        "two_offsets.pkl",
    ]


def test_a_size_changed_after_stat_is_redone_here(
    make_tree: Tree, tmp_path: Path, two_cores: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child started where the first half would have ended had no file changed size: this
    process sees its half end elsewhere and writes the second half itself."""
    src = make_tree(_files())

    def grown(files: list[Any], dirs: list[str]) -> _members.MemberRun:
        run = _members.predict_run(files, dirs)
        return _members.MemberRun(run.starts, run.sizes, run.length + 512)

    monkeypatch.setattr(_parallel, "predict_run", grown)
    archive_directory(src, tmp_path / "two.tar")
    assert two_cores
    assert (tmp_path / "two.tar").read_bytes() == _one_process(src, tmp_path / "one.tar")


def test_sizes_changed_at_the_same_total_re_encode_the_shared_stream(
    make_tree: Tree, tmp_path: Path, two_cores: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child's part starts in the right place, but the sizes it assumed for this process's
    members in the stream they share are not what was read: that stream is encoded here."""
    monkeypatch.setattr("blobflow.blob._pickle.OFFSETS_PKL_BATCH_SIZE", 7)
    src = make_tree(_files())

    def shifted(files: list[Any], dirs: list[str]) -> _members.MemberRun:
        run = _members.predict_run(files, dirs)
        run.sizes[-1] -= 1  # the last member of this process's part: in the shared stream
        return run

    monkeypatch.setattr(_parallel, "predict_run", shifted)
    kw: dict[str, Any] = {"offsets_dir": tmp_path, "keep_infos": False}
    archive_directory_parts(src, tmp_path / "two.tar", **kw)
    assert two_cores
    assert (tmp_path / "two.tar").read_bytes() == _one_process(src, tmp_path / "one.tar", **kw)
    assert _pkl(tmp_path, "two") == _pkl(tmp_path, "one")


def test_an_empty_file_in_the_second_half_is_the_usual_error(
    make_tree: Tree, tmp_path: Path, two_cores: list[int]
) -> None:
    files = _files()
    files["z/zz_empty.png"] = b""  # sorts last: the child's half
    src = make_tree(files)
    with pytest.raises(BlobFormatError, match="zz_empty.png: empty file"):
        archive_directory(src, tmp_path / "two.tar")
    assert two_cores
    assert list(tmp_path.glob("*.tar")) == [] and list(tmp_path.glob(".*")) == []


def test_a_vanished_file_in_the_second_half_is_the_usual_error(
    make_tree: Tree, tmp_path: Path, two_cores: list[int]
) -> None:
    src = make_tree(_files())
    members = sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.is_file())
    (src / members[-1]).unlink()
    with pytest.raises(FileNotFoundError):
        archive_directory_parts(src, tmp_path / "two.tar", members=members)
    assert two_cores
    assert list(tmp_path.glob("*.tar")) == [] and list(tmp_path.glob(".*")) == []


def test_a_program_ignoring_sigchld_still_packs_on_two_cores(
    make_tree: Tree, tmp_path: Path, two_cores: list[int]
) -> None:
    """With SIGCHLD ignored the kernel reaps the child itself (waitpid fails): its whole
    report is enough."""
    src = make_tree(_files())
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        archive_directory(src, tmp_path / "two.tar", offsets_dir=tmp_path)
    finally:
        signal.signal(signal.SIGCHLD, previous)
    assert two_cores
    assert (tmp_path / "two.tar").read_bytes() == _one_process(src, tmp_path / "one.tar")


def test_not_with_other_threads_running(
    make_tree: Tree, tmp_path: Path, two_cores: list[int]
) -> None:
    """A process with threads is never forked: one process packs."""
    src = make_tree(_files())
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        archive_directory(src, tmp_path / "one.tar")
    finally:
        stop.set()
        thread.join()
    assert two_cores == []
    archive_directory(src, tmp_path / "two.tar")
    assert two_cores and (tmp_path / "two.tar").read_bytes() == (tmp_path / "one.tar").read_bytes()


@pytest.mark.parametrize(
    "name",
    [b"a.png", b"x" * 100, b"x" * 101, b"d/" + b"y" * 150 + b".png", "ünï/名前.jpg".encode()],
)
@pytest.mark.parametrize("size", [0, 1, 511, 512, 4097, 8**11 - 1, 8**11])
def test_fast_header_is_the_general_one(name: bytes, size: int) -> None:
    """member_header's pre-summed fast path writes what build_header writes, which tarfile
    reads back as that name and size."""
    header = _members.member_header(name, size)
    assert header == build_header(name, size)
    info = tarfile.TarInfo.frombuf(header[-512:], "utf-8", "surrogateescape")  # checks chksum
    if len(header) == 512:
        assert (info.name.encode(), info.size) == (name, size)


def test_predicted_run_is_what_write_run_writes(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree(_files())
    members = sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.is_file())
    from blobflow.blob._pack import _given

    files, dirs = _given(str(src), members)
    fd = os.open(tmp_path / "run", os.O_WRONLY | os.O_CREAT)
    try:
        run = _members.write_run(files, dirs, fd, os.O_RDONLY, False)
    finally:
        os.close(fd)
    guess = _members.predict_run(files, dirs)
    assert (guess.starts, guess.sizes) == (run.starts, run.sizes)
    assert run.length == guess.length == (tmp_path / "run").stat().st_size
