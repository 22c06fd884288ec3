"""``quick_import``: an existing blob ``.tar`` + ``_offsets.pkl`` (+ annotations) into a dataset.

The fastest path: both files go to Team Files in parallel, registration reads the LOCAL offsets
(the SDK downloads them back, spec §12), and each registered batch's annotations are uploaded
while the next batch registers (the engine's ``upload_blob`` pipeline).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blobflow._files import read_files
from blobflow._gc import gc_paused
from blobflow._hooks import provide
from blobflow._json import Encoded
from blobflow._media import FileSelection, Skipped
from blobflow._portal import blocking
from blobflow.api import DatasetInfo, ImageInfo, portal_of
from blobflow.blob import BlobImageInfo, offsets_pkl_path
from blobflow.engine import upload_blob
from blobflow.project._check import check_annotations, check_image_annotations
from blobflow.project._errors import ProjectError, first_problem
from blobflow.project._progress import bar

if TYPE_CHECKING:
    from blobflow.api import Api, ConflictResolution

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


async def _read_anns(names: list[str], paths: _AnnPaths) -> list[Encoded]:
    """The files' bytes, to go into the request as they are: every file was parsed and checked
    against the meta before anything registers (``_check_all``), and ``quick_import`` sends
    geometry unconverted, so a second parse would only cost time (~0.3 s of CPU per 30,000)."""
    try:
        raws = await read_files(paths)
    except FileNotFoundError:
        gone = await asyncio.to_thread(_missing, names, paths)
        raise ProjectError(f"no annotation file for images {gone[:5]}") from None
    return [Encoded(raw) for raw in raws]


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

        async def from_folder(names: list[str]) -> list[Encoded]:
            # plain strings: a Path per file cost more than reading it
            return await _read_anns(names, [os.path.join(folder, f"{n}.json") for n in names])

        return from_folder
    paths = _ann_paths(anns)

    async def from_list(names: list[str]) -> list[Encoded]:
        missing = [n for n in names if n not in paths]
        if missing:
            raise ProjectError(f"no annotation file for images {missing[:5]}")
        return await _read_anns(names, [paths[n] for n in names])

    return from_list


def _offsets_names(pkl: Path, select: FileSelection, tmp_dir: str) -> tuple[list[str], Path]:
    """The names of an offsets file that ``select`` keeps (images), and the offsets to
    register: the file itself, or, when it lists other files, a copy without them."""
    names: list[str] = []
    dropped = False
    for batch in BlobImageInfo.load_from_pickle_generator(str(pkl)):
        for info in batch:
            if select(info.name):
                names.append(info.name)
            else:
                dropped = True
    if not dropped:
        return names, pkl
    keep = set(names)
    kept = Path(tmp_dir) / pkl.name
    batches = BlobImageInfo.load_from_pickle_generator(str(pkl))
    BlobImageInfo.dump_to_pickle(([i for i in b if i.name in keep] for b in batches), kept)
    return names, kept


def _walk_names(images_dir: str | os.PathLike[str], select: FileSelection) -> Iterator[str]:
    """The image names the packer will take from ``images_dir`` (same walk, same test), as
    they are found (never held as a whole)."""
    top = os.fspath(images_dir)
    for root, _dirs, files in os.walk(top):
        rel = os.path.relpath(root, top).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        yield from (f for f in files if select(prefix + f))


def _check_coverage(names: Iterable[str], anns: Mapping[str, Any] | _AnnPaths) -> None:
    """Every image in ``names`` has its annotation in ``anns`` (a mapping or a list of files);
    else a ProjectError naming the first image without one and how many others there are."""
    given = anns if isinstance(anns, Mapping) else _ann_paths(anns)
    what = "annotation" if isinstance(anns, Mapping) else "annotation file"
    missing = [f"no {what} for image {n!r} in anns" for n in names if n not in given]
    if missing:
        raise ProjectError(first_problem(missing))


def _check_all(
    anns: Annotations, meta: Mapping[str, Any], names: Callable[[], Iterable[str]]
) -> int:
    """Every image in ``names()`` has its annotation, and every annotation the source offers
    is valid against the meta (blocking: a worker thread). A folder is checked one image's
    file at a time, as the names come."""
    if isinstance(anns, (str, os.PathLike)):
        return check_image_annotations(anns, names(), meta)
    _check_coverage(names(), anns)
    if isinstance(anns, Mapping):
        return check_annotations(anns.items(), meta)
    return check_annotations(((os.fspath(p), p) for p in anns), meta)


@dataclass(frozen=True)
class QuickImportResult:
    """What a quick import did (the images themselves: ``on_batch``, or list the dataset)."""

    dataset_id: int
    images: int
    #: files left out: not images (by extension), or not kept by ``filter_func``
    skipped: Skipped = field(default_factory=lambda: Skipped(verbose=True))


async def _check_inputs(
    tar: Path,
    pkl: Path,
    offsets_path: str | os.PathLike[str] | None,
    images_dir: str | os.PathLike[str] | None,
) -> None:
    """The local inputs exist (and fit together) before anything remote happens."""
    if images_dir is not None:
        if offsets_path is not None:
            raise ProjectError("with images_dir the offsets are written beside the blob")
        if not await asyncio.to_thread(os.path.isdir, images_dir):
            raise ProjectError(f"image folder not found: {images_dir}")
        if not await asyncio.to_thread(tar.parent.is_dir):
            raise ProjectError(f"folder for the blob not found: {tar.parent}")
        return
    for path in (tar, pkl):
        if not await asyncio.to_thread(path.is_file):
            raise ProjectError(f"file not found: {path}")


async def quick_import_async(  # noqa: PLR0913 - the SDK's quick_import signature
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
    filter_func: Callable[[str], bool] | None = None,
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

    Only image files are registered (or packed): the SDK's image extensions, any case, and
    what ``filter_func(path)`` keeps; the rest is named in ``QuickImportResult.skipped``. With
    ``anns``, every image must have its annotation: checked with the annotations, before any
    image is registered (a ProjectError names the first one missing and how many others).
    """
    tar = Path(blob_path)
    pkl = Path(offsets_path) if offsets_path else offsets_pkl_path(tar)
    await _check_inputs(tar, pkl, offsets_path, images_dir)
    select = FileSelection(filter_func=filter_func, verbose=True)
    tmp = await asyncio.to_thread(tempfile.mkdtemp, prefix="blobflow-import-")
    try:
        names: list[str] = []
        if images_dir is None:  # the offsets' image names; others are left out, and named
            names, pkl = await asyncio.to_thread(_offsets_names, pkl, select, tmp)
            if not names:
                raise ProjectError(select.nothing_selected(pkl))
        ds = await api.dataset.resolve(dataset)
        assert ds.id is not None
        source = await _loader(anns)
        checked: Callable[[], Awaitable[int]] | None = None
        if anns is not None:
            if project_meta is None:
                if ds.project_id is None:
                    raise ProjectError(f"cannot tell the project of dataset {ds.id}")
                project_meta = await api.project.get_meta(ds.project_id)
            images = (
                functools.partial(_walk_names, images_dir, FileSelection(filter_func=filter_func))
                if images_dir is not None
                else functools.partial(iter, names)
            )
            checked = functools.partial(
                asyncio.to_thread, _check_all, anns, project_meta, images
            )
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
                    filter_func=select if images_dir is not None else None,
                ):  # fmt: skip
                    count += len(batch)
                    if on_batch is not None:
                        on_batch(batch)
        finally:
            bytes_bar.close()
            items_bar.close()
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
    return QuickImportResult(ds.id, count, select.skipped)


#: Synchronous :func:`quick_import_async` (same parameters; one ``Api`` serves many calls).
quick_import = blocking(quick_import_async, portal_of)

# api.dataset.quick_import (the SDK's name for this flow) runs it: see blobflow._hooks.
provide("dataset.quick_import", quick_import_async)
