"""``BlobImageInfo`` and the SDK-compatible ``_offsets.pkl`` format.

Writing: we emit the pickle opcodes ourselves, byte-for-byte what CPython's C pickler (protocol
4) produces for a list of the SDK's ``supervisely.api.image_api.BlobImageInfo`` (class by that
exact path, ``NEWOBJ`` + ``BUILD`` with a dict state, ``APPENDS`` every 1,000 items, 64 KiB
``FRAME``s). ``pickle`` itself cannot do this without importing the SDK: it verifies that the
class it references is importable under its name.

Reading: an allow-list unpickler maps that one class to ours and allows a few builtins; anything
else, and any malformed or truncated stream, is an ``UnsafePickleError`` naming the file.
"""

from __future__ import annotations

import builtins
import os
import pickle
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from blobflow._atomic import atomic_path
from blobflow._errors import BlobFormatError, UnsafePickleError
from blobflow._gc import gc_paused

__all__ = [
    "OFFSETS_PKL_BATCH_SIZE",
    "SDK_MODULE",
    "BlobImageInfo",
    "encode_stream",
]

OFFSETS_PKL_BATCH_SIZE = 10_000  # items per pickle stream, as the SDK writes them
SDK_MODULE = "supervisely.api.image_api"
_SDK_CLASS = "BlobImageInfo"


