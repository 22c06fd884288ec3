"""Data safety as a new user meets it (issue 17): the CLI against the embedded server.

Each case asserts the exit code, the one line the user reads, what the server holds (read with
plain HTTP, not the client under test) and the local folder (hashes before and after).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from blobflow.blob import BlobImageInfo
from blobflow.cli import main

from ..project._helpers import png_bytes

_SEVEN = ("a.tif", "b.tiff", "c.png", "d.bmp", "e.webp", "f.jpg", "g.jpeg")


# --- helpers: plain HTTP and hashes, independent of the client under test ---------------
def _http(live: Any, method: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        f"{live.address}/public/api/v3/{method}",
        data=json.dumps(body).encode(),
        headers={"x-api-key": live.token, "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _projects(live: Any) -> list[str]:
    return [p["name"] for p in _http(live, "projects.list", {"workspaceId": live.workspace_id})[
        "entities"
    ]]  # fmt: skip


def _project_images(live: Any, project_id: int) -> list[str]:
    names: list[str] = []
    for ds in _http(live, "datasets.list", {"projectId": project_id})["entities"]:
        rows = _http(live, "images.list", {"datasetId": ds["id"]})["entities"]
        names += [i["name"] for i in rows]
    return sorted(names)


def _team_files(live: Any) -> list[str]:
    return [f["path"] for f in _http(live, "file-storage.list", {"teamId": live.team_id})]


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _ok_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = _run(capsys, *argv, "--json", "--quiet")
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """A refusal: exit code and its one line on stderr."""
    code, _out, err = _run(capsys, *argv, "--quiet")
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("blobflow: error: ")
    return code, lines[0][len("blobflow: error: ") :]


def _images(folder: Path, names: tuple[str, ...] = _SEVEN) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        (folder / name).write_bytes(png_bytes(i))  # the server keys on the name, not the bytes
    return folder


def _ann(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(
        json.dumps({"size": {"height": 16, "width": 20}, "tags": [], "objects": []})
    )


def _dataset(live: Any, name: str) -> tuple[int, int]:
    proj = _http(live, "projects.add", {"workspaceId": live.workspace_id, "name": name})
    ds = _http(live, "datasets.add", {"projectId": proj["id"], "name": "ds"})
    return proj["id"], ds["id"]


def _ds_images(live: Any, ds_id: int) -> list[str]:
    return sorted(i["name"] for i in _http(live, "images.list", {"datasetId": ds_id})["entities"])


# --- 1. one definition of "image file" ---------------------------------------------------
def test_upload_takes_every_sdk_image_extension_and_names_what_it_skips(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _images(tmp_path / "mixed")
    (src / "notes.txt").write_text("not an image")
    (src / "h.gif").write_bytes(b"GIF89a")
    before = _hashes(src)
    code, out, err = _run(capsys, "upload", "mixed", "--workspace", str(live.workspace_id))
    assert code == 0, err
    assert out.splitlines()[0].startswith("uploaded 7 images to project ")
    assert out.splitlines()[1] == "skipped 2 files (not images): h.gif, notes.txt" or (
        out.splitlines()[1] == "skipped 2 files (not images): notes.txt, h.gif"
    )
    assert err.count("\n") == 1 and err.startswith("blobflow: warning: 1 image-like")
    assert "h.gif" in err
    (pid,) = [p["id"] for p in _http(live, "projects.list", {"workspaceId": 1})["entities"]]
    assert _project_images(live, pid) == sorted(_SEVEN)
    assert _hashes(src) == before

    only_tif = _images(tmp_path / "tif", ("x.TIF",))
    up = _ok_json(capsys, "upload", "tif", "--workspace", str(live.workspace_id))
    assert up["images"] == 1 and up["skipped"]["count"] == 0
    assert _project_images(live, up["project_id"]) == ["x.TIF"]
    assert only_tif.is_dir()


def test_pack_import_blob_and_upload_agree(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _images(tmp_path / "src")
    (src / "notes.txt").write_text("not an image")
    packed = _ok_json(capsys, "pack", "src", "src.tar")
    assert packed["images"] == 7 and packed["skipped"]["names"] == ["notes.txt"]
    # a tar made by other tools holds the text file too: import-blob skips it the same way
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        for p in sorted(src.iterdir()):
            tar.add(p, arcname=p.name)
    _pid, ds_id = _dataset(live, "imp")
    res = _ok_json(capsys, "import-blob", "other.tar", "--dataset", str(ds_id))
    assert res["images"] == 7 and res["skipped"]["names"] == ["notes.txt"]
    assert _ds_images(live, ds_id) == sorted(_SEVEN)
    _pid2, ds2 = _dataset(live, "imp2")
    res = _ok_json(capsys, "import-blob", "packed.tar", "--images", "src", "--dataset", str(ds2))
    assert res["images"] == 7 and res["skipped"]["names"] == ["notes.txt"]
    assert _ds_images(live, ds2) == sorted(_SEVEN)
    up = _ok_json(capsys, "upload", "src", "--workspace", str(live.workspace_id))
    assert up["images"] == 7 and up["skipped"]["names"] == ["notes.txt"]


# --- 2. download never mixes two projects -------------------------------------------------
def test_download_into_another_projects_folder_is_refused(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _images(tmp_path / "one", ("a.png", "b.png"))
    _images(tmp_path / "two", ("c.png",))
    p1 = _ok_json(capsys, "upload", "one", "--workspace", "1")["project_id"]
    p2 = _ok_json(capsys, "upload", "two", "--workspace", "1")["project_id"]
    _ok_json(capsys, "download", str(p1), "dest")
    before = _hashes(tmp_path / "dest")
    code, line = _error(capsys, "download", str(p2), "dest")
    assert code == 1
    assert line == (
        f"dest holds project {p1} (its .blobflow-download.json), not project {p2}; "
        "downloading would mix the two (pass --force to download into it anyway)"
    )
    assert _hashes(tmp_path / "dest") == before
    again = _ok_json(capsys, "download", str(p1), "dest")  # the same project: as before
    assert again["blobs_skipped"] == 1 and again["images"] == 2
    forced = _ok_json(capsys, "download", str(p2), "dest", "--force")
    assert forced["images"] == 1


def test_download_into_a_project_blobflow_did_not_write_is_refused(
    live: Any, tmp_path: Path, sdk_fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _images(tmp_path / "one", ("a.png",))
    p1 = _ok_json(capsys, "upload", "one", "--workspace", "1")["project_id"]
    shutil.copytree(sdk_fixtures / "project-blob", tmp_path / "sdk")
    before = _hashes(tmp_path / "sdk")
    code, line = _error(capsys, "download", str(p1), "sdk")
    assert code == 1 and "sdk holds a project that blobflow did not download" in line
    assert line.endswith("(pass --force to download into it anyway)")
    assert _hashes(tmp_path / "sdk") == before


# --- 3. validate before changing anything remote ----------------------------------------
def _downloaded(live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A local blob project (two images, one annotation each), made by upload + download."""
    _images(tmp_path / "src", ("a.png", "b.png"))
    pid = _ok_json(capsys, "upload", "src", "--workspace", "1")["project_id"]
    _ok_json(capsys, "download", str(pid), "proj")
    return tmp_path / "proj"


