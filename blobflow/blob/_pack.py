"""``archive_directory``: pack a folder into a blob tar in one pass, recording offsets as we go.

Speed comes from doing as little per file as possible: one ``scandir`` walk, ``os.open`` +
one ``os.read`` per file (no ``open()`` object), a header built from pre-summed constant parts,
and output written in multi-megabyte joined chunks.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from blobflow._atomic import atomic_path
from blobflow._errors import BlobFormatError
from blobflow._gc import gc_paused
from blobflow.blob import _parallel, _pickle
from blobflow.blob._layout import offsets_pkl_path
from blobflow.blob._members import (
    ZEROS,
    File,
    FolderFds,
    empty_file_error,
    member_header,
    read_member,
)
from blobflow.blob._pickle import BlobImageInfo, _batches, write_streams
from blobflow.blob._tar import BLOCK, end_of_archive

__all__ = ["BlobPart", "archive_directory", "archive_directory_parts"]

_FLUSH_AT = 8 << 20  # write joined output every 8 MiB


class BlobPart(NamedTuple):
    """One tar written by :func:`archive_directory_parts`.

    ``infos`` is empty when the offsets were streamed to ``offsets_path`` instead of kept
    (``keep_infos=False``); ``member_count`` is the number of members either way.
    """

    tar_path: str
    infos: list[BlobImageInfo]
    offsets_path: str | None
    member_count: int


# (final path, temporary path, temporary .pkl path when the offsets are streamed, else None)
_Target = tuple[str, str, str | None]
# (final path, temporary path, infos (empty when streamed), number of members)
_Written = tuple[str, str, list[BlobImageInfo], int]


def _own_output(tar_path: str) -> Callable[[str], bool]:
    """Recognise (by file name) what this call writes beside tar_path, so that packing a folder
    into a tar inside that same folder never packs the blob, its parts, offsets or temp files."""
    stem = re.escape(Path(tar_path).stem)
    name = re.escape(os.path.basename(tar_path))
    pattern = re.compile(rf"{name}|{stem}(_\d{{3,}})?(\.tar|_offsets\.pkl)|\.({stem}).*\.tmp")
    return lambda n: pattern.fullmatch(n) is not None


def _collect(
    src_dir: str,
    filter_func: Callable[[str], bool] | None,
    follow_symlinks: bool,
    output_dirs: dict[str, Callable[[str], bool]],
) -> tuple[list[File], list[str]]:
    """Every regular file under src_dir, sorted by archive path, and the directories they are
    in (files are opened relative to a directory fd: shorter path walks, fewer syscalls).
    ``output_dirs`` maps an absolute directory to a test for our own output files in it."""
    files: list[File] = []
    dirs: list[str] = []
    seen: dict[str, str] = {}
    stack = [("", src_dir)]
    while stack:
        prefix, directory = stack.pop()
        index = len(dirs)
        dirs.append(directory)
        is_output = output_dirs.get(os.path.abspath(directory))
        with os.scandir(directory) as it:
            for entry in it:
                if is_output is not None and is_output(entry.name):
                    continue
                rel = prefix + entry.name
                if not entry.is_file(follow_symlinks=follow_symlinks):
                    if entry.is_dir(follow_symlinks=follow_symlinks):
                        stack.append((rel + "/", entry.path))
                        continue
                    if entry.is_symlink() and not follow_symlinks:
                        raise BlobFormatError.refusal(
                            f"{entry.path}: is a symbolic link; blobs hold regular files only",
                            "follow_symlinks",
                            "pack what it points to",
                        )
                    kind = _kind(entry.path)
                    raise BlobFormatError(f"{entry.path}: is a {kind}, not a regular file")
                if filter_func is not None and not filter_func(rel):
                    continue
                if "\\" in entry.name:  # not a portable image name (and the .pkl refuses it)
                    raise BlobFormatError(f"{entry.path}: file name contains a backslash")
                try:
                    name = rel.encode("utf-8")
                except UnicodeEncodeError:
                    raise BlobFormatError(f"{entry.path}: file name is not valid UTF-8") from None
                files.append((name, entry.name, index))
                other = seen.setdefault(entry.name, rel)
                if other is not rel:
                    a, b = sorted((other, rel))
                    raise BlobFormatError(
                        f"{src_dir}: {a!r} and {b!r} have the same image name {entry.name!r} "
                        "(image names are file basenames and must be unique in a blob)"
                    )
    files.sort()  # by archive path (bytes): deterministic whatever the directory order
    return files, dirs


def _given(src_dir: str, members: Sequence[str]) -> tuple[list[File], list[str]]:
    """``_collect``'s answer for members already listed (by :func:`list_members`): no walk."""
    files: list[File] = []
    dirs: list[str] = []
    index: dict[str, int] = {}
    for rel in members:
        folder, _, name = rel.rpartition("/")
        i = index.get(folder)
        if i is None:
            i = index[folder] = len(dirs)
            dirs.append(os.path.join(src_dir, folder) if folder else src_dir)
        files.append((rel.encode("utf-8"), name, i))
    files.sort()
    return files, dirs


