"""Packing one tar on two cores: a forked child writes the second part of the members while this
process writes the first, each into its own range of the same file.

Threads cannot do this: the work per file is a few microseconds of Python between short system
calls, and two threads spend it waiting for each other's GIL (measured: two reading threads
took twice as long as one). A forked process shares nothing with this one but the files.

The child learns where its part starts from ``stat`` of the first part's files (header, size,
padding: a member's bytes do not depend on where it sits in the tar), writes its members from
there, and reports where they are. This process writes the first part from the start and checks
that it ended exactly where the child began. The bytes are those the one-process packer writes.
When the offsets are streamed to a ``.pkl``, each process also encodes the pickle streams that
lie wholly in its part (the streams are independent), and the child the one that straddles the
two, from the sizes its ``stat`` saw; this process checks those against what it read, and
encodes that stream itself if they differ.

If the child fails for any reason, or a file of the first part changed size between the child's
``stat`` and this process's read, this process writes the second part itself after its own:
a real problem (an empty file, a file that vanished) is then raised here, as the one-process
packer raises it.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from array import array
from typing import NamedTuple, NoReturn

from blobflow._errors import BlobFormatError
from blobflow.blob._members import File, MemberRun, predict_run, write_all, write_run
from blobflow.blob._pickle import BlobImageInfo, write_streams
from blobflow.blob._tar import end_of_archive

__all__ = ["MIN_FILES", "pack_in_two", "usable"]

#: fewer files than this are packed in one process: forking would cost more than the second
#: core saves (read at call time, so tests can lower it)
MIN_FILES = 2000
#: this process's share of the files: the child also ``stat``s the files before its own (2-3 us
#: a file against ~9 us to read and write one) and encodes the straddling .pkl stream
FIRST_SHARE = 0.58
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class _Job(NamedTuple):
    """What both processes need to know."""

    files: list[File]
    dirs: list[str]
    half: int  # files[:half] are this process's, files[half:] the child's
    tmp: str  # the temporary tar
    flags: int  # os.open flags for each file
    allow_empty: bool
    batch_size: int | None  # members per .pkl stream; None: no .pkl streams here

    def run(self, first: int, last: int, fd: int) -> MemberRun:
        return write_run(self.files[first:last], self.dirs, fd, self.flags, self.allow_empty)

    def cuts(self) -> tuple[int, int]:
        """The .pkl streams wholly in this process's part end at the first cut, the child's
        begin at the second; between them is the stream that straddles the two (if any)."""
        size = self.batch_size or 1
        return self.half // size * size, min(len(self.files), -(-self.half // size) * size)


# A run of members and where it lies: (index of its first file, tar offset of its first byte)
_Placed = tuple[int, int, MemberRun]


def usable(n_files: int) -> bool:
    """Whether to pack in two processes: on Linux, with two CPUs for this process, enough files,
    and no other thread running (a child forked from a threaded process can inherit a lock that
    no thread of it will ever release)."""
    if not sys.platform.startswith("linux") or n_files < MIN_FILES:
        return False
    return threading.active_count() == 1 and len(os.sched_getaffinity(0)) >= 2


def _infos(files: list[File], lo: int, hi: int, runs: list[_Placed]) -> list[BlobImageInfo]:
    """The offsets of members lo..hi-1 from the runs that hold them."""
    infos = []
    for first, base, run in runs:
        a, b = max(lo, first) - first, min(hi, first + len(run.starts)) - first
        members = zip(files[first + a : first + b], run.starts[a:b], run.sizes[a:b], strict=True)
        for (_name, title, _index), start, size in members:
            infos.append(BlobImageInfo(title, base + start, base + start + size))
    return infos


def _streams(job: _Job, lo: int, hi: int, runs: list[_Placed]) -> bytes:
    """The .pkl streams of members lo..hi-1, one per ``batch_size`` (lo is a multiple of it)."""
    out = io.BytesIO()
    if job.batch_size is not None:
        for first in range(lo, hi, job.batch_size):
            last = min(first + job.batch_size, hi)
            write_streams((_infos(job.files, first, last, runs),), out)
    return out.getvalue()


class _Report(NamedTuple):
    """What the child did: where its run starts, its members, the layout it assumed for the
    members of this process's part that share a .pkl stream with its own (from ``stat``), the
    encoded straddling stream and its own streams."""

    base: int
    run: MemberRun
    assumed: MemberRun  # starts and sizes of files[cut:half] as the child computed them
    straddle: bytes
    rest: bytes

    def encode(self) -> bytes:
        a = self.assumed
        head = (self.base, self.run.length, len(self.run.starts), len(a.starts), len(self.straddle))
        arrays = (array("q", head), self.run.starts, self.run.sizes, a.starts, a.sizes)
        return b"".join(x.tobytes() for x in arrays) + self.straddle + self.rest

    @staticmethod
    def decode(data: bytes, count: int) -> _Report | None:
        """The report of a child that packed ``count`` members; None if it is not whole."""
        values, size = array("q"), array("q").itemsize
        if len(data) < 5 * size:
            return None
        values.frombytes(data[: 5 * size])
        base, length, n, guessed, straddle = values
        arrays_end = size * (5 + 2 * n + 2 * guessed)
        if n != count or guessed < 0 or straddle < 0 or len(data) < arrays_end + straddle:
            return None
        values.frombytes(data[5 * size : arrays_end])
        cuts = (5, 5 + n, 5 + 2 * n, 5 + 2 * n + guessed, 5 + 2 * n + 2 * guessed)
        run = MemberRun(values[cuts[0] : cuts[1]], values[cuts[1] : cuts[2]], length)
        assumed = MemberRun(values[cuts[2] : cuts[3]], values[cuts[3] : cuts[4]], 0)
        pkl = data[arrays_end:]
        return _Report(base, run, assumed, pkl[:straddle], pkl[straddle:])


def _child_main(job: _Job, pipe: int) -> NoReturn:
    """The child: write ``files[half:]`` where the first part will end, report through the
    pipe, and leave without running anything of the parent's (no atexit, no stdio flush)."""
    status = 1
    try:
        n, (cut, child_cut) = len(job.files), job.cuts()
        guess = predict_run(job.files[: job.half], job.dirs)
        out = os.open(job.tmp, os.O_WRONLY | _O_CLOEXEC)
        os.lseek(out, guess.length, os.SEEK_SET)
        run = job.run(job.half, n, out)
        runs = [(0, 0, guess), (job.half, guess.length, run)]
        assumed = MemberRun(guess.starts[cut:], guess.sizes[cut:], 0)
        straddle = _streams(job, cut, child_cut, runs)
        rest = _streams(job, child_cut, n, runs[1:])
        write_all(pipe, _Report(guess.length, run, assumed, straddle, rest).encode())
        status = 0
    except BaseException:  # any failure: the parent writes this part itself
        pass
    finally:
        os._exit(status)


