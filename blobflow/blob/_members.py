"""One member's bytes (header, data, padding) and runs of members written straight to a file.

Shared by the one-process packer (``_pack``) and the two-process one (``_parallel``): a member's
bytes do not depend on where it sits in the tar, so either can write any run of members.
"""

from __future__ import annotations

import os
from array import array

from blobflow._errors import BlobflowError, BlobFormatError
from blobflow.blob._tar import (
    _BASE_SUM,
    _LINK_MAGIC,
    _MAX_OCTAL_SIZE,
    _MODE_UID_GID,
    _MTIME,
    BLOCK,
    build_header,
)

__all__ = [
    "FolderFds",
    "File",
    "MemberRun",
    "empty_file_error",
    "member_header",
    "read_member",
    "predict_run",
    "write_all",
    "write_run",
]

# (path inside the archive as UTF-8 "/"-separated bytes, basename = image name, directory index)
File = tuple[bytes, str, int]

_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_READ_CHUNK = 1 << 16  # one read() returns a whole small image
ZEROS = bytes(BLOCK)
_TAIL_SUM = _BASE_SUM + ord("0")  # constant header parts + typeflag '0'
# os.writev takes at most IOV_MAX buffers (1024 on Linux); a member adds up to 3
_IOV_FLUSH = 1020


def _read_rest(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 22):
        chunks.append(chunk)
    return b"".join(chunks)


def read_member(title: str, dir_fd: int, flags: int) -> bytes:
    """A whole file, opened relative to its folder: one ``os.read`` for a small image."""
    fd = os.open(title, flags, dir_fd=dir_fd)
    try:
        data = os.read(fd, _READ_CHUNK)
        if len(data) == _READ_CHUNK:
            data += _read_rest(fd)
    finally:
        os.close(fd)
    return data


def member_header(name: bytes, size: int) -> bytes:
    """The member's header: the common case (short ASCII name, 11-digit size) from pre-summed
    constant parts, anything else through :func:`build_header` (PAX records)."""
    if len(name) <= 100 and size <= _MAX_OCTAL_SIZE and name.isascii():
        size_field = b"%011o\x00" % size
        chk = _TAIL_SUM + sum(name) + sum(size_field)  # NUL padding adds 0
        return b"%b%b%b%b%06o\x00 0%b" % (
            name + ZEROS[: 100 - len(name)],
            _MODE_UID_GID,
            size_field,
            _MTIME,
            chk,
            _LINK_MAGIC,
        )
    return build_header(name, size)


def empty_file_error(path: str) -> BlobflowError:
    return BlobFormatError.refusal(
        f"{path}: empty file (0 bytes) is not an image", "allow_empty", "pack it anyway"
    )


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _writev(fd: int, pieces: list[bytes], total: int) -> None:
    """All of ``pieces`` (``total`` bytes) in one ``writev``: no joined copy of them."""
    done = os.writev(fd, pieces)
    if done < total:  # a short write (a signal, a full disk): the rest the plain way
        write_all(fd, memoryview(b"".join(pieces))[done:])


class MemberRun:
    """Where the members of one :func:`write_run` are: ``starts[i]`` is the offset of member
    i's data from the start of the run, ``sizes[i]`` its length (int64 arrays: 16 bytes a
    member, not two int objects); ``length`` is the run's whole size (headers and padding
    included, a multiple of 512)."""

    __slots__ = ("length", "sizes", "starts")

    def __init__(self, starts: array[int], sizes: array[int], length: int) -> None:
        self.starts = starts
        self.sizes = sizes
        self.length = length


class FolderFds:
    """Each source folder opened once, for opening its files relative to it (no walk of the
    whole path per file); all closed when the ``with`` block ends."""

    def __init__(self, dirs: list[str]) -> None:
        self._dirs = dirs
        self._fds: dict[int, int] = {}

    def __call__(self, index: int) -> int:
        fd = self._fds.get(index)
        if fd is None:
            fd = self._fds[index] = os.open(self._dirs[index], os.O_RDONLY | _O_DIRECTORY)
        return fd

    def __enter__(self) -> FolderFds:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds.values():
            os.close(fd)


def write_run(
    files: list[File], dirs: list[str], fd: int, flags: int, allow_empty: bool
) -> MemberRun:
    """Write ``files`` as consecutive tar members at ``fd``'s position, a thousand buffers per
    ``writev``; where each member's data landed, relative to where the run began."""
    starts, sizes = array("q"), array("q")
    pieces: list[bytes] = []
    pending = pos = 0
    with FolderFds(dirs) as folder_fd:
        for name, title, index in files:
            data = read_member(title, folder_fd(index), flags)
            size = len(data)
            if not size and not allow_empty:
                raise empty_file_error(os.path.join(dirs[index], title))
            header = member_header(name, size)
            pad = -size % BLOCK
            start = pos + len(header)
            starts.append(start)
            sizes.append(size)
            pieces += (header, data, ZEROS[:pad]) if pad else (header, data)
            pos = start + size + pad
            if len(pieces) >= _IOV_FLUSH:
                _writev(fd, pieces, pos - pending)
                pieces = []
                pending = pos
        if pieces:
            _writev(fd, pieces, pos - pending)
    return MemberRun(starts, sizes, pos)


def predict_run(files: list[File], dirs: list[str]) -> MemberRun:
    """What :func:`write_run` will write for ``files`` if their sizes do not change meanwhile,
    from ``stat`` alone (no file is read)."""
    starts, sizes = array("q"), array("q")
    pos = 0
    with FolderFds(dirs) as folder_fd:
        for name, title, index in files:
            size = os.stat(title, dir_fd=folder_fd(index)).st_size
            plain = len(name) <= 100 and size <= _MAX_OCTAL_SIZE and name.isascii()
            start = pos + (BLOCK if plain else len(build_header(name, size)))
            starts.append(start)
            sizes.append(size)
            pos = start + size + (-size % BLOCK)
    return MemberRun(starts, sizes, pos)
