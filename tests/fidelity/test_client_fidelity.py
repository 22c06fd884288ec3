"""The client leaves on the platform what the SDK leaves: coordinates converted on the SDK's
paths, the meta only read by quick_import, bad annotations stopped before anything registers.

Stored state is read back with plain HTTP (aiohttp), independent of the client under test.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from blobflow import AnnotationError, upload_project_async
from blobflow.api import Api
from blobflow.blob import archive_directory
from blobflow.project import OpenMode, Project, ProjectError
from blobflow.project._quick_import import quick_import_async

from ..project._helpers import make_image_folder

META = {"classes": [{"title": "car", "shape": "rectangle", "color": "#FF0000"}], "tags": []}


def _ann(exterior: list[list[int]], title: str = "car", kind: str = "rectangle") -> dict[str, Any]:
    return {"description": "", "size": {"height": 16, "width": 20}, "tags": [], "objects": [
        {"classTitle": title, "geometryType": kind, "tags": [], "description": "",
         "points": {"exterior": exterior, "interior": []}}]}


async def _raw(server: Any, method: str, body: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as http, http.post(
        f"{server.address}/public/api/v3/{method}", json=body,
        headers={"x-api-key": server.token},
    ) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _dataset(api: Api, server: Any, name: str) -> Any:
    proj = await api.project.create(server.workspace_id, name)
    assert proj.id is not None
    await api.project.update_meta(proj.id, META)
    return await api.dataset.create(proj.id, "ds")


async def test_upload_converts_to_subpixel_and_download_back(
    server: Any, tmp_path: Path
) -> None:
    """The issue's box: ``[[1,1],[6,5]]`` in a local file is stored ``[[1,1],[7,6]]``."""
    images = make_image_folder(tmp_path / "imgs", 1, "c")
    async with Api(server.address, server.token) as api:
        ds = await _dataset(api, server, "coords")
        name = next(iter(images))
        [info] = await api.image.upload_paths(ds.id, [name], [tmp_path / "imgs" / name])
        ann = _ann([[1, 1], [6, 5]])
        await api.annotation.upload_jsons([info.id], [ann])
        assert ann["objects"][0]["points"]["exterior"] == [[1, 1], [6, 5]]  # caller's unchanged
        stored = await _raw(server, "annotations.info", {"imageId": info.id})
        assert stored["annotation"]["objects"][0]["points"]["exterior"] == [[1, 1], [7, 6]]
        one = await api.annotation.download(info.id)
        [batch] = await api.annotation.download_batch(ds.id, [info.id])
    for got in (one.annotation, batch.annotation):
        assert got["objects"][0]["points"]["exterior"] == [[1, 1], [6, 5]]


@pytest.fixture
def blob(tmp_path: Path) -> tuple[Path, Path]:
    make_image_folder(tmp_path / "imgs", 6, "q")
    tar = tmp_path / "quick.tar"
    archive_directory(tmp_path / "imgs", tar, offsets_dir=tmp_path)
    anns = tmp_path / "anns"
    anns.mkdir()
    for n, name in enumerate(sorted(p.name for p in (tmp_path / "imgs").iterdir())):
        (anns / f"{name}.json").write_text(json.dumps(_ann([[n, 1], [n + 4, 6]])))
    return tar, anns


async def test_quick_import_reads_the_meta_and_never_replaces_it(
    server: Any, blob: tuple[Path, Path]
) -> None:
    tar, anns = blob
    async with Api(server.address, server.token) as api:
        ds = await _dataset(api, server, "keep-meta")
        before = await _raw(server, "projects.meta", {"id": ds.project_id})
        res = await quick_import_async(api, ds, tar, anns=anns, progress=False)
        after = await _raw(server, "projects.meta", {"id": ds.project_id})
        rows = await _raw(server, "annotations.bulk.info", {
            "datasetId": ds.id, "imageIds": [i.id for i in await api.image.get_list(ds.id)]})
    assert res.images == 6
    assert after == before
    # as the SDK's quick_import (figures.bulk.add of the file's geometry): unconverted
    boxes = sorted(r["annotation"]["objects"][0]["points"]["exterior"] for r in rows)
    assert boxes == sorted([[n, 1], [n + 4, 6]] for n in range(6))


async def test_quick_import_names_classes_the_meta_lacks_and_registers_nothing(
    server: Any, blob: tuple[Path, Path]
) -> None:
    tar, anns = blob
    files = sorted(anns.iterdir())
    await asyncio.to_thread(files[2].write_text, json.dumps(_ann([[1, 1], [2, 2]], "bus")))
    await asyncio.to_thread(files[4].write_text, json.dumps(_ann([[1, 1], [2, 2]], "van")))
    async with Api(server.address, server.token) as api:
        ds = await _dataset(api, server, "lacks")
        with pytest.raises(ProjectError, match=r"lacks classes .*'bus' \(first in .*\)"
                                               r".*'van'"):
            await quick_import_async(api, ds, tar, anns=anns, progress=False)
        images = await _raw(server, "images.list", {"datasetId": ds.id})
    assert images["total"] == 0


async def test_quick_import_refuses_a_mismatched_geometry_naming_the_file(
    server: Any, blob: tuple[Path, Path]
) -> None:
    tar, anns = blob
    bad = sorted(anns.iterdir())[3]
    await asyncio.to_thread(bad.write_text, json.dumps(_ann([[1, 1], [2, 2]], kind="polygon")))
    async with Api(server.address, server.token) as api:
        ds = await _dataset(api, server, "mismatch")
        with pytest.raises(AnnotationError, match=f"{bad.name}: objects\\[0\\].geometryType"):
            await quick_import_async(api, ds, tar, anns=anns, progress=False)
        images = await _raw(server, "images.list", {"datasetId": ds.id})
    assert images["total"] == 0


def _bad_project(tmp_path: Path, bad: tuple[int, ...] = (1,)) -> None:
    images = make_image_folder(tmp_path / "imgs", 4, "u")
    project = Project(tmp_path / "proj", OpenMode.CREATE)
    project.set_meta(META)
    ds = project.create_dataset("ds")
    for n, (name, data) in enumerate(sorted(images.items())):
        ann = _ann([[1, 1], [2, 2]]) if n not in bad else {"objects": []}  # no size
        ds.add_item_bytes(name, data, ann)
    project.close()


async def test_upload_project_refuses_a_bad_annotation_before_creating_anything(
    server: Any, tmp_path: Path
) -> None:
    await asyncio.to_thread(_bad_project, tmp_path)
    async with Api(server.address, server.token) as api:
        before = await _raw(server, "projects.list", {"workspaceId": server.workspace_id})
        with pytest.raises(AnnotationError, match=r"u_0001\.png\.json: size"):
            await upload_project_async(tmp_path / "proj", api, server.workspace_id,
                                       progress=False)
        after = await _raw(server, "projects.list", {"workspaceId": server.workspace_id})
    assert after["total"] == before["total"]


async def test_upload_project_names_the_first_bad_annotation_and_counts_the_others(
    server: Any, tmp_path: Path
) -> None:
    await asyncio.to_thread(_bad_project, tmp_path, (1, 2, 3))
    async with Api(server.address, server.token) as api:
        before = await _raw(server, "projects.list", {"workspaceId": server.workspace_id})
        with pytest.raises(AnnotationError) as caught:
            await upload_project_async(tmp_path / "proj", api, server.workspace_id,
                                       progress=False)
        after = await _raw(server, "projects.list", {"workspaceId": server.workspace_id})
    message = str(caught.value)
    assert "u_0001.png.json: size" in message and message.endswith("(and 2 other problems)")
    assert after["total"] == before["total"]
