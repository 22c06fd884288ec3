"""Malicious input corpora for the format layer: hand-built pickles and tars.

Each item is raw bytes plus what a safe reader must do with it:

* ``refuse``: raise a ``BlobflowError`` that names the file;
* ``safe``: either refuse, or accept with every name a plain basename and every range pointing at
  the member's own bytes (used for members the format contract skips or flattens); for a pickle,
  accept only well-typed entries (``str`` name, ``int`` offsets, ``0 <= start <= end``);
* ``accept``: a control item that must load (proves the harness can tell the difference).

No item may run code (``CANARY`` files must never appear), hang, or take much memory.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Item", "pickle_corpus", "tar_corpus", "write_tar_bomb", "tar_header", "CANARY"]

CANARY = "blobflow_canary_"  # a file with this prefix appearing anywhere = code ran
_SDK_MOD = "supervisely.api.image_api"
_CLS = "BlobImageInfo"


@dataclass
class Item:
    name: str
    data: bytes
    expect: str  # "refuse" | "safe" | "accept"
    note: str = ""
    # for "safe" tar items: member title -> bytes it must map to if accepted
    members: dict[str, bytes] = field(default_factory=dict)


# -- pickle opcode helpers --------------------------------------------------------------------


def _su(s: str) -> bytes:
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b if len(b) < 256 else b"X" + struct.pack("<I", len(b)) + b


def _sg(module: str, name: str) -> bytes:
    return _su(module) + _su(name) + b"\x93"  # STACK_GLOBAL


def _p4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def _int(v: int) -> bytes:
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if -(2**31) <= v < 2**31:
        return b"J" + struct.pack("<i", v)
    raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # LONG1


def _obj(state: bytes, cls: bytes | None = None) -> bytes:
    """NEWOBJ of BlobImageInfo + BUILD with a dict built from ``state`` (key/value opcodes)."""
    cls = cls if cls is not None else _sg(_SDK_MOD, _CLS)
    return cls + b")\x81}(" + state + b"ub"  # EMPTY_TUPLE NEWOBJ EMPTY_DICT MARK .. SETITEMS BUILD


def _info(name: object, start: object, end: object) -> bytes:
    def enc(v: object) -> bytes:
        if isinstance(v, bool):
            return b"\x88" if v else b"\x89"
        if isinstance(v, int):
            return _int(v)
        if isinstance(v, str):
            return _su(v)
        if v is None:
            return b"N"
        if isinstance(v, float):
            return b"G" + struct.pack(">d", v)
        if isinstance(v, bytes):
            return b"C" + bytes([len(v)]) + v
        if isinstance(v, list):
            return b"]"
        raise TypeError(v)

    return _obj(
        _su("name") + enc(name) + _su("offset_start") + enc(start) + _su("offset_end") + enc(end)
    )


def _list(*items: bytes) -> bytes:
    return _p4(b"](" + b"".join(items) + b"e")  # EMPTY_LIST MARK .. APPENDS


def _reduce(module: str, name: str, arg: str) -> bytes:
    return _p4(_sg(module, name) + _su(arg) + b"\x85R")  # TUPLE1 REDUCE


def _valid_pickle(n: int = 3) -> bytes:
    """A valid SDK-shaped offsets stream (protocol 4, NEWOBJ + BUILD), built by hand."""
    return _list(*(_info(f"img_{i}.png", 512 + 1024 * i, 512 + 1024 * i + 100) for i in range(n)))


def pickle_corpus(canary_dir: str | os.PathLike[str]) -> list[Item]:
    """Pickles against ``BlobImageInfo.load_from_pickle_generator``."""
    c = Path(canary_dir)
    touch = f"touch {c / (CANARY + 'system')}"
    py_touch = f"open({str(c / (CANARY + 'eval'))!r}, 'w').close()"
    valid = _valid_pickle()
    return [
        Item("control_valid", valid, "accept", "a valid 3-item stream"),
        Item("control_two_streams", valid + valid, "accept", "two concatenated streams"),
        # code execution
        Item("reduce_os_system", _reduce("os", "system", touch), "refuse"),
        Item("reduce_posix_system", _reduce("posix", "system", touch), "refuse"),
        Item("reduce_builtins_eval", _reduce("builtins", "eval", py_touch), "refuse"),
        Item("reduce_builtins_exec", _reduce("builtins", "exec", py_touch), "refuse"),
        Item("reduce___import__", _reduce("builtins", "__import__", "os"), "refuse"),
        Item(
            "reduce_getattr",
            _p4(_sg("builtins", "getattr") + b"]" + _su("pop") + b"\x86R"),
            "refuse",
        ),
        Item(
            "global_opcode_os_system",
            b"cos\nsystem\n(S'" + touch.encode() + b"'\ntR.",
            "refuse",
            "protocol 0 GLOBAL + REDUCE",
        ),
        Item(
            "inst_opcode_os_system",
            b"(S'" + touch.encode() + b"'\nios\nsystem\n.",
            "refuse",
            "protocol 0 INST",
        ),
        Item(
            "subprocess_popen",
            _p4(
                _sg("subprocess", "Popen")
                + b"]("
                + _su("touch")
                + _su(str(c / (CANARY + "popen")))
                + b"e\x85R"
            ),
            "refuse",
        ),
        Item("numpy_reconstruct", _reduce("numpy.core.multiarray", "_reconstruct", "x"), "refuse"),
        Item(
            "dotted_name_escape",
            _p4(_sg(_SDK_MOD, "BlobImageInfo.__init__.__globals__")),
            "refuse",
            "STACK_GLOBAL with a dotted attribute path off an allowed class",
        ),
        Item("allowed_module_other_name", _p4(_sg(_SDK_MOD, "os")), "refuse"),
        Item("builtins_type", _p4(_sg("builtins", "type") + _su("x") + b"\x85R"), "refuse"),
        Item("unknown_global", _p4(_sg("collections", "OrderedDict") + b")R"), "refuse"),
        Item(
            "own_copy_of_class",
            _list(_obj(_su("name") + _su("a.png"), cls=_sg("mypkg.models", _CLS))),
            "refuse",
        ),
        Item("ext_registry", _p4(b"\x82\x01"), "refuse", "EXT1 opcode"),
        Item("persistent_id", _p4(_su("x") + b"Q"), "refuse", "BINPERSID"),
        # allowed constructors called with bombs: refuse without allocating gigabytes
        Item("bytes_bomb", _p4(_sg("builtins", "bytes") + _int(2 * 2**30) + b"\x85R"), "refuse"),
        Item(
            "bytearray_bomb",
            _p4(_sg("builtins", "bytearray") + _int(2 * 2**30) + b"\x85R"),
            "refuse",
        ),
        Item(
            "reduce_on_class",
            _p4(_sg(_SDK_MOD, _CLS) + _su("a") + _int(0) + _int(1) + b"\x87R"),
            "safe",
            "REDUCE calls the class itself: harmless if it yields a well-typed entry",
        ),
        # structure
        Item(
            "deep_nesting_lists",
            _p4(b"]" * 200_000 + b"a" * 199_999),
            "refuse",
            "200,000 nested lists",
        ),
        Item("deep_nesting_marks", _p4(b"(" * 200_000 + b"l" * 200_000), "refuse"),
        Item(
            "huge_binunicode",
            _p4(b"X" + struct.pack("<I", 2**32 - 1) + b"abc"),
            "refuse",
            "declares 4 GiB, holds 3 bytes",
        ),
        Item("huge_binunicode8", _p4(b"\x8d" + struct.pack("<Q", 2**63 - 1) + b"abc"), "refuse"),
        Item("huge_binbytes8", _p4(b"\x8e" + struct.pack("<Q", 2**40) + b"abc"), "refuse"),
        Item("huge_frame", b"\x80\x04\x95" + struct.pack("<Q", 2**62) + b"].", "refuse"),
        Item("huge_long4", _p4(b"\x8b" + struct.pack("<i", 2**31 - 1) + b"\x01"), "refuse"),
        Item("truncated_frame", valid[: len(valid) // 2], "refuse"),
        Item("truncated_after_header", valid[:11], "refuse"),
        Item("truncated_last_byte", valid[:-1], "refuse", "no STOP"),
        Item(
            "valid_then_truncated",
            valid + valid[:40],
            "refuse",
            "a good stream then a broken one: never a silent partial read",
        ),
        Item("valid_then_garbage", valid + b"\x00garbage", "refuse"),
        Item("empty_file", b"", "refuse", "an empty offsets file is not an index"),
        Item("not_a_pickle_text", b"name,offset_start,offset_end\na.png,0,10\n", "refuse"),
        Item("gzip_pickle", gzip.compress(valid), "refuse"),
        Item("memo_get_unknown", _p4(b"h\x63"), "refuse", "BINGET of an unset memo slot"),
        Item("stack_underflow", _p4(b"a"), "refuse"),
        # wrong types / values in fields
        Item("top_level_dict", _p4(b"}" + _su("a") + _int(1) + b"s"), "refuse"),
        Item("top_level_int", _p4(_int(5)), "refuse"),
        Item("list_of_strings", _list(_su("a.png"), _su("b.png")), "refuse"),
        Item("list_of_dicts", _list(b"}(" + _su("name") + _su("a") + b"u"), "refuse"),
        Item("name_is_int", _list(_info(5, 0, 10)), "refuse"),
        Item("name_is_none", _list(_info(None, 0, 10)), "refuse"),
        Item("name_is_bytes", _list(_info(b"a.png", 0, 10)), "refuse"),
        Item("start_is_str", _list(_info("a.png", "0", 10)), "refuse"),
        Item("start_is_float", _list(_info("a.png", 0.5, 10)), "refuse"),
        Item("start_is_bool", _list(_info("a.png", True, 10)), "refuse"),
        Item("end_is_list", _list(_info("a.png", 0, [])), "refuse"),
        Item("negative_start", _list(_info("a.png", -512, 10)), "refuse"),
        Item("end_before_start", _list(_info("a.png", 1024, 512)), "refuse"),
        Item(
            "huge_offsets",
            _list(_info("a.png", 2**70, 2**70 + 5)),
            "refuse",
            "beyond any file a tar can be",
        ),
        Item("missing_fields", _list(_obj(_su("name") + _su("a.png"))), "refuse"),
        Item(
            "extra_dunder_state",
            _list(
                _obj(
                    _su("name")
                    + _su("a.png")
                    + _su("offset_start")
                    + _int(0)
                    + _su("offset_end")
                    + _int(1)
                    + _su("__class__")
                    + _sg("builtins", "list")
                )
            ),
            "safe",
            "BUILD state that sets __class__",
        ),
        Item(
            "slotstate_class_swap",
            _list(
                _sg(_SDK_MOD, _CLS)
                + b")\x81N}"
                + _su("__class__")
                + _sg("builtins", "dict")
                + b"s\x86b"
            ),
            "refuse",
            "BUILD (None, {'__class__': dict}) goes through setattr",
        ),
        Item(
            "name_traversal",
            _list(_info("../../etc/passwd", 0, 10)),
            "refuse",
            "a title that is a path: would escape img/ on extraction",
        ),
        Item("name_absolute", _list(_info("/etc/passwd", 0, 10)), "refuse"),
        Item("name_empty", _list(_info("", 0, 10)), "refuse"),
        Item("name_nul", _list(_info("a\x00.png", 0, 10)), "refuse"),
    ]


# -- tar helpers ------------------------------------------------------------------------------


def tar_header(
    name: str | bytes,
    size: int = 0,
    typeflag: bytes = b"0",
    *,
    linkname: str = "",
    size_field: bytes | None = None,
    checksum_delta: int = 0,
    devmajor: int = 0,
) -> bytes:
    """One USTAR header block; ``size_field``/``checksum_delta`` forge broken headers."""
    raw = name.encode() if isinstance(name, str) else name
    h = bytearray(512)
    h[0:100] = raw[:100].ljust(100, b"\0")
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = size_field if size_field is not None else b"%011o\0" % size
    h[136:148] = b"%011o\0" % 1_700_000_000
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:257] = linkname.encode()[:100].ljust(100, b"\0")
    h[257:265] = b"ustar\x0000"
    h[329:337] = b"%07o\0" % devmajor
    h[337:345] = b"0000000\0"
    chk = sum(h) + checksum_delta
    h[148:156] = b"%06o\0 " % chk
    return bytes(h)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def _member(name: str | bytes, data: bytes, typeflag: bytes = b"0", **kw: object) -> bytes:
    return tar_header(name, len(data), typeflag, **kw) + _pad(data)  # type: ignore[arg-type]


def _pax(records: dict[str, str] | bytes) -> bytes:
    if isinstance(records, bytes):
        body = records
    else:
        body = b""
        for k, v in records.items():
            rec = f" {k}={v}\n".encode()
            n = len(rec)
            n += len(str(n + len(str(n))))
            body += str(n).encode() + rec
    return _member("././@PaxHeader", body, b"x")


_EOF = b"\0" * 1024
_IMG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def _b256(v: int) -> bytes:
    """A 12-byte base-256 size field (GNU), two's complement for negatives."""
    return bytes([0xFF if v < 0 else 0x80]) + (v % 2**88).to_bytes(11, "big")


