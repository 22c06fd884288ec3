"""archive_directory(_parts): one-pass packing, offsets, determinism, bad input."""

from __future__ import annotations

import os
import socket
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import blobflow.blob._pickle
from blobflow import (
    BlobFormatError,
    BlobImageInfo,
    BlobPart,
    archive_directory,
    archive_directory_parts,
)
from blobflow.blob import OFFSETS_PKL_BATCH_SIZE, get_file_offsets_batch_generator
from blobflow.blob._pickle import iter_streams

from ._helpers import tarfile_offsets

Tree = Callable[[dict[str, bytes]], Path]


def _data(n: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(n))


def test_round_trip_offsets_match_tarfile_and_bytes(make_tree: Tree, tmp_path: Path) -> None:
    files = {
        "a.png": _data(1000),
        "sub/b.jpg": _data(512, 1),
        "sub/deep/c.png": _data(1, 2),
        "z/" + "long_" * 30 + ".png": _data(3000, 3),
        "ünï/名前.jpg": _data(700, 4),
    }
    src = make_tree(files)
    tar = tmp_path / "out.tar"
    infos = archive_directory(src, tar)
    assert [(i.name, i.offset_start, i.offset_end) for i in infos] == tarfile_offsets(tar)
    blob = tar.read_bytes()
    by_name = {os.path.basename(k): v for k, v in files.items()}
    for info in infos:
        assert blob[info.offset_start : info.offset_end] == by_name[info.name]
    assert {i.name for i in infos} == set(by_name)
    with tarfile.open(tar) as t:  # paths are kept relative to src_dir
        assert sorted(m.name for m in t.getmembers()) == sorted(files)
    assert len(blob) % 10240 == 0  # padded to whole records like GNU tar


def test_deterministic_sorted_fixed_metadata(make_tree: Tree, tmp_path: Path) -> None:
    files = {f"d{i % 3}/img_{i:03d}.png": _data(100 + i, i) for i in range(20)}
    a = archive_directory(make_tree(files), tmp_path / "a.tar")
    os.utime(tmp_path / "a.tar")
    b = archive_directory(make_tree(dict(reversed(files.items()))), tmp_path / "b.tar")
    assert a == b
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as t:
        members = t.getmembers()
    assert [m.name for m in members] == sorted(files)
    assert {(m.mtime, m.uid, m.gid, m.mode, m.uname, m.gname) for m in members} == {
        (0, 0, 0, 0o644, "", "")
    }


def test_scan_of_packed_tar_equals_packer_offsets(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({f"x/{i}.png": _data(i * 97 + 1) for i in range(50)})
    infos = archive_directory(src, tmp_path / "o.tar")
    (scanned,) = get_file_offsets_batch_generator(tmp_path / "o.tar", output_format="objects")
    assert scanned == infos


def test_offsets_dir_writes_sdk_named_pkl(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"a.png": b"a", "b.png": b"bb"})
    infos = archive_directory(src, tmp_path / "blob.tar", offsets_dir=tmp_path / "off")
    pkl = tmp_path / "off" / "blob_offsets.pkl"
    assert [i for b in BlobImageInfo.load_from_pickle_generator(pkl) for i in b] == infos


def test_filter_func_gets_relative_path(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"a.png": b"a", "sub/b.jpg": b"b", "sub/c.png": b"c"})
    seen: list[str] = []

    def only_sub(rel: str) -> bool:
        seen.append(rel)
        return rel.startswith("sub/")

    infos = archive_directory(src, tmp_path / "f.tar", filter_func=only_sub)
    assert sorted(seen) == ["a.png", "sub/b.jpg", "sub/c.png"]
    assert [i.name for i in infos] == ["b.jpg", "c.png"]


