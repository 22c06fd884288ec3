"""Registration by offsets: the client's protocol for the images of a Team Files blob.

::

    producer (pickle batches of 10,000, read in a thread)
      -> bulk-add tasks under the registration semaphore      (images.bulk.add, 10,000 a call)
      -> annotation tasks for each registered batch          (annotations.bulk.add, 50 a call)
      -> result sink: yields batches in file order

A window semaphore (``registration_concurrency + queue_depth`` batches) bounds how far the
producer may run ahead of the consumer, so memory is flat in the number of images.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from blobflow._errors import BlobflowError
from blobflow._json import Encoded
from blobflow.api._models import DatasetInfo, ImageInfo
from blobflow.api._progress import Progress, ProgressCallback
from blobflow.blob import BlobImageInfo

if TYPE_CHECKING:
    from blobflow.api._api import Api
    from blobflow.api._image import ConflictResolution

__all__ = ["AnnotationSource", "register_offsets"]

#: Annotations for a batch: a mapping name -> annotation JSON, or an (async) function of the
#: batch's image names returning their annotation JSON in order.
#: The function may return already encoded JSON (``_json.Encoded``) when the annotations were
#: checked beforehand and go unconverted (``quick_import``).
AnnotationSource = (
    Mapping[str, dict[str, Any]]
    | Callable[[list[str]], Awaitable[list[dict[str, Any]] | list[Encoded]]]
)

_END = object()


def _pickle_batches(path: str, batch_size: int) -> Iterator[list[BlobImageInfo]]:
    return iter(BlobImageInfo.load_from_pickle_generator(path, batch_size=batch_size))


async def _read_batches(path: str, batch_size: int) -> AsyncIterator[list[Any]]:
    """Offsets pickle batches, each read in a worker thread (the file is never all in memory)."""
    it = await asyncio.to_thread(_pickle_batches, path, batch_size)
    while True:
        batch = await asyncio.to_thread(next, it, _END)
        if batch is _END:
            return
        yield batch  # type: ignore[misc]


async def _ordered(
    jobs: AsyncIterator[Callable[[], Awaitable[list[ImageInfo]]]], window: int
) -> AsyncIterator[list[ImageInfo]]:
    """Start each job as a task as soon as the window allows; yield their results in order."""
    slots = asyncio.Semaphore(window)
    # bounded: the feeder holds a slot per queued task (+1 for the end marker)
    tasks: asyncio.Queue[asyncio.Task[list[ImageInfo]] | None] = asyncio.Queue(window + 1)

    async def feed() -> None:
        try:
            async for job in jobs:
                await slots.acquire()
                tasks.put_nowait(asyncio.ensure_future(job()))
        finally:
            tasks.put_nowait(None)

    feeder = asyncio.ensure_future(feed())
    pending: list[asyncio.Task[Any]] = []
    try:
        while True:
            task = await tasks.get()
            if task is None:
                await feeder  # re-raise a producer error
                return
            pending.append(task)
            result = await task
            pending.remove(task)
            slots.release()
            yield result
    finally:
        feeder.cancel()
        while not tasks.empty():
            t = tasks.get_nowait()
            if t is not None:
                pending.append(t)
        for t in pending:
            t.cancel()
        await asyncio.gather(feeder, *pending, return_exceptions=True)


async def register_offsets(  # noqa: PLR0913 - upload_by_offsets_generator's options (SDK)
    api: Api,
    dataset: DatasetInfo,
    team_file_id: int,
    offsets_file_path: str | os.PathLike[str] | None = None,
    *,
    metas: Mapping[str, dict[str, Any]] | None = None,
    batch_size: int | None = None,
    conflict_resolution: ConflictResolution | None = None,
    progress_cb: ProgressCallback = None,
    annotations: AnnotationSource | None = None,
    mark_blob_project: bool = True,
    convert_coordinates: bool = True,
    annotations_checked: bool = False,
) -> AsyncIterator[list[ImageInfo]]:
    """Register every image of an offsets pickle; yield ImageInfo batches in file order.

    ``batch_size`` images per ``images.bulk.add`` (default ``config.bulk_add_batch`` = 10,000);
    up to ``config.registration_concurrency`` calls in flight. With ``annotations`` each batch
    is yielded only after its annotations are uploaded (their geometry converted to the
    platform's subpixel system unless ``convert_coordinates`` is False; each checked before it
    is sent unless ``annotations_checked``).
    """
    cfg = api.config
    size = batch_size or cfg.bulk_add_batch
    progress = Progress(progress_cb)
    assert dataset.id is not None
    ds_id = dataset.id
    if conflict_resolution not in (None, "skip", "rename", "replace"):
        raise ValueError(f"bad conflict_resolution {conflict_resolution!r}")
    temp_dir = None
    if offsets_file_path is None:  # fetch <blob stem>_offsets.pkl beside the blob (as the SDK)
        temp_dir = await asyncio.to_thread(tempfile.mkdtemp, prefix="blobflow-offsets-")
        offsets_file_path = await api.image.get_blob_offsets_file(team_file_id, dest_dir=temp_dir)
    reg_sem = api.semaphore("registration")

    async def register(batch: list[Any]) -> list[ImageInfo]:
        names = [b.name for b in batch]
        items = [
            {
                "teamFileId": team_file_id,
                "sourceBlob": {"offsetStart": b.offset_start, "offsetEnd": b.offset_end},
            }
            for b in batch
        ]
        meta_list = [dict(metas.get(n) or {}) for n in names] if metas is not None else None
        if len(set(names)) != len(names):
            raise BlobflowError(f"{offsets_file_path}: image names are duplicated in a batch")

        async def bulk_add() -> list[ImageInfo]:
            async with reg_sem:
                return await api.image._bulk_add_batch(
                    ds_id, names, items, meta_list, conflict_resolution
                )

        if annotations is None:
            infos = await bulk_add()
        else:
            infos = await _register_annotated(
                api, ds_id, names, bulk_add, annotations, convert_coordinates,
                annotations_checked,
            )
        progress.advance(len(infos))
        return infos

    async def jobs() -> AsyncIterator[Callable[[], Awaitable[list[ImageInfo]]]]:
        async for batch in _read_batches(os.fspath(offsets_file_path), size):
            yield functools.partial(register, batch)

    try:
        async for infos in _ordered(jobs(), cfg.registration_concurrency + cfg.queue_depth):
            yield infos
    finally:
        if temp_dir is not None:
            await asyncio.to_thread(shutil.rmtree, temp_dir, True)
    if mark_blob_project and dataset.project_id is not None:
        await api.project.mark_blob_project(dataset.project_id)


async def _load_chunk(
    source: AnnotationSource, names: list[str]
) -> list[dict[str, Any]] | list[Encoded]:
    if isinstance(source, Mapping):
        return [source[n] for n in names]
    return await source(names)


async def _register_annotated(
    api: Api,
    dataset_id: int,
    names: list[str],
    register: Callable[[], Awaitable[list[ImageInfo]]],
    source: AnnotationSource,
    convert_coordinates: bool,
    checked: bool,
) -> list[ImageInfo]:
    """Register a batch and upload its annotations, ``config.annotation_upload_chunk`` at a time.

    The first chunk is loaded while the batch registers, and each next chunk while the one
    before is sent: reading and parsing annotation files is client work that used to wait for
    the server. At most two chunks per batch are held (a parsed annotation costs ~5 KiB).
    """
    if isinstance(source, Mapping):
        missing = [n for n in names if n not in source]
        if missing:
            raise BlobflowError(f"no annotation for images {missing[:5]}")
    step = api.config.annotation_upload_chunk
    chunks = [names[i : i + step] for i in range(0, len(names), step)]

    def load(k: int) -> asyncio.Future[list[dict[str, Any]] | list[Encoded]] | None:
        return asyncio.ensure_future(_load_chunk(source, chunks[k])) if k < len(chunks) else None

    nxt = load(0)
    try:
        infos = await register()
        ids = [i.id for i in infos]
        if any(i is None for i in ids):
            raise BlobflowError("the server returned images without ids")
        for k, chunk in enumerate(chunks):
            assert nxt is not None
            anns = await nxt
            nxt = load(k + 1)
            start = k * step
            await api.annotation.upload_jsons(
                ids[start : start + len(chunk)],  # type: ignore[arg-type]
                anns,
                dataset_id=dataset_id,
                convert_coordinates=convert_coordinates,
                checked=checked,
            )
    finally:
        if nxt is not None:  # a failure elsewhere: do not leave a load running or unread
            nxt.cancel()
            await asyncio.gather(nxt, return_exceptions=True)
    return infos