def tar_corpus() -> list[Item]:
    """Tars against the header scanner and ``BlobReader``."""
    good = _member("ok.png", _IMG)
    ok = {"ok.png": _IMG}
    return [
        Item("control_valid", good + _EOF, "accept", members=ok),
        Item(
            "traversal_name",
            _member("../../evil.png", _IMG) + _EOF,
            "safe",
            members={"evil.png": _IMG},
        ),
        Item(
            "absolute_name",
            _member("/etc/evil.png", _IMG) + _EOF,
            "safe",
            members={"evil.png": _IMG},
        ),
        Item(
            "symlink_member",
            _member("link.png", b"", b"2", linkname="/etc/passwd") + good + _EOF,
            "safe",
            members=ok,
        ),
        Item(
            "hardlink_member",
            _member("hard.png", b"", b"1", linkname="/etc/passwd") + good + _EOF,
            "safe",
            members=ok,
        ),
        Item(
            "char_device",
            _member("tty.png", b"", b"3", devmajor=4) + good + _EOF,
            "safe",
            members=ok,
        ),
        Item(
            "block_device",
            _member("sda.png", b"", b"4", devmajor=8) + good + _EOF,
            "safe",
            members=ok,
        ),
        Item("fifo", _member("fifo.png", b"", b"6") + good + _EOF, "safe", members=ok),
        Item("unknown_type", _member("odd.png", _IMG, b"Z") + good + _EOF, "safe", members=ok),
        Item("bad_checksum", _member("ok.png", _IMG, checksum_delta=7) + _EOF, "refuse"),
        Item(
            "negative_size_b256",
            tar_header("neg.png", size_field=_b256(-1024)) + _pad(_IMG) + _EOF,
            "refuse",
        ),
        Item(
            "huge_size_octal",
            tar_header("big.png", size_field=b"77777777777\0") + _pad(_IMG) + _EOF,
            "refuse",
            note="declares 8 GiB",
        ),
        Item(
            "huge_size_b256",
            tar_header("big.png", size_field=_b256(2**80)) + _pad(_IMG) + _EOF,
            "refuse",
        ),
        Item(
            "garbage_size",
            tar_header("g.png", size_field=b"12ab\0\0\0\0\0\0\0\0") + _pad(_IMG) + _EOF,
            "refuse",
        ),
        Item("truncated_member", tar_header("t.png", 10_000) + _IMG, "refuse"),
        Item("truncated_header", good + tar_header("t.png", 5)[:200], "refuse"),
        Item(
            "missing_end_blocks",
            good,
            "safe",
            members=ok,
            note="no end-of-archive blocks: tolerated or refused, never misread",
        ),
        Item(
            "pax_huge_size",
            _pax({"size": "99999999999999"}) + _member("p.png", _IMG) + _EOF,
            "refuse",
        ),
        Item("pax_negative_size", _pax({"size": "-5"}) + _member("p.png", _IMG) + _EOF, "refuse"),
        Item(
            "pax_bad_length",
            _pax(b"99 path=evil.png\n") + _member("p.png", _IMG) + _EOF,
            "refuse",
            note="record length larger than the header",
        ),
        Item(
            "pax_not_a_number",
            _pax(b"xx path=evil.png\n") + _member("p.png", _IMG) + _EOF,
            "safe",
            members={"p.png": _IMG},
            note="a malformed record: refused or ignored",
        ),
        Item(
            "pax_traversal_path",
            _pax({"path": "../../../evil.png"}) + _member("p.png", _IMG) + _EOF,
            "safe",
            members={"evil.png": _IMG},
        ),
        Item(
            "gnu_longname_huge",
            tar_header("././@LongLink", size_field=b"%011o\0" % (2**33 - 1), typeflag=b"L")
            + b"x" * 512
            + _EOF,
            "refuse",
            note="an 8 GiB long name",
        ),
        Item(
            "gnu_longname_traversal",
            _member("././@LongLink", b"../../../evil.png\0", b"L")
            + _member("short.png", _IMG)
            + _EOF,
            "safe",
            members={"evil.png": _IMG},
        ),
        Item("gzip_tar", gzip.compress(good + _EOF), "refuse"),
        Item("zstd_magic", b"\x28\xb5\x2f\xfd" + bytes(2044), "refuse"),
        Item("garbage", bytes((i * 131 + 7) % 251 for i in range(4096)), "refuse"),
        Item("empty_file", b"", "refuse"),
        Item(
            "duplicate_basenames",
            _member("a/x.png", _IMG) + _member("b/x.png", _IMG[::-1]) + _EOF,
            "refuse",
            note="two images would share one title",
        ),
        Item(
            "empty_name",
            _member(b"\0", _IMG) + _EOF,
            "safe",
            members={},
            note="a member without a name",
        ),
        Item("dot_dot_name", _member("..", _IMG) + _EOF, "safe", members={}),
    ]


