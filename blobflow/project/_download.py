"""``download_fast``: a project from the server to the local Supervisely layout, blob-aware.

Blob images (``related_data_id`` set) are fetched as whole blobs into ``blob/<id>.tar`` (one
streamed, resumable, checksum-verified download per blob, several in parallel) and indexed by
``<dataset>/<id>_offsets.pkl``; other images come through ``images.bulk.download``; every
image gets ``ann/<name>.json``. A state file remembers which blobs were verified, so a re-run
skips them; offsets are rewritten whole, never appended.

Memory is flat in the number of images: a dataset is listed page by page; each page starts the
fetch of any blob it names, appends its offsets to a spool file (10,000 entries a pickle
stream) and has its annotations (and regular images) fetched and written, a few pages at a
time. Only a re-run into a folder that already holds files keeps the server's image names (to
remove the stale ones).
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blobflow._files import batched, extract_ranges
from blobflow._gc import gc_paused
from blobflow._portal import blocking
from blobflow.api import ImageInfo, portal_of
from blobflow.blob import (
    BLOB_DIR_NAME,
    OFFSETS_PKL_BATCH_SIZE,
    OFFSETS_PKL_SUFFIX,
    BlobImageInfo,
    blob_tar_path,
    write_streams,
)
from blobflow.engine import (
    DOWNLOAD_STATE_FILE,
    BlobFetcher,
    FileWriter,
    load_download_state,
    open_file_writer,
    save_download_state,
)
from blobflow.project._errors import ProjectError
from blobflow.project._local import Dataset, OpenMode, Project, json_bytes
from blobflow.project._progress import bar
from blobflow.project._readme import create_blob_readme

if TYPE_CHECKING:
    from blobflow.api import Api, DatasetInfo

__all__ = ["DiskFullError", "DownloadResult", "download_fast", "download_fast_async"]



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


def _claim_dest(dest: Path, project_id: int, force: bool) -> None:
    """Refuse a folder that holds another project (nothing in it is touched), else record in
    its state file, before anything else is written, which project it holds.

    The project is known from the state file of an earlier download; a ``meta.json`` without
    one (the SDK's download, a project made by hand) is another project too. A state file
    from before the project id was recorded counts as this project (re-runs keep working).
    """
    state_file = dest / DOWNLOAD_STATE_FILE
    state = load_download_state(state_file)
    held = state.get("project_id")
    if not force:
        where = f"{dest} holds project {held} (its {DOWNLOAD_STATE_FILE})"
        if held is None and (dest / "meta.json").is_file() and not state_file.exists():
            where = f"{dest} holds a project that blobflow did not download (meta.json)"
        elif held is None or held == project_id:
            where = ""
        if where:
            raise ProjectError.refusal(
                f"{where}, not project {project_id}; downloading would mix the two",
                "force",
                "download into it anyway",
            )
    state["project_id"] = project_id
    dest.mkdir(parents=True, exist_ok=True)
    save_download_state(state_file, state)


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


def _bar_growth(api: Api, pbar: Any) -> Callable[[int], Awaitable[None]]:
    """Blobs are found as pages arrive: the bytes bar's total grows with each one fetched."""

    async def grow(blob_id: int) -> None:
        try:  # the size only feeds the progress bar
            size = (await api.file.get_info_by_id(blob_id)).sizeb or 0
        except Exception:
            return
        pbar.total = (pbar.total or 0) + size
        pbar.refresh()

    return grow


class _OffsetsSpool:
    """One blob's entries in one dataset, written as the pages come in (10,000 a stream).

    The spool is a hidden ``.part`` file in the dataset folder; it becomes
    ``<blob id>_offsets.pkl`` only when the listing is complete and the blob verified.
    """

    def __init__(self, ds: Dataset, blob_id: int) -> None:
        self.blob_id = blob_id
        self.final = ds.directory / f"{blob_id}{OFFSETS_PKL_SUFFIX}"
        self.path = ds.directory / f".{blob_id}{OFFSETS_PKL_SUFFIX}.part"
        self.count = 0
        self.extracted_before = False  # some of its images are files in img/ (an extracted run)
        self._buf: list[BlobImageInfo] = []
        self._started = False

    async def add(self, infos: list[ImageInfo]) -> None:
        self._buf.extend(BlobImageInfo.from_image_info(i) for i in infos)  # type: ignore[arg-type]
        self.count += len(infos)
        if len(self._buf) >= OFFSETS_PKL_BATCH_SIZE:
            full = len(self._buf) - len(self._buf) % OFFSETS_PKL_BATCH_SIZE
            batch, self._buf = self._buf[:full], self._buf[full:]
            await asyncio.to_thread(self._write, batch)

    def _write(self, entries: list[BlobImageInfo]) -> None:
        with open(self.path, "ab" if self._started else "wb") as f:
            write_streams(batched(entries, OFFSETS_PKL_BATCH_SIZE), f)
        self._started = True

    async def finish(self) -> None:
        """Write what is buffered; the spool then holds every entry."""
        if self._buf or not self._started:
            batch, self._buf = self._buf, []
            await asyncio.to_thread(self._write, batch)

    def publish(self) -> None:
        os.replace(self.path, self.final)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


async def _extract(api: Api, ds: Dataset, dest: Path, spool: _OffsetsSpool) -> int:
    """Slice the spool's images out of the blob into img/; the offsets file goes away.

    An offsets file too would list each name twice, and the SDK rejects such a dataset.
    """
    tar = blob_tar_path(dest / BLOB_DIR_NAME, spool.blob_id)
    batches = await asyncio.to_thread(BlobImageInfo.load_from_pickle_generator, spool.path)
    extracted = 0
    while (batch := await asyncio.to_thread(next, batches, None)) is not None:
        entries = [(i.name, i.offset_start, i.offset_end) for i in batch]
        extracted += await extract_ranges(tar, ds.img_dir, entries, api.config.extract_batch)
    await asyncio.to_thread(spool.final.unlink, True)
    await asyncio.to_thread(spool.discard)
    return extracted


async def _write_ann_chunk(
    writer: FileWriter, ds: Dataset, chunk: list[ImageInfo], anns: dict[int | None, Any],
    save_image_info: bool,
) -> None:  # fmt: skip
    # Straight to files: the Dataset object would keep every name it wrote.
    named = [i for i in chunk if i.name is not None]
    files = {f"{i.name}.json": json_bytes(anns.get(i.id) or {}) for i in named}
    await writer.write(ds.ann_dir, files)
    if save_image_info:
        infos = {f"{i.name}.json": json_bytes(i._asdict()) for i in named}
        await writer.write(ds.img_info_dir, infos)


async def _download_anns(
    api: Api, ds: Dataset, ds_id: int, infos: list[ImageInfo], save_image_info: bool,
    writer: FileWriter,
) -> None:  # fmt: skip
    """Fetch annotations chunk by chunk; a chunk is written while the next one is fetched."""
    writing: asyncio.Future[None] | None = None
    try:
        for chunk in batched(infos, api.config.annotation_download_chunk):
            ids = [i.id for i in chunk if i.id is not None]
            got = await api.annotation.download_batch(ds_id, ids)
            if writing is not None:
                await writing
            by_id = {a.image_id: a.annotation for a in got}
            writing = asyncio.ensure_future(
                _write_ann_chunk(writer, ds, chunk, by_id, save_image_info)
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


async def _regular_images(api: Api, ds: Dataset, ds_id: int, regular: list[ImageInfo]) -> None:
    # A re-run keeps regular images already on disk with the server's size.
    regular = await asyncio.to_thread(_missing_regular, ds, regular)
    if regular:
        ids = [i.id for i in regular]
        paths = [ds.img_dir / (i.name or str(i.id)) for i in regular]
        await api.image.download_paths(ds_id, ids, paths)  # type: ignore[arg-type]


async def _page_files(
    api: Api, ds: Dataset, ds_id: int, page: list[ImageInfo], regular: list[ImageInfo],
    save_image_info: bool, pbar: Any, writer: FileWriter,
) -> None:  # fmt: skip
    """A listed page's annotations (and its regular images)."""
    await asyncio.gather(
        _regular_images(api, ds, ds_id, regular),
        _download_anns(api, ds, ds_id, page, save_image_info, writer),
    )
    pbar.update(len(page))


def _has_files(ds: Dataset) -> bool:
    """Whether an earlier run left items here (only then must stale ones be looked for)."""
    for folder in (ds.img_dir, ds.ann_dir, ds.img_info_dir):
        if folder.is_dir():
            with os.scandir(folder) as it:
                if next(it, None) is not None:
                    return True
    return False


def _prune(ds: Dataset, keep: set[str] | None, blob_stems: set[str]) -> int:
    """Remove local items the server no longer has, as the SDK does on a re-download.

    ``keep`` is None when the folder held no files before this run: nothing can be stale.
    """
    removed = 0
    folders = ((ds.img_dir, ""), (ds.ann_dir, ".json"), (ds.img_info_dir, ".json"))
    for folder, suffix in folders:
        if keep is None or not folder.is_dir():
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


@dataclass
class _Options:
    download_blob_files: bool
    extract: bool
    save_image_info: bool
    show: bool
    force: bool = False


def _split_page(
    page: list[ImageInfo], blobs: BlobFetcher | None
) -> tuple[list[ImageInfo], dict[int, list[ImageInfo]]]:
    """A page's regular images, and its blob images by blob (each blob's fetch started);
    without ``blobs`` every image is regular."""
    regular: list[ImageInfo] = []
    by_blob: dict[int, list[ImageInfo]] = {}
    for img in page:
        rid = img.related_data_id
        if blobs is None or rid is None or img.download_id is None:
            regular.append(img)
            continue
        blobs.want(rid, img.download_id)
        by_blob.setdefault(rid, []).append(img)
    return regular, by_blob


async def _finish_spools(
    api: Api, ds: Dataset, dest: Path, spools: dict[int, _OffsetsSpool], blobs: BlobFetcher,
    extract: bool,
) -> int:  # fmt: skip
    """Each spool becomes its offsets file, or (extracting) its images in img/, once its blob
    is verified; returns how many images were extracted."""
    extracted = 0
    for spool in spools.values():
        await spool.finish()
        await blobs.ready(spool.blob_id)  # an offsets file never points at a missing blob
        if extract or spool.extracted_before:
            extracted += await _extract(api, ds, dest, spool)
        else:
            await asyncio.to_thread(spool.publish)
    return extracted


async def _download_dataset(
    api: Api, ds: Dataset, info: DatasetInfo, blobs: BlobFetcher, dest: Path, opts: _Options,
    result: DownloadResult, writer: FileWriter,
) -> None:  # fmt: skip
    """One dataset, page by page: blob offsets spooled, annotations and images written."""
    assert info.id is not None
    had_files = await asyncio.to_thread(_has_files, ds)
    on_disk = ds.regular_set if had_files else frozenset()
    keep: set[str] | None = set() if had_files else None
    spools: dict[int, _OffsetsSpool] = {}
    total = info.images_count if info.images_count is not None else info.items_count
    pbar = bar(f"Downloading {ds.name!r}", total, enabled=opts.show)
    pending: set[asyncio.Task[None]] = set()
    try:
        async for page in api.image.get_list_generator_async(info.id):
            regular, by_blob = _split_page(page, blobs if opts.download_blob_files else None)
            for rid, members in by_blob.items():
                spool = spools.get(rid) or spools.setdefault(rid, _OffsetsSpool(ds, rid))
                if on_disk and not spool.extracted_before:
                    spool.extracted_before = any(i.name in on_disk for i in members)
                await spool.add(members)
            if keep is not None:
                keep.update(i.name for i in page if i.name is not None)
            result.images += len(page)
            result.blob_images += len(page) - len(regular)
            if len(pending) >= api.config.pages_in_flight:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            work = _page_files(
                api, ds, info.id, page, regular, opts.save_image_info, pbar, writer
            )
            pending.add(asyncio.ensure_future(work))
        await asyncio.gather(*pending)
        pending.clear()
        result.extracted += await _finish_spools(api, ds, dest, spools, blobs, opts.extract)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for spool in spools.values():
            await asyncio.to_thread(spool.discard)
        pbar.close()
    stems = {str(s.blob_id) for s in spools.values() if not (opts.extract or s.extracted_before)}
    result.removed += await asyncio.to_thread(_prune, ds, keep, stems)


async def download_fast_async(  # noqa: PLR0913 - the SDK's download_fast signature (+ force)
    api: Api,
    project_id: int,
    dest_dir: str | os.PathLike[str],
    download_blob_files: bool = True,
    extract: bool = False,
    *,
    save_image_info: bool = False,
    progress: bool = True,
    readme: bool = True,
    force: bool = False,
) -> DownloadResult:
    """Download project ``project_id`` into ``dest_dir`` (created, or re-used on a re-run).

    A ``dest_dir`` that holds another project (by the state file of an earlier download, or
    a ``meta.json`` blobflow did not write) is refused before anything in it changes, unless
    ``force=True``.

    With ``download_blob_files`` blob images arrive as ``blob/<id>.tar`` plus
    ``<dataset>/<id>_offsets.pkl``; ``extract=True`` writes each image to ``img/`` instead of
    the offsets file (the tars stay, so a re-run can skip them). A full disk raises
    :class:`DiskFullError` after removing partial files.
    """
    dest = Path(dest_dir)
    opts = _Options(download_blob_files, extract, save_image_info, progress, force)
    try:
        with gc_paused(api.config.pause_gc):
            return await _download(api, project_id, dest, opts, readme)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        await asyncio.to_thread(_remove_partials, dest)
        raise DiskFullError(
            f"no space left on the device holding {dest} (partial files removed)"
        ) from exc


async def _download_datasets(
    api: Api, project: Project, tree: list[tuple[DatasetInfo, list[str]]], blobs: BlobFetcher,
    dest: Path, opts: _Options, result: DownloadResult,
) -> None:  # fmt: skip
    """Every dataset, parents first, through one file writer (a child process or a thread)."""
    writer = await open_file_writer(api.config)
    try:
        local: dict[str, Dataset] = {}
        for info, chain in tree:
            assert info.id is not None
            parent = local.get("/".join(chain[:-1])) if len(chain) > 1 else None
            ds = await asyncio.to_thread(project.create_dataset, chain[-1], parent)
            local["/".join(chain)] = ds
            result.datasets[ds.name] = info.id
            await _download_dataset(api, ds, info, blobs, dest, opts, result, writer)
    except BaseException:
        await writer.aclose(failed=True)
        raise
    await writer.aclose()


async def _download(
    api: Api, project_id: int, dest: Path, opts: _Options, readme: bool
) -> DownloadResult:
    pinfo = await api.project.get_info_by_id(project_id)
    if pinfo is None:
        raise ProjectError(f"project {project_id} not found on the server")
    meta = await api.project.get_meta(project_id, with_settings=True)
    await asyncio.to_thread(_claim_dest, dest, project_id, opts.force)
    project = await asyncio.to_thread(Project, dest, OpenMode.UPDATE)
    await asyncio.to_thread(project.set_meta, meta)
    result = DownloadResult(project_id, dest)
    tree = _dataset_paths(await api.dataset.get_list(project_id, recursive=True))
    # One fetcher for the whole project: blobs are shared between datasets, fetch each once.
    # Its state file sits at the top of the project: the SDK never reads it as a dataset.
    blobs_bar = bar("Downloading blobs", None, enabled=opts.show, unit="B")
    blobs = BlobFetcher(
        api, project_id, dest / BLOB_DIR_NAME, state_file=dest / DOWNLOAD_STATE_FILE,
        progress_cb=blobs_bar, on_fetch=_bar_growth(api, blobs_bar) if opts.show else None,
    )  # fmt: skip
    try:
        async with blobs:
            await _download_datasets(api, project, tree, blobs, dest, opts, result)
    finally:
        blobs_bar.close()
    result.blobs_downloaded = len(blobs.fetched)
    result.blobs_skipped = len(blobs.skipped)
    result.blob_bytes = sum(got.size for got in blobs.fetched.values())
    if readme:
        names = {"/".join(chain): info for info, chain in tree}
        await asyncio.to_thread(create_blob_readme, project, pinfo, names)
    await asyncio.to_thread(project.close)
    return result


#: Synchronous :func:`download_fast_async` (same parameters; one ``Api`` serves many calls).
download_fast = blocking(download_fast_async, portal_of)
