"""``download_fast``: a project from the server to the local Supervisely layout, blob-aware.

Blob images (``related_data_id`` set) are fetched as whole blobs into ``blob/<id>.tar`` (one
streamed, resumable, checksum-verified download per blob, several in parallel) and indexed by
``<dataset>/<id>_offsets.pkl``; other images come through ``images.bulk.download``; every
image gets ``ann/<name>.json``. A state file remembers which blobs were verified, so a re-run
skips them; offsets are rewritten whole, never appended.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blobflow.api import ImageInfo
from blobflow.api._file import file_sha256_b64
from blobflow.api._progress import Progress
from blobflow.blob import OFFSETS_PKL_SUFFIX, BlobImageInfo
from blobflow.engine._files import batched, extract_ranges, write_file_atomic
from blobflow.project._errors import ProjectError
from blobflow.project._local import Dataset, OpenMode, Project
from blobflow.project._progress import bar, run_sync
from blobflow.project._readme import create_blob_readme

if TYPE_CHECKING:
    from blobflow.api import Api, DatasetInfo

__all__ = ["DiskFullError", "DownloadResult", "download_fast", "download_fast_async"]

STATE_FILE = ".blobflow-download.json"  # a top-level file: the SDK never reads it as a dataset
_ANN_CHUNK = 2000  # annotations fetched and written per step


class DiskFullError(ProjectError):
    """The destination ran out of space; partial files were removed."""


@dataclass
class DownloadResult:
    """What a download did."""

    project_id: int
    directory: Path
    images: int = 0
    blob_images: int = 0
    blobs_downloaded: int = 0
    blobs_skipped: int = 0
    blob_bytes: int = 0
    extracted: int = 0
    removed: int = 0  # stale local files of images the server no longer has
    datasets: dict[str, int] = field(default_factory=dict)  # full name -> dataset id


def _load_state(dest: Path) -> dict[str, Any]:
    try:
        state = json.loads((dest / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {"blobs": {}}
    return state if isinstance(state.get("blobs"), dict) else {"blobs": {}}


def _save_state(dest: Path, state: dict[str, Any]) -> None:
    write_file_atomic(dest / STATE_FILE, json.dumps(state, indent=1).encode())


def _verified(dest: Path, state: dict[str, Any], blob_id: int) -> bool:
    """Was this blob downloaded and verified before, and is it still the same file?

    Size and mtime as recorded mean untouched; otherwise the file is hashed again and must
    match the recorded sha256 (no network needed either way).
    """
    rec = state["blobs"].get(str(blob_id))
    path = dest / "blob" / f"{blob_id}.tar"
    if not isinstance(rec, dict):
        return False
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size != rec.get("size"):
        return False
    if st.st_mtime_ns == rec.get("mtime_ns"):
        return True
    return file_sha256_b64(path) == rec.get("sha256")


def _dataset_paths(infos: Sequence[DatasetInfo]) -> list[tuple[DatasetInfo, list[str]]]:
    """Datasets with their parents' names, parents first."""
    by_id = {d.id: d for d in infos}

    def chain(d: DatasetInfo) -> list[str]:
        names: list[str] = []
        cur: DatasetInfo | None = d
        while cur is not None:
            names.insert(0, cur.name or str(cur.id))
            cur = by_id.get(cur.parent_id) if cur.parent_id is not None else None
        return names

    out = [(d, chain(d)) for d in infos]
    out.sort(key=lambda x: len(x[1]))
    return out


def _remove_partials(dest: Path) -> None:
    """After a failure such as a full disk: no half-written file may stay behind."""
    for path in dest.rglob("*"):
        name = path.name
        if path.is_file() and (name.endswith((".part", ".tmp")) or ".part." in name):
            path.unlink(missing_ok=True)