class _HasOffsets(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def offset_start(self) -> int: ...
    @property
    def offset_end(self) -> int: ...


@dataclass
class BlobImageInfo:
    """Where one image lives inside a blob: ``name`` and the byte range ``[offset_start,
    offset_end)`` (end exclusive). Same fields, methods and pickle form as the SDK's class."""

    name: str
    offset_start: int
    offset_end: int

    @staticmethod
    def from_image_info(image_info: _HasOffsets) -> BlobImageInfo:
        """From any object with ``name``, ``offset_start`` and ``offset_end`` (e.g. ImageInfo)."""
        return BlobImageInfo(
            name=image_info.name,
            offset_start=image_info.offset_start,
            offset_end=image_info.offset_end,
        )

    def add_team_file_id(self, team_file_id: int) -> BlobImageInfo:
        """Remember the Team Files id of the blob (an extra attribute, as in the SDK)."""
        self.team_file_id = team_file_id
        return self

    def to_dict(self, team_file_id: int | None = None) -> dict[str, Any]:
        """The ``images.bulk.add`` item: ``{"title", "teamFileId", "sourceBlob"}``."""
        return {
            "title": self.name,
            "teamFileId": team_file_id or getattr(self, "team_file_id", None),
            "sourceBlob": self.offsets_dict,
        }

    @staticmethod
    def from_dict(
        offset_dict: Mapping[str, Any], return_team_file_id: bool = False
    ) -> BlobImageInfo:
        """From a ``to_dict``-shaped mapping (what the API and the offsets scanner produce)."""
        blob = offset_dict["sourceBlob"]
        info = BlobImageInfo(
            name=offset_dict["title"],
            offset_start=blob["offsetStart"],
            offset_end=blob["offsetEnd"],
        )
        if return_team_file_id:
            info.add_team_file_id(offset_dict["teamFileId"])
        return info

    @property
    def offsets_dict(self) -> dict[str, int]:
        return {"offsetStart": self.offset_start, "offsetEnd": self.offset_end}

    @property
    def size(self) -> int:
        return self.offset_end - self.offset_start

    @staticmethod
    def load_from_pickle_generator(
        file_path: str | os.PathLike[str], batch_size: int = OFFSETS_PKL_BATCH_SIZE
    ) -> Iterator[list[BlobImageInfo]]:
        """Yield the entries of an offsets ``.pkl`` in batches of ``batch_size``.

        Unlike the SDK (which logs and stops), a blocked or malformed file raises
        ``UnsafePickleError`` naming it; an empty (0-byte) file raises ``BlobFormatError``.
        """
        return _load_batches(os.fspath(file_path), batch_size)

    @staticmethod
    def dump_to_pickle(
        offsets: Iterable[BlobImageInfo] | Iterable[Iterable[BlobImageInfo]],
        file_path: str | os.PathLike[str],
        *,
        append: bool = False,
    ) -> None:
        """Write entries (a list, or an iterable of batches) as SDK-readable pickle streams.

        One stream per batch of at most 10,000. The file is written under a temporary name and
        renamed when complete. Unlike the SDK, which always appends, the file is replaced unless
        ``append=True`` (then the existing streams are kept in front of the new ones).
        """
        _dump(offsets, os.fspath(file_path), append=append)


# --------------------------------------------------------------------------- writing

_FRAME_TARGET = 64 * 1024  # CPython's _FRAME_SIZE_TARGET
_FRAME_MIN = 4
_MAX_NAME_BYTES = 60_000  # stays below the C pickler's out-of-frame threshold for big strings
_BATCH = 1000  # APPENDS every 1,000 items (the pickler's batch size)
_pack_I = struct.Struct("<I").pack
_pack_i = struct.Struct("<i").pack
_pack_H = struct.Struct("<H").pack
_pack_Q = struct.Struct("<Q").pack
_J = struct.Struct("<Bi").pack  # BININT opcode (74) + int32
_SMALL = [b"K" + bytes((i,)) for i in range(256)]
_SHORT_STR = [b"\x8c" + bytes((i,)) for i in range(256)]
_STD_KEYS = ("name", "offset_start", "offset_end")


def _int_op(v: int) -> bytes:
    if 0 <= v < 256:
        return _SMALL[v]
    if 0 <= v < 65536:
        return b"M" + _pack_H(v)
    if -(2**31) <= v < 2**31:
        return b"J" + _pack_i(v)
    n = (v.bit_length() >> 3) + 1
    raw = v.to_bytes(n, "little", signed=True)
    if v < 0 and n > 1 and raw[-1] == 0xFF and raw[-2] & 0x80:
        raw = raw[:-1]
    if len(raw) < 256:
        return b"\x8a" + bytes((len(raw),)) + raw
    return b"\x8b" + _pack_i(len(raw)) + raw


def _str_op(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    if len(b) > _MAX_NAME_BYTES:
        raise BlobFormatError(f"name too long for an offsets file ({len(b)} bytes): {s[:80]!r}...")
    if len(b) < 256:
        return b"\x8c" + bytes((len(b),)) + b
    return b"X" + _pack_I(len(b)) + b


def _get_op(idx: int) -> bytes:
    return b"h" + bytes((idx,)) if idx < 256 else b"j" + _pack_I(idx)


class _Encoder:
    """One pickle stream: the opcodes of ``pickle.dumps(list_of_items, protocol=4)``.

    Framing follows the C pickler: at the start of every ``save()`` (each object, key and
    value) the current frame is closed if it holds >= 64 KiB. Items are encoded whole on a fast
    path; only an item that crosses the 64 KiB mark is re-encoded piece by piece.
    """

    def __init__(self) -> None:
        self.out: list[bytes] = [b"\x80\x04"]
        self.frame: list[bytes] = []
        self.flen = 0  # bytes in the open frame
        self.memo: dict[int, int] = {}  # id(obj) -> memo index (strings and items)
        self.nmemo = 0

    # -- framing
    def _commit(self) -> None:
        if self.frame:
            data = b"".join(self.frame)
            if len(data) >= _FRAME_MIN:
                self.out.append(b"\x95" + _pack_Q(len(data)))
            self.out.append(data)
            self.frame = []
            self.flen = 0

    def _boundary(self) -> None:
        if self.flen >= _FRAME_TARGET:
            self._commit()

    def _write(self, b: bytes) -> None:
        self.frame.append(b)
        self.flen += len(b)

    def _memoize(self, obj: object) -> bytes:
        # Every memoised object is reachable from the list being encoded, so ids stay valid.
        self.memo[id(obj)] = self.nmemo
        self.nmemo += 1
        return b"\x94"

    # -- generic (slow) path: one write per opcode, boundary at every save()
    def _save(self, obj: object) -> None:
        self._boundary()
        if obj is None:
            self._write(b"N")
        elif obj is True or obj is False:
            self._write(b"\x88" if obj else b"\x89")
        elif type(obj) is int:
            self._write(_int_op(obj))
        elif id(obj) in self.memo:
            self._write(_get_op(self.memo[id(obj)]))
        elif type(obj) is str:
            self._write(_str_op(obj))
            self._write(self._memoize(obj))
        elif isinstance(obj, BlobImageInfo):
            self._save_item(obj)
        else:
            raise BlobFormatError(f"cannot write {type(obj).__name__} into an offsets file")

    def _save_class(self) -> None:
        self._boundary()
        if id(BlobImageInfo) in self.memo:
            self._write(_get_op(self.memo[id(BlobImageInfo)]))
            return
        for part in (SDK_MODULE, _SDK_CLASS):
            self._boundary()
            self._write(_str_op(part))
            self.nmemo += 1  # memoised strings, never referenced again
            self._write(b"\x94")
        self._write(b"\x93")
        self._write(self._memoize(BlobImageInfo))

    def _save_item(self, obj: BlobImageInfo) -> None:
        self._save_class()
        self._boundary()  # save(()) for NEWOBJ's args
        self._write(b")\x81")
        self._write(self._memoize(obj))
        state = vars(obj)
        self._boundary()  # save(state)
        self._write(b"}\x94")
        self.nmemo += 1
        if len(state) > 1:
            self._write(b"(")
        for key, value in state.items():
            self._save(key)  # interned: memoised once per stream
            self._save(value)
        if len(state) > 1:
            self._write(b"u")
        elif state:
            self._write(b"s")
        self._write(b"b")

    def _fast_keys(self) -> tuple[bytes, bytes, bytes, bytes] | None:
        """BINGETs of the class and the three keys, once all four are memoised."""
        try:
            ids = [id(BlobImageInfo), *(id(k) for k in _STD_KEYS)]
            a, b, c, d = (_get_op(self.memo[i]) for i in ids)
        except KeyError:
            return None
        return a, b, c, d

    def encode(self, items: list[Any]) -> bytes:
        self._boundary()
        self._write(b"]")
        self._write(self._memoize(items))
        if len(items) == 1:
            self._save(items[0])
            self._write(b"a")
        elif items:
            self._save_list_items(items)
        self._write(b".")
        self._commit()
        return b"".join(self.out)

    def _save_list_items(self, items: list[Any]) -> None:
        """MARK ... APPENDS per 1,000 items; the usual item is encoded in one go (fast path).

        The fast path reads the three fields by name: for a dict built in another key order
        (never the case for objects made by ``__init__`` or by unpickling) the stream still
        holds the same data, only the key order differs from what pickle would write.
        """
        memo = self.memo
        short = _SHORT_STR
        cls = BlobImageInfo
        keys: tuple[bytes, bytes, bytes, bytes] | None = None
        for first in range(0, len(items), _BATCH):
            self._write(b"(")
            for obj in items[first : first + _BATCH]:
                if keys is not None and type(obj) is cls and id(obj) not in memo:
                    state = obj.__dict__
                    name = state.get("name")
                    if len(state) == 3 and type(name) is str and id(name) not in memo:
                        start = state.get("offset_start")
                        end = state.get("offset_end")
                        nb = name.encode("utf-8", "surrogatepass")
                        if type(start) is int and type(end) is int and len(nb) < 256:
                            piece = b"%b)\x81\x94}\x94(%b%b%b\x94%b%b%b%bub" % (
                                keys[0],
                                keys[1],
                                short[len(nb)],
                                nb,
                                keys[2],
                                _J(74, start) if 65535 < start < 2**31 else _int_op(start),
                                keys[3],
                                _J(74, end) if 65535 < end < 2**31 else _int_op(end),
                            )
                            if self.flen + len(piece) < _FRAME_TARGET:
                                # no save() inside this item can see a full frame
                                self.frame.append(piece)
                                self.flen += len(piece)
                                n = self.nmemo
                                memo[id(obj)] = n
                                memo[id(name)] = n + 2
                                self.nmemo = n + 3
                                continue
                self._save(obj)
                if keys is None:
                    keys = self._fast_keys()
            self._write(b"e")


def encode_stream(items: list[Any]) -> bytes:
    """One protocol-4 pickle stream of a list of BlobImageInfo, as the SDK's pickle.dump."""
    return _Encoder().encode(items)


def _batches(
    offsets: Iterable[BlobImageInfo] | Iterable[Iterable[BlobImageInfo]],
) -> Iterator[list[BlobImageInfo]]:
    """Re-cut whatever we are given into lists of at most 10,000."""
    buf: list[BlobImageInfo] = []
    for entry in offsets:
        if isinstance(entry, BlobImageInfo):
            buf.append(entry)
        elif isinstance(entry, Iterable) and not isinstance(entry, (str, bytes)):
            if buf and not entry:
                continue
            for item in entry:
                if not isinstance(item, BlobImageInfo):
                    raise BlobFormatError(f"not a BlobImageInfo: {item!r}")
                buf.append(item)
        else:
            raise BlobFormatError(f"not a BlobImageInfo or a batch of them: {entry!r}")
        while len(buf) >= OFFSETS_PKL_BATCH_SIZE:
            yield buf[:OFFSETS_PKL_BATCH_SIZE]
            buf = buf[OFFSETS_PKL_BATCH_SIZE:]
    if buf:
        yield buf


def write_streams(batches: Iterable[list[BlobImageInfo]], f: BinaryIO) -> int:
    """Write one offsets pickle stream per batch (the SDK's format, appendable) to ``f``;
    return the number of entries written."""
    n = 0
    for batch in batches:
        try:
            _check_items(batch, "offsets to write")
        except UnsafePickleError as exc:  # nothing unsafe here: just bad input
            raise BlobFormatError(str(exc)) from None
        f.write(encode_stream(batch))
        n += len(batch)
    return n


def _dump(
    offsets: Iterable[BlobImageInfo] | Iterable[Iterable[BlobImageInfo]],
    path: str,
    *,
    append: bool,
) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if append and os.path.exists(path):
            with open(path, "rb") as old:
                while chunk := old.read(1 << 20):
                    f.write(chunk)
        write_streams(_batches(offsets), f)


# --------------------------------------------------------------------------- reading

# The SDK's allow-list minus ``bytes`` and ``bytearray``: REDUCE can call an allowed global,
# and ``bytearray(2**31)`` from a 40-byte pickle allocates 2 GiB (no offsets file needs them).
_ALLOWED_BUILTINS = frozenset({"list", "str", "int", "float", "bool", "dict", "tuple", "NoneType"})
_MAX_OFFSET = 2**63  # no file (and no server's int64) has a byte past this


class _AllowListUnpickler(pickle.Unpickler):
    """Resolves only the SDK's BlobImageInfo (to ours) and a few harmless builtins."""

    def find_class(self, module: str, name: str) -> Any:
        if module == SDK_MODULE and name == _SDK_CLASS:
            return BlobImageInfo
        if module == "builtins" and name in _ALLOWED_BUILTINS:
            return type(None) if name == "NoneType" else getattr(builtins, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _is_file_name(name: str) -> bool:
    """A title is a file name: clients write ``img/<name>``, so no path, NUL or empty name."""
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and name not in (".", "..")
    )


def _check_entry(info: Any, path: str) -> None:
    if not isinstance(info, BlobImageInfo):
        raise UnsafePickleError(f"{path}: entry is {type(info).__name__}, not BlobImageInfo")
    name, start, end = (
        info.__dict__.get("name"),
        info.__dict__.get("offset_start"),
        info.__dict__.get("offset_end"),
    )
    if (
        type(name) is not str
        or type(start) is not int
        or type(end) is not int
        or not 0 <= start <= end < _MAX_OFFSET
        or not _is_file_name(name)
    ):
        raise UnsafePickleError(
            f"{path}: invalid BlobImageInfo(name={name!r}, offset_start={start!r}, "
            f"offset_end={end!r})"
        )


def _check_items(items: list[Any], path: str) -> None:
    """_check_entry for every item, inlined for the common case (1M entries: ~0.3 s)."""
    cls = BlobImageInfo
    for info in items:
        if type(info) is cls:
            d = info.__dict__
            start, end, name = d.get("offset_start"), d.get("offset_end"), d.get("name")
            if (
                type(start) is int
                and type(end) is int
                and 0 <= start <= end < _MAX_OFFSET
                and type(name) is str
                and name
                and "/" not in name
                and "\\" not in name
                and "\0" not in name
                and name not in (".", "..")
            ):  # the same rules as _check_entry (file names only, offsets below 2**63)
                continue
        _check_entry(info, path)


def iter_streams(path: str) -> Iterator[list[BlobImageInfo]]:
    """Each pickle stream of the file as a list (a single object becomes a 1-item list)."""
    with open(path, "rb", buffering=1 << 20) as reader:
        size = os.fstat(reader.fileno()).st_size
        if size == 0:
            raise BlobFormatError(f"{path}: empty offsets file (0 bytes), expected pickle data")
        while reader.tell() < size:
            try:
                with gc_paused():  # 10,000 new objects a stream: no full collections
                    data = _AllowListUnpickler(reader).load()
            except UnsafePickleError:
                raise
            except pickle.UnpicklingError as exc:
                raise UnsafePickleError(f"{path}: unsafe or malformed pickle: {exc}") from None
            except EOFError:
                raise UnsafePickleError(f"{path}: truncated pickle stream") from None
            except Exception as exc:  # any other failure of a hostile stream
                raise UnsafePickleError(
                    f"{path}: malformed pickle ({type(exc).__name__}: {exc})"
                ) from None
            items = data if type(data) is list else [data]
            _check_items(items, path)
            yield items


def _load_batches(path: str, batch_size: int) -> Iterator[list[BlobImageInfo]]:
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    buf: list[BlobImageInfo] = []
    for items in iter_streams(path):
        if not buf and len(items) == batch_size:
            yield items
            continue
        buf.extend(items)
        while len(buf) >= batch_size:
            yield buf[:batch_size]
            buf = buf[batch_size:]
    if buf:
        yield buf
