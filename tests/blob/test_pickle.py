"""BlobImageInfo and the offsets pickle: SDK byte compatibility and the allow-list reader."""

from __future__ import annotations

import dataclasses
import os
import pickle
import pickletools
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blobflow import BlobFormatError, BlobImageInfo, UnsafePickleError
from blobflow.blob._pickle import encode_stream, iter_streams


def _load(path: str | os.PathLike[str], batch_size: int = 10_000) -> list[BlobImageInfo]:
    return [i for b in BlobImageInfo.load_from_pickle_generator(path, batch_size) for i in b]


@pytest.fixture
def sdk_class(monkeypatch: pytest.MonkeyPatch) -> type:
    """A stand-in registered as supervisely.api.image_api.BlobImageInfo, so the stdlib C
    pickler can produce the reference bytes (it refuses classes it cannot import by name)."""

    @dataclasses.dataclass
    class SdkBlobImageInfo:
        name: str
        offset_start: int
        offset_end: int

    SdkBlobImageInfo.__module__ = "supervisely.api.image_api"
    SdkBlobImageInfo.__qualname__ = SdkBlobImageInfo.__name__ = "BlobImageInfo"
    pkg, api, mod = (types.ModuleType(n) for n in ("supervisely", "supervisely.api", "x"))
    mod.__name__ = "supervisely.api.image_api"
    mod.BlobImageInfo = SdkBlobImageInfo  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "supervisely", pkg)
    monkeypatch.setitem(sys.modules, "supervisely.api", api)
    monkeypatch.setitem(sys.modules, "supervisely.api.image_api", mod)
    return SdkBlobImageInfo


def _as_sdk(items: list[BlobImageInfo], cls: type) -> list[Any]:
    """The same objects as instances of the SDK stand-in (identity of repeats preserved)."""
    made: dict[int, Any] = {}
    out = []
    for item in items:
        if id(item) not in made:
            obj = cls.__new__(cls)
            obj.__dict__.update(item.__dict__)
            made[id(item)] = obj
        out.append(made[id(item)])
    return out


# --------------------------------------------------------------------- the class


def test_methods_match_the_sdk_table() -> None:
    info = BlobImageInfo("a.jpg", 512, 1024)
    assert info.offsets_dict == {"offsetStart": 512, "offsetEnd": 1024}
    assert info.to_dict() == {
        "title": "a.jpg",
        "teamFileId": None,
        "sourceBlob": {"offsetStart": 512, "offsetEnd": 1024},
    }
    assert info.to_dict(team_file_id=9)["teamFileId"] == 9
    assert info.add_team_file_id(5) is info
    assert info.to_dict()["teamFileId"] == 5
    assert BlobImageInfo.from_dict(info.to_dict()) == BlobImageInfo("a.jpg", 512, 1024)
    assert not hasattr(BlobImageInfo.from_dict(info.to_dict()), "team_file_id")
    assert BlobImageInfo.from_dict(info.to_dict(), return_team_file_id=True).team_file_id == 5

    @dataclasses.dataclass
    class ImageInfoLike:
        name: str
        offset_start: int
        offset_end: int
        id: int = 1

    assert BlobImageInfo.from_image_info(ImageInfoLike("b.png", 1, 2)) == BlobImageInfo(
        "b.png", 1, 2
    )
    assert BlobImageInfo("x", 10, 25).size == 15


# --------------------------------------------------------------------- fixtures


def test_every_sdk_pickle_fixture_loads(sdk_fixtures: Path) -> None:
    blob = _load(sdk_fixtures / "blob" / "small_images_offsets.pkl")
    assert len(blob) == 12 and blob[0] == BlobImageInfo("img_000.png", 3072, 4116)
    assert [i.name for i in _load(sdk_fixtures / "blob_jpg_only" / "small_images_offsets.pkl")] == [
        f"img_{i:03d}.jpg" for i in range(1, 12, 2)
    ]
    assert _load(sdk_fixtures / "project-blob" / "ds0" / "small_images_offsets.pkl") == blob
    edge = _load(sdk_fixtures / "edge_offsets.pkl")
    assert [len(i.name) for i in edge] == [304, len("ünïcødé_名前.png")]
    assert edge[1].name == "ünïcødé_名前.png"
    assert edge[0].offset_start == 2**31 + 512 and edge[1].offset_end > 2**32


