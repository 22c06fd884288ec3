"""``blobflow.sly`` beyond the seed: signatures, refusals, errors, progress, objects, lifetime."""

from __future__ import annotations

import gc
import inspect
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import blobflow.sly as sly
from blobflow import TransferConfig
from blobflow.api import ApiError, AuthError
from blobflow.blob import archive_directory

SDK_PYTHON = os.environ.get("BLOBFLOW_SDK_PYTHON")


def _portal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("blobflow-portal")]


@pytest.fixture
def api(thread_server: Any) -> Any:
    with sly.Api(thread_server.address, thread_server.token) as api:
        yield api


def _blob_dataset(api: Any, handle: Any, tmp_path: Path, n: int = 5) -> tuple[Any, Any]:
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    for i in range(n):
        Image.new("RGB", (8 + i, 6), (i, 2 * i, 3 * i)).save(src / f"im_{i}.png")
    archive_directory(src, tmp_path / "b.tar", offsets_dir=tmp_path)
    blob = api.file.upload(handle.team_id, str(tmp_path / "b.tar"), "/blob-files/b.tar")
    api.file.upload(handle.team_id, str(tmp_path / "b_offsets.pkl"), "/blob-files/b_offsets.pkl")
    project = api.project.create(handle.workspace_id, "p", change_name_if_conflict=True)
    return api.dataset.create(project.id, "ds"), blob


def test_methods_have_the_sdk_signatures() -> None:
    """Names, order, keyword names and defaults of the seed's methods, as in SDK 6.74.51."""
    sig = inspect.signature
    assert list(sig(sly.Api.from_env).parameters)[:4] == [
        "retry_count", "ignore_task_id", "env_file", "check_instance_version",
    ]  # fmt: skip
    assert str(sig(sly._api.ImageApi.upload_blob_images)) == (
        "(self, dataset: 'DatasetInfo | int', blob_file: 'FileInfo | str', metas: "
        "'Mapping[str, dict[str, Any]] | None' = None, change_name_if_conflict: 'bool' = True, "
        "progress_cb: 'Any' = None, return_image_infos_generator: 'bool' = False) -> "
        "'Iterator[list[ImageInfo]] | None'"
    )
    assert list(sig(sly._api.DatasetApi.quick_import).parameters) == [
        "self", "dataset", "blob_path", "offsets_path", "anns", "project_meta", "project_type",
        "log_progress",
    ]  # fmt: skip
    assert list(sig(sly.upload_project).parameters) == [
        "dir", "api", "workspace_id", "project_name", "log_progress", "progress_cb", "project_id",
    ]  # fmt: skip
    assert list(sig(sly.download_fast).parameters)[:7] == [
        "api", "project_id", "dest_dir", "dataset_ids", "log_progress", "progress_cb", "semaphore",
    ]  # fmt: skip
    assert sly.project.project.TF_BLOB_DIR == "blob-files"
    assert ".jpg" in sly.image.SUPPORTED_IMG_EXTS and isinstance(sly.image.SUPPORTED_IMG_EXTS, list)
    assert str(sly.ProjectType.IMAGES) == "images" == sly.ProjectType.IMAGES


def test_unsupported_arguments_name_themselves(api: Any, tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match=r"split=.*archive_directory_parts"):
        sly.fs.archive_directory(str(tmp_path), str(tmp_path / "x.tar"), split="10M")
    with pytest.raises(NotImplementedError, match=r"dataset_ids=\[1\]"):
        sly.download_fast(api, 1, str(tmp_path), dataset_ids=[1])
    with pytest.raises(NotImplementedError, match="resume_download"):
        sly.download_fast(api, 1, str(tmp_path), resume_download=True)
    with pytest.raises(NotImplementedError, match="validate_meta"):
        api.image.upload_paths(1, ["a"], ["a"], validate_meta=True)
    with pytest.raises(NotImplementedError, match="project type videos"):
        api.dataset.quick_import(1, "b.tar", "b.pkl", [], project_type=sly.ProjectType.VIDEOS)
    with pytest.raises(NotImplementedError, match="external_logger"):
        sly.Api("http://127.0.0.1:9", "t", external_logger=object())


def test_wrong_token_and_dead_server_raise_the_async_errors(thread_server: Any) -> None:
    with sly.Api(thread_server.address, "wrong") as bad, pytest.raises(AuthError):
        bad.project.get_list(thread_server.workspace_id)
    dead = sly.Api("http://127.0.0.1:9", "t", config=TransferConfig(retry_attempts=2))
    start = time.monotonic()
    with pytest.raises(ApiError) as info:
        dead.team.get_list()
    assert info.value.status is None and time.monotonic() - start < 10
    dead.close()