def iter_tar_bomb(members: int) -> Iterator[bytes]:
    """Chunks of a tar of ``members`` empty regular files (512 bytes each), streamed.

    One template header; per member only the name and the checksum change, so millions of
    members take seconds and a few KiB of memory.
    """
    template = bytearray(tar_header("", 0))
    template[148:156] = b" " * 8
    base = sum(template)
    per_chunk = 4096
    for lo in range(0, members, per_chunk):
        buf = bytearray()
        for i in range(lo, min(lo + per_chunk, members)):
            name = b"e%d.png" % i
            h = bytearray(template)
            h[0 : len(name)] = name
            h[148:156] = b"%06o\0 " % (base + sum(name))
            buf += h
        yield bytes(buf)
    yield _EOF


def write_tar_bomb(path: str | os.PathLike[str], members: int) -> int:
    """Write the bomb to ``path`` without holding it in memory; returns its size."""
    size = 0
    with open(path, "wb") as f:
        for chunk in iter_tar_bomb(members):
            f.write(chunk)
            size += len(chunk)
    return size


if __name__ == "__main__":  # pragma: no cover - a quick look at the corpus
    for it in pickle_corpus("/tmp") + tar_corpus():
        print(f"{it.name:28} {it.expect:7} {len(it.data):>8} B  {it.note}")