def list_members(
    src_dir: str | os.PathLike[str],
    tar_path: str | os.PathLike[str],
    *,
    filter_func: Callable[[str], bool] | None = None,
    follow_symlinks: bool = False,
) -> list[str]:
    """The archive paths :func:`archive_directory_parts` would pack into ``tar_path``, in
    order, checked the same way; pass slices of it as ``members`` to pack parts one by one."""
    src = os.fspath(src_dir)
    if not os.path.isdir(src):
        raise BlobFormatError(f"{src}: not a directory")
    tar = os.fspath(tar_path)
    outputs = {os.path.abspath(os.path.dirname(tar)): _own_output(tar)}
    files, _dirs = _collect(src, filter_func, follow_symlinks, outputs)
    return [name.decode("utf-8") for name, _base, _i in files]


def _kind(path: str) -> str:
    mode = os.lstat(path).st_mode
    for test, kind in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return kind
    return "special file"


class _Writer:
    """Writes tar bytes in large joined chunks from a background thread.

    ``os.write`` releases the GIL, so copying into the page cache overlaps with reading the
    next files and building headers on the calling thread (2 cores: about 1/3 faster).
    """

    def __init__(self, path: str, on_write: Callable[[bytes], None] | None = None) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0))
        self._on_write = on_write
        self.pieces: list[bytes] = []
        self.pending = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="blobflow-tar-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never blocks on a dead writer
            try:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self.fd, view) :]
                if self._on_write is not None:
                    self._on_write(chunk)
            except BaseException as exc:  # reported by close()
                self._error = exc

    def flush(self) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(b"".join(self.pieces))
        self.pieces.clear()
        self.pending = 0

    def close(self) -> None:
        if self.fd < 0:  # already closed
            return
        try:
            if self.pieces:
                self._queue.put(b"".join(self.pieces))
                self.pieces.clear()
            self._queue.put(None)
            self._thread.join()
        finally:
            fd, self.fd = self.fd, -1
            os.close(fd)
        if self._error is not None:
            raise self._error


def _part_name(tar_path: str, index: int) -> str:
    p = Path(tar_path)
    return str(p.with_name(f"{p.stem}_{index:03d}{p.suffix or '.tar'}"))


@contextlib.contextmanager
def _output_dir(path: str | None) -> Iterator[None]:
    """Create ``path`` (if given); remove it again on failure if this call created it."""
    if path is None or os.path.isdir(path):
        yield
        return
    os.makedirs(path, exist_ok=True)
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):  # not empty (someone else's files): keep it
            os.rmdir(path)
        raise


def _open_pkl(path: str | None) -> BinaryIO | None:
    return None if path is None else open(path, "wb")  # closed by _Part.close / abandon


@dataclass(frozen=True)
class _PackOptions:
    """How :func:`_plan_and_write` packs: the limits of a part and the per-file rules."""

    max_bytes: int | None = None  # a part's whole size, trailer included
    max_members: int | None = None
    allow_empty: bool = False
    follow_symlinks: bool = False
    #: stream a part's offsets to its .pkl every ``batch_size`` members (None: keep them)
    batch_size: int | None = None
    on_write: Callable[[bytes], None] | None = None

    def open_flags(self) -> int:
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        return flags if self.follow_symlinks else flags | getattr(os, "O_NOFOLLOW", 0)