def test_duplicate_basenames_name_both_paths(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"x/img.png": b"1", "y/img.png": b"2"})
    with pytest.raises(BlobFormatError, match=r"'x/img.png' and 'y/img.png'.*'img.png'"):
        archive_directory(src, tmp_path / "d.tar")
    assert not (tmp_path / "d.tar").exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_zero_byte_file_is_an_error_unless_allowed(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"a.png": b"x", "empty.png": b""})
    with pytest.raises(BlobFormatError, match="empty.png: empty file"):
        archive_directory(src, tmp_path / "e.tar")
    assert os.listdir(tmp_path).count("e.tar") == 0
    infos = archive_directory(src, tmp_path / "e.tar", allow_empty=True)
    empty = next(i for i in infos if i.name == "empty.png")
    assert empty.offset_start == empty.offset_end
    assert [(i.name, i.offset_start, i.offset_end) for i in infos] == tarfile_offsets(
        tmp_path / "e.tar"
    )


def test_symlink_is_an_error_unless_followed(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"real.png": b"real"})
    (src / "link.png").symlink_to(src / "real.png")
    with pytest.raises(BlobFormatError, match="link.png: is a symbolic link"):
        archive_directory(src, tmp_path / "s.tar")
    infos = archive_directory(src, tmp_path / "s.tar", follow_symlinks=True)
    blob = (tmp_path / "s.tar").read_bytes()
    assert {i.name: blob[i.offset_start : i.offset_end] for i in infos} == {
        "link.png": b"real",
        "real.png": b"real",
    }


def test_fifo_and_socket_are_errors(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"a.png": b"a"})
    os.mkfifo(src / "pipe.png")
    with pytest.raises(BlobFormatError, match="pipe.png: is a FIFO"):
        archive_directory(src, tmp_path / "p.tar")
    os.remove(src / "pipe.png")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(src / "s.sock"))
        with pytest.raises(BlobFormatError, match="s.sock: is a socket"):
            archive_directory(src, tmp_path / "p.tar")
    finally:
        sock.close()


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BlobFormatError, match="not a directory"):
        archive_directory(tmp_path / "missing", tmp_path / "x.tar")


def test_failure_keeps_an_existing_tar(make_tree: Tree, tmp_path: Path) -> None:
    good = archive_directory(make_tree({"a.png": b"a"}), tmp_path / "t.tar")
    before = (tmp_path / "t.tar").read_bytes()
    with pytest.raises(BlobFormatError):
        archive_directory(make_tree({"x/a.png": b"1", "y/a.png": b"2"}), tmp_path / "t.tar")
    assert (tmp_path / "t.tar").read_bytes() == before
    assert good[0].name == "a.png"


def test_large_file_spans_several_reads(make_tree: Tree, tmp_path: Path) -> None:
    big = os.urandom(300_000)
    src = make_tree({"big.bin": big, "small.png": b"s"})
    infos = archive_directory(src, tmp_path / "b.tar")
    blob = (tmp_path / "b.tar").read_bytes()
    assert blob[infos[0].offset_start : infos[0].offset_end] == big


