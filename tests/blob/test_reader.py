"""BlobReader: O(1) access, decoding, tar order, verify(), bounds checks, no leaked handles."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blobflow import BlobFormatError, BlobImageInfo, BlobReader, archive_directory

from ._helpers import regular, tar_bytes


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_sdk_blob_with_pkl_and_scanned(sdk_fixtures: Path) -> None:
    tar = sdk_fixtures / "blob" / "small_images.tar"
    src = sdk_fixtures / "source-images"
    with (
        BlobReader(tar, sdk_fixtures / "blob" / "small_images_offsets.pkl") as a,
        BlobReader(tar) as b,
    ):
        assert list(a) == list(b) == sorted(p.name for p in src.rglob("*.*"))
        for name in a:
            path = next(src.rglob(name))
            assert a.get_bytes(name) == b[name] == path.read_bytes()
            expected = np.asarray(Image.open(path).convert("RGB"))
            got = a.get_np(name)
            assert got.dtype == np.uint8 and got.ndim == 3 and got.shape[2] == 3
            assert np.array_equal(got, expected)
        assert a.verify() == 12
        assert len(a) == 12 and "img_003.jpg" in a and "nope.png" not in a
        assert a.info("img_003.jpg") == BlobImageInfo("img_003.jpg", 11776, 11776 + 985)
        assert [i.name for i in a.infos()] == list(a)


def test_project_blob_fixture(sdk_fixtures: Path) -> None:
    project = sdk_fixtures / "project-blob"
    with BlobReader(
        project / "blob" / "small_images.tar", project / "ds0" / "small_images_offsets.pkl"
    ) as blob:
        assert blob.verify() == 12
        for name in blob:
            assert (project / "ds0" / "ann" / f"{name}.json").is_file()
            assert blob.get_np(name).shape[2] == 3


def test_jpg_only_offsets_give_a_subset(sdk_fixtures: Path) -> None:
    with BlobReader(
        sdk_fixtures / "blob" / "small_images.tar",
        sdk_fixtures / "blob_jpg_only" / "small_images_offsets.pkl",
    ) as blob:
        assert len(blob) == 6 and all(n.endswith(".jpg") for n in blob)
        assert blob.verify() == 6


def test_iteration_is_tar_order_and_last_duplicate_wins(tmp_path: Path) -> None:
    tar = tmp_path / "t.tar"
    tar.write_bytes(tar_bytes([regular(n, n.encode()) for n in ("c.png", "a.png", "b.png")]))
    infos = [
        BlobImageInfo("b.png", 2560, 2565),
        BlobImageInfo("a.png", 1536, 1541),
        BlobImageInfo("c.png", 512, 517),
        BlobImageInfo("a.png", 512, 517),  # listed twice: the last entry wins, as in the SDK
    ]
    with BlobReader(tar, infos) as blob:
        assert list(blob) == ["c.png", "a.png", "b.png"]  # tar order of the winning entries
        assert blob["a.png"] == b"c.png"
        assert blob["b.png"] == b"b.png"
        with pytest.raises(BlobFormatError, match="'a.png'"):
            blob.verify()


def test_offsets_outside_the_file_are_refused(tmp_path: Path) -> None:
    tar = tmp_path / "t.tar"
    tar.write_bytes(tar_bytes([regular("a.png", b"a")]))
    size = tar.stat().st_size
    for bad in (
        BlobImageInfo("a.png", size - 1, size + 1),
        BlobImageInfo("a.png", 10, 5),
        BlobImageInfo("a.png", -1, 5),
    ):
        with pytest.raises(BlobFormatError, match=r"t\.tar: offsets of 'a.png'.*outside"):
            BlobReader(tar, [bad])


def test_offsets_of_another_tar_fail_verify(tmp_path: Path) -> None:
    tar = tmp_path / "t.tar"
    tar.write_bytes(tar_bytes([regular("a.png", b"a" * 100), regular("b.png", b"b")]))
    with BlobReader(tar, [BlobImageInfo("a.png", 0, 100)]) as blob:
        assert blob.get_bytes("a.png")[:1] == b"a"  # in bounds, so readable, but wrong
        with pytest.raises(BlobFormatError, match="1 offset entry does not match"):
            blob.verify()


def test_missing_name_and_undecodable_image(tmp_path: Path) -> None:
    tar = tmp_path / "t.tar"
    tar.write_bytes(tar_bytes([regular("a.png", b"not an image")]))
    with BlobReader(tar) as blob:
        with pytest.raises(KeyError, match="nope.png"):
            blob.get_bytes("nope.png")
        with pytest.raises(BlobFormatError, match="cannot decode image 'a.png'"):
            blob.get_np("a.png")


def test_rgba_and_grayscale_to_hwc(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGBA", (4, 3), (1, 2, 3, 4)).save(src / "rgba.png")
    Image.new("L", (5, 2), 7).save(src / "gray.png")
    archive_directory(src, tmp_path / "i.tar")
    with BlobReader(tmp_path / "i.tar") as blob:
        assert blob.get_np("rgba.png").shape == (3, 4, 3)
        assert blob.get_np("rgba.png", keep_alpha=True)[0, 0].tolist() == [1, 2, 3, 4]
        gray = blob.get_np("gray.png")
        assert gray.shape == (2, 5, 3) and gray[0, 0].tolist() == [7, 7, 7]


def test_closed_reader_and_no_leaked_handles(sdk_fixtures: Path) -> None:
    tar = sdk_fixtures / "blob" / "small_images.tar"
    pkl = sdk_fixtures / "blob" / "small_images_offsets.pkl"
    gc.collect()
    before = _fds()
    for _ in range(20):
        with BlobReader(tar, pkl) as blob:
            blob.get_bytes("img_000.png")
            blob.verify()
        assert blob.closed
        with pytest.raises(ValueError, match="closed"):
            blob.get_bytes("img_000.png")
        unclosed = BlobReader(tar)  # dropped without close(): finaliser releases the map
        del unclosed
    for bad in range(5):
        with pytest.raises(BlobFormatError):
            BlobReader(tar, [BlobImageInfo("x", 0, 10**9 + bad)])
    gc.collect()
    assert _fds() == before


def test_empty_and_non_tar_files(tmp_path: Path) -> None:
    empty = tmp_path / "e.tar"
    empty.write_bytes(b"")
    with pytest.raises(BlobFormatError, match="empty file"):
        BlobReader(empty)
    with pytest.raises(BlobFormatError, match="empty file"):
        BlobReader(empty, [])
    junk = tmp_path / "j.tar"
    junk.write_bytes(b"x" * 2000)
    with pytest.raises(BlobFormatError, match="not a tar"):
        BlobReader(junk)