@pytest.mark.parametrize("damage", ["no_blob", "bad_json", "not_object", "outside", "not_tar"])
def test_upload_of_a_broken_project_changes_nothing(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    proj = _downloaded(live, tmp_path, capsys)
    (tar,) = (proj / "blob").iterdir()
    pkl = proj / "ds0" / f"{tar.stem}_offsets.pkl"
    ann = proj / "ds0" / "ann" / "a.png.json"
    if damage == "no_blob":
        shutil.rmtree(proj / "blob")
        want = f"proj/ds0/{pkl.name}: its blob proj/blob/{tar.name} is missing"
    elif damage == "bad_json":
        ann.write_text("{broken")
        want = "proj/ds0/ann/a.png.json: not valid JSON"
    elif damage == "not_object":
        ann.write_text("[1, 2]")
        want = "proj/ds0/ann/a.png.json: an annotation must be a JSON object"
    elif damage == "outside":
        tar.write_bytes(tar.read_bytes()[:520])  # both images cut off, and the tar with them
        want = "'a.png' at bytes 512-"
    else:
        data = bytearray(tar.read_bytes())
        data[148:152] = b"9999"
        tar.write_bytes(bytes(data))
        want = "corrupt tar header (checksum mismatch) (at byte 0)"
    files_before, projects_before = _team_files(live), _projects(live)
    before = _hashes(proj)
    for _ in range(2):  # the re-run is refused the same way: no name_001
        code, line = _error(capsys, "upload", "proj", "--workspace", "1")
        assert code == 1
        if damage in ("bad_json", "not_object"):  # the annotation check names the file
            assert line.startswith(want), line
        else:
            assert line.startswith("project 'proj' not uploaded, nothing was sent: "), line
            assert want in line, line
        assert _projects(live) == projects_before == ["src"]
        assert _team_files(live) == files_before
    if damage == "outside":  # b.png is outside too, and the tar's scan fails
        assert "lies outside proj/blob/" in line and line.endswith("(and 2 other problems)")
    assert _hashes(proj) == before


def test_import_blob_with_a_missing_annotation_registers_nothing(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _images(tmp_path / "src", ("a.png", "b.png", "c.png"))
    _ok_json(capsys, "pack", "src", "s.tar")
    _ann(tmp_path / "anns", "a.png")
    _pid, ds_id = _dataset(live, "imp")
    before = _hashes(tmp_path)
    code, line = _error(capsys, "import-blob", "s.tar", "--dataset", str(ds_id), "--anns", "anns")
    assert code == 1
    assert line == "no annotation file for image 'b.png': anns/b.png.json (and 1 other problem)"
    assert _ds_images(live, ds_id) == []
    (tmp_path / "anns" / "b.png.json").write_text("{oops")
    _ann(tmp_path / "anns", "c.png")
    code, line = _error(capsys, "import-blob", "s.tar", "--dataset", str(ds_id), "--anns", "anns")
    assert code == 1 and line.startswith("anns/b.png.json: not valid JSON")
    assert _ds_images(live, ds_id) == []
    # the same with the folder packed while it uploads
    code, line = _error(
        capsys, "import-blob", "p.tar", "--images", "src", "--dataset", str(ds_id), "--anns", "anns"
    )
    assert code == 1 and line.startswith("anns/b.png.json: not valid JSON")
    assert _ds_images(live, ds_id) == []
    assert {k: v for k, v in _hashes(tmp_path).items() if k.startswith(("src/", "anns/a"))} == {
        k: v for k, v in before.items() if k.startswith(("src/", "anns/a"))
    }
    _ann(tmp_path / "anns", "b.png")
    res = _ok_json(capsys, "import-blob", "s.tar", "--dataset", str(ds_id), "--anns", "anns")
    assert res["images"] == 3 and _ds_images(live, ds_id) == ["a.png", "b.png", "c.png"]


# --- 4. errors say the cause once, in the user's terms -----------------------------------
def test_server_errors_say_their_message_once(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _images(tmp_path / "src", ("a.png",))
    code, line = _error(capsys, "upload", "src", "--workspace", "999")
    assert code == 1
    assert line.count("workspace 999 not found") == 1, line
    assert _projects(live) == []


def test_a_local_annotation_error_is_not_a_request_failure(
    live: Any, tmp_path: Path
) -> None:
    from blobflow import ApiError, InputError
    from blobflow.api import Api

    bad = tmp_path / "bad.json"
    bad.write_text("{nope")

    async def go() -> None:
        async with Api(live.address, live.token) as api:
            await api.annotation.upload_paths([1], [bad])

    with pytest.raises(InputError) as info:
        asyncio.run(go())
    assert not isinstance(info.value, ApiError)
    assert str(info.value).startswith(f"{bad}: not valid annotation JSON")


# --- 6. upload_project leaves every blob reusable ----------------------------------------
def test_upload_puts_the_offsets_beside_each_blob(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = _downloaded(live, tmp_path, capsys)
    files_before = set(_team_files(live))
    up = _ok_json(capsys, "upload", "proj", "--workspace", "1", "--project", "again")
    new = sorted(set(_team_files(live)) - files_before)
    if not new:  # the same blob was already there (same bytes): reused, with its index
        (tar,) = (proj / "blob").iterdir()
        new = [f"/blob-files/{tar.name}", f"/blob-files/{tar.stem}_offsets.pkl"]
    tars = [p for p in new if p.endswith(".tar")]
    assert len(tars) == 1
    index = tars[0][: -len(".tar")] + "_offsets.pkl"
    assert index in _team_files(live)
    raw = _http(live, "file-storage.download", {"teamId": live.team_id, "path": index})
    (tmp_path / "index.pkl").write_bytes(raw)
    names = [i.name for b in BlobImageInfo.load_from_pickle_generator(tmp_path / "index.pkl")
             for i in b]  # fmt: skip
    assert sorted(names) == ["a.png", "b.png"]
    blob = _http(live, "file-storage.list", {"teamId": live.team_id, "path": tars[0]})[0]
    with tarfile.open(fileobj=io.BytesIO(
        _http(live, "file-storage.download", {"teamId": live.team_id, "path": tars[0]})
    )) as tf:  # fmt: skip
        assert sorted(m.name.rsplit("/", 1)[-1] for m in tf.getmembers() if m.isfile()) == names
    assert blob["id"] and up["images"] == 2