class _Child:
    """The forked child packing the second part."""

    def __init__(self, job: _Job) -> None:
        self.count = len(job.files) - job.half
        self.pipe, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.pipe)
            _child_main(job, write_end)
        os.close(write_end)

    def report(self) -> _Report | None:
        """Wait for the child; its report, or None if it failed."""
        chunks = []
        while chunk := os.read(self.pipe, 1 << 20):
            chunks.append(chunk)
        pid, self.pid = self.pid, 0
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # SIGCHLD ignored: reaped already, its status unknown; the
            status = 0  # report is written last, so a whole one means the child finished
        if os.waitstatus_to_exitcode(status) != 0:
            return None
        return _Report.decode(b"".join(chunks), self.count)

    def close(self) -> None:
        """Stop the child if it still runs (this process failed first)."""
        if self.pid:
            pid, self.pid = self.pid, 0
            with contextlib.suppress(ProcessLookupError, ChildProcessError):  # already reaped
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        os.close(self.pipe)


def _write_tar(job: _Job, out: int) -> tuple[list[_Placed], bytes]:
    """Both parts and the end-of-archive to ``out``; the runs in order, and the .pkl streams."""
    n, (cut, child_cut) = len(job.files), job.cuts()
    child = _Child(job)
    try:
        mine = job.run(0, job.half, out)
        early = _streams(job, 0, cut, [(0, 0, mine)])  # while the child still works
        report = child.report()
    finally:
        child.close()
    if report is None or report.base != mine.length:
        # the child failed, or wrote where the first part did not end: write its part here
        base, theirs = mine.length, job.run(job.half, n, out)
        straddle, rest = None, _streams(job, child_cut, n, [(job.half, base, theirs)])
    else:
        base, theirs, rest = report.base, report.run, report.rest
        guessed = report.assumed
        ok = mine.starts[cut:] == guessed.starts and mine.sizes[cut:] == guessed.sizes
        straddle = report.straddle if ok else None  # None: a size changed, the total did not
    runs = [(0, 0, mine), (job.half, base, theirs)]
    if straddle is None:
        straddle = _streams(job, cut, child_cut, runs)
    _end_tar(out, job.tmp, base + theirs.length)
    return runs, early + straddle + rest


def _end_tar(out: int, path: str, end: int) -> None:
    """The end-of-archive after ``end`` bytes of members; then the file is exactly that long
    (nothing the child wrote past a part redone here stays)."""
    trailer = end_of_archive(end)
    os.lseek(out, end, os.SEEK_SET)
    write_all(out, trailer)
    os.ftruncate(out, end + len(trailer))
    _check_size(out, path, end + len(trailer))


def _check_size(fd: int, path: str, expected: int) -> None:
    size = os.fstat(fd).st_size
    if size != expected:
        raise BlobFormatError(f"{path}: wrote {size} bytes, expected {expected}")


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
    half = max(1, min(len(files) - 1, round(len(files) * FIRST_SHARE)))
    job = _Job(files, dirs, half, tmp, flags, allow_empty, batch_size)
    out = os.open(tmp, os.O_WRONLY | os.O_TRUNC | _O_CLOEXEC)
    try:
        runs, streams = _write_tar(job, out)
    finally:
        os.close(out)
    if batch_size is None:
        return final, tmp, _infos(files, 0, len(files), runs), len(files)
    assert pkl_tmp is not None  # batch_size comes with a .pkl per part
    with open(pkl_tmp, "wb") as fh:
        fh.write(streams)
    return final, tmp, [], len(files)
