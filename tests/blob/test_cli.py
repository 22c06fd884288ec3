"""blobflow pack / offsets / ls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blobflow import BlobImageInfo
from blobflow.cli import main

from ._helpers import tarfile_offsets


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.png").write_bytes(b"a" * 100)
    (root / "b.jpg").write_bytes(b"b" * 200)
    (root / "sub" / "c.png").write_bytes(b"c" * 300)
    return root


def test_pack_writes_tar_and_pkl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _tree(tmp_path / "src")
    assert main(["pack", str(src), str(tmp_path / "out.tar"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 3
    pkl = tmp_path / "out_offsets.pkl"
    assert summary["parts"][0]["offsets"] == str(pkl)
    loaded = [i for b in BlobImageInfo.load_from_pickle_generator(pkl) for i in b]
    assert [(i.name, i.offset_start, i.offset_end) for i in loaded] == tarfile_offsets(
        tmp_path / "out.tar"
    )


def test_pack_filter_and_offsets_dir(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    off = tmp_path / "off"
    assert main(["pack", str(src), str(tmp_path / "o.tar"), "--filter", "*.png",
                 "--offsets-dir", str(off), "-q"]) == 0  # fmt: skip
    names = [i.name for b in BlobImageInfo.load_from_pickle_generator(off / "o_offsets.pkl")
             for i in b]  # fmt: skip
    assert names == ["a.png", "c.png"]


def test_pack_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _tree(tmp_path / "src")
    assert main(["pack", str(src), str(tmp_path / "s.tar"), "--max-members", "2", "--json"]) == 0
    parts = json.loads(capsys.readouterr().out)["parts"]
    assert [Path(p["tar"]).name for p in parts] == ["s_001.tar", "s_002.tar"]
    assert all(Path(p["offsets"]).is_file() for p in parts)


def test_offsets_keep_and_replace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _tree(tmp_path / "src")
    main(["pack", str(src), str(tmp_path / "t.tar"), "-q"])
    pkl = tmp_path / "t_offsets.pkl"
    pkl.unlink()
    assert main(["offsets", str(tmp_path / "t.tar")]) == 0
    assert pkl.is_file()
    assert main(["offsets", str(tmp_path / "t.tar"), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(out)["kept_existing"] is True
    out_dir = tmp_path / "elsewhere"
    assert main(["offsets", str(tmp_path / "t.tar"), "--out-dir", str(out_dir), "--replace"]) == 0
    assert (out_dir / "t_offsets.pkl").read_bytes() == pkl.read_bytes()


def test_ls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _tree(tmp_path / "src")
    main(["pack", str(src), str(tmp_path / "t.tar"), "-q"])
    capsys.readouterr()
    assert main(["ls", str(tmp_path / "t.tar")]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split("\t") for line in lines]
    assert [(r[3], int(r[0]), int(r[1])) for r in rows] == tarfile_offsets(tmp_path / "t.tar")
    assert [int(r[2]) for r in rows] == [100, 200, 300]
    assert main(["ls", str(tmp_path / "t.tar"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["images"]) == 3


@pytest.mark.parametrize(
    "argv_tail",
    [
        ["pack", "{tmp}/missing", "{tmp}/x.tar"],
        ["offsets", "{tmp}/bad.tar"],
        ["ls", "{tmp}/bad.tar"],
        ["ls", "{tmp}/nothere.tar"],
    ],
)
def test_errors_are_one_line_and_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv_tail: list[str]
) -> None:
    (tmp_path / "bad.tar").write_bytes(b"\x1f\x8b" + bytes(1000))
    argv = [a.format(tmp=tmp_path) for a in argv_tail]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("blobflow: error: ") and err.count("\n") == 1


def test_duplicate_basenames_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    (src / "x").mkdir(parents=True)
    (src / "y").mkdir()
    (src / "x" / "i.png").write_bytes(b"1")
    (src / "y" / "i.png").write_bytes(b"2")
    assert main(["pack", str(src), str(tmp_path / "d.tar")]) == 1
    assert "'x/i.png' and 'y/i.png'" in capsys.readouterr().err
    assert not (tmp_path / "d.tar").exists()


def _hashes(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _mixed(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("a.tif", "b.TIFF", "c.png", "d.bmp", "e.webp", "f.jpg", "g.jpeg", "notes.txt",
                 "h.gif"):  # fmt: skip
        (root / name).write_bytes(name.encode() * 10)
    return root


def test_pack_keeps_images_and_reports_what_it_skips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _mixed(tmp_path / "src")
    before = _hashes(src)
    assert main(["pack", str(src), str(tmp_path / "m.tar"), "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["images"] == 7
    assert summary["skipped"]["count"] == 2
    assert sorted(summary["skipped"]["names"]) == ["h.gif", "notes.txt"]
    assert summary["skipped"]["unsupported_names"] == ["h.gif"]
    # one warning line for the image-like file the platform does not take
    assert (
        err.count("\n") == 1
        and err.startswith("blobflow: warning: 1 image-like")
        and "h.gif" in err
    )
    names = [i.name for b in BlobImageInfo.load_from_pickle_generator(tmp_path / "m_offsets.pkl")
             for i in b]  # fmt: skip
    assert sorted(names) == ["a.tif", "b.TIFF", "c.png", "d.bmp", "e.webp", "f.jpg", "g.jpeg"]
    assert _hashes(src) == before
    # the text summary names the skipped files; --verbose lists all of them
    for i in range(8):
        (src / f"z{i}.txt").write_text("x")
    assert main(["pack", str(src), str(tmp_path / "v.tar")]) == 0
    assert "skipped 10 files (not images): " in capsys.readouterr().out
    assert main(["pack", str(src), str(tmp_path / "v.tar"), "--verbose", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["skipped"]["names"]) == 10


def test_pack_filter_is_repeatable_any_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _mixed(tmp_path / "src")
    (src / "UP.JPG").write_bytes(b"u" * 10)
    argv = ["pack", str(src), str(tmp_path / "j.tar"), "--filter", "*.jpg", "--filter", "*.jpeg"]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 2  # f.jpg, g.jpeg; not UP.JPG
    assert main([*argv, "--ignore-case", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 3 and summary["skipped"]["count"] == 7


def test_pack_nothing_to_pack_names_the_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.txt").write_text("hello")
    assert main(["pack", str(src), str(tmp_path / "n.tar")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no image files" in err and "notes.txt" in err
    assert "filter_func" not in err
    assert not (tmp_path / "n.tar").exists() and not (tmp_path / "n_offsets.pkl").exists()
    only_tif = tmp_path / "tif"
    only_tif.mkdir()
    (only_tif / "x.tif").write_bytes(b"II*\x00" + bytes(20))
    assert main(["pack", str(only_tif), str(tmp_path / "t.tar"), "-q"]) == 0


def test_cli_errors_name_the_cli_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "z.png").write_bytes(b"")
    assert main(["pack", str(src), str(tmp_path / "e.tar")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"blobflow: error: {src / 'z.png'}: empty file (0 bytes) is not an image "
        "(pass --allow-empty to pack it anyway)\n"
    )
    from blobflow import BlobFormatError, archive_directory

    with pytest.raises(BlobFormatError, match=r"pass allow_empty=True to pack it anyway"):
        archive_directory(src, tmp_path / "e.tar")


def test_tar_diagnostics_not_a_tar_vs_corrupt_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _tree(tmp_path / "src")
    main(["pack", str(src), str(tmp_path / "t.tar"), "-q"])
    data = bytearray((tmp_path / "t.tar").read_bytes())
    data[148:152] = b"9999"  # the first header's checksum field
    (tmp_path / "corrupt.tar").write_bytes(bytes(data))
    (tmp_path / "text.tar").write_bytes(b"just some text, not a tar at all\n" * 40)
    assert main(["ls", str(tmp_path / "corrupt.tar")]) == 1
    assert "corrupt tar header (checksum mismatch) (at byte 0)" in capsys.readouterr().err
    assert main(["ls", str(tmp_path / "text.tar")]) == 1
    assert "not a tar archive" in capsys.readouterr().err