class _Part:
    """One tar being written, with its offsets: kept in memory, or streamed to its .pkl one
    pickle stream per ``batch_size`` members."""

    def __init__(self, target: _Target, opts: _PackOptions) -> None:
        self.final, self.tmp, pkl_tmp = target
        self.out = _Writer(self.tmp, opts.on_write)
        self.pkl: BinaryIO | None = None
        self.pkl = _open_pkl(pkl_tmp)
        self.infos: list[BlobImageInfo] = []
        self.flushed = 0  # members already written to the .pkl
        self.pos = 0  # bytes of the tar so far
        self._flush_at = sys.maxsize if opts.batch_size is None else opts.batch_size

    def is_full(self, added: int, opts: _PackOptions) -> bool:
        """The split decision: would ``added`` more bytes (a member's header, data and padding)
        break a limit? A part always takes its first member."""
        if not (self.infos or self.flushed):
            return False
        if opts.max_members is not None and self.flushed + len(self.infos) >= opts.max_members:
            return True
        if opts.max_bytes is None:
            return False
        end = self.pos + added
        return end + len(end_of_archive(end)) > opts.max_bytes

    def add(self, title: str, header: bytes, data: bytes, pad: int) -> None:
        size = len(data)
        start = self.pos + len(header)
        self.infos.append(BlobImageInfo(title, start, start + size))
        if len(self.infos) >= self._flush_at:  # never when the infos are kept
            assert self.pkl is not None  # batch_size comes with a .pkl per part
            write_streams((self.infos,), self.pkl)
            self.flushed += len(self.infos)
            self.infos = []
        pieces = self.out.pieces
        pieces.append(header)
        pieces.append(data)
        if pad:
            pieces.append(ZEROS[:pad])
        self.pos = start + size + pad
        self.out.pending += size + 1024
        if self.out.pending >= _FLUSH_AT:
            self.out.flush()

    def close(self, keep: bool) -> _Written:
        """End the tar and its .pkl; what was written (renamed by the caller)."""
        self.out.pieces.append(end_of_archive(self.pos))
        self.out.close()
        if self.pkl is not None:
            if self.infos:
                write_streams((self.infos,), self.pkl)
            self.pkl.close()
        return self.final, self.tmp, self.infos if keep else [], self.flushed + len(self.infos)

    def abandon(self) -> None:
        """After a failure: stop the writer thread and close the files (no-ops when closed)."""
        self.out.close()
        if self.pkl is not None:
            self.pkl.close()


def _plan_and_write(
    files: list[File], dirs: list[str], targets: Iterator[_Target], opts: _PackOptions
) -> list[_Written]:
    """Write the files into one tar, or several when a limit is reached.

    ``targets`` yields (final path, temporary path, temporary .pkl path or None) for each part
    on demand. With ``opts.batch_size`` (and a .pkl path), a part's offsets are written to its
    .pkl while packing and not kept; without it they are kept in memory. Returns (final,
    temporary, infos, member count) per part; the caller renames them when all are complete.
    """
    flags = opts.open_flags()
    keep = opts.batch_size is None
    split = opts.max_bytes is not None or opts.max_members is not None
    parts: list[_Written] = []
    part = _Part(next(targets), opts)
    try:
        with FolderFds(dirs) as folder_fd:
            for name, title, index in files:
                data = read_member(title, folder_fd(index), flags)
                if not data and not opts.allow_empty:
                    raise empty_file_error(os.path.join(dirs[index], title))
                header = member_header(name, len(data))
                pad = -len(data) % BLOCK
                if split and part.is_full(len(header) + len(data) + pad, opts):
                    parts.append(part.close(keep))
                    part = _Part(next(targets), opts)
                part.add(title, header, data, pad)
            parts.append(part.close(keep))
    finally:
        part.abandon()
    return parts


