"""``upload_project``: a local project (with or without ``blob/``) to a new or existing project.

Everything the upload will read is checked first (:func:`check_project`): a broken project
changes nothing on the server. Then, as the SDK (spec §11): project, meta, blob files to Team
Files under ``/blob-files/`` (each with its ``_offsets.pkl`` beside it, as the seed tutorial
says, so the blob can be reused), then per dataset (parents first) regular images by the
standard path, blob images by offsets (10,000 per ``images.bulk.add``), annotations in bulk
while the next batch registers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blobflow._errors import BlobFormatError
from blobflow._gc import gc_paused
from blobflow._hash import file_sha256_b64
from blobflow._media import Skipped, is_image_name
from blobflow._portal import blocking
from blobflow.api import FileInfo, ImageInfo, Progress, portal_of
from blobflow.blob import (
    BlobImageInfo,
    offsets_pkl_path,
    save_blob_offsets_pkl,
    team_files_blob_path,
    team_files_offsets_path,
)
from blobflow.project._check import check_annotations
from blobflow.project._errors import ProjectError, first_problem
from blobflow.project._local import Dataset, Project, find_project_dir
from blobflow.project._progress import bar

if TYPE_CHECKING:
    from blobflow.api import Api, ConflictResolution, DatasetInfo

__all__ = ["UploadResult", "upload_project", "upload_project_async"]


@dataclass
class UploadResult:
    """What an upload did; unpacks as ``project_id, project_name`` like the SDK's tuple."""

    project_id: int
    project_name: str
    images: int = 0
    blob_images: int = 0
    annotations: int = 0
    blob_bytes: int = 0
    datasets: dict[str, int] = field(default_factory=dict)  # full name -> dataset id
    #: files in an ``img/`` that are not images (all of them named)
    skipped: Skipped = field(default_factory=lambda: Skipped(verbose=True))

    def __iter__(self) -> Iterator[int | str]:
        return iter((self.project_id, self.project_name))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> int | str:
        """``result[0]`` is the project id, ``result[1]`` its name (the SDK's tuple)."""
        return (self.project_id, self.project_name)[index]


def _check_blobs(project: Project, problems: list[str]) -> dict[str, int]:
    """Each referenced blob is present and holds every byte range its offsets name;
    returns stem -> size of the blobs that are present."""
    sizes: dict[str, int] = {}
    for ds in project.datasets:
        for stem, entries in ds.blob_items().items():
            if not entries:
                continue
            pkl = offsets_pkl_path(ds.directory / f"{stem}.tar")
            tar = ds.blob_tar_path(stem)
            if stem not in sizes:
                try:
                    sizes[stem] = tar.stat().st_size
                except FileNotFoundError:
                    sizes[stem] = -1
            size = sizes[stem]
            if size < 0:
                problems.append(f"{pkl}: its blob {tar} is missing")
                continue
            problems.extend(
                f"{pkl}: {e.name!r} at bytes {e.offset_start}-{e.offset_end} lies "
                f"outside {tar} ({size} bytes)"
                for e in entries
                if not 0 <= e.offset_start <= e.offset_end <= size
            )
    return {stem: size for stem, size in sizes.items() if size >= 0}


def check_project(project: Project, index_dir: Path) -> dict[str, Path]:
    """Everything an upload reads, checked before anything on the server changes: the blobs
    are present, their offsets readable and inside them, the tars readable; then each
    annotation against the project meta (``check_annotations``).

    Returns, per blob stem, the blob's index for Team Files (``<stem>_offsets.pkl`` of its
    image members, written to ``index_dir``; scanning also proves the tar readable). Raises a
    ProjectError naming the first problem and how many others there are.
    """
    problems: list[str] = []
    sizes = _check_blobs(project, problems)
    indexes: dict[str, Path] = {}
    for stem in sizes:
        tar = project.blob_dir / f"{stem}.tar"
        try:
            indexes[stem] = Path(save_blob_offsets_pkl(tar, index_dir, filter_func=is_image_name))
        except BlobFormatError as exc:
            problems.append(str(exc))
    if problems:
        raise ProjectError(
            f"project {project.name!r} not uploaded, nothing was sent: {first_problem(problems)}"
        )
    # every annotation readable, a JSON object, and valid against the local meta
    check_annotations(_local_annotations(project), project.meta)
    return indexes


