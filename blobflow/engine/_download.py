"""The one blob download pipeline: blobs by ``relatedDataId``, each fetched once and verified.

::

    images.list pages (next page prefetched)
      -> each new relatedDataId starts one blob fetch (download semaphore; resumable,
         size/checksum-verified, <id>.tar.part renamed only when complete)
      -> a page is released once its blobs are on disk; with ``img_dir`` its images are sliced
         out of the blobs in batched executor calls (one tar open per 1,000 images)

"Already downloaded" has one meaning, :class:`BlobFetcher`'s: the state file records each
verified blob (size, mtime, sha256); a blob on disk is skipped only if its record matches.
``download_fast`` (blobflow.project) uses the same fetcher for a project's ``blob/`` folder.
Only the current page, one fetch task per blob and compact offsets are held in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blobflow._errors import BlobflowError
from blobflow._files import extract_ranges, safe_member_name, write_file_atomic
from blobflow._hash import file_sha256_b64
from blobflow.api import Api, DownloadedFile, ImageInfo, Progress, ProgressCallback
from blobflow.blob import blob_tar_path

__all__ = [
    "DOWNLOAD_STATE_FILE",
    "BlobFetcher",
    "DatasetDownload",
    "download_dataset_blobs",
    "load_download_state",
    "save_download_state",
]

#: the record of verified blobs; download_fast keeps it at the top of the project folder
#: (the SDK never reads a top-level file as a dataset)
DOWNLOAD_STATE_FILE = ".blobflow-download.json"


def load_download_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A download state file (``{"blobs": {...}, ...}``); an empty one if absent or unreadable."""
    try:
        state = json.loads(Path(path).read_text())
    except (FileNotFoundError, ValueError):
        return {"blobs": {}}
    return state if isinstance(state, dict) and isinstance(state.get("blobs"), dict) else {
        "blobs": {}
    }


