"""Cross-client: the official SDK and blobflow on the same server leave the same things.

The SDK uploads a project and blobflow downloads it, and the other way round; each download's
``ann/*.json`` files equal, after JSON normalisation, what the SDK's own download of the same
project leaves, and the local files they came from. What each client stores (read back with
plain HTTP) is identical for the same local files. Needs ``BLOBFLOW_SDK_PYTHON``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from blobflow.api import Api
from blobflow.project import download_fast_async, upload_project_async
from blobflow.project._quick_import import quick_import_async

from ._wire import annotation, call, image_names, new_dataset, run_sdk, write_inputs


@pytest.fixture
def sdk_python() -> str:
    python = os.environ.get("BLOBFLOW_SDK_PYTHON")
    if not python or not os.access(python, os.X_OK):
        pytest.skip("BLOBFLOW_SDK_PYTHON is not set (the official SDK's python)")
    return python


def _anns(dest: Path) -> dict[str, str]:
    """Every ``<dataset>/ann/<file>`` of a downloaded project, as normalised JSON."""
    return {
        str(p.relative_to(dest)): json.dumps(json.loads(p.read_bytes()), sort_keys=True)
        for p in sorted(dest.glob("*/ann/*.json"))
    }


def _geometry_only(ann: dict[str, Any]) -> list[Any]:
    return [[o["classTitle"], o["geometryType"],
             {k: o[k] for k in ("points", "bitmap", "nodes", "parts") if k in o}]
            for o in ann["objects"]]


async def _stored(server: Any, project_id: int) -> dict[str, list[Any]]:
    """name -> the objects the server stores for each image of the project (plain HTTP)."""
    [ds] = (await call(server.address, server.token, "datasets.list",
                       {"projectId": project_id}))["entities"]
    images = (await call(server.address, server.token, "images.list",
                         {"datasetId": ds["id"]}))["entities"]
    out: dict[str, list[Any]] = {}
    ids = [i["id"] for i in images]
    for start in range(0, len(ids), 50):
        for row in await call(server.address, server.token, "annotations.bulk.info",
                              {"datasetId": ds["id"], "imageIds": ids[start : start + 50]}):
            out[row["imageName"]] = _geometry_only(row["annotation"])
    return out


async def test_sdk_and_blobflow_uploads_and_downloads_agree(
    sdk_python: str, server: Any, tmp_path: Path
) -> None:
    inputs = await asyncio.to_thread(write_inputs, tmp_path / "in")
    ws = server.workspace_id
    by_sdk = await run_sdk(sdk_python, server.address, server.token, {
        "flow": "upload_project", "project_dir": str(inputs["project"]), "workspace_id": ws,
        "project_name": "by-sdk"})
    async with Api(server.address, server.token) as api:
        by_us = await upload_project_async(inputs["project"], api, ws, "by-blobflow",
                                           progress=False)
        # a box written by blobflow and one written by the SDK are stored identically
        stored_sdk = await _stored(server, by_sdk["project_id"])
        assert len(stored_sdk) == len(image_names())
        assert await _stored(server, by_us.project_id) == stored_sdk
        assert stored_sdk["w_004.png"][0][2]["points"]["exterior"] == [[4, 1], [11, 6]]
        downloads = {}
        for who, pid in (("sdk", by_sdk["project_id"]), ("blobflow", by_us.project_id)):
            ours = tmp_path / f"{who}-up-blobflow-down"
            await download_fast_async(api, pid, ours, progress=False)
            theirs = tmp_path / f"{who}-up-sdk-down"
            await run_sdk(sdk_python, server.address, server.token, {
                "flow": "download_fast", "project_id": pid, "dest_dir": str(theirs)})
            downloads[who] = (await asyncio.to_thread(_anns, ours),
                              await asyncio.to_thread(_anns, theirs))
    local = {f"ds0/ann/{n}.json": annotation(i) for i, n in enumerate(image_names())}
    for who, (ours_anns, sdk_anns) in downloads.items():
        assert ours_anns == sdk_anns, who  # byte for byte after normalisation
        assert sorted(ours_anns) == sorted(local)
        for path, text in ours_anns.items():
            assert _geometry_only(json.loads(text)) == _geometry_only(local[path]), (who, path)


async def test_quick_import_stores_what_the_sdks_quick_import_stores(
    sdk_python: str, server: Any, tmp_path: Path
) -> None:
    inputs = await asyncio.to_thread(write_inputs, tmp_path / "in")
    paths = sorted(str(p) for p in inputs["anns"].iterdir())
    theirs = await new_dataset(server.address, server.token, server.workspace_id, "q-sdk")
    await run_sdk(sdk_python, server.address, server.token, {
        "flow": "quick_import", "dataset_id": theirs["id"], "tar": str(inputs["tar"]),
        "pkl": str(inputs["pkl"]), "ann_paths": paths})
    ours = await new_dataset(server.address, server.token, server.workspace_id, "q-blobflow")
    async with Api(server.address, server.token) as api:
        await quick_import_async(api, ours["id"], inputs["tar"], inputs["pkl"], paths,
                                 progress=False)
    stored = await _stored(server, theirs["projectId"])
    assert len(stored) == len(image_names())
    assert await _stored(server, ours["projectId"]) == stored
