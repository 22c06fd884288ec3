"""``blobflow upload / download / import-blob`` against a real reference server.

The server runs in this process, on its own event loop in a background thread (the
``thread_server`` fixture), because each CLI invocation runs (and closes) its own loop in the
test thread, as it does for a user.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blobflow.blob import archive_directory
from blobflow.cli import main

from ..project._helpers import make_image_folder


def _json_run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main([*argv, "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_upload_folder_then_download_extract(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = make_image_folder(tmp_path / "photos", 25, "ph")
    ann_dir = tmp_path / "photos" / "ann"
    ann_dir.mkdir()
    box = {
        "classTitle": "cat",
        "geometryType": "rectangle",
        "tags": [],
        "points": {"exterior": [[1, 1], [4, 4]], "interior": []},
    }
    ann = {"size": {"height": 16, "width": 20}, "tags": [], "objects": [box]}
    (ann_dir / "ph_0001.png.json").write_text(json.dumps(ann))
    up = _json_run(capsys, "upload", "photos", "--workspace", str(live.workspace_id))
    assert up["images"] == 25 and up["blob_images"] == 25 and up["annotations"] == 1
    assert up["project_name"] == "photos"
    down = _json_run(capsys, "download", str(up["project_id"]), "out", "--extract")
    assert down["images"] == 25 and down["extracted"] == 25
    assert _tree(tmp_path / "out" / "ds0" / "img") == images
    got = json.loads((tmp_path / "out" / "ds0" / "ann" / "ph_0001.png.json").read_text())
    assert got["objects"][0]["classTitle"] == "cat"
    # a second download into the same folder skips the verified blob
    again = _json_run(capsys, "download", str(up["project_id"]), "out")
    assert again["blobs_skipped"] == 1 and again["blobs_downloaded"] == 0


def test_upload_project_and_rerun_into_it(
    live: Any, tmp_path: Path, sdk_fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = str(sdk_fixtures / "project-blob")
    ws = str(live.workspace_id)
    up = _json_run(capsys, "upload", src, "--workspace", ws, "--project", "fx")
    assert up["images"] == 12 and up["project_name"] == "fx"
    again = _json_run(
        capsys, "upload", src, "--workspace", ws, "--project-id", str(up["project_id"])
    )
    assert again["project_id"] == up["project_id"] and again["images"] == 12
    down = _json_run(capsys, "download", str(up["project_id"]), "out")
    assert down["images"] == 12  # skip kept one copy of each image


def test_import_blob(live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from blobflow.project import Project

    images = make_image_folder(tmp_path / "imgs", 7, "ib")
    archive_directory(tmp_path / "imgs", tmp_path / "pack.tar")  # no offsets file: computed
    project_id, ds_id = asyncio.run(_make_dataset(live))
    res = _json_run(capsys, "import-blob", "pack.tar", "--dataset", str(ds_id))
    assert res["images"] == 7
    again = _json_run(capsys, "import-blob", "pack.tar", "--dataset", str(ds_id))
    assert again["images"] == 7
    down = _json_run(capsys, "download", str(project_id), "o")
    assert down["images"] == 7  # the re-run skipped, nothing duplicated
    with Project(tmp_path / "o") as project:
        ds = project.datasets[0]
        assert {n: ds.get_img_bytes(n) for n in ds.get_items_names()} == images


def test_import_blob_packs_a_folder_while_uploading(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from blobflow.project import Project

    images = make_image_folder(tmp_path / "imgs", 9, "lv")
    project_id, ds_id = asyncio.run(_make_dataset(live))
    res = _json_run(capsys, "import-blob", "new.tar", "--dataset", str(ds_id), "--images", "imgs")
    assert res["images"] == 9
    assert {"new.tar", "new_offsets.pkl"} <= set(os.listdir(tmp_path))
    down = _json_run(capsys, "download", str(project_id), "o")
    assert down["images"] == 9
    with Project(tmp_path / "o") as project:
        ds = project.datasets[0]
        assert {n: ds.get_img_bytes(n) for n in ds.get_items_names()} == images
    code, err = _error_run(
        capsys, "import-blob", "new.tar", "--dataset", str(ds_id), "--images", "imgs",
        "--offsets", "new_offsets.pkl",
    )  # fmt: skip
    assert code != 0 and "no --offsets" in err


async def _make_dataset(live: Any) -> tuple[int, int]:
    from blobflow.api import Api

    async with Api(live.address, live.token) as api:
        proj = await api.project.create(live.workspace_id, "imp")
        assert proj.id is not None
        ds = await api.dataset.create(proj.id, "ds")
        assert ds.id is not None
        return proj.id, ds.id


def _error_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one clear line, no traceback
    assert "Traceback" not in err
    return code, lines[0]


def test_wrong_token_is_exit_3(live: Any, tmp_path: Path, capsys: Any) -> None:
    make_image_folder(tmp_path / "p", 2)
    code, line = _error_run(
        capsys, "upload", "p", "--workspace", "1", "--token", "wrong", "--quiet"
    )
    assert code == 3 and "token" in line


def test_unreachable_server_is_exit_4(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    code, line = _error_run(
        capsys, "download", "1", "out", "--server", f"http://127.0.0.1:{port}",
        "--token", "t", "--quiet",
    )  # fmt: skip
    assert code == 4 and "reach" in line


def test_missing_folder_and_duplicates_are_one_line(live: Any, tmp_path: Path, capsys: Any) -> None:
    code, line = _error_run(capsys, "upload", "nope", "--workspace", "1", "--quiet")
    assert code == 1 and "nope" in line
    dup = tmp_path / "dup"
    (dup / "a").mkdir(parents=True)
    (dup / "b").mkdir()
    (dup / "a" / "x.png").write_bytes(b"1")
    (dup / "b" / "x.png").write_bytes(b"2")
    code, line = _error_run(capsys, "upload", "dup", "--workspace", "1", "--quiet")
    assert code == 1 and "x.png" in line


def test_folder_annotations_are_streamed_and_bad_ones_named(
    live: Any, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blobflow.project import _folder

    monkeypatch.setattr(_folder, "_ANN_STEP", 3)  # 7 annotations: written in steps of 3, 3, 1
    make_image_folder(tmp_path / "many", 9, "m")
    (tmp_path / "many" / "ann").mkdir()
    for i in range(7):
        obj = {"classTitle": f"c{i % 2}", "geometryType": "rectangle", "tags": [{"name": "t"}],
               "points": {"exterior": [[1, 1], [3, 3]], "interior": []}}
        ann = {"size": {"height": 16, "width": 20}, "tags": [], "objects": [obj]}
        (tmp_path / "many" / "ann" / f"m_{i:04d}.png.json").write_text(json.dumps(ann))
    up = _json_run(capsys, "upload", "many", "--workspace", str(live.workspace_id))
    assert up["images"] == 9 and up["annotations"] == 7
    down = _json_run(capsys, "download", str(up["project_id"]), "many-out")
    meta = json.loads((tmp_path / "many-out" / "meta.json").read_text())
    assert sorted(c["title"] for c in meta["classes"]) == ["c0", "c1"]
    assert [t["name"] for t in meta["tags"]] == ["t"]
    got = sorted(p.name for p in (tmp_path / "many-out" / "ds0" / "ann").iterdir())
    assert len(got) == down["images"] == 9  # 7 uploaded, 2 empty ones written on download

    make_image_folder(tmp_path / "bad", 2, "b")
    for content in ("{not json", '{"objects": [1, "x"]}', "[]"):
        (tmp_path / "bad" / "b_0001.png.json").write_text(content)
        code, line = _error_run(capsys, "upload", "bad", "--workspace", "1", "--quiet")
        assert code == 1 and "b_0001.png.json" in line, (content, line)


def test_dotenv_supplies_server_and_token(
    live: Any, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERVER_ADDRESS")
    monkeypatch.delenv("API_TOKEN")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/supervisely.env of the real user
    make_image_folder(tmp_path / "e", 3)
    (tmp_path / ".env").write_text(f'SERVER_ADDRESS="{live.address}"\nAPI_TOKEN={live.token}\n')
    res = _json_run(capsys, "upload", "e", "--workspace", str(live.workspace_id))
    assert res["images"] == 3
    (tmp_path / ".env").unlink()
    code, line = _error_run(capsys, "upload", "e", "--workspace", "1", "--quiet")
    assert code == 1 and "SERVER_ADDRESS" in line


@pytest.mark.slow
def test_30000_images_round_trip(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """30,000 small images: folder -> blob -> server -> blob -> img/, byte-identical."""
    src = tmp_path / "many"
    src.mkdir()
    rng = __import__("random").Random(7)
    expected = {}
    for i in range(30_000):
        data = rng.randbytes(rng.randint(60, 200))
        name = f"im_{i:05d}.png"
        (src / name).write_bytes(data)
        expected[name] = data
    up = _json_run(capsys, "upload", "many", "--workspace", str(live.workspace_id))
    assert up["images"] == 30_000 and up["blob_images"] == 30_000
    down = _json_run(capsys, "download", str(up["project_id"]), "back", "--extract")
    assert down["images"] == 30_000 and down["extracted"] == 30_000
    img = tmp_path / "back" / "ds0" / "img"
    assert len(os.listdir(img)) == 30_000
    assert all((img / n).read_bytes() == d for n, d in expected.items())


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a real full disk (needs root, as in the CI container)."""
    import subprocess

    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_exit_5_and_leaves_no_partial_files(
    live: Any, tmp_path: Path, tiny_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "big"
    src.mkdir()
    for i in range(40):  # ~1.2 MB of incompressible images: does not fit in 256 KiB
        (src / f"b_{i:02d}.png").write_bytes(os.urandom(30_000))
    up = _json_run(capsys, "upload", "big", "--workspace", str(live.workspace_id))
    dest = tiny_disk / "out"
    code, line = _error_run(capsys, "download", str(up["project_id"]), str(dest), "--quiet")
    assert code == 5 and "no space left" in line
    leftovers = [p.name for p in dest.rglob("*") if p.is_file() and "part" in p.name]
    leftovers += [p.name for p in dest.rglob("*.tmp")]
    assert leftovers == []
    assert not (dest / "blob").exists() or list((dest / "blob").iterdir()) == []


def test_project_with_duplicate_names_is_one_line(
    live: Any, tmp_path: Path, sdk_fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    proj = tmp_path / "dups"
    shutil.copytree(sdk_fixtures / "project-blob", proj)
    (proj / "ds0").chmod(0o755)
    (proj / "ds0" / "img").mkdir()
    (proj / "ds0" / "img" / "img_003.jpg").write_bytes(b"not the blob's copy")
    code, line = _error_run(capsys, "upload", "dups", "--workspace", "1", "--quiet")
    assert code == 1 and "img_003.jpg" in line and "ds0" in line


def test_interrupted_upload_resumes_with_project_id(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from blobflow.api._annotation import AnnotationApi

    images = make_image_folder(tmp_path / "photos", 12, "r")
    (tmp_path / "photos" / "ann").mkdir()
    for name in images:
        ann = {"size": {"height": 16, "width": 20}, "tags": [], "objects": []}
        (tmp_path / "photos" / "ann" / f"{name}.json").write_text(json.dumps(ann))

    async def ctrl_c(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # the user presses Ctrl-C once images are registered

    with monkeypatch.context() as m:
        m.setattr(AnnotationApi, "upload_jsons", ctrl_c)
        code = main(["upload", "photos", "--workspace", str(live.workspace_id), "--quiet"])
    # A KeyboardInterrupt raised inside a task (a real Ctrl-C cancels the main task instead)
    # leaves that task with an exception nobody reads; the transfer paused the collector, so
    # collect it now, while pytest captures asyncio's "never retrieved" log, not at exit.
    gc.collect()
    capsys.readouterr()
    assert code == 130
    pid = asyncio.run(_project_id(live, "photos"))
    res = _json_run(capsys, "upload", "photos", "--workspace", "1", "--project-id", str(pid))
    assert res["images"] == 12 and res["annotations"] == 12
    down = _json_run(capsys, "download", str(pid), "back", "--extract")
    assert down["images"] == 12  # nothing duplicated by the re-run
    assert _tree(tmp_path / "back" / "ds0" / "img") == images


async def _project_id(live: Any, name: str) -> int:
    from blobflow.api import Api

    async with Api(live.address, live.token) as api:
        info = await api.project.get_info_by_name(live.workspace_id, name)
        assert info is not None and info.id is not None
        return info.id


def test_sync_wrappers_for_scripts(live: Any, tmp_path: Path, sdk_fixtures: Path) -> None:
    """upload_project / download_fast / quick_import from plain synchronous code, all on one
    Api (each call used to run on a loop of its own and the second failed on the first's
    session); the same parameters as the async flows, conflict_resolution included."""
    from blobflow import Api, Project, download_fast, quick_import, upload_project

    api = Api(live.address, live.token)
    res = upload_project(
        sdk_fixtures / "project-blob", api, live.workspace_id, "sync", progress=False
    )
    pid, name = res
    assert (res[0], res[1], len(res)) == (pid, "sync", 2)
    assert name == "sync" and res.images == 12
    got = download_fast(api, pid, tmp_path / "d", progress=False)
    assert got.images == 12 and got.blobs_downloaded == 1
    ds_id = got.datasets["ds0"]
    images = make_image_folder(tmp_path / "more", 3, "m")
    archive_directory(tmp_path / "more", tmp_path / "more.tar", offsets_dir=tmp_path)
    infos: list[Any] = []
    res = quick_import(
        api, ds_id, tmp_path / "more.tar", progress=False, on_batch=infos.extend,
        conflict_resolution="skip",
    )  # fmt: skip
    assert res.images == 3 and sorted(i.name for i in infos) == sorted(images)
    download_fast(api, pid, tmp_path / "d", progress=False)
    with Project(tmp_path / "d") as project:
        assert len(project.get_dataset("ds0")) == 15
    asyncio.run(api.close())


def test_debug_shows_the_exception(live: Any, tmp_path: Path) -> None:
    from blobflow.api import AuthError

    make_image_folder(tmp_path / "p", 1)
    with pytest.raises(AuthError):
        main(["upload", "p", "--workspace", "1", "--token", "wrong", "--quiet", "--debug"])