def test_progress_accepts_callables_and_tqdm_like(
    api: Any, thread_server: Any, tmp_path: Path
) -> None:
    ds, blob = _blob_dataset(api, thread_server, tmp_path)

    class Bar:
        n = 0

        def update(self, k: int) -> None:
            self.n += k

    bar, seen = Bar(), []
    batches = api.image.upload_blob_images(
        ds, blob, progress_cb=bar, return_image_infos_generator=True
    )
    assert bar.n == 0  # lazy, as the SDK's generator: nothing registered yet
    infos = [i for batch in batches for i in batch]
    assert bar.n == 5 and sorted(i.name for i in infos) == [f"im_{i}.png" for i in range(5)]
    assert all(isinstance(i, sly.ImageInfo) for i in infos)
    anns = {"size": {"height": 6, "width": 8}, "tags": [], "objects": [], "description": ""}
    api.annotation.upload_jsons([i.id for i in infos], [anns] * 5, seen.append)
    assert sum(seen) == 5
    with pytest.raises(TypeError, match="progress_cb"):
        api.annotation.upload_jsons([infos[0].id], [anns], progress_cb=42)


def test_api_lifetime_one_loop_thread_closed_on_close_and_gc(thread_server: Any) -> None:
    def loop_threads() -> set[threading.Thread]:
        return set(_portal_threads())

    before = loop_threads()
    api = sly.Api(thread_server.address, thread_server.token)
    for _ in range(3):
        assert api.team.get_info_by_id(thread_server.team_id) is not None
    (mine,) = loop_threads() - before  # one loop thread for all calls
    api.close()
    assert not mine.is_alive()
    api = sly.Api(thread_server.address, thread_server.token)
    api.workspace.get_list(thread_server.team_id)
    (mine,) = loop_threads() - before
    del api
    gc.collect()
    assert not mine.is_alive()


async def test_async_surface_speaks_the_sdk_names(server: Any, tmp_path: Path) -> None:
    """``upload_blob_images(..., return_image_infos_generator=True)`` yields batches;
    ``api.dataset.quick_import`` is the quick-import flow."""
    from PIL import Image

    from blobflow import Api

    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        Image.new("RGB", (5, 5), (i, i, i)).save(src / f"q_{i}.png")
    await _to_thread(archive_directory, src, tmp_path / "q.tar", offsets_dir=tmp_path)
    async with Api(server.address, server.token) as api:
        project = await api.project.create(server.workspace_id, "a")
        ds = await api.dataset.create(project.id, "ds")
        res = await api.dataset.quick_import(
            ds, tmp_path / "q.tar", tmp_path / "q_offsets.pkl", None, log_progress=False
        )
        assert res.images == 4
        tf = await api.file.get_info_by_path(server.team_id, "/blob-files/q.tar")
        ds2 = await api.dataset.create(project.id, "ds2")
        batches = [
            b
            async for b in api.image.upload_blob_images(
                ds2, tf, return_image_infos_generator=True
            )
        ]
        assert [len(b) for b in batches] == [4]
        assert len(await api.image.upload_blob_images(await api.dataset.create(project.id, "d3"),
                                                      tf)) == 4  # fmt: skip


async def _to_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)


META = {
    "classes": [
        {"title": "car", "shape": "rectangle", "color": "#FF0000"},
        {"title": "poly", "shape": "polygon", "color": "#00FF00", "id": 5},
    ],
    "tags": [
        {"name": "good", "value_type": "none", "color": "#0000FF", "id": 7},
        {"name": "kind", "value_type": "oneof_string", "values": ["a", "b"], "color": "#0000FF"},
    ],
}
ANN = {
    "size": {"height": 16, "width": 20},
    "tags": [{"name": "good", "id": 3, "labelerLogin": "x"}],
    "objects": [
        {"id": 11, "classId": 1, "classTitle": "car", "geometryType": "rectangle",
         "points": {"exterior": [[1, 1], [6, 5]], "interior": []}, "labelerLogin": "me",
         "createdAt": "2020", "updatedAt": "2021", "tags": [{"name": "kind", "value": "a"}]},
        {"classTitle": "poly", "points": {"exterior": [[1, 1], [6, 5], [3, 9]], "interior": []},
         "tags": []},
    ],
}  # fmt: skip


def test_meta_and_annotation_json_as_the_sdk_writes_it() -> None:
    meta = sly.ProjectMeta.from_json(META)
    ann = sly.Annotation.from_json(ANN, meta)
    assert ann.img_size == (16, 20) and [lb.obj_class.name for lb in ann.labels] == ["car", "poly"]
    assert meta.get_obj_class("car").color == [255, 0, 0]  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="nope"):
        bad = {**ANN, "objects": [{**ANN["objects"][1], "classTitle": "nope"}]}  # type: ignore[dict-item]
        sly.Annotation.from_json(bad, meta)
    if not SDK_PYTHON:
        pytest.skip("BLOBFLOW_SDK_PYTHON is not set: the SDK's own JSON is not available")
    script = (
        "import json, sys, supervisely as sly\n"
        "meta_json, ann_json = json.loads(sys.stdin.read())\n"
        "m = sly.ProjectMeta.from_json(meta_json)\n"
        "print(json.dumps([m.to_json(), sly.Annotation.from_json(ann_json, m).to_json()]))\n"
    )
    proc = subprocess.run(
        [SDK_PYTHON, "-c", script], input=json.dumps([META, ANN]), capture_output=True,
        text=True, check=True, env={**os.environ, "LOG_LEVEL": "WARNING"}, timeout=120,
    )  # fmt: skip
    sdk_meta, sdk_ann = json.loads(proc.stdout.strip().splitlines()[-1])
    assert meta.to_json() == sdk_meta
    assert ann.to_json() == sdk_ann