def test_three_stream_fixture_rebatches(sdk_fixtures: Path) -> None:
    path = sdk_fixtures / "multi_batch_offsets.pkl"
    sizes = [len(b) for b in BlobImageInfo.load_from_pickle_generator(path)]
    assert sizes == [10_000, 10_000, 5_000]
    assert [len(b) for b in BlobImageInfo.load_from_pickle_generator(path, 7_000)] == [
        7_000,
        7_000,
        7_000,
        4_000,
    ]
    items = _load(path)
    assert len(items) == 25_000 and len({i.name for i in items}) == 25_000
    assert all(i.offset_start < i.offset_end for i in items)


@pytest.mark.parametrize(
    "name",
    [
        "multi_batch_offsets.pkl",
        "edge_offsets.pkl",
        "blob/small_images_offsets.pkl",
        "blob_jpg_only/small_images_offsets.pkl",
        "project-blob/ds0/small_images_offsets.pkl",
    ],
)
def test_rewriting_a_fixture_gives_identical_bytes(
    sdk_fixtures: Path, tmp_path: Path, name: str
) -> None:
    src = sdk_fixtures / name
    out = tmp_path / "out.pkl"
    BlobImageInfo.dump_to_pickle(BlobImageInfo.load_from_pickle_generator(src), out)
    assert out.read_bytes() == src.read_bytes()


def test_opcode_shape_is_newobj_build_with_sdk_class_path() -> None:
    data = encode_stream([BlobImageInfo("a.jpg", 512, 1024), BlobImageInfo("b.jpg", 1536, 2048)])
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    assert ops[0] == ("PROTO", 4)
    assert ("SHORT_BINUNICODE", "supervisely.api.image_api") in ops
    assert ("SHORT_BINUNICODE", "BlobImageInfo") in ops
    assert [n for n, _ in ops].count("NEWOBJ") == 2 and [n for n, _ in ops].count("BUILD") == 2
    assert ("BINGET", 3) in ops  # the class, referenced again for the second item
    assert len(data) == 149  # the spec's 2-item example


# --------------------------------------------------------------------- writing == pickle.dumps

_names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=300)
_offsets = st.one_of(
    st.integers(0, 300),
    st.integers(0, 70_000),
    st.integers(2**31 - 3, 2**31 + 3),
    st.integers(0, 2**64),
)


@st.composite
def _infos(draw: st.DrawFn) -> list[BlobImageInfo]:
    n = draw(st.one_of(st.integers(0, 5), st.integers(990, 2100)))
    names = draw(st.lists(_names, min_size=n, max_size=n))
    items = []
    for name in names:
        start = draw(_offsets)
        items.append(BlobImageInfo(name, start, start + draw(st.integers(0, 10**6))))
    if items and draw(st.booleans()):
        items.append(items[0])  # the same object twice: pickle memoises it
    if items and draw(st.booleans()):
        items[-1].add_team_file_id(draw(st.one_of(st.none(), st.integers(0, 2**40))))
    return items


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # the fixture only registers a stand-in class: nothing to reset between examples
@given(items=_infos())
def test_encoder_equals_c_pickler(items: list[BlobImageInfo], sdk_class: type) -> None:
    assert encode_stream(items) == pickle.dumps(_as_sdk(items, sdk_class), protocol=4)


def test_encoder_equals_c_pickler_across_many_frames(sdk_class: type) -> None:
    items = [
        BlobImageInfo(f"img_{i:06d}_{'x' * (i % 200)}.png", i * 4608, i * 4608 + 4000 + i % 600)
        for i in range(10_000)
    ]
    items[5] = BlobImageInfo("a", 1, 2)
    items[6] = BlobImageInfo("a", 3, 4)  # one-character strings are shared objects in CPython
    assert encode_stream(items) == pickle.dumps(_as_sdk(items, sdk_class), protocol=4)


# --------------------------------------------------------------------- dump_to_pickle


def test_dump_splits_into_streams_of_10000(tmp_path: Path) -> None:
    items = [BlobImageInfo(f"{i}.png", i, i + 1) for i in range(23_456)]
    out = tmp_path / "o.pkl"
    BlobImageInfo.dump_to_pickle(items, out)
    sizes = [len(stream) for stream in iter_streams(str(out))]
    assert sizes == [10_000, 10_000, 3_456]
    assert _load(out) == items


def test_dump_accepts_batches_generator_and_replaces(tmp_path: Path) -> None:
    out = tmp_path / "o.pkl"

    def batches() -> Iterator[list[BlobImageInfo]]:
        yield [BlobImageInfo("a", 0, 1)]
        yield []
        yield [BlobImageInfo("b", 1, 2), BlobImageInfo("c", 2, 3)]

    BlobImageInfo.dump_to_pickle(batches(), out)
    assert [i.name for i in _load(out)] == ["a", "b", "c"]
    BlobImageInfo.dump_to_pickle([BlobImageInfo("z", 0, 1)], out)  # replaced, not appended
    assert [i.name for i in _load(out)] == ["z"]
    BlobImageInfo.dump_to_pickle([BlobImageInfo("y", 0, 1)], out, append=True)
    assert [i.name for i in _load(out)] == ["z", "y"]


