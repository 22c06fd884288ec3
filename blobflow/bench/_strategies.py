"""The six blobflow strategies, each timed end to end in its own child process.

Every strategy starts from the same loose local files (``img/``, ``ann/``, ``meta.json`` of the
generated data set) or from the same server project, and ends in the same state:

* upload: one new project with one dataset ``ds0`` holding every image and its annotation;
* download: ``<dest>/meta.json`` and ``<dest>/ds0/ann/<name>.json`` for every image, plus the
  images, either as files in ``<dest>/ds0/img/`` (standard) or as ``<dest>/blob/<id>.tar`` with
  ``<dest>/ds0/<id>_offsets.pkl`` (blob, fast).

Each calls blobflow's public functions only; this module adds no transfer logic of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from blobflow._config import TransferConfig
from blobflow.api import Api, DatasetInfo, ImageInfo, ProjectInfo
from blobflow.bench._runner import Job
from blobflow.blob import BLOB_DIR_NAME, blob_tar_path, offsets_pkl_path, team_files_blob_path
from blobflow.engine import write_files

__all__ = ["strategy"]

Strategy = Callable[[Job], Coroutine[Any, Any, int | None]]
_DATASET = "ds0"


def _api(job: Job) -> Api:
    """The strategy's client; in a recording run its requests are recorded (see ``_record``)."""
    api = Api(job.server, job.token, TransferConfig(**job.config) if job.config else None)
    if job.record:
        from blobflow.bench._record import RecordingTransport

        api.transport = RecordingTransport(api.transport)
    return api


async def _save_recording(api: Api, job: Job, *keep: Path) -> None:
    """A recording run leaves its requests and the files it uploaded in ``job.record``."""
    from blobflow.bench._record import RecordingTransport

    if not job.record:
        return
    folder = Path(job.record)
    assert isinstance(api.transport, RecordingTransport)
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(api.transport.save, folder)
    seeds = {"team": job.team_id, "workspace": job.workspace_id, "project": job.project_id}
    await asyncio.to_thread((folder / "seeds.json").write_text, json.dumps(seeds))
    for path in keep:
        await asyncio.to_thread(os.replace, path, folder / path.name)


def _listdir(path: str) -> list[str]:
    return sorted(os.listdir(path))


async def _meta(job: Job) -> dict[str, Any]:
    text = await asyncio.to_thread(Path(job.data_root, "meta.json").read_text, "utf-8")
    meta: dict[str, Any] = json.loads(text)
    return meta


async def _project(api: Api, job: Job) -> tuple[ProjectInfo, DatasetInfo]:
    project = await api.project.create(job.workspace_id, job.name, change_name_if_conflict=True)
    assert project.id is not None
    await api.project.update_meta(project.id, await _meta(job))
    dataset = await api.dataset.create(project.id, _DATASET)
    return project, dataset


def _ann_paths(job: Job, names: Sequence[str | None]) -> list[str]:
    return [os.path.join(job.ann_dir, f"{name}.json") for name in names]


def _ids(infos: Sequence[ImageInfo]) -> list[int]:
    return [int(i.id) for i in infos if i.id is not None]


async def _pack(job: Job) -> tuple[Path, Path]:
    """The blob and its ``<stem>_offsets.pkl`` from the loose images (one pass)."""
    from blobflow.blob import archive_directory_parts

    tar = Path(job.work_dir) / f"{job.name}.tar"
    # one part, no limits; the offsets go into the .pkl while packing (bounded memory)
    await asyncio.to_thread(
        archive_directory_parts, job.img_dir, tar, offsets_dir=job.work_dir, keep_infos=False
    )
    return tar, offsets_pkl_path(tar)


async def upload_standard(job: Job) -> int | None:
    """The per-image protocol: hash, ``images.bulk.upload``, ``images.bulk.add``, annotations."""
    async with Api(job.server, job.token) as api:
        project, dataset = await _project(api, job)
        assert dataset.id is not None
        names = await asyncio.to_thread(_listdir, job.img_dir)
        paths = [os.path.join(job.img_dir, n) for n in names]
        infos = await api.image.upload_paths(dataset.id, names, paths)
        await api.annotation.upload_paths(
            _ids(infos), _ann_paths(job, [i.name for i in infos]), dataset_id=dataset.id
        )
        return project.id


async def upload_blob(job: Job) -> int | None:
    """Step after step: pack + offsets, Team Files, ``upload_blob_images``, annotations."""
    tar, pkl = await _pack(job)
    async with Api(job.server, job.token) as api:
        blob = await api.file.upload(job.team_id, tar, team_files_blob_path(tar.name))
        await api.file.upload(job.team_id, pkl, team_files_blob_path(pkl.name))
        project, dataset = await _project(api, job)
        infos = await api.image.upload_blob_images(dataset, blob)
        await api.annotation.upload_paths(
            _ids(infos), _ann_paths(job, [i.name for i in infos]), dataset_id=dataset.id
        )
        return project.id