def test_split_by_members(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({f"{i:02d}.png": _data(600, i) for i in range(7)})
    parts = archive_directory_parts(src, tmp_path / "blob.tar", max_members=3, offsets_dir=tmp_path)
    assert [Path(p.tar_path).name for p in parts] == [
        "blob_001.tar",
        "blob_002.tar",
        "blob_003.tar",
    ]
    assert [len(p.infos) for p in parts] == [3, 3, 1]
    assert not (tmp_path / "blob.tar").exists()
    names = []
    for p in parts:
        assert [(i.name, i.offset_start, i.offset_end) for i in p.infos] == tarfile_offsets(
            p.tar_path
        )
        assert p.offsets_path == str(tmp_path / (Path(p.tar_path).stem + "_offsets.pkl"))
        loaded = [i for b in BlobImageInfo.load_from_pickle_generator(p.offsets_path) for i in b]
        assert loaded == p.infos
        names += [i.name for i in p.infos]
    assert names == [f"{i:02d}.png" for i in range(7)]


def test_split_by_bytes(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree(
        {f"{i:02d}.png": _data(5000, i) for i in range(10)} | {"big.png": _data(50_000)}
    )
    limit = 20 * 1024
    parts = archive_directory_parts(src, tmp_path / "s.tar", max_bytes=limit)
    sizes = [os.path.getsize(p.tar_path) for p in parts]
    big = [p for p in parts if any(i.name == "big.png" for i in p.infos)]
    assert len(big) == 1 and len(big[0].infos) == 1  # too big for any part: alone
    assert all(s <= limit for p, s in zip(parts, sizes, strict=True) if p is not big[0])
    assert sum(len(p.infos) for p in parts) == 11
    for p in parts:
        assert [(i.name, i.offset_start, i.offset_end) for i in p.infos] == tarfile_offsets(
            p.tar_path
        )


def test_split_limits_validated(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"a.png": b"a"})
    with pytest.raises(ValueError):
        archive_directory_parts(src, tmp_path / "x.tar", max_members=0)
    with pytest.raises(ValueError):
        archive_directory_parts(src, tmp_path / "x.tar", max_bytes=100)


def test_gnu_tar_lists_and_extracts_our_blob(make_tree: Tree, tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("tar") is None:
        pytest.skip("GNU tar not installed")
    files = {"a.png": b"a" * 10, "n/" + "x" * 120 + ".png": b"long", "ü.jpg": b"uni"}
    archive_directory(make_tree(files), tmp_path / "g.tar")
    out = tmp_path / "extract"
    out.mkdir()
    subprocess.run(["tar", "xf", str(tmp_path / "g.tar"), "-C", str(out)], check=True)
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data


def test_nothing_to_pack_is_an_error(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"a.png": b"a"})
    with pytest.raises(BlobFormatError, match="nothing to pack"):
        archive_directory(src, tmp_path / "n.tar", filter_func=lambda rel: False)
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(BlobFormatError, match="nothing to pack"):
        archive_directory(tmp_path / "emptydir", tmp_path / "n.tar")
    assert not (tmp_path / "n.tar").exists()


def test_packing_into_the_source_folder_skips_own_outputs(make_tree: Tree) -> None:
    src = make_tree({"a.png": b"a", "sub/b.png": b"b"})
    first = archive_directory(src, src / "blob.tar", offsets_dir=src)
    again = archive_directory(src, src / "blob.tar", offsets_dir=src)  # blob + pkl now exist
    assert [i.name for i in first] == [i.name for i in again] == ["a.png", "b.png"]
    parts = archive_directory_parts(src, src / "blob.tar", max_members=1, offsets_dir=src)
    assert [i.name for p in parts for i in p.infos] == ["a.png", "b.png"]
    (src / "blob_notes.txt").write_bytes(b"n")  # similar names are still packed
    assert "blob_notes.txt" in [i.name for i in archive_directory(src, src / "blob.tar")]


def test_backslash_in_a_file_name_is_an_error(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"a\\b.png": b"x"})
    with pytest.raises(BlobFormatError, match="contains a backslash"):
        archive_directory(src, tmp_path / "b.tar")


# --------------------------------------------------------------------------- keep_infos=False


def _pack_both(
    src: Path, out: Path, **kwargs: Any
) -> tuple[list[BlobPart], list[BlobPart], list[bytes], list[bytes]]:
    """Pack src with keep_infos True and False into out/keep and out/stream; the parts and the
    bytes of each part's .pkl."""
    (out / "keep").mkdir()
    (out / "stream").mkdir()
    keep = archive_directory_parts(src, out / "keep" / "b.tar", offsets_dir=out / "keep", **kwargs)
    stream = archive_directory_parts(
        src, out / "stream" / "b.tar", offsets_dir=out / "stream", keep_infos=False, **kwargs
    )
    assert [Path(p.tar_path).name for p in keep] == [Path(p.tar_path).name for p in stream]
    for k, s in zip(keep, stream, strict=True):
        assert Path(k.tar_path).read_bytes() == Path(s.tar_path).read_bytes()
    pkls = [[Path(str(p.offsets_path)).read_bytes() for p in ps] for ps in (keep, stream)]
    return keep, stream, pkls[0], pkls[1]


