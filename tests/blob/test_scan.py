"""get_file_offsets_batch_generator / save_blob_offsets_pkl: raw header walking and bad tars."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from pathlib import Path

import pytest

from blobflow import (
    BlobFormatError,
    BlobImageInfo,
    get_file_offsets_batch_generator,
    save_blob_offsets_pkl,
)
from blobflow.blob._tar import iter_tar_members

from ._helpers import regular, tar_bytes, tarfile_offsets


def _objects(path: str | os.PathLike[str], **kw: object) -> list[BlobImageInfo]:
    return [
        i
        for b in get_file_offsets_batch_generator(path, output_format="objects", **kw)  # type: ignore[call-overload]
        for i in b
    ]


def _write(tmp_path: Path, data: bytes, name: str = "t.tar") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# --------------------------------------------------------------------- SDK fixtures


def test_sdk_tar_matches_sdk_pkl_and_tarfile(sdk_fixtures: Path) -> None:
    tar = sdk_fixtures / "blob" / "small_images.tar"
    expected = [
        i
        for b in BlobImageInfo.load_from_pickle_generator(
            sdk_fixtures / "blob" / "small_images_offsets.pkl"
        )
        for i in b
    ]
    got = _objects(tar)
    assert got == expected
    assert [(i.name, i.offset_start, i.offset_end) for i in got] == tarfile_offsets(tar)
    assert len(got) == 12  # the directory members ('' and 'sub') are skipped


def test_sdk_jpg_only_filter(sdk_fixtures: Path) -> None:
    expected = [
        i
        for b in BlobImageInfo.load_from_pickle_generator(
            sdk_fixtures / "blob_jpg_only" / "small_images_offsets.pkl"
        )
        for i in b
    ]
    got = _objects(
        sdk_fixtures / "blob" / "small_images.tar",
        filter_func=lambda f: f.lower().endswith(".jpg"),
    )
    assert got == expected and len(got) == 6


def test_save_blob_offsets_pkl_bytes_equal_sdk_file(sdk_fixtures: Path, tmp_path: Path) -> None:
    out = save_blob_offsets_pkl(sdk_fixtures / "blob" / "small_images.tar", tmp_path)
    assert out == str(tmp_path / "small_images_offsets.pkl")
    assert (
        Path(out).read_bytes() == (sdk_fixtures / "blob" / "small_images_offsets.pkl").read_bytes()
    )


def test_dicts_have_sdk_shape(sdk_fixtures: Path) -> None:
    (batch,) = get_file_offsets_batch_generator(
        sdk_fixtures / "blob" / "small_images.tar", team_file_id=77
    )
    assert batch[0] == {
        "title": "img_000.png",
        "teamFileId": 77,
        "sourceBlob": {"offsetStart": 3072, "offsetEnd": 3072 + 1044},
    }


# --------------------------------------------------------------------- batching / replace


def test_batches_and_replace_semantics(tmp_path: Path) -> None:
    tar = _write(tmp_path, tar_bytes([regular(f"{i}.png", b"x" * (i + 1)) for i in range(25)]))
    sizes = [len(b) for b in get_file_offsets_batch_generator(tar, batch_size=10)]
    assert sizes == [10, 10, 5]
    out = save_blob_offsets_pkl(tar, tmp_path, batch_size=10)
    first = Path(out).read_bytes()
    loaded = [i for b in BlobImageInfo.load_from_pickle_generator(out) for i in b]
    assert [i.name for i in loaded] == [f"{i}.png" for i in range(25)]
    # replace=False keeps the file as is, even if the tar changed
    tar.write_bytes(tar_bytes([regular("only.png", b"1")]))
    assert save_blob_offsets_pkl(tar, tmp_path) == out
    assert Path(out).read_bytes() == first
    # replace=True rewrites it whole: no duplicates appended
    save_blob_offsets_pkl(tar, tmp_path, replace=True)
    again = [i for b in BlobImageInfo.load_from_pickle_generator(out) for i in b]
    assert [i.name for i in again] == ["only.png"]
    save_blob_offsets_pkl(tar, tmp_path, replace=True)
    assert [i.name for b in BlobImageInfo.load_from_pickle_generator(out) for i in b] == [
        "only.png"
    ]


def test_failed_scan_keeps_existing_pkl(tmp_path: Path) -> None:
    tar = _write(tmp_path, tar_bytes([regular("a.png", b"a")]))
    out = save_blob_offsets_pkl(tar, tmp_path)
    before = Path(out).read_bytes()
    tar.write_bytes(gzip.compress(tar.read_bytes()))
    with pytest.raises(BlobFormatError):
        save_blob_offsets_pkl(tar, tmp_path, replace=True)
    assert Path(out).read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------- header variants


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_formats_long_and_unicode_names(tmp_path: Path, fmt: int) -> None:
    long_dir = "d" * 60 + "/" + "e" * 60  # USTAR prefix split
    names = ["a.png", f"{long_dir}/f.png"]
    if fmt != tarfile.USTAR_FORMAT:
        names += ["g" * 150 + ".png", "ünï/名前.jpg"]
    tar = _write(tmp_path, tar_bytes([regular(n, n.encode() * 3) for n in names], fmt))
    got = _objects(tar)
    assert [(i.name, i.offset_start, i.offset_end) for i in got] == tarfile_offsets(tar)
    blob = tar.read_bytes()
    assert [blob[i.offset_start : i.offset_end] for i in got] == [n.encode() * 3 for n in names]


def test_pax_global_header_and_size_record(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "hi"}
    ) as t:
        for name in ("a.png", "b.png"):
            info = tarfile.TarInfo(name)
            info.size = 5
            info.pax_headers = {"size": "5"}
            t.addfile(info, io.BytesIO(b"12345"))
    tar = _write(tmp_path, buf.getvalue())
    got = _objects(tar)
    assert [(i.name, i.offset_start, i.offset_end) for i in got] == tarfile_offsets(tar)


def test_base256_size_field(tmp_path: Path) -> None:
    raw = bytearray(tar_bytes([regular("a.png", b"hello")], tarfile.GNU_FORMAT))
    raw[124:136] = b"\x80" + (5).to_bytes(11, "big")
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\x00 " % sum(raw[:512])
    tar = _write(tmp_path, bytes(raw))
    (info,) = _objects(tar)
    assert (info.offset_start, info.offset_end) == (512, 517)
    assert tarfile_offsets(tar) == [("a.png", 512, 517)]


def test_gnu_tar_written_archive(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("tar") is None:
        pytest.skip("GNU tar not installed")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.png").write_bytes(b"a" * 700)
    (src / "sub" / ("L" * 130 + ".png")).write_bytes(b"long")
    for fmt in ("gnu", "posix", "ustar", "v7"):
        if fmt in ("ustar", "v7"):
            (src / "sub" / ("L" * 130 + ".png")).unlink(missing_ok=True)
        tar = tmp_path / f"{fmt}.tar"
        subprocess.run(["tar", f"--format={fmt}", "-cf", str(tar), "-C", str(src), "."], check=True)
        got = _objects(tar)
        assert [(i.name, i.offset_start, i.offset_end) for i in got] == tarfile_offsets(tar), fmt


# --------------------------------------------------------------------- bad input


def test_traversal_member_name_is_an_error(tmp_path: Path) -> None:
    tar = _write(tmp_path, tar_bytes([regular("ok.png", b"1"), regular("../evil.png", b"2")]))
    with pytest.raises(BlobFormatError, match=r"'\.\./evil\.png' escapes"):
        _objects(tar)
    tar = _write(tmp_path, tar_bytes([regular("a/../../evil.png", b"2")]), "t2.tar")
    with pytest.raises(BlobFormatError, match="escapes"):
        _objects(tar)


def test_absolute_member_name_is_an_error(tmp_path: Path) -> None:
    raw = bytearray(tar_bytes([regular("xetc/passwd.png", b"2")], tarfile.USTAR_FORMAT))
    raw[0:1] = b"/"  # tarfile strips a leading '/' when writing; put it back by hand
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\x00 " % sum(raw[:512])
    tar = _write(tmp_path, bytes(raw))
    with pytest.raises(BlobFormatError, match=r"absolute member path '/etc/passwd.png'"):
        _objects(tar)


@pytest.mark.parametrize(
    ("typeflag", "kind"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.CHRTYPE, "character device"),
        (tarfile.BLKTYPE, "block device"),
        (tarfile.FIFOTYPE, "FIFO"),
    ],
)
def test_links_and_devices_are_errors_or_skipped(
    tmp_path: Path, typeflag: bytes, kind: str
) -> None:
    special = tarfile.TarInfo("special.png")
    special.type = typeflag
    if typeflag in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        special.linkname = "a.png"
    tar = _write(tmp_path, tar_bytes([regular("a.png", b"aa"), (special, None)]))
    with pytest.raises(BlobFormatError, match=f"'special.png' is a {kind}"):
        _objects(tar)
    assert [i.name for i in _objects(tar, skip_special=True)] == ["a.png"]


def test_duplicate_basenames_in_tar_are_an_error(tmp_path: Path) -> None:
    tar = _write(tmp_path, tar_bytes([regular("x/a.png", b"1"), regular("y/a.png", b"2")]))
    with pytest.raises(BlobFormatError, match=r"'x/a.png' and 'y/a.png'"):
        _objects(tar)
    tar = _write(tmp_path, tar_bytes([regular("a.png", b"1"), regular("a.png", b"2")]), "s.tar")
    with pytest.raises(BlobFormatError, match="same image name"):
        _objects(tar)


def test_zero_byte_member_is_listed_with_empty_range(tmp_path: Path) -> None:
    tar = _write(tmp_path, tar_bytes([regular("empty.png", b""), regular("b.png", b"b")]))
    got = _objects(tar)
    assert [(i.name, i.offset_start, i.offset_end) for i in got] == tarfile_offsets(tar)
    assert got[0].offset_start == got[0].offset_end


@pytest.mark.parametrize(
    ("compress", "kind"),
    [(gzip.compress, "gzip"), (bz2.compress, "bzip2"), (lzma.compress, "xz")],
)
def test_compressed_tars_are_errors(tmp_path: Path, compress: object, kind: str) -> None:
    data = tar_bytes([regular("a.png", b"x" * 1000)])
    tar = _write(tmp_path, compress(data))  # type: ignore[operator]
    with pytest.raises(BlobFormatError, match=f"{kind}-compressed"):
        _objects(tar)


def test_zstd_tar_is_an_error(tmp_path: Path) -> None:
    # a zstd frame: magic 28 b5 2f fd, then a frame header (no zstd module needed)
    tar = _write(tmp_path, b"\x28\xb5\x2f\xfd\x24\x05\x29\x00\x00hello" + bytes(600))
    with pytest.raises(BlobFormatError, match=r"t\.tar: zstd-compressed"):
        _objects(tar)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"\x89PNG\r\n" + bytes(range(256)) * 8, b"\x00" * 100],
    ids=["empty", "short", "png", "zeros"],
)
def test_non_tar_files_are_errors(tmp_path: Path, data: bytes) -> None:
    tar = _write(tmp_path, data)
    with pytest.raises(BlobFormatError, match=r"t\.tar: (empty file|not a tar)"):
        _objects(tar)


def test_truncated_tars_are_errors(tmp_path: Path) -> None:
    data = tar_bytes([regular("a.png", b"a" * 3000), regular("b.png", b"b" * 3000)])
    header_b = 512 + 3072  # second member's header
    for cut, why in [
        (header_b + 3000 - 1, "data of 'b.png' cut off"),  # inside data
        (header_b + 100, "member header cut off"),  # inside a header
        (header_b + 512 + 3072, "no end-of-archive marker"),  # at a member boundary
        (1500, "data of 'a.png' cut off"),
    ]:
        tar = _write(tmp_path, data[:cut])
        with pytest.raises(BlobFormatError, match=f"truncated tar: {why}"):
            _objects(tar)


def test_corrupt_header_checksum_is_an_error(tmp_path: Path) -> None:
    data = bytearray(tar_bytes([regular("a.png", b"a" * 10), regular("b.png", b"b")]))
    data[1024 + 5] ^= 0xFF  # flip a byte in b.png's header name field
    tar = _write(tmp_path, bytes(data))
    with pytest.raises(BlobFormatError, match="checksum mismatch"):
        _objects(tar)


def test_sparse_member_is_an_error(tmp_path: Path) -> None:
    data = bytearray(tar_bytes([regular("a.png", b"a" * 10)], tarfile.GNU_FORMAT))
    data[156:157] = b"S"
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\x00 " % sum(data[:512])
    tar = _write(tmp_path, bytes(data))
    with pytest.raises(BlobFormatError, match="sparse"):
        _objects(tar)


def test_iter_tar_members_reports_every_member(sdk_fixtures: Path) -> None:
    members = list(iter_tar_members(sdk_fixtures / "blob" / "small_images.tar"))
    with tarfile.open(sdk_fixtures / "blob" / "small_images.tar") as t:
        expected = [(m.name, m.offset, m.offset_data, m.size) for m in t.getmembers()]
    assert [(m.name, m.offset, m.offset_data, m.size) for m in members] == expected


def test_bad_output_format() -> None:
    with pytest.raises(ValueError, match="output_format"):
        get_file_offsets_batch_generator("x.tar", output_format="lists")  # type: ignore[call-overload]


def test_all_zero_archive_is_empty(tmp_path: Path) -> None:
    tar = _write(tmp_path, bytes(10240))  # what GNU tar writes for an empty archive
    assert _objects(tar) == []


def test_colon_names_are_plain_and_backslash_names_are_errors(tmp_path: Path) -> None:
    tar = _write(tmp_path, tar_bytes([regular("A:/0", b"1"), regular("a:b.png", b"2")]))
    assert [i.name for i in _objects(tar)] == ["0", "a:b.png"]
    tar = _write(tmp_path, tar_bytes([regular("C:\\evil.png", b"1")]), "d.tar")
    with pytest.raises(BlobFormatError, match="contains a backslash"):
        _objects(tar)