async def _fetch_blobs(
    api: Api,
    project_id: int,
    dest: Path,
    blobs: dict[int, str],
    state: dict[str, Any],
    result: DownloadResult,
    show: bool,
) -> None:
    done = await asyncio.to_thread(lambda: {b for b in blobs if _verified(dest, state, b)})
    todo = {bid: did for bid, did in blobs.items() if bid not in done}
    result.blobs_skipped = len(blobs) - len(todo)
    if not todo:
        return
    sizes = {}
    for bid in todo:
        try:
            sizes[bid] = (await api.file.get_info_by_id(bid)).sizeb or 0
        except Exception:  # the size only feeds the progress bar
            sizes[bid] = 0
    pbar = bar("Downloading blobs", sum(sizes.values()) or None, enabled=show, unit="B")
    progress = Progress(pbar)
    await asyncio.to_thread((dest / "blob").mkdir, parents=True, exist_ok=True)

    saving = asyncio.Lock()  # one writer of the state file at a time

    async def one(bid: int, did: str) -> None:
        got = await api.image.download_blob_file(
            project_id, did, dest / "blob" / f"{bid}.tar", progress
        )
        assert not isinstance(got, bytes)
        mtime = (await asyncio.to_thread(os.stat, got.path)).st_mtime_ns
        state["blobs"][str(bid)] = {"size": got.size, "sha256": got.sha256_b64, "mtime_ns": mtime}
        result.blobs_downloaded += 1
        result.blob_bytes += got.size
        async with saving:  # recorded per blob, so an interrupted run keeps what it verified
            await asyncio.to_thread(_save_state, dest, state)

    try:
        await asyncio.gather(*(one(b, d) for b, d in todo.items()))
    finally:
        pbar.close()


def _write_offsets(ds: Dataset, blob_id: int, infos: list[ImageInfo], extract: bool) -> None:
    entries = [BlobImageInfo.from_image_info(i) for i in infos]  # type: ignore[arg-type]
    if extract:
        # Images go to img/; an offsets file too would list each name twice, and the SDK
        # rejects such a dataset, so the offsets stay out of the dataset folder.
        (ds.directory / f"{blob_id}{OFFSETS_PKL_SUFFIX}").unlink(missing_ok=True)
        return
    ds.add_blob_offsets(str(blob_id), entries)


def _write_ann_chunk(
    ds: Dataset, chunk: list[ImageInfo], anns: dict[int | None, Any], save_image_info: bool
) -> None:
    ds.write_anns({i.name: anns.get(i.id) or {} for i in chunk if i.name is not None})
    if save_image_info:
        ds.write_image_infos({i.name: i._asdict() for i in chunk if i.name is not None})


async def _write_and_count(
    ds: Dataset, chunk: list[ImageInfo], anns: dict[int | None, Any], info: bool, pbar: Any
) -> None:
    await asyncio.to_thread(_write_ann_chunk, ds, chunk, anns, info)
    pbar.update(len(chunk))


async def _download_anns(
    api: Api, ds: Dataset, ds_id: int, infos: list[ImageInfo], save_image_info: bool, pbar: Any
) -> None:
    """Fetch annotations chunk by chunk; a chunk is written (one executor call) while the
    next one is fetched."""
    writing: asyncio.Future[None] | None = None
    try:
        for chunk in batched(infos, _ANN_CHUNK):
            ids = [i.id for i in chunk if i.id is not None]
            got = await api.annotation.download_batch(ds_id, ids)
            if writing is not None:
                await writing
            by_id = {a.image_id: a.annotation for a in got}
            writing = asyncio.ensure_future(
                _write_and_count(ds, chunk, by_id, save_image_info, pbar)
            )
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            await asyncio.gather(writing, return_exceptions=True)


def _missing_regular(ds: Dataset, infos: list[ImageInfo]) -> list[ImageInfo]:
    out = []
    for info in infos:
        path = ds.img_dir / (info.name or str(info.id))
        try:
            if info.size is not None and path.stat().st_size == info.size:
                continue
        except FileNotFoundError:
            pass
        out.append(info)
    return out