@pytest.fixture(scope="module")
def batch_plus_two_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OFFSETS_PKL_BATCH_SIZE + 2 tiny files (the fewest that give every boundary below)."""
    root = tmp_path_factory.mktemp("src")
    for i in range(OFFSETS_PKL_BATCH_SIZE + 2):
        fd = os.open(root / f"{i:05d}.png", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"%d" % i)
        finally:
            os.close(fd)
    return root


@pytest.mark.parametrize("max_members", [None, 10_000, 10_001])
def test_keep_infos_false_writes_the_same_pkl(
    batch_plus_two_files: Path, tmp_path: Path, max_members: int | None
) -> None:
    # the real batch size (10,000): parts of 10,002 (streams of 10,000 + 2), of exactly
    # 10,000 + 2, and of 10,001 (streams of 10,000 + 1) + 1 members
    assert OFFSETS_PKL_BATCH_SIZE == 10_000
    src = batch_plus_two_files
    keep, stream, keep_pkls, stream_pkls = _pack_both(src, tmp_path, max_members=max_members)
    assert keep_pkls == stream_pkls
    expected = {None: [10_002], 10_000: [10_000, 2], 10_001: [10_001, 1]}[max_members]
    assert [p.member_count for p in keep] == [len(p.infos) for p in keep] == expected
    assert [p.member_count for p in stream] == expected
    assert all(p.infos == [] for p in stream)
    for p, count in zip(stream, expected, strict=True):
        sizes = [len(s) for s in iter_streams(str(p.offsets_path))]
        assert sizes == [OFFSETS_PKL_BATCH_SIZE] * (count // 10_000) + [count % 10_000] * (
            count % 10_000 > 0
        )


@pytest.mark.parametrize(
    "limits",
    [{}, {"max_members": 4}, {"max_members": 5}, {"max_members": 8}, {"max_bytes": 7 * 1024}],
)
def test_keep_infos_false_small_batches(
    make_tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limits: dict[str, int]
) -> None:
    # the batch size is read at call time: 4 gives many stream and part boundaries cheaply
    monkeypatch.setattr(blobflow.blob._pickle, "OFFSETS_PKL_BATCH_SIZE", 4)
    src = make_tree({f"{i:02d}.png": _data(600, i) for i in range(19)})
    keep, stream, keep_pkls, stream_pkls = _pack_both(src, tmp_path, **limits)
    assert keep_pkls == stream_pkls
    assert [p.member_count for p in stream] == [len(p.infos) for p in keep]
    assert sum(p.member_count for p in stream) == 19
    for p in stream:
        assert p.infos == []
        sizes = [len(s) for s in iter_streams(str(p.offsets_path))]
        assert all(n == 4 for n in sizes[:-1]) and 0 < sizes[-1] <= 4
        assert sum(sizes) == p.member_count
        loaded = [i for s in iter_streams(str(p.offsets_path)) for i in s]
        assert [(i.name, i.offset_start, i.offset_end) for i in loaded] == tarfile_offsets(
            p.tar_path
        )


def test_keep_infos_false_needs_offsets_dir(make_tree: Tree, tmp_path: Path) -> None:
    src = make_tree({"a.png": b"a"})
    with pytest.raises(ValueError, match="offsets_dir"):
        archive_directory_parts(src, tmp_path / "x.tar", keep_infos=False)
    assert not (tmp_path / "x.tar").exists()


@pytest.mark.parametrize("keep_infos", [True, False])
def test_failure_mid_pack_leaves_nothing_behind(
    make_tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_infos: bool
) -> None:
    # batches of 2 and parts of 3: two complete parts and streams already written when the
    # empty file (last in order) fails the call
    monkeypatch.setattr(blobflow.blob._pickle, "OFFSETS_PKL_BATCH_SIZE", 2)
    src = make_tree({f"{i}.png": b"x" for i in range(7)} | {"9.png": b""})
    out = tmp_path / "out"
    out.mkdir()
    offsets = tmp_path / "offsets"  # created by the call: removed again on failure
    with pytest.raises(BlobFormatError, match="empty file"):
        archive_directory_parts(
            src, out / "b.tar", offsets_dir=offsets, max_members=3, keep_infos=keep_infos
        )
    assert list(out.iterdir()) == []
    assert not offsets.exists()
    # an existing offsets folder is kept, and left as it was
    offsets.mkdir()
    (offsets / "other.txt").write_bytes(b"o")
    with pytest.raises(BlobFormatError, match="empty file"):
        archive_directory_parts(
            src, out / "b.tar", offsets_dir=offsets, max_members=3, keep_infos=keep_infos
        )
    assert list(out.iterdir()) == []
    assert [p.name for p in offsets.iterdir()] == ["other.txt"]