async def _upload_blobs(
    api: Api, team_id: int, project: Project, indexes: dict[str, Path], show: bool
) -> dict[str, FileInfo]:
    """Upload the referenced ``blob/*.tar`` files, each with its ``_offsets.pkl`` beside it
    (so the blob can be reused by ``upload_blob_images``); a file already in Team Files with
    the same content is reused (re-runs), one with other content gets a free name (two
    projects may both hold a ``5102.tar``)."""
    names = [f"{stem}.tar" for stem in sorted(indexes)]
    paths = [project.blob_dir / n for n in names]
    sizes = [(await asyncio.to_thread(os.stat, p)).st_size for p in paths]
    pbar = bar("Uploading blob files", sum(sizes), enabled=show, unit="B")
    progress = Progress(pbar)

    async def same(dst: str, path: Path) -> FileInfo | None:
        """The Team Files entry at ``dst`` if it holds exactly the bytes of ``path``."""
        existing = await api.file.get_info_by_path(team_id, dst)
        if existing is None or existing.sizeb != (await asyncio.to_thread(os.stat, path)).st_size:
            return None
        local = await asyncio.to_thread(file_sha256_b64, path)
        return existing if existing.hash == local else None

    async def tar(path: Path, size: int) -> FileInfo:
        dst = team_files_blob_path(path.name)
        if await api.file.get_info_by_path(team_id, dst) is not None:
            if (found := await same(dst, path)) is not None:
                progress.advance(size)
                return found
            local = await asyncio.to_thread(file_sha256_b64, path)
            tag = local[:8].replace("/", "_").replace("+", "-")
            dst = team_files_blob_path(f"{path.stem}_{tag}.tar")
            if (found := await same(dst, path)) is not None:
                progress.advance(size)
                return found
        return await api.file.upload(team_id, path, dst, progress)

    async def one(path: Path, size: int) -> FileInfo:
        info = await tar(path, size)
        index, index_dst = indexes[path.stem], team_files_offsets_path(info.path or "")
        if info.path and await same(index_dst, index) is None:
            await api.file.upload(team_id, index, index_dst)
        return info

    try:
        infos = await api.gather_limited(
            (one(p, s) for p, s in zip(paths, sizes, strict=True)), "upload"
        )
    finally:
        pbar.close()
    return {Path(n).stem: info for n, info in zip(names, infos, strict=True)}


async def _dataset_info(
    api: Api, project_id: int, ds: Dataset, parent_id: int | None, reuse: bool
) -> DatasetInfo:
    if reuse:
        found = await api.dataset.get_info_by_name(project_id, ds.short_name, parent_id)
        if found is not None:
            return found
    return await api.dataset.create(project_id, ds.short_name, parent_id=parent_id)


