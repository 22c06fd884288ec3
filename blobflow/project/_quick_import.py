"""``quick_import``: an existing blob ``.tar`` + ``_offsets.pkl`` (+ annotations) into a dataset.

The fastest path: both files go to Team Files in parallel, registration reads the LOCAL offsets
(the SDK downloads them back, spec §12), and each registered batch's annotations are uploaded
while the next batch registers (the engine's ``upload_blob`` pipeline).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blobflow._gc import gc_paused
from blobflow._portal import blocking
from blobflow.api import DatasetInfo, ImageInfo, portal_of
from blobflow.blob import OFFSETS_PKL_SUFFIX
from blobflow.engine._files import read_files
from blobflow.engine._upload import upload_blob
from blobflow.project._check import check_annotations, folder_annotations
from blobflow.project._errors import ProjectError
from blobflow.project._local import parse_annotation
from blobflow.project._progress import bar

if TYPE_CHECKING:
    from blobflow.api import Api
    from blobflow.api._image import ConflictResolution

__all__ = ["Annotations", "QuickImportResult", "quick_import", "quick_import_async"]

#: Annotation JSON files (or a folder of them, named ``<image name>.json``), or name -> JSON.
Annotations = (
    str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Mapping[str, dict[str, Any]]
)


def _ann_paths(files: Sequence[str | os.PathLike[str]]) -> dict[str, Path]:
    """name -> annotation file; the name is the file name minus ``.json`` (as the SDK)."""
    paths = [Path(p) for p in files]
    return {p.name[: -len(".json")] if p.name.endswith(".json") else p.stem: p for p in paths}


_AnnPaths = Sequence[str | os.PathLike[str]]


def _missing(names: list[str], paths: _AnnPaths) -> list[str]:
    return [n for n, p in zip(names, paths, strict=True) if not os.path.isfile(p)]


async def _read_anns(names: list[str], paths: _AnnPaths) -> list[dict[str, Any]]:
    try:
        raws = await read_files(paths)
    except FileNotFoundError:
        gone = await asyncio.to_thread(_missing, names, paths)
        raise ProjectError(f"no annotation file for images {gone[:5]}") from None
    return [parse_annotation(raw, path) for path, raw in zip(paths, raws, strict=True)]


async def _loader(anns: Annotations | None) -> Any:
    """The engine's annotation source: a mapping, or an async function of a batch's names.

    A folder is never listed: ``<folder>/<name>.json`` is read for each registered batch, so a
    million annotations cost no memory up front.
    """
    if anns is None or isinstance(anns, Mapping):
        return anns
    if isinstance(anns, (str, os.PathLike)):
        folder = Path(anns)
        if not await asyncio.to_thread(folder.is_dir):
            raise ProjectError(f"annotation folder not found: {folder}")

        async def from_folder(names: list[str]) -> list[dict[str, Any]]:
            # plain strings: a Path per file cost more than reading it
            return await _read_anns(names, [os.path.join(folder, f"{n}.json") for n in names])

        return from_folder
    paths = _ann_paths(anns)

    async def from_list(names: list[str]) -> list[dict[str, Any]]:
        missing = [n for n in names if n not in paths]
        if missing:
            raise ProjectError(f"no annotation file for images {missing[:5]}")
        return await _read_anns(names, [paths[n] for n in names])

    return from_list


def _check_all(anns: Annotations, meta: Mapping[str, Any]) -> int:
    """Every annotation the source offers, against the meta (blocking: a worker thread)."""
    if isinstance(anns, Mapping):
        return check_annotations(anns.items(), meta)
    if isinstance(anns, (str, os.PathLike)):
        return check_annotations(folder_annotations(anns), meta)
    return check_annotations(((os.fspath(p), p) for p in anns), meta)


@dataclass(frozen=True)
class QuickImportResult:
    """What a quick import did (the images themselves: ``on_batch``, or list the dataset)."""

    dataset_id: int
    images: int


async def quick_import_async(
    api: Api,
    dataset: int | DatasetInfo,
    blob_path: str | os.PathLike[str],
    offsets_path: str | os.PathLike[str] | None = None,
    anns: Annotations | None = None,
    project_meta: Mapping[str, Any] | None = None,
    *,
    conflict_resolution: ConflictResolution | None = "skip",
    progress: bool = True,
    on_batch: Callable[[list[ImageInfo]], Any] | None = None,
    images_dir: str | os.PathLike[str] | None = None,
) -> QuickImportResult:
    """Import a blob into ``dataset``; returns how many images were registered.

    ``offsets_path`` defaults to ``<blob stem>_offsets.pkl`` beside the tar. ``anns`` is a
    folder, a list of ``<image name>.json`` files, or a mapping name -> annotation JSON.
    The project meta is read, never changed (as the SDK): ``project_meta`` (the meta JSON as
    the server returned it) saves reading it. Every annotation is checked against it while the
    blob uploads, and nothing is registered unless all pass: classes the meta lacks are named
    together. Geometry is sent as in the files, unconverted, as the SDK's ``quick_import``
    sends it (``docs/sdk-differences.md``).
    ``conflict_resolution="skip"`` makes a re-run keep the images already registered.
    ``on_batch`` receives each registered batch of ImageInfo (up to 10,000, offsets order);
    nothing else keeps them, so memory does not grow with the number of images.

    With ``images_dir`` (a folder of images) the blob is packed from it into ``blob_path``, and
    its ``<stem>_offsets.pkl`` beside it, while the blob uploads: one step from loose images.
    Both files are kept (under their final names only when complete); ``offsets_path`` must
    then be None. A folder of more than ``api.config.blob_part_images`` images (10,000) goes in
    parts instead: ``<stem>_001.tar``, ``<stem>_002.tar``, ... each with its ``_offsets.pkl``
    beside it (locally and in Team Files), each registered while the next one uploads.
    """
    tar = Path(blob_path)
    pkl = Path(offsets_path) if offsets_path else tar.with_name(tar.stem + OFFSETS_PKL_SUFFIX)
    if images_dir is not None:
        if offsets_path is not None:
            raise ProjectError("with images_dir the offsets are written beside the blob")
        if not await asyncio.to_thread(os.path.isdir, images_dir):
            raise ProjectError(f"image folder not found: {images_dir}")
        if not await asyncio.to_thread(tar.parent.is_dir):
            raise ProjectError(f"folder for the blob not found: {tar.parent}")
    else:
        for path in (tar, pkl):
            if not await asyncio.to_thread(path.is_file):
                raise ProjectError(f"file not found: {path}")
    ds = await api.dataset.resolve(dataset)
    assert ds.id is not None
    source = await _loader(anns)
    checked: Callable[[], Awaitable[int]] | None = None
    if anns is not None:
        if project_meta is None:
            if ds.project_id is None:
                raise ProjectError(f"cannot tell the project of dataset {ds.id}")
            project_meta = await api.project.get_meta(ds.project_id)
        checked = functools.partial(asyncio.to_thread, _check_all, anns, project_meta)
    size = None if images_dir is not None else (await asyncio.to_thread(os.stat, tar)).st_size
    bytes_bar = bar("Uploading blob", size, enabled=progress, unit="B")
    items_bar = bar("Registering images", None, enabled=progress)
    count = 0
    try:
        with gc_paused(api.config.pause_gc):
            async for batch in upload_blob(
                api, ds, tar, None if images_dir is not None else pkl, annotations=source,
                conflict_resolution=conflict_resolution, progress_cb=items_bar,
                bytes_progress_cb=bytes_bar, images_dir=images_dir,
                convert_coordinates=False, checked=checked,
            ):  # fmt: skip
                count += len(batch)
                if on_batch is not None:
                    on_batch(batch)
    finally:
        bytes_bar.close()
        items_bar.close()
    return QuickImportResult(ds.id, count)


#: Synchronous :func:`quick_import_async` (same parameters; one ``Api`` serves many calls).
quick_import = blocking(quick_import_async, portal_of)