def _write(
    files: list[File], dirs: list[str], targets: Iterator[_Target], opts: _PackOptions
) -> list[_Written]:
    """One tar on two cores when it can be (see ``_parallel``), else :func:`_plan_and_write`."""
    one_tar = opts.max_bytes is None and opts.max_members is None and opts.on_write is None
    if one_tar and _parallel.usable(len(files)):
        flags, allow, batch = opts.open_flags(), opts.allow_empty, opts.batch_size
        return [_parallel.pack_in_two(files, dirs, next(targets), flags, allow, batch)]
    return _plan_and_write(files, dirs, targets, opts)


def _check_pack_args(
    src: str, max_bytes: int | None, max_members: int | None,
    on_write: Callable[[bytes], None] | None, keep_infos: bool,
    offsets_dir: str | os.PathLike[str] | None,
) -> None:  # fmt: skip
    """Refuse option combinations that cannot work, before anything is written."""
    if max_bytes is not None and max_bytes < 3 * BLOCK:
        raise ValueError("max_bytes must allow at least one header, data block and trailer")
    if max_members is not None and max_members < 1:
        raise ValueError("max_members must be >= 1")
    if on_write is not None and (max_bytes is not None or max_members is not None):
        raise ValueError("on_write streams one tar: it cannot be used with max_bytes/max_members")
    if not keep_infos and offsets_dir is None:
        raise ValueError(
            "keep_infos=False needs offsets_dir: the offsets are written to its .pkl files "
            "instead of being returned"
        )
    if not os.path.isdir(src):
        raise BlobFormatError(f"{src}: not a directory")


def _targets(
    final_tar: str, split: bool, stream_dir: str | None,
    stack: contextlib.ExitStack, pkl_stack: contextlib.ExitStack,
) -> Iterator[_Target]:  # fmt: skip
    """Each part's (final, temporary, temporary .pkl) paths, on demand; the temporary files
    are renamed into place when the stacks close without an error."""
    index = 1
    while True:
        final = _part_name(final_tar, index) if split else final_tar
        tmp = stack.enter_context(atomic_path(final))
        pkl_tmp = None
        if stream_dir is not None:
            pkl_tmp = pkl_stack.enter_context(atomic_path(offsets_pkl_path(final, stream_dir)))
        yield final, tmp, pkl_tmp
        index += 1


def _finished_part(
    written: _Written, offsets_dir: str | os.PathLike[str] | None, keep_infos: bool,
    pkl_stack: contextlib.ExitStack,
) -> BlobPart:  # fmt: skip
    """A written part as a BlobPart; with kept offsets and ``offsets_dir`` its .pkl is written
    now (before the tars are renamed: a failure leaves neither behind)."""
    final, _tmp, infos, count = written
    if offsets_dir is None:
        return BlobPart(final, infos, None, count)
    pkl = os.fspath(offsets_pkl_path(final, offsets_dir))
    if keep_infos:
        os.makedirs(os.fspath(offsets_dir), exist_ok=True)
        pkl_tmp = pkl_stack.enter_context(atomic_path(pkl))
        with open(pkl_tmp, "wb") as fh:
            write_streams(_batches(infos), fh)
    return BlobPart(final, infos, pkl, count)