async def _blob_images(
    api: Api, ds: Dataset, blob_images: dict[int, list[ImageInfo]], dest: Path, extract: bool
) -> int:
    """Offsets files (or, extracting, img/ files sliced from the blobs); returns extracted."""
    extracted = 0
    for blob_id, infos in blob_images.items():
        # A folder an earlier run extracted keeps its img/ layout (offsets would double names).
        on_disk = ds.regular_set
        here = extract or any(i.name in on_disk for i in infos)
        await asyncio.to_thread(_write_offsets, ds, blob_id, infos, here)
        if here:
            entries = [(i.name, i.offset_start, i.offset_end) for i in infos]
            extracted += await extract_ranges(
                dest / "blob" / f"{blob_id}.tar",
                ds.img_dir,
                entries,  # type: ignore[arg-type]
                api.config.extract_batch,
            )
    return extracted


async def _regular_images(
    api: Api, ds: Dataset, ds_id: int, regular: list[ImageInfo], show: bool
) -> None:
    # A re-run keeps regular images already on disk with the server's size.
    regular = await asyncio.to_thread(_missing_regular, ds, regular)
    if not regular:
        return
    rbar = bar(f"Downloading images of {ds.name!r}", len(regular), enabled=show)
    try:
        ids = [i.id for i in regular]
        paths = [ds.img_dir / (i.name or str(i.id)) for i in regular]
        await api.image.download_paths(ds_id, ids, paths, rbar)  # type: ignore[arg-type]
    finally:
        rbar.close()


def _prune(ds: Dataset, keep: set[str], blob_stems: set[str]) -> int:
    """Remove local items the server no longer has, as the SDK does on a re-download."""
    removed = 0
    for folder, suffix in ((ds.img_dir, ""), (ds.ann_dir, ".json"), (ds.img_info_dir, ".json")):
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            name = entry.name[: len(entry.name) - len(suffix)]
            if entry.is_file() and entry.name.endswith(suffix) and name not in keep:
                os.unlink(entry.path)
                removed += 1
    for entry in os.scandir(ds.directory):
        stem = entry.name[: -len(OFFSETS_PKL_SUFFIX)]
        if entry.name.endswith(OFFSETS_PKL_SUFFIX) and stem not in blob_stems:
            os.unlink(entry.path)
    return removed


async def _download_dataset(
    api: Api,
    ds: Dataset,
    ds_id: int,
    images: list[ImageInfo],
    blob_images: dict[int, list[ImageInfo]],
    dest: Path,
    extract: bool,
    save_image_info: bool,
    result: DownloadResult,
    show: bool,
) -> None:
    """Blob images, regular images and annotations of one dataset, concurrently."""
    in_blob = {i.id for infos in blob_images.values() for i in infos}
    regular = [i for i in images if i.id not in in_blob]
    abar = bar(f"Downloading annotations of {ds.name!r}", len(images), enabled=show)
    try:
        extracted, _, _ = await asyncio.gather(
            _blob_images(api, ds, blob_images, dest, extract),
            _regular_images(api, ds, ds_id, regular, show),
            _download_anns(api, ds, ds_id, images, save_image_info, abar),
        )
    finally:
        abar.close()
    result.extracted += extracted
    result.blob_images += len(in_blob)
    result.images += len(images)
    keep = {i.name for i in images if i.name is not None}
    stems = set() if extract else {str(b) for b in blob_images}
    result.removed += await asyncio.to_thread(_prune, ds, keep, stems)


