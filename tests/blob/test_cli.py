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