def archive_directory_parts(  # noqa: PLR0913 - public keyword options, as archive_directory's
    src_dir: str | os.PathLike[str],
    tar_path: str | os.PathLike[str],
    *,
    filter_func: Callable[[str], bool] | None = None,
    offsets_dir: str | os.PathLike[str] | None = None,
    max_bytes: int | None = None,
    max_members: int | None = None,
    follow_symlinks: bool = False,
    allow_empty: bool = False,
    keep_infos: bool = True,
    on_write: Callable[[bytes], None] | None = None,
    members: Sequence[str] | None = None,
) -> list[BlobPart]:
    """Pack ``src_dir`` into one or more blob tars; see :func:`archive_directory`.

    Without limits this writes exactly ``tar_path``. With ``max_bytes`` (a tar's whole size,
    headers and end-of-archive padding included) and/or ``max_members``, files are packed in
    order into ``<stem>_001.tar``, ``<stem>_002.tar``, ... beside ``tar_path`` (``tar_path``
    itself is not written); each part is a complete tar with its own offsets, whose names are
    ``<stem>_001_offsets.pkl``, ... in ``offsets_dir`` when given. A single file bigger than
    ``max_bytes`` gets a part of its own. All parts are renamed into place only once every part
    is complete. Returns one :class:`BlobPart` per tar, in order.

    ``keep_infos=False`` (requires ``offsets_dir``) bounds memory for very many files: each
    part's offsets go into its ``.pkl`` while packing, one pickle stream per
    ``OFFSETS_PKL_BATCH_SIZE`` members (the same bytes as with ``keep_infos=True``), and the
    returned parts have empty ``infos``; ``BlobPart.member_count`` still counts the members.

    ``on_write(chunk)`` (one tar only, no limits) sees every chunk of the tar, in order, right
    after it is written, from the writer thread: a way to stream the blob while it is packed.
    An exception it raises stops the packing (nothing is left behind) and is raised here.

    ``members`` (archive paths from :func:`list_members`) packs exactly those files, without
    walking ``src_dir`` again: a caller packing a big folder part by part lists it once.
    """
    src, final_tar = os.fspath(src_dir), os.fspath(tar_path)
    _check_pack_args(src, max_bytes, max_members, on_write, keep_infos, offsets_dir)
    # read at call time (not bound at import), so both modes cut the same streams
    batch_size = None if keep_infos else _pickle.OFFSETS_PKL_BATCH_SIZE
    # where the .pkl files are created while packing (None: written after packing, if at all)
    stream_dir = None if keep_infos or offsets_dir is None else os.fspath(offsets_dir)
    opts = _PackOptions(max_bytes, max_members, allow_empty, follow_symlinks, batch_size, on_write)
    with gc_paused():
        outputs = {os.path.abspath(os.path.dirname(final_tar)): _own_output(final_tar)}
        if offsets_dir is not None:
            outputs.setdefault(os.path.abspath(os.fspath(offsets_dir)), _own_output(final_tar))
        if members is None:
            files, dirs = _collect(src, filter_func, follow_symlinks, outputs)
        else:
            files, dirs = _given(src, members)
        if not files:
            what = "no file passes filter_func" if filter_func is not None else "no files"
            raise BlobFormatError(f"{src}: nothing to pack ({what})")
        # The inner stack holds the .pkl files: leaving it renames them before the tars, as
        # when they were written after packing.
        with (
            _output_dir(stream_dir),
            contextlib.ExitStack() as stack,
            contextlib.ExitStack() as pkl_stack,
        ):
            split = max_bytes is not None or max_members is not None
            targets = _targets(final_tar, split, stream_dir, stack, pkl_stack)
            written = _write(files, dirs, targets, opts)
            return [_finished_part(w, offsets_dir, keep_infos, pkl_stack) for w in written]
            # leaving the stacks renames every temporary file into place (or removes them all)


def archive_directory(
    src_dir: str | os.PathLike[str],
    tar_path: str | os.PathLike[str],
    *,
    filter_func: Callable[[str], bool] | None = None,
    offsets_dir: str | os.PathLike[str] | None = None,
    follow_symlinks: bool = False,
    allow_empty: bool = False,
) -> list[BlobImageInfo]:
    """Pack every regular file under ``src_dir`` into the uncompressed tar ``tar_path``.

    One pass: headers are built by hand (USTAR, plus a PAX record for names over 100 bytes or
    non-ASCII) and each member's data range is recorded while writing. The output is
    deterministic: members sorted by path, mtime 0, uid/gid 0, mode 0644, no directory members.
    A member's path is its path relative to ``src_dir``; its image name (the returned
    ``BlobImageInfo.name``) is the basename, so two files with the same basename are an error
    naming both. ``filter_func(relative_path) -> bool`` selects files. Symlinks, devices and
    empty files are errors unless ``follow_symlinks`` / ``allow_empty``. With ``offsets_dir``
    the SDK-compatible ``<stem>_offsets.pkl`` is written there too. The tar appears under its
    final name only when complete. To split into several tars, use
    :func:`archive_directory_parts`.
    """
    (part,) = archive_directory_parts(
        src_dir,
        tar_path,
        filter_func=filter_func,
        offsets_dir=offsets_dir,
        follow_symlinks=follow_symlinks,
        allow_empty=allow_empty,
    )
    return part.infos