def _read_anns(ds: Dataset, names: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for name in names:
        ann = ds.get_ann(name)
        if ann is not None:
            out[name] = ann
    return out


async def _upload_anns(api: Api, ds: Dataset, ds_id: int, infos: list[ImageInfo], pbar: Any) -> int:
    """Annotations of one registered batch: read in one executor call, sent 50 a request."""
    names = [i.name for i in infos if i.name is not None]
    anns = await asyncio.to_thread(_read_anns, ds, names)
    ids: list[int] = []
    jsons: list[dict[str, Any]] = []
    for info in infos:
        ann = anns.get(info.name or "")
        if ann is not None and info.id is not None:
            ids.append(info.id)
            jsons.append(ann)
    # checked=True: every annotation file was checked against the meta before anything else
    await api.annotation.upload_jsons(ids, jsons, dataset_id=ds_id, checked=True)
    pbar.update(len(ids))
    return len(ids)


def _local_annotations(project: Project) -> Iterator[tuple[str, Path]]:
    for ds in project.datasets:
        for name in ds.get_items_names():
            path = ds.get_ann_path(name)
            if path is not None:
                yield os.fspath(path), path


def _metas(ds: Dataset, names: list[str]) -> dict[str, dict[str, Any]]:
    has_meta = ds.meta_dir.is_dir() or ds.img_info_dir.is_dir()
    return {n: ds.get_image_meta(n) for n in names} if has_meta else {}


def _dedup_pickle(ds: Dataset, stem: str, infos: list[BlobImageInfo], tmp_dir: Path) -> Path:
    """The dataset's offsets for ``stem`` without the SDK's appended repeats."""
    path = offsets_pkl_path(f"{ds.name.replace('/', '__')}__{stem}.tar", tmp_dir)
    BlobImageInfo.dump_to_pickle(infos, str(path))
    return path


async def _upload_dataset(
    api: Api,
    ds: Dataset,
    info: DatasetInfo,
    blobs: dict[str, FileInfo],
    result: UploadResult,
    conflict_resolution: ConflictResolution | None,
    show: bool,
    tmp_dir: Path,
) -> None:
    assert info.id is not None
    names = ds.get_items_names()
    if not names:
        return
    metas = await asyncio.to_thread(_metas, ds, names)
    items_bar = bar(f"Uploading images to {ds.name!r}", len(names), enabled=show)
    anns_bar = bar(f"Uploading annotations to {ds.name!r}", len(names), enabled=show)
    try:
        regular = ds.regular_names
        if regular:
            infos = await api.image.upload_paths(
                info.id,
                regular,
                [ds.get_img_path(n) for n in regular],
                progress_cb=items_bar,
                metas=[metas.get(n, {}) for n in regular],
                conflict_resolution=conflict_resolution,
            )
            result.images += len(infos)
            result.annotations += await _upload_anns(api, ds, info.id, infos, anns_bar)
        for stem, entries in ds.blob_items().items():
            if not entries:
                continue
            pkl = (
                await asyncio.to_thread(_dedup_pickle, ds, stem, entries, tmp_dir)
                if ds.has_repeats(stem)
                else offsets_pkl_path(f"{stem}.tar", ds.directory)
            )
            blob = blobs[stem]
            assert blob.id is not None
            pending: asyncio.Task[int] | None = None
            async for batch in api.image.upload_by_offsets_generator(
                info,
                blob.id,
                offsets_file_path=pkl,
                progress_cb=items_bar,
                metas={n: m for n, m in metas.items() if m},
                conflict_resolution=conflict_resolution,
            ):
                result.images += len(batch)
                result.blob_images += len(batch)
                # Annotations of this batch go up while the next batch registers.
                if pending is not None:
                    result.annotations += await pending
                pending = asyncio.ensure_future(_upload_anns(api, ds, info.id, batch, anns_bar))
            if pending is not None:
                result.annotations += await pending
    finally:
        items_bar.close()
        anns_bar.close()


async def upload_project_async(
    dir: str | os.PathLike[str],
    api: Api,
    workspace_id: int,
    project_name: str | None = None,
    *,
    project_id: int | None = None,
    conflict_resolution: ConflictResolution | None = "skip",
    progress: bool = True,
) -> UploadResult:
    """Upload the local project at (or below) ``dir``; returns ids and counts.

    Without ``project_id`` a new project is created (a taken name gets ``_001``... as the
    SDK). With it, the datasets are reused by name and ``conflict_resolution="skip"`` keeps
    the images already there, so a re-run after an interruption never duplicates images.
    """
    root = await asyncio.to_thread(find_project_dir, dir)
    project = await asyncio.to_thread(Project, root)
    try:
        with gc_paused(api.config.pause_gc):
            return await _upload(
                api, project, workspace_id, project_name, project_id, conflict_resolution, progress
            )
    finally:
        await asyncio.to_thread(project.close)


async def _upload(
    api: Api,
    project: Project,
    workspace_id: int,
    project_name: str | None,
    project_id: int | None,
    conflict_resolution: ConflictResolution | None,
    show: bool,
) -> UploadResult:
    tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="blobflow-up-"))
    try:
        indexes = await asyncio.to_thread(check_project, project, tmp)  # before any change
        if project_id is None:
            pinfo = await api.project.create(
                workspace_id, project_name or project.name, change_name_if_conflict=True
            )
        else:
            found = await api.project.get_info_by_id(project_id)
            if found is None:
                raise ProjectError(f"project {project_id} not found on the server")
            pinfo = found
        assert pinfo.id is not None and pinfo.name is not None
        await api.project.update_meta(pinfo.id, project.meta)
        result = UploadResult(pinfo.id, pinfo.name)
        result.skipped.update(project.skipped_names())
        blobs: dict[str, FileInfo] = {}
        if indexes:
            team_id = pinfo.team_id
            if team_id is None:
                raise ProjectError(f"the server did not say which team project {pinfo.id} is in")
            blobs = await _upload_blobs(api, team_id, project, indexes, show)
            result.blob_bytes = sum(b.sizeb or 0 for b in blobs.values())
        for ds in project.datasets:
            parent_id = result.datasets.get("/".join(ds.parents)) if ds.parents else None
            info = await _dataset_info(api, pinfo.id, ds, parent_id, reuse=project_id is not None)
            assert info.id is not None
            result.datasets[ds.name] = info.id
            await _upload_dataset(api, ds, info, blobs, result, conflict_resolution, show, tmp)
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
    return result


#: Synchronous :func:`upload_project_async` (same parameters; one ``Api`` serves many calls).
upload_project = blocking(upload_project_async, portal_of)
