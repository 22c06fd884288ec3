"""Packing one tar on two cores: a forked child writes the second half of the members while this
process writes the first, each into its own range of the same file.

Threads cannot do this: the work per file is a few microseconds of Python between short system
calls, and two threads spend it waiting for each other's GIL (measured: two reading threads
took twice as long as one). A forked process shares nothing with this one but the files.

The child learns where its half starts from ``stat`` of the first half's files (header, size,
padding: a member's bytes do not depend on where it sits in the tar), writes its members from
there, and reports where they are. This process writes the first half from the start and checks
that it ended exactly where the child began. The bytes are those the one-process packer writes.

If the child fails for any reason, or a file of the first half changed size between the child's
``stat`` and this process's read, this process writes the second half itself after its own:
a real problem (an empty file, a file that vanished) is then raised here, as the one-process
packer raises it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from array import array
from collections.abc import Iterator
from itertools import islice
from typing import NoReturn

from blobflow._errors import BlobFormatError
from blobflow.blob._members import File, MemberRun, run_length, write_all, write_run
from blobflow.blob._pickle import BlobImageInfo, write_streams
from blobflow.blob._tar import end_of_archive

__all__ = ["MIN_FILES", "pack_in_two", "usable"]

#: fewer files than this are packed in one process: forking would cost more than the second
#: core saves (read at call time, so tests can lower it)
MIN_FILES = 2000
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_Opts = tuple[int, bool]  # write_run's (open flags, allow_empty)


def usable(n_files: int) -> bool:
    """Whether to pack in two processes: on Linux, with two CPUs for this process, enough files,
    and no other thread running (a child forked from a threaded process can inherit a lock that
    no thread of it will ever release)."""
    if not sys.platform.startswith("linux") or n_files < MIN_FILES:
        return False
    return threading.active_count() == 1 and len(os.sched_getaffinity(0)) >= 2


_Job = tuple[str, int, _Opts]  # the child's (temporary tar, write end of the pipe, options)


def _child_main(files: list[File], half: int, dirs: list[str], job: _Job) -> NoReturn:
    """The child: write ``files[half:]`` where the first half will end, report through the
    pipe, and leave without running anything of the parent's (no atexit, no stdio flush)."""
    tmp, pipe, opts = job
    status = 1
    try:
        base = run_length(files[:half], dirs)
        out = os.open(tmp, os.O_WRONLY | _O_CLOEXEC)
        os.lseek(out, base, os.SEEK_SET)
        run = write_run(files[half:], dirs, out, *opts)
        head = array("q", (base, run.length, len(run.starts)))
        write_all(pipe, head.tobytes() + run.starts.tobytes() + run.sizes.tobytes())
        status = 0
    except BaseException:  # any failure: the parent writes this half itself
        pass
    finally:
        os._exit(status)


class _Child:
    """The forked child packing the second half."""

    def __init__(self, files: list[File], half: int, dirs: list[str], tmp: str, opts: _Opts):
        self.count = len(files) - half
        self.pipe, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.pipe)
            _child_main(files, half, dirs, (tmp, write_end, opts))
        os.close(write_end)

    def report(self) -> tuple[int, MemberRun] | None:
        """Wait for the child: where its run starts and where its members are; None if it
        failed."""
        chunks = []
        while chunk := os.read(self.pipe, 1 << 20):
            chunks.append(chunk)
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        data, values = b"".join(chunks), array("q")
        ok = os.waitstatus_to_exitcode(status) == 0
        if not ok or len(data) != values.itemsize * (3 + 2 * self.count):
            return None
        values.frombytes(data)
        n = self.count
        return values[0], MemberRun(values[3 : 3 + n], values[3 + n :], values[1])

    def close(self) -> None:
        """Stop the child if it still runs (this process failed first)."""
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
        os.close(self.pipe)


def _write_tar(files: list[File], dirs: list[str], tmp: str, opts: _Opts) -> list[MemberRun]:
    """Both halves and the end-of-archive into ``tmp``; the runs, in order."""
    half = len(files) // 2
    out = os.open(tmp, os.O_WRONLY | os.O_TRUNC | _O_CLOEXEC)
    try:
        child = _Child(files, half, dirs, tmp, opts)
        try:
            mine = write_run(files[:half], dirs, out, *opts)
            report = child.report()
        finally:
            child.close()
        if report is not None and report[0] == mine.length:
            theirs = report[1]
            os.lseek(out, mine.length + theirs.length, os.SEEK_SET)
        else:  # the child failed, or wrote where the first half did not end: write it here
            theirs = write_run(files[half:], dirs, out, *opts)
        end = mine.length + theirs.length
        trailer = end_of_archive(end)
        write_all(out, trailer)
        os.ftruncate(out, end + len(trailer))  # anything the child wrote past a redone half
        _check_size(out, tmp, end + len(trailer))
    finally:
        os.close(out)
    return [mine, theirs]


def _check_size(fd: int, path: str, expected: int) -> None:
    size = os.fstat(fd).st_size
    if size != expected:
        raise BlobFormatError(f"{path}: wrote {size} bytes, expected {expected}")


def _infos(files: list[File], runs: list[MemberRun]) -> Iterator[BlobImageInfo]:
    base = first = 0
    for run in runs:
        members = files[first : first + len(run.starts)]
        for (_name, title, _index), start, size in zip(members, run.starts, run.sizes, strict=True):
            yield BlobImageInfo(title, base + start, base + start + size)
        base += run.length
        first += len(run.starts)


def pack_in_two(
    files: list[File], dirs: list[str], target: tuple[str, str, str | None], flags: int,
    allow_empty: bool, batch_size: int | None,
) -> tuple[str, str, list[BlobImageInfo], int]:  # fmt: skip
    """Pack ``files`` into the target's temporary tar on two cores (see the module's doc).

    ``flags`` open each file (``os.open``). With ``batch_size`` the offsets go to the target's
    temporary .pkl, one pickle stream per ``batch_size`` members, and are not returned.
    Returns (final, temporary, infos, members), as the one-process packer does.
    """
    final, tmp, pkl_tmp = target
    runs = _write_tar(files, dirs, tmp, (flags, allow_empty))
    infos = _infos(files, runs)
    if batch_size is None:
        return final, tmp, list(infos), len(files)
    assert pkl_tmp is not None  # batch_size comes with a .pkl per part
    with open(pkl_tmp, "wb") as fh:
        while batch := list(islice(infos, batch_size)):
            write_streams((batch,), fh)
    return final, tmp, [], len(files)