def test_dump_rejects_non_infos_and_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "o.pkl"
    BlobImageInfo.dump_to_pickle([BlobImageInfo("keep", 0, 1)], out)
    with pytest.raises(BlobFormatError):
        BlobImageInfo.dump_to_pickle([BlobImageInfo("a", 0, 1), "nope"], out)  # type: ignore[list-item]
    with pytest.raises(BlobFormatError, match=r"invalid BlobImageInfo\(name='a', offset_start=5"):
        BlobImageInfo.dump_to_pickle([BlobImageInfo("a", 5, 1)], out)
    assert [i.name for i in _load(out)] == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.pkl"]


# --------------------------------------------------------------------- hostile input


class _Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch /tmp/blobflow-pwned",))


def _write(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "evil_offsets.pkl"
    p.write_bytes(data)
    return p


def test_reduce_to_os_system_is_refused(tmp_path: Path) -> None:
    marker = Path("/tmp/blobflow-pwned")
    marker.unlink(missing_ok=True)
    p = _write(tmp_path, pickle.dumps([_Evil()], protocol=4))
    with pytest.raises(UnsafePickleError, match=r"evil_offsets\.pkl.*(posix|os)\.system"):
        _load(p)
    assert not marker.exists()


def test_builtins_eval_is_refused(tmp_path: Path) -> None:
    payload = b"\x80\x04cbuiltins\neval\n(V__import__('os').getcwd()\ntR."
    p = _write(tmp_path, payload)
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        _load(p)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x80\x04\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94.",
        b"\x80\x04\x8c\x19supervisely.api.image_api\x8c\tImageInfo\x93).",
        b"\x80\x04\x8c\x1ablobflow.blob._pickle_fake\x8c\rBlobImageInfo\x93).",
        b"\x80\x04cbuiltins\ngetattr\n.",
    ],
    ids=["OrderedDict", "sdk-ImageInfo", "other-module", "getattr"],
)
def test_unknown_classes_are_refused(tmp_path: Path, payload: bytes) -> None:
    with pytest.raises(UnsafePickleError, match=r"evil_offsets\.pkl.*is not allowed"):
        _load(_write(tmp_path, payload))


def test_truncated_stream_is_an_error_not_empty(sdk_fixtures: Path, tmp_path: Path) -> None:
    data = (sdk_fixtures / "multi_batch_offsets.pkl").read_bytes()
    for cut in (5, 1000, 430_095 + 3, len(data) - 1):
        p = _write(tmp_path, data[:cut])
        with pytest.raises(
            UnsafePickleError, match=r"evil_offsets\.pkl: (truncated|malformed|unsafe)"
        ):
            _load(p)


def test_garbage_and_wrong_content_are_errors(tmp_path: Path) -> None:
    cases = [
        b"not a pickle at all",
        pickle.dumps([1, 2, 3], protocol=4),
        pickle.dumps({"name": "a"}, protocol=4),
        encode_stream([BlobImageInfo("a", 0, 1)]) + b"trailing junk",
    ]
    for payload in cases:
        with pytest.raises(UnsafePickleError, match=r"evil_offsets\.pkl"):
            _load(_write(tmp_path, payload))


def test_build_with_bad_field_types_is_an_error(tmp_path: Path) -> None:
    good = encode_stream([BlobImageInfo("a", 0, 1)])
    bad = good.replace(b"K\x00", b"\x8c\x01x\x94", 1)  # offset_start becomes a string
    with pytest.raises(UnsafePickleError, match="invalid BlobImageInfo"):
        _load(_write(tmp_path, bad))


def test_empty_file_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BlobFormatError, match="empty offsets file"):
        _load(_write(tmp_path, b""))
    with pytest.raises(FileNotFoundError):
        _load(tmp_path / "missing.pkl")


def test_empty_list_stream_is_no_entries(tmp_path: Path) -> None:
    assert _load(_write(tmp_path, pickle.dumps([], protocol=4))) == []


def test_single_object_streams_are_accepted(tmp_path: Path, sdk_class: type) -> None:
    data = b"".join(
        pickle.dumps(_as_sdk([BlobImageInfo(n, 0, 1)], sdk_class)[0], protocol=4) for n in "abc"
    )
    assert [i.name for i in _load(_write(tmp_path, data))] == ["a", "b", "c"]