def save_download_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write a download state file atomically (sync; run it in a thread)."""
    write_file_atomic(path, json.dumps(state, indent=1).encode())


def _verified(path: Path, record: Any) -> bool:
    """Is ``path`` the blob that ``record`` says was downloaded and verified?

    Size and mtime as recorded mean untouched; otherwise the file is hashed again and must
    match the recorded sha256 (no network needed either way). No record: not verified, even if
    a file of that name exists (it may be anyone's).
    """
    if not isinstance(record, dict):
        return False
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size != record.get("size"):
        return False
    if st.st_mtime_ns == record.get("mtime_ns"):
        return True
    return file_sha256_b64(path) == record.get("sha256")


class BlobFetcher:
    """Fetches blobs into ``blob_dir/<related_data_id>.tar`` as listings name them: each blob
    once, under the download semaphore, verified by size and checksum; every verified blob is
    recorded in ``state_file`` (default ``blob_dir/.blobflow-download.json``) so a re-run skips
    it. Use as ``async with``; :meth:`want` starts a fetch, :meth:`ready` waits for one.
    """

    def __init__(
        self,
        api: Api,
        project_id: int,
        blob_dir: str | os.PathLike[str],
        *,
        state_file: str | os.PathLike[str] | None = None,
        progress_cb: ProgressCallback = None,
        on_fetch: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._api, self._project_id = api, project_id
        self.blob_dir = Path(blob_dir)
        self._state_file = Path(state_file) if state_file else self.blob_dir / DOWNLOAD_STATE_FILE
        self._state: dict[str, Any] = {"blobs": {}}
        self._tasks: dict[int, asyncio.Task[Path]] = {}
        self._progress = Progress(progress_cb)
        self._on_fetch = on_fetch  # called before a blob is fetched (a progress bar's total)
        self._saving = asyncio.Lock()  # one writer of the state file at a time
        #: blobs fetched in this run (related_data_id -> the verified download)
        self.fetched: dict[int, DownloadedFile] = {}
        #: blobs found on disk, verified by an earlier run
        self.skipped: set[int] = set()

    async def __aenter__(self) -> BlobFetcher:
        self._state = await asyncio.to_thread(load_download_state, self._state_file)
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        await self.close(failed=exc)

    def want(self, blob_id: int, download_id: str) -> None:
        """Start fetching ``blob_id`` unless it is already started (or verified on disk)."""
        if blob_id not in self._tasks:
            self._tasks[blob_id] = asyncio.ensure_future(self._fetch(blob_id, download_id))

    async def ready(self, blob_id: int) -> Path:
        """Wait until ``<blob_dir>/<blob_id>.tar`` is on disk and verified; its path."""
        return await asyncio.shield(self._tasks[blob_id])

    async def _fetch(self, blob_id: int, download_id: str) -> Path:
        path = blob_tar_path(self.blob_dir, blob_id)
        record = self._state["blobs"].get(str(blob_id))
        if await asyncio.to_thread(_verified, path, record):
            self.skipped.add(blob_id)
            return path
        if self._on_fetch is not None:
            await self._on_fetch(blob_id)
        await asyncio.to_thread(self.blob_dir.mkdir, parents=True, exist_ok=True)
        got = await self._api.image.download_blob_file(
            self._project_id, download_id, path, self._progress
        )
        assert not isinstance(got, bytes)
        mtime = (await asyncio.to_thread(os.stat, got.path)).st_mtime_ns
        self._state["blobs"][str(blob_id)] = {
            "size": got.size, "sha256": got.sha256_b64, "mtime_ns": mtime,
        }  # fmt: skip
        self.fetched[blob_id] = got
        async with self._saving:  # recorded per blob: an interrupted run keeps what it verified
            await asyncio.to_thread(save_download_state, self._state_file, self._state)
        return path

    async def close(self, *, failed: BaseException | None = None) -> None:
        """Wait for every fetch. After another part failed, the fetches in flight still
        finish (a re-run then skips those blobs), unless the failure is a cancellation."""
        tasks = list(self._tasks.values())
        if failed is None:
            await asyncio.gather(*tasks)
            return
        if not isinstance(failed, Exception):
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class DatasetDownload:
    """What :func:`download_dataset_blobs` fetched; filled in while pages stream out."""

    #: related_data_id -> local .tar (verified)
    blobs: dict[int, Path] = field(default_factory=dict)
    #: related_data_id -> download result (absent for blobs verified by an earlier run)
    results: dict[int, DownloadedFile] = field(default_factory=dict)
    images: int = 0
    extracted: int = 0


async def download_dataset_blobs(
    api: Api,
    project_id: int,
    dataset_id: int,
    blob_dir: str | os.PathLike[str],
    *,
    img_dir: str | os.PathLike[str] | None = None,
    summary: DatasetDownload | None = None,
    progress_cb: ProgressCallback = None,
    bytes_progress_cb: ProgressCallback = None,
) -> AsyncIterator[list[ImageInfo]]:
    """Download every blob of a dataset; yield its image pages once their blobs are on disk.

    ``img_dir``: also write each image to ``img_dir/<name>`` (blob images sliced locally,
    others via ``images.bulk.download``). A blob verified by an earlier run into ``blob_dir``
    (its record in ``blob_dir/.blobflow-download.json`` still matches) is not fetched again.
    ``progress_cb`` counts images, ``bytes_progress_cb`` blob bytes (rewound when a stream
    restarts).
    """
    summary = summary if summary is not None else DatasetDownload()
    images_progress = Progress(progress_cb)
    async with BlobFetcher(api, project_id, blob_dir, progress_cb=bytes_progress_cb) as fetcher:
        async for page in api.image.get_list_generator_async(dataset_id):
            for info in page:
                if info.related_data_id is not None:
                    if info.download_id is None:
                        raise BlobflowError(f"image {info.id} has relatedDataId but no downloadId")
                    fetcher.want(info.related_data_id, info.download_id)
            for rid in {i.related_data_id for i in page if i.related_data_id is not None}:
                summary.blobs[rid] = await fetcher.ready(rid)
            summary.results.update(fetcher.fetched)
            if img_dir is not None:
                summary.extracted += await _extract_page(api, dataset_id, page, summary, img_dir)
            summary.images += len(page)
            images_progress.advance(len(page))
            yield page
    summary.results.update(fetcher.fetched)


async def _extract_page(
    api: Api,
    dataset_id: int,
    page: list[ImageInfo],
    summary: DatasetDownload,
    img_dir: str | os.PathLike[str],
) -> int:
    by_blob: dict[int, list[tuple[str, int, int]]] = {}
    others: list[ImageInfo] = []
    for info in page:
        if info.related_data_id is None or info.offset_start is None or info.offset_end is None:
            others.append(info)
            continue
        assert info.name is not None
        by_blob.setdefault(info.related_data_id, []).append(
            (info.name, info.offset_start, info.offset_end)
        )
    n = 0
    for rid, entries in by_blob.items():
        n += await extract_ranges(
            summary.blobs[rid], img_dir, entries, batch_size=api.config.extract_batch
        )
    if others:
        names = [safe_member_name(i.name or "") for i in others]
        await api.image.download_paths(
            dataset_id,
            [i.id for i in others],  # type: ignore[misc]
            [Path(img_dir) / name for name in names],
        )
        n += len(others)
    return n
