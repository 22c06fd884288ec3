"""``quick_import``: an existing blob ``.tar`` + ``_offsets.pkl`` (+ annotations) into a dataset.

The fastest path: both files go to Team Files in parallel, registration reads the LOCAL offsets
(the SDK downloads them back, spec §12), and each registered batch's annotations are uploaded
while the next batch registers (the engine's ``upload_blob`` pipeline).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blobflow.api import DatasetInfo, ImageInfo
from blobflow.blob import OFFSETS_PKL_SUFFIX
from blobflow.engine._files import read_files
from blobflow.engine._upload import upload_blob
from blobflow.project._errors import ProjectError
from blobflow.project._progress import bar, run_sync

if TYPE_CHECKING:
    from blobflow.api import Api

__all__ = ["Annotations", "quick_import", "quick_import_async"]

#: Annotation JSON files (or a folder of them, named ``<image name>.json``), or name -> JSON.
Annotations = (
    str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Mapping[str, dict[str, Any]]
)


def _ann_paths(anns: Annotations) -> dict[str, Path]:
    """name -> annotation file; the name is the file name minus ``.json`` (as the SDK)."""
    if isinstance(anns, (str, os.PathLike)):
        folder = Path(anns)
        if not folder.is_dir():
            raise ProjectError(f"annotation folder not found: {folder}")
        files = [p for p in folder.iterdir() if p.is_file() and p.name.endswith(".json")]
    else:
        files = [Path(p) for p in anns]
    return {p.name[: -len(".json")] if p.name.endswith(".json") else p.stem: p for p in files}


async def _loader(anns: Annotations | None) -> Any:
    """The engine's annotation source: a mapping, or an async function of a batch's names."""
    if anns is None:
        return None
    if isinstance(anns, Mapping):
        return anns
    paths = await asyncio.to_thread(_ann_paths, anns)

    async def load(names: list[str]) -> list[dict[str, Any]]:
        missing = [n for n in names if n not in paths]
        if missing:
            raise ProjectError(f"no annotation file for images {missing[:5]}")
        raws = await read_files([paths[n] for n in names])
        out = []
        for name, raw in zip(names, raws, strict=True):
            try:
                out.append(json.loads(raw))
            except ValueError as exc:
                raise ProjectError(f"{paths[name]}: not valid JSON ({exc})") from exc
        return out

    return load


async def quick_import_async(
    api: Api,
    dataset: int | DatasetInfo,
    blob_path: str | os.PathLike[str],
    offsets_path: str | os.PathLike[str] | None = None,
    anns: Annotations | None = None,
    project_meta: Mapping[str, Any] | None = None,
    *,
    conflict_resolution: Any = "skip",
    progress: bool = True,
) -> list[ImageInfo]:
    """Import a blob into ``dataset``; returns the registered images in offsets order.

    ``offsets_path`` defaults to ``<blob stem>_offsets.pkl`` beside the tar. ``anns`` is a
    folder, a list of ``<image name>.json`` files, or a mapping name -> annotation JSON.
    ``project_meta`` (a meta JSON dict) is set on the project first, as the SDK.
    ``conflict_resolution="skip"`` makes a re-run keep the images already registered.
    """
    tar = Path(blob_path)
    pkl = Path(offsets_path) if offsets_path else tar.with_name(tar.stem + OFFSETS_PKL_SUFFIX)
    for path in (tar, pkl):
        if not await asyncio.to_thread(path.is_file):
            raise ProjectError(f"file not found: {path}")
    ds = await api.dataset.resolve(dataset)
    if project_meta is not None and ds.project_id is not None:
        await api.project.update_meta(ds.project_id, dict(project_meta))
    source = await _loader(anns)
    size = (await asyncio.to_thread(os.stat, tar)).st_size
    bytes_bar = bar("Uploading blob", size, enabled=progress, unit="B")
    items_bar = bar("Registering images", None, enabled=progress)
    out: list[ImageInfo] = []
    try:
        async for batch in upload_blob(
            api, ds, tar, pkl, annotations=source, conflict_resolution=conflict_resolution,
            progress_cb=items_bar, bytes_progress_cb=bytes_bar,
        ):  # fmt: skip
            out.extend(batch)
    finally:
        bytes_bar.close()
        items_bar.close()
    return out


def quick_import(
    api_or_address: Api | str,
    dataset: int | DatasetInfo,
    blob_path: str | os.PathLike[str],
    offsets_path: str | os.PathLike[str] | None = None,
    anns: Annotations | None = None,
    project_meta: Mapping[str, Any] | None = None,
    *,
    token: str | None = None,
    progress: bool = True,
) -> list[ImageInfo]:
    """Synchronous :func:`quick_import_async` for scripts (an address creates its own Api)."""
    from blobflow.api import Api

    async def go() -> list[ImageInfo]:
        if not isinstance(api_or_address, str):
            return await quick_import_async(
                api_or_address, dataset, blob_path, offsets_path, anns, project_meta,
                progress=progress,
            )  # fmt: skip
        async with Api(api_or_address, token) as api:
            return await quick_import_async(
                api, dataset, blob_path, offsets_path, anns, project_meta, progress=progress
            )

    return run_sync(go)
