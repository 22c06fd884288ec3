"""upload_project / download_fast / quick_import against the in-process reference server."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from blobflow import TransferConfig
from blobflow.api import Api
from blobflow.blob import BlobImageInfo, archive_directory, save_blob_offsets_pkl
from blobflow.project import OpenMode, Project, ProjectError
from blobflow.project._download import download_fast_async
from blobflow.project._quick_import import quick_import_async
from blobflow.project._upload import upload_project_async

from ._helpers import SDK_READ_ALL, make_image_folder, png_bytes, run_sdk

META = {
    "classes": [{"title": "car", "shape": "rectangle", "color": "#FF0000"}],
    "tags": [],
}


def _box(x: int) -> dict[str, Any]:
    return {
        "classTitle": "car",
        "tags": [],
        "description": "",
        "geometryType": "rectangle",
        "points": {"exterior": [[x, 1], [x + 4, 6]], "interior": []},
    }


def _ann(x: int) -> dict[str, Any]:
    return {
        "description": "",
        "size": {"height": 16, "width": 20},
        "tags": [],
        "objects": [_box(x)],
    }


def build_project(tmp: Path) -> tuple[Path, dict[str, dict[str, bytes]]]:
    """Blob dataset + nested blob dataset sharing no blob + a regular-image dataset."""
    a = make_image_folder(tmp / "src_a", 9, "a")
    b = make_image_folder(tmp / "src_b", 4, "b")
    root = tmp / "local" / "proj"
    project = Project(root, OpenMode.CREATE)
    project.set_meta(META)
    infos_a = archive_directory(tmp / "src_a", tmp / "blob_a.tar")
    infos_b = archive_directory(tmp / "src_b", tmp / "blob_b.tar")
    project.add_blob_file(tmp / "blob_a.tar")
    project.add_blob_file(tmp / "blob_b.tar")
    ds_a = project.create_dataset("ds_a")
    ds_a.add_blob_offsets("blob_a.tar", infos_a)
    ds_a.write_anns({n: _ann(i % 10) for i, n in enumerate(sorted(a))})
    child = project.create_dataset("kid", parent=ds_a)
    child.add_blob_offsets("blob_b.tar", infos_b)
    child.write_anns({n: _ann(3) for n in b})
    regular = project.create_dataset("plain")
    plain = {"p_0.png": png_bytes(50), "p_1.png": png_bytes(51)}
    for i, (n, d) in enumerate(plain.items()):
        regular.add_item_bytes(n, d, _ann(i))
    project.close()
    return root, {"ds_a": a, "ds_a/kid": b, "plain": plain}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict[str, dict[str, bytes]]]:
    """Built outside the event loop (plain blocking file I/O of the test's own)."""
    return build_project(tmp_path)


def _read_all(root: Path) -> dict[str, dict[str, bytes]]:
    with Project(root) as project:
        return {
            ds.name: {n: ds.get_img_bytes(n) for n in ds.get_items_names()}
            for ds in project.datasets
        }


def _boxes(root: Path) -> dict[str, Any]:
    with Project(root) as project:
        return {
            f"{ds.name}/{n}": [o["points"]["exterior"] for o in (ds.get_ann(n) or {})["objects"]]
            for ds in project.datasets
            for n in ds.get_items_names()
        }


def _pkl_names(pkl: Path) -> list[str]:
    return [i.name for b in BlobImageInfo.load_from_pickle_generator(str(pkl)) for i in b]


async def _count_images(api: Api, project_id: int) -> int:
    total = 0
    for ds in await api.dataset.get_list(project_id, recursive=True):
        assert ds.id is not None
        total += len(await api.image.get_list(ds.id))
    return total


async def test_upload_then_download_round_trip(server: Any, built: Any, tmp_path: Path) -> None:
    root, expected = built
    async with Api(server.address, server.token) as api:
        res = await upload_project_async(root, api, server.workspace_id, progress=False)
        pid, name = res
        assert name == "proj" and res.images == 15 and res.blob_images == 13
        assert res.annotations == 15
        assert set(res.datasets) == {"ds_a", "ds_a/kid", "plain"}
        files = await api.file.list(server.team_id, "/blob-files/")
        assert {f["name"] for f in files} >= {"blob_a.tar", "blob_b.tar"}
        dest = tmp_path / "down"
        got = await download_fast_async(api, pid, dest, progress=False)
    assert got.images == 15 and got.blob_images == 13 and got.blobs_downloaded == 2
    assert await asyncio.to_thread(_read_all, dest) == expected
    assert await asyncio.to_thread(_boxes, dest) == await asyncio.to_thread(_boxes, root)
    assert (dest / "README.md").is_file()
    # the layout the SDK writes: blob/<related_data_id>.tar + <ds>/<id>_offsets.pkl, empty img/
    tars = sorted(p.name for p in (dest / "blob").iterdir())
    assert len(tars) == 2 and all(t[:-4].isdigit() for t in tars)
    assert sorted(p.name for p in (dest / "ds_a").glob("*_offsets.pkl")) != []
    assert list((dest / "ds_a" / "img").iterdir()) == []


@pytest.mark.sdk
@pytest.mark.asyncio(loop_factories=["uvloop"])  # the SDK's start-up dominates: one loop is enough
async def test_sdk_reads_a_downloaded_project(server: Any, built: Any, tmp_path: Path) -> None:
    root, expected = built
    async with Api(server.address, server.token) as api:
        pid, _ = await upload_project_async(root, api, server.workspace_id, progress=False)
        await download_fast_async(api, pid, tmp_path / "down", progress=False)
    got = await _sdk(tmp_path / "down")
    want = {
        ds: {n: hashlib.sha256(d).hexdigest() for n, d in imgs.items()}
        for ds, imgs in expected.items()
    }
    assert got == want


async def _sdk(path: Path) -> Any:
    return await asyncio.to_thread(run_sdk, SDK_READ_ALL, str(path))


async def test_download_rerun_skips_blobs_and_never_duplicates_offsets(
    server: Any, built: Any, tmp_path: Path
) -> None:
    root, expected = built
    dest = tmp_path / "down"
    async with Api(server.address, server.token) as api:
        pid, _ = await upload_project_async(root, api, server.workspace_id, progress=False)
        await download_fast_async(api, pid, dest, progress=False)
        pkls = sorted(dest.rglob("*_offsets.pkl"))
        before = {p: p.read_bytes() for p in pkls}
        mtimes = {p: p.stat().st_mtime_ns for p in (dest / "blob").iterdir()}
        again = await download_fast_async(api, pid, dest, progress=False)
    assert again.blobs_skipped == 2 and again.blobs_downloaded == 0
    assert {p: p.stat().st_mtime_ns for p in (dest / "blob").iterdir()} == mtimes
    assert {p: p.read_bytes() for p in sorted(dest.rglob("*_offsets.pkl"))} == before
    for pkl in pkls:
        names = await asyncio.to_thread(_pkl_names, pkl)
        assert len(names) == len(set(names))
    assert await asyncio.to_thread(_read_all, dest) == expected


async def test_interrupted_download_resumes(
    server: Any, built: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, expected = built
    dest = tmp_path / "down"
    async with Api(server.address, server.token) as api:
        pid, _ = await upload_project_async(root, api, server.workspace_id, progress=False)
        real = api.annotation.download_batch

        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionResetError("simulated interruption")

        monkeypatch.setattr(api.annotation, "download_batch", broken)
        with pytest.raises(ConnectionResetError):
            await download_fast_async(api, pid, dest, progress=False)
        # Blobs are fetched as the listing names them: those of the dataset that failed were
        # still completed and recorded; the later dataset's blob was never started.
        state = json.loads((dest / ".blobflow-download.json").read_text())
        fetched = len(state["blobs"])
        assert fetched >= 1
        monkeypatch.setattr(api.annotation, "download_batch", real)
        again = await download_fast_async(api, pid, dest, progress=False)
    assert again.blobs_skipped == fetched and again.blobs_downloaded == 2 - fetched
    assert await asyncio.to_thread(_read_all, dest) == expected
    assert not [p for p in dest.rglob("*") if p.name.endswith((".part", ".tmp"))]


def _stream_sizes(pkl: Path) -> list[int]:
    from blobflow.blob._pickle import iter_streams

    return [len(items) for items in iter_streams(str(pkl))]


async def test_download_goes_page_by_page(
    server: Any, built: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 4 images and offsets spooled 3 entries a pickle stream: the same folders, with
    and without extraction, as when everything fits one page."""
    import blobflow.project._download as download_module
    from blobflow.server._context import STATE

    root, expected = built
    server._app[STATE].config.default_per_page = 4
    monkeypatch.setattr(download_module, "OFFSETS_PKL_BATCH_SIZE", 3)
    async with Api(server.address, server.token) as api:
        pid, _ = await upload_project_async(root, api, server.workspace_id, progress=False)
        got = await download_fast_async(api, pid, tmp_path / "offsets", progress=False)
        ext = await download_fast_async(api, pid, tmp_path / "ext", extract=True, progress=False)
    assert (got.images, got.blob_images, got.blobs_downloaded) == (15, 13, 2)
    assert ext.extracted == 13
    assert await asyncio.to_thread(_read_all, tmp_path / "offsets") == expected
    assert await asyncio.to_thread(_read_all, tmp_path / "ext") == expected
    (pkl,) = (tmp_path / "offsets" / "ds_a").glob("*_offsets.pkl")
    assert await asyncio.to_thread(_pkl_names, pkl) == sorted(expected["ds_a"])
    assert await asyncio.to_thread(_stream_sizes, pkl) == [3, 3, 3]
    assert not list((tmp_path / "ext" / "ds_a").glob("*.pkl"))
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((".part", ".tmp"))]
    assert not leftovers


async def test_download_extract_writes_images(server: Any, built: Any, tmp_path: Path) -> None:
    root, expected = built
    dest = tmp_path / "down"
    async with Api(server.address, server.token) as api:
        pid, _ = await upload_project_async(root, api, server.workspace_id, progress=False)
        res = await download_fast_async(api, pid, dest, extract=True, progress=False)
    assert res.extracted == 13
    for ds_name, images in expected.items():
        ds_dir = dest / ds_name.replace("/", "/datasets/")
        for name, data in images.items():
            assert (ds_dir / "img" / name).read_bytes() == data
        assert not list(ds_dir.glob("*_offsets.pkl"))
    assert await asyncio.to_thread(_read_all, dest) == expected


async def test_upload_rerun_with_skip_never_duplicates(
    server: Any, built: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, expected = built
    async with Api(server.address, server.token) as api:
        # First run breaks after the first dataset's images are registered.
        real = api.annotation.upload_jsons
        calls = 0

        async def flaky(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise ConnectionResetError("simulated interruption")
            return await real(*args, **kwargs)

        monkeypatch.setattr(api.annotation, "upload_jsons", flaky)
        with pytest.raises(ConnectionResetError):
            await upload_project_async(root, api, server.workspace_id, progress=False)
        monkeypatch.setattr(api.annotation, "upload_jsons", real)
        projects = await api.project.get_list(server.workspace_id)
        pid = next(p.id for p in projects if p.name == "proj")
        assert pid is not None
        res = await upload_project_async(
            root, api, server.workspace_id, project_id=pid, progress=False
        )
        assert res.images == 15
        assert await _count_images(api, pid) == 15
        again = await upload_project_async(
            root, api, server.workspace_id, project_id=pid, progress=False
        )
        assert again.images == 15 and await _count_images(api, pid) == 15
        assert len(await api.dataset.get_list(pid, recursive=True)) == 3
        await download_fast_async(api, pid, tmp_path / "down", progress=False)
    assert await asyncio.to_thread(_read_all, tmp_path / "down") == expected
    assert await asyncio.to_thread(_boxes, tmp_path / "down") == await asyncio.to_thread(
        _boxes, root
    )


async def test_upload_sdk_fixture_project(server: Any, sdk_fixtures: Path, tmp_path: Path) -> None:
    async with Api(server.address, server.token) as api:
        res = await upload_project_async(
            sdk_fixtures / "project-blob", api, server.workspace_id, progress=False
        )
        await download_fast_async(api, res.project_id, tmp_path / "down", progress=False)
    sources = {p.name: p.read_bytes() for p in (sdk_fixtures / "source-images").rglob("*.*")}
    assert await asyncio.to_thread(_read_all, tmp_path / "down") == {"ds0": sources}


@pytest.fixture
def quick_blob(tmp_path: Path) -> tuple[dict[str, bytes], Path, str, Path]:
    images = make_image_folder(tmp_path / "imgs", 12, "q")
    tar = tmp_path / "blob" / "quick.tar"
    tar.parent.mkdir()
    archive_directory(tmp_path / "imgs", tar)
    pkl = save_blob_offsets_pkl(str(tar), str(tar.parent))
    anns_dir = tmp_path / "anns"
    anns_dir.mkdir()
    for i, name in enumerate(sorted(images)):
        (anns_dir / f"{name}.json").write_text(json.dumps(_ann(i % 8)))
    return images, tar, pkl, anns_dir


async def _quick_dataset(api: Api, server: Any, name: str) -> Any:
    """A project with META set (as the tutorial does before quick_import) and a dataset."""
    proj = await api.project.create(server.workspace_id, name)
    assert proj.id is not None
    await api.project.update_meta(proj.id, META)
    return await api.dataset.create(proj.id, "ds")


async def test_quick_import(server: Any, quick_blob: Any, tmp_path: Path) -> None:
    images, tar, pkl, anns_dir = quick_blob
    async with Api(server.address, server.token) as api:
        proj = await api.project.create(server.workspace_id, "quick")
        assert proj.id is not None
        meta = await api.project.update_meta(proj.id, META)
        ds = await api.dataset.create(proj.id, "ds")
        assert ds.id is not None
        infos: list[Any] = []
        res = await quick_import_async(
            api, ds.id, tar, pkl, anns_dir, meta, progress=False, on_batch=infos.extend
        )
        assert res.images == 12 and res.dataset_id == ds.id
        assert sorted(i.name for i in infos) == sorted(images)
        again: list[Any] = []
        await quick_import_async(
            api, ds.id, tar, pkl, anns_dir, progress=False, on_batch=again.extend
        )
        assert sorted(i.id for i in again) == sorted(i.id for i in infos)
        assert len(await api.image.get_list(ds.id)) == 12
        dest = tmp_path / "down"
        await download_fast_async(api, proj.id, dest, progress=False)
    assert await asyncio.to_thread(_read_all, dest) == {"ds": images}
    boxes = await asyncio.to_thread(_boxes, dest)
    assert boxes["ds/q_0003.png"] == [_sdk_quick_round_trip(_box(3))]


def _sdk_quick_round_trip(box: dict[str, Any]) -> list[list[int]]:
    """A box's corners after the SDK's quick_import (geometry stored as in the file) and its
    download (converted from subpixel to pixel): one pixel less on the bottom right."""
    (left, top), (right, bottom) = box["points"]["exterior"]
    return [[left, top], [right - 1, bottom - 1]]


@pytest.mark.parametrize("pause_gc", [True, False])
async def test_quick_import_pauses_the_collector(
    server: Any, quick_blob: Any, pause_gc: bool
) -> None:
    _, tar, pkl, anns_dir = quick_blob
    seen: list[bool] = []
    gc.enable()
    async with Api(server.address, server.token, TransferConfig(pause_gc=pause_gc)) as api:
        ds = await _quick_dataset(api, server, "gc")
        await quick_import_async(
            api, ds, tar, pkl, anns_dir, progress=False,
            on_batch=lambda batch: seen.append(gc.isenabled()),
        )  # fmt: skip
    assert seen == [not pause_gc]
    assert gc.isenabled()


@pytest.mark.parametrize("writer_process", [True, False])
async def test_download_writes_annotations_in_a_child_or_a_thread(
    server: Any, quick_blob: Any, tmp_path: Path, writer_process: bool
) -> None:
    images, tar, pkl, anns_dir = quick_blob
    config = TransferConfig(writer_process=writer_process)
    async with Api(server.address, server.token, config) as api:
        ds = await _quick_dataset(api, server, f"w{writer_process}")
        await quick_import_async(api, ds, tar, pkl, anns_dir, progress=False)
        dest = tmp_path / "down"
        await download_fast_async(
            api, ds.project_id, dest, extract=True, save_image_info=True, progress=False
        )
    assert await asyncio.to_thread(_read_all, dest) == {"ds": images}
    boxes = await asyncio.to_thread(_boxes, dest)
    assert boxes["ds/q_0005.png"] == [_sdk_quick_round_trip(_box(5))]
    assert sorted(p.name for p in (dest / "ds" / "img_info").iterdir()) == sorted(
        f"{n}.json" for n in images
    )


async def test_quick_import_missing_files_are_clear(server: Any, tmp_path: Path) -> None:
    async with Api(server.address, server.token) as api:
        with pytest.raises(ProjectError, match="not found"):
            await quick_import_async(api, 1, tmp_path / "nope.tar", progress=False)
        with pytest.raises(ProjectError, match="image folder not found"):
            await quick_import_async(
                api, 1, tmp_path / "b.tar", progress=False, images_dir=tmp_path / "nope"
            )
        with pytest.raises(ProjectError, match="folder for the blob not found"):
            await quick_import_async(
                api, 1, tmp_path / "no" / "b.tar", progress=False, images_dir=tmp_path
            )
        with pytest.raises(ProjectError, match="offsets are written beside the blob"):
            await quick_import_async(
                api, 1, tmp_path / "b.tar", tmp_path / "x.pkl", images_dir=tmp_path
            )


async def test_quick_import_from_loose_images(
    server: Any, quick_blob: Any, tmp_path: Path
) -> None:
    """``images_dir``: the blob is packed while it uploads; the same result as from a tar."""
    images, ref_tar, _, anns_dir = quick_blob
    tar = tmp_path / "packed" / "quick.tar"
    await asyncio.to_thread(tar.parent.mkdir)
    async with Api(server.address, server.token) as api:
        ds = await _quick_dataset(api, server, "loose")
        res = await quick_import_async(
            api, ds, tar, anns=anns_dir, progress=False, images_dir=tmp_path / "imgs",
        )  # fmt: skip
        assert res.images == 12
        dest = tmp_path / "down"
        await download_fast_async(api, ds.project_id, dest, progress=False)
    assert tar.read_bytes() == ref_tar.read_bytes()
    assert await asyncio.to_thread(_read_all, dest) == {"ds": images}
    boxes = await asyncio.to_thread(_boxes, dest)
    assert boxes["ds/q_0003.png"] == [_sdk_quick_round_trip(_box(3))]


def _corrupt_same_size(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[600] ^= 0xFF  # inside the first member's data; size unchanged
    path.write_bytes(bytes(data))


async def test_download_rerun_refetches_a_changed_blob(
    server: Any, built: Any, tmp_path: Path
) -> None:
    root, expected = built
    dest = tmp_path / "down"
    async with Api(server.address, server.token) as api:
        pid, _ = await upload_project_async(root, api, server.workspace_id, progress=False)
        await download_fast_async(api, pid, dest, progress=False)
        tar = sorted((dest / "blob").iterdir())[0]
        await asyncio.to_thread(_corrupt_same_size, tar)
        again = await download_fast_async(api, pid, dest, progress=False)
    assert again.blobs_downloaded == 1 and again.blobs_skipped == 1
    assert await asyncio.to_thread(_read_all, dest) == expected


async def test_download_without_blob_files_gets_plain_images(
    server: Any, built: Any, tmp_path: Path
) -> None:
    root, expected = built
    dest = tmp_path / "down"
    async with Api(server.address, server.token) as api:
        pid, _ = await upload_project_async(root, api, server.workspace_id, progress=False)
        res = await download_fast_async(api, pid, dest, download_blob_files=False, progress=False)
    assert res.blobs_downloaded == 0 and res.blob_images == 0 and res.images == 15
    assert not (dest / "blob").exists()
    assert not list(dest.rglob("*_offsets.pkl"))
    assert await asyncio.to_thread(_read_all, dest) == expected


async def test_download_rerun_drops_images_removed_on_server(
    server: Any, built: Any, tmp_path: Path
) -> None:
    root, expected = built
    dest = tmp_path / "down"
    async with Api(server.address, server.token) as api:
        res = await upload_project_async(root, api, server.workspace_id, progress=False)
        await download_fast_async(api, res.project_id, dest, progress=False)
        gone = {"ds_a": "a_0002.png", "plain": "p_1.png"}
        for ds_name, name in gone.items():
            listed = await api.image.get_list(res.datasets[ds_name])
            await api.image.remove_batch([i.id for i in listed if i.name == name])  # type: ignore[misc]
        again = await download_fast_async(api, res.project_id, dest, progress=False)
    assert again.images == 13 and again.removed == 3  # a blob image's ann; a plain img + ann
    for ds_name, name in gone.items():
        del expected[ds_name][name]
    assert await asyncio.to_thread(_read_all, dest) == expected
    assert not (dest / "plain" / "ann" / "p_1.png.json").exists()


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "no annotation file for image .{name}."),
        (b"[1, 2]", "{name}.json: an annotation must be a JSON object"),
        (b'{"objects": [', "{name}.json: not valid JSON"),
        (b"", "{name}.json: not valid JSON"),
    ],
)
async def test_quick_import_bad_annotation_file_is_named(
    server: Any, quick_blob: Any, content: bytes | None, error: str
) -> None:
    """Missing, not valid JSON, or not an object: stopped on the client, naming the file."""
    images, tar, pkl, anns_dir = quick_blob
    name = sorted(images)[3]
    bad = anns_dir / f"{name}.json"
    if content is None:
        await asyncio.to_thread(bad.unlink)
    else:
        await asyncio.to_thread(bad.write_bytes, content)
    async with Api(server.address, server.token) as api:
        ds = await _quick_dataset(api, server, "quick-bad")
        with pytest.raises(ProjectError, match=error.format(name=re.escape(name))):
            await quick_import_async(api, ds, tar, pkl, anns_dir, progress=False)