async def upload_quick(job: Job) -> int | None:
    """``quick_import`` from the loose images: packing, upload, registration and annotations
    pipelined (the blob streams to Team Files while it is packed). The meta is set first, as in
    the tutorial: ``quick_import`` only reads it."""
    from blobflow.project import quick_import_async

    tar = Path(job.work_dir) / f"{job.name}.tar"
    async with _api(job) as api:
        project, dataset = await _project(api, job)
        await quick_import_async(
            api, dataset, tar, anns=job.ann_dir, progress=False,
            images_dir=job.img_dir,
        )  # fmt: skip
    # the blob, or its parts, and their offsets
    names = await asyncio.to_thread(os.listdir, job.work_dir)
    kept = [Path(job.work_dir, n) for n in names if n.endswith((".tar", ".pkl"))]
    await _save_recording(api, job, *kept)
    return project.id


async def _source(api: Api, job: Job) -> tuple[DatasetInfo, list[ImageInfo], Path]:
    """Write meta.json; return the one dataset, its images and the local dataset folder."""
    assert job.project_id is not None and job.dest is not None
    meta = await api.project.get_meta(job.project_id)
    dest = Path(job.dest)
    await write_files([(dest / "meta.json", json.dumps(meta).encode())])
    datasets = await api.dataset.get_list(job.project_id, recursive=True)
    if len(datasets) != 1 or datasets[0].id is None:
        raise RuntimeError(f"project {job.project_id}: expected one dataset, got {len(datasets)}")
    infos = await api.image.get_list(datasets[0].id)
    return datasets[0], infos, dest / str(datasets[0].name)


async def _download_anns(
    api: Api, dataset: DatasetInfo, infos: Sequence[ImageInfo], ds_dir: Path
) -> None:
    assert dataset.id is not None
    anns = await api.annotation.download_batch(dataset.id, _ids(infos))
    await write_files(
        (ds_dir / "ann" / f"{info.name}.json", json.dumps(ann.annotation).encode())
        for info, ann in zip(infos, anns, strict=True)
    )


async def download_standard(job: Job) -> int | None:
    """Per-image downloads to ``img/`` files, plus annotations."""
    async with Api(job.server, job.token) as api:
        dataset, infos, ds_dir = await _source(api, job)
        assert dataset.id is not None
        paths = [ds_dir / "img" / str(info.name) for info in infos]
        await asyncio.gather(
            api.image.download_paths(dataset.id, _ids(infos), paths),
            _download_anns(api, dataset, infos, ds_dir),
        )
    return None


async def download_blob(job: Job) -> int | None:
    """Step after step: each blob tar, its offsets pickle, then the annotations."""
    from blobflow.blob import BlobImageInfo

    assert job.project_id is not None
    async with Api(job.server, job.token) as api:
        dataset, infos, ds_dir = await _source(api, job)
        blobs: dict[int, list[ImageInfo]] = {}
        for info in infos:
            if info.related_data_id is None:
                raise RuntimeError(f"image {info.name} is not a blob image")
            blobs.setdefault(int(info.related_data_id), []).append(info)
        for blob_id, members in blobs.items():
            tar = blob_tar_path(Path(str(job.dest)) / BLOB_DIR_NAME, blob_id)
            await api.image.download_blob_file(job.project_id, str(members[0].download_id), tar)
            offsets = [
                BlobImageInfo(str(i.name), int(i.offset_start or 0), int(i.offset_end or 0))
                for i in members
            ]
            pkl = offsets_pkl_path(f"{blob_id}.tar", ds_dir)
            await asyncio.to_thread(ds_dir.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(BlobImageInfo.dump_to_pickle, offsets, pkl)
        await _download_anns(api, dataset, infos, ds_dir)
    return None


async def download_fast(job: Job) -> int | None:
    """``download_fast(..., download_blob_files=True)``: everything concurrent."""
    from blobflow.project import download_fast_async

    assert job.project_id is not None and job.dest is not None
    async with _api(job) as api:
        await download_fast_async(
            api, job.project_id, job.dest, download_blob_files=True, progress=False
        )
    await _save_recording(api, job)
    return None


_STRATEGIES: dict[tuple[str, str], Strategy] = {
    ("upload", "standard"): upload_standard,
    ("upload", "blob"): upload_blob,
    ("upload", "quick"): upload_quick,
    ("download", "standard"): download_standard,
    ("download", "blob"): download_blob,
    ("download", "fast"): download_fast,
}


def strategy(direction: str, name: str) -> Strategy:
    try:
        return _STRATEGIES[(direction, name)]
    except KeyError:
        raise ValueError(f"unknown strategy {direction} {name}") from None