async def download_fast_async(
    api: Api,
    project_id: int,
    dest_dir: str | os.PathLike[str],
    download_blob_files: bool = True,
    extract: bool = False,
    *,
    save_image_info: bool = False,
    progress: bool = True,
    readme: bool = True,
) -> DownloadResult:
    """Download project ``project_id`` into ``dest_dir`` (created, or re-used on a re-run).

    With ``download_blob_files`` blob images arrive as ``blob/<id>.tar`` plus
    ``<dataset>/<id>_offsets.pkl``; ``extract=True`` writes each image to ``img/`` instead of
    the offsets file (the tars stay, so a re-run can skip them). A full disk raises
    :class:`DiskFullError` after removing partial files.
    """
    dest = Path(dest_dir)
    try:
        return await _download(
            api, project_id, dest, download_blob_files, extract, save_image_info, progress, readme
        )
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        await asyncio.to_thread(_remove_partials, dest)
        raise DiskFullError(
            f"no space left on the device holding {dest} (partial files removed)"
        ) from exc


async def _download(
    api: Api,
    project_id: int,
    dest: Path,
    download_blob_files: bool,
    extract: bool,
    save_image_info: bool,
    show: bool,
    readme: bool,
) -> DownloadResult:
    pinfo = await api.project.get_info_by_id(project_id)
    if pinfo is None:
        raise ProjectError(f"project {project_id} not found on the server")
    meta = await api.project.get_meta(project_id, with_settings=True)
    project = await asyncio.to_thread(Project, dest, OpenMode.UPDATE)
    await asyncio.to_thread(project.set_meta, meta)
    state = await asyncio.to_thread(_load_state, dest)
    result = DownloadResult(project_id, dest)
    ds_infos = await api.dataset.get_list(project_id, recursive=True)
    tree = _dataset_paths(ds_infos)

    # List every dataset first: blobs are shared between datasets, fetch each once.
    listed: list[tuple[DatasetInfo, list[str], list[ImageInfo]]] = []
    blobs: dict[int, str] = {}
    for info, chain in tree:
        assert info.id is not None
        images = await api.image.get_list(info.id)
        listed.append((info, chain, images))
        if download_blob_files:
            for img in images:
                if img.related_data_id is not None and img.download_id is not None:
                    blobs[img.related_data_id] = img.download_id  # the last one wins (SDK)
    if blobs:
        await _fetch_blobs(api, project_id, dest, blobs, state, result, show)

    local: dict[str, Dataset] = {}
    for info, chain, images in listed:
        assert info.id is not None
        parent = local.get("/".join(chain[:-1])) if len(chain) > 1 else None
        ds = await asyncio.to_thread(project.create_dataset, chain[-1], parent)
        local["/".join(chain)] = ds
        result.datasets[ds.name] = info.id
        by_blob: dict[int, list[ImageInfo]] = {}
        for img in images:
            rid = img.related_data_id
            if download_blob_files and rid is not None and rid in blobs:
                by_blob.setdefault(rid, []).append(img)
        await _download_dataset(
            api, ds, info.id, images, by_blob, dest, extract, save_image_info,
            result, show,
        )  # fmt: skip
    if readme:
        reread = await asyncio.to_thread(Project, dest)
        names = {"/".join(chain): info for info, chain in tree}
        await asyncio.to_thread(create_blob_readme, reread, pinfo, names)
        await asyncio.to_thread(reread.close)
    await asyncio.to_thread(project.close)
    return result


def download_fast(
    api_or_address: Api | str,
    project_id: int,
    dest_dir: str | os.PathLike[str],
    download_blob_files: bool = True,
    extract: bool = False,
    *,
    token: str | None = None,
    save_image_info: bool = False,
    progress: bool = True,
) -> DownloadResult:
    """Synchronous :func:`download_fast_async` for scripts (an address creates its own Api)."""
    from blobflow.api import Api

    async def go() -> DownloadResult:
        if not isinstance(api_or_address, str):
            return await download_fast_async(
                api_or_address, project_id, dest_dir, download_blob_files, extract,
                save_image_info=save_image_info, progress=progress,
            )  # fmt: skip
        async with Api(api_or_address, token) as api:
            return await download_fast_async(
                api, project_id, dest_dir, download_blob_files, extract,
                save_image_info=save_image_info, progress=progress,
            )  # fmt: skip

    return run_sync(go)
