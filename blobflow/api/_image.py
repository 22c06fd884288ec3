"""``api.image``: registration (by hash or by blob offsets), listing, downloads."""

from __future__ import annotations

import asyncio
import os
import posixpath
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import aiohttp

from blobflow._files import batched, read_files, write_files
from blobflow._gc import gc_paused
from blobflow._hash import b64_sha256
from blobflow.api._errors import ApiError, ConflictError, NotFoundError
from blobflow.api._models import DatasetInfo, FileInfo, ImageInfo, image_info
from blobflow.api._progress import Progress, ProgressCallback
from blobflow.api._register import register_offsets
from blobflow.api._transport import DownloadedFile
from blobflow.blob import team_files_offsets_path

if TYPE_CHECKING:
    from blobflow.api._api import Api

__all__ = ["ImageApi", "ConflictResolution", "offset_items"]

ConflictResolution = Literal["skip", "rename", "replace"]
_RESOLUTIONS = (None, "skip", "rename", "replace")
_PART_NAME = re.compile(r'(^|[\s;])name="(\d*)"')
_INFO_BATCH = 1000  # ids per images.list "id in [...]" lookup
# bulk.add item keys that carry the image data (not the title/meta)
_DATA_KEYS = ("hash", "teamFileId", "sourceBlob", "link")


def offset_items(team_file_id: int, offsets: Iterable[Mapping[str, int]]) -> list[dict[str, Any]]:
    """bulk.add data of blob images: ``{"teamFileId", "sourceBlob": {offsetStart, offsetEnd}}``."""
    return [
        {
            "teamFileId": team_file_id,
            "sourceBlob": {"offsetStart": o["offsetStart"], "offsetEnd": o["offsetEnd"]},
        }
        for o in offsets
    ]


def _timestamped(name: str, round_no: int) -> str:
    """The SDK's rename: ``<stem>_<YYYY_MM_DD_HH_MM_SS><ext>`` (+ ``_<n>`` on later rounds)."""
    stem, ext = posixpath.splitext(name)
    stamp = datetime.now().strftime("%Y_%m_%d_%H_%M_%S")
    suffix = f"_{round_no}" if round_no > 1 else ""
    return f"{stem}_{stamp}{suffix}{ext}"


def _is_ours(item: Mapping[str, Any], info: ImageInfo) -> bool:
    """Does an existing image hold exactly the data of ``item`` (a committed earlier attempt)?"""
    blob = item.get("sourceBlob")
    if isinstance(blob, Mapping):
        return bool(
            info.offset_start == blob.get("offsetStart")
            and info.offset_end == blob.get("offsetEnd")
            and info.offset_start is not None
        )
    if item.get("hash") is not None:
        return bool(info.hash == item["hash"])
    return False


def _hash_files(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(b64_sha256(f.read()))
    return out


class ImageApi:
    def __init__(self, api: Api) -> None:
        self._api = api

    # -- info and listing -------------------------------------------------------------------

    async def get_info_by_id(
        self, id: int, force_metadata_for_links: bool = True
    ) -> ImageInfo | None:
        body = {"id": id, "forceMetadataForLinks": force_metadata_for_links}
        try:
            return image_info(await self._api.post("images.info", body))
        except NotFoundError:
            return None

    async def get_info_by_id_batch(
        self, ids: Sequence[int], dataset_id: int | None = None
    ) -> list[ImageInfo]:
        """Infos of ``ids`` in the order given (``images.list`` with ``id in [...]``)."""
        if not ids:
            return []
        if dataset_id is None:
            first = await self.get_info_by_id(ids[0], force_metadata_for_links=False)
            if first is None:
                raise NotFoundError(404, f"image {ids[0]} not found", "images.info")
            dataset_id = first.dataset_id
        by_id: dict[int, ImageInfo] = {}
        for chunk in batched(ids, _INFO_BATCH):
            flt = [{"field": "id", "operator": "in", "value": chunk}]
            for info in await self.get_list(dataset_id, filters=flt):
                if info.id is not None:
                    by_id[info.id] = info
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise NotFoundError(404, f"images not found: {missing[:10]}", "images.list")
        return [by_id[i] for i in ids]

    def _list_body(  # noqa: PLR0913 - the SDK's list filters, as one request body
        self,
        dataset_id: int | None,
        project_id: int | None,
        filters: list[dict[str, Any]] | None,
        sort: str,
        sort_order: str,
        force_metadata_for_links: bool,
        recursive: bool,
        fields: list[str] | None,
        extra_fields: list[str] | None,
    ) -> dict[str, Any]:
        if (dataset_id is None) == (project_id is None):
            raise ValueError("give exactly one of dataset_id / project_id")
        body: dict[str, Any] = {
            "projectId": project_id,
            "datasetId": dataset_id,
            "filter": filters or [],
            "sort": sort,
            "sort_order": sort_order,
            "forceMetadataForLinks": force_metadata_for_links,
            "recursive": recursive,
        }
        if fields:
            body["fields"] = fields
        if extra_fields:
            body["extraFields"] = extra_fields
        return body

    async def get_list_generator_async(  # noqa: PLR0913 - the SDK's signature
        self,
        dataset_id: int | None = None,
        filters: list[dict[str, Any]] | None = None,
        sort: str = "id",
        sort_order: str = "asc",
        force_metadata_for_links: bool = True,
        project_id: int | None = None,
        recursive: bool = False,
        fields: list[str] | None = None,
        extra_fields: list[str] | None = None,
    ) -> AsyncIterator[list[ImageInfo]]:
        """Yield pages of ImageInfo in order; the next page is fetched while you use this one."""
        body = self._list_body(
            dataset_id, project_id, filters, sort, sort_order,
            force_metadata_for_links, recursive, fields, extra_fields,
        )  # fmt: skip
        async for page in self._api.list_pages("images.list", body):
            yield [image_info(r) for r in page]

    async def get_list(  # noqa: PLR0913 - the SDK's signature
        self,
        dataset_id: int | None = None,
        filters: list[dict[str, Any]] | None = None,
        sort: str = "id",
        sort_order: str = "asc",
        force_metadata_for_links: bool = True,
        project_id: int | None = None,
        recursive: bool = False,
        fields: list[str] | None = None,
        extra_fields: list[str] | None = None,
    ) -> list[ImageInfo]:
        out: list[ImageInfo] = []
        with gc_paused(self._api.config.pause_gc):  # a row is a few containers: 30,000 rows
            async for page in self.get_list_generator_async(
                dataset_id, filters, sort, sort_order, force_metadata_for_links,
                project_id, recursive, fields, extra_fields,
            ):  # fmt: skip
                out.extend(page)
        return out

    async def remove_batch(self, ids: Sequence[int], batch_size: int | None = None) -> None:
        """``images.bulk.remove``, ``batch_size`` ids a call (default ``bulk_upload_batch``)."""
        size = batch_size or self._api.config.bulk_upload_batch
        await self._api.gather_limited(
            self._api.post("images.bulk.remove", {"imageIds": chunk})
            for chunk in batched(ids, size)
        )

    # -- registration: images.bulk.add ------------------------------------------------------

    async def _bulk_add_batch(
        self,
        dataset_id: int,
        names: list[str],
        items: list[dict[str, Any]],
        metas: list[dict[str, Any]] | None,
        conflict_resolution: ConflictResolution | None,
        force_metadata_for_links: bool = True,
        skip_validation: bool = False,
    ) -> list[ImageInfo]:
        """One ``images.bulk.add`` batch, with the SDK's NONUNIQUE protocol.

        Differences from the SDK, both on the side of never duplicating or losing images:
        a conflict whose existing image holds exactly our data after an ambiguous attempt (the
        connection dropped after the server committed) is adopted as our result; a batch that
        still conflicts after three rounds raises instead of being dropped silently.
        """
        names = list(names)
        n = len(names)
        results: list[ImageInfo | None] = [None] * n
        pending = list(range(n))
        existing: dict[int, int] = {}  # position -> id of the image kept instead (skip)
        for round_no in range(1, 4):
            images = []
            for pos in pending:
                image: dict[str, Any] = {"title": names[pos], **items[pos]}
                if metas is not None and metas[pos]:
                    image["meta"] = metas[pos]
                images.append(image)
            body = {
                "datasetId": dataset_id,
                "images": images,
                "forceMetadataForLinks": force_metadata_for_links,
                "skipValidation": skip_validation,
            }
            try:
                answer = await self._api.post("images.bulk.add", body)
            except ConflictError as exc:
                pending = await self._resolve_conflicts(
                    exc, names, items, pending, results, existing, conflict_resolution,
                    dataset_id, round_no,
                )  # fmt: skip
                if not pending:
                    break
                continue
            if not isinstance(answer, list) or len(answer) != len(pending):
                raise ApiError(200, f"images.bulk.add answered {len(answer)} for {len(pending)}")
            for pos, js in zip(pending, answer, strict=False):
                results[pos] = image_info(js)
            pending = []
            break
        if pending:
            raise ApiError(400, f"{len(pending)} names still conflict after 3 rounds", "")
        if existing:
            infos = await self.get_info_by_id_batch(list(existing.values()), dataset_id)
            for pos, info in zip(existing, infos, strict=False):
                results[pos] = info
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    async def _resolve_conflicts(  # noqa: PLR0913 - one NONUNIQUE round's state, kept in the caller
        self,
        exc: ConflictError,
        names: list[str],
        items: list[dict[str, Any]],
        pending: list[int],
        results: list[ImageInfo | None],
        existing: dict[int, int],
        resolution: ConflictResolution | None,
        dataset_id: int,
        round_no: int,
    ) -> list[int]:
        """Apply ``resolution`` to a NONUNIQUE answer; return the positions still to send."""
        pos_of = {names[p]: p for p in pending}
        conflicts = [
            (pos_of[c["name"]], int(c["id"])) for c in exc.conflicts if c.get("name") in pos_of
        ]
        if not conflicts:
            raise exc
        if exc.attempt > 1:  # an earlier attempt may have committed this very batch
            infos = await self.get_info_by_id_batch([i for _, i in conflicts], dataset_id)
            mine = {
                p
                for (p, _), info in zip(conflicts, infos, strict=False)
                if _is_ours(items[p], info)
            }
            for (p, _), info in zip(conflicts, infos, strict=False):
                if p in mine:
                    results[p] = info
            pending = [p for p in pending if p not in mine]
            conflicts = [(p, i) for p, i in conflicts if p not in mine]
            if not conflicts:
                return pending
        if resolution is None:
            raise exc
        if resolution == "replace":
            await self.remove_batch([i for _, i in conflicts])
        elif resolution == "rename":
            for p, _ in conflicts:
                names[p] = _timestamped(names[p], round_no)
        else:  # skip
            existing.update(conflicts)
            dropped = {p for p, _ in conflicts}
            pending = [p for p in pending if p not in dropped]
        return pending

    async def _bulk_add(
        self,
        dataset_id: int,
        names: Sequence[str],
        items: Sequence[dict[str, Any]],
        metas: Sequence[dict[str, Any]] | None = None,
        batch_size: int | None = None,
        conflict_resolution: ConflictResolution | None = None,
        progress: Progress | None = None,
    ) -> list[ImageInfo]:
        """Register images in batches of ``batch_size`` (default ``config.bulk_upload_batch``,
        the SDK's 50), concurrently, results in order."""
        size = batch_size or self._api.config.bulk_upload_batch
        if conflict_resolution not in _RESOLUTIONS:
            raise ValueError(f"conflict_resolution must be one of {_RESOLUTIONS}")
        if len(set(names)) != len(names):
            raise ValueError("image names are duplicated; only unique names can be uploaded")
        if len(names) != len(items) or (metas is not None and len(metas) != len(names)):
            raise ValueError("names, items and metas differ in length")
        progress = progress or Progress()

        async def one(start: int) -> list[ImageInfo]:
            end = start + size
            out = await self._bulk_add_batch(
                dataset_id,
                list(names[start:end]),
                list(items[start:end]),
                list(metas[start:end]) if metas is not None else None,
                conflict_resolution,
            )
            progress.advance(len(out))
            return out

        batches = await self._api.gather_limited(
            (one(s) for s in range(0, len(names), size)), "registration"
        )
        return [info for batch in batches for info in batch]

    async def upload_hashes(
        self,
        dataset_id: int,
        names: Sequence[str],
        hashes: Sequence[str],
        progress_cb: ProgressCallback = None,
        metas: Sequence[dict[str, Any]] | None = None,
        conflict_resolution: ConflictResolution | None = None,
        batch_size: int | None = None,
    ) -> list[ImageInfo]:
        items = [{"hash": h} for h in hashes]
        return await self._bulk_add(
            dataset_id, names, items, metas, batch_size, conflict_resolution, Progress(progress_cb)
        )

    async def check_existing_hashes(self, hashes: Sequence[str]) -> set[str]:
        """Which hashes the server already stores (``images.internal.hashes.list``, 900 a call)."""
        answers = await self._api.gather_limited(
            self._api.post("images.internal.hashes.list", list(chunk))
            for chunk in batched(hashes, self._api.config.hashes_batch)
        )
        return {h for answer in answers for h in answer or [] if isinstance(h, str)}

    async def _upload_data_bulk(self, paths: Sequence[str | os.PathLike[str]]) -> set[str]:
        """``images.bulk.upload`` multipart, 50 files a call; returns the hashes stored."""

        async def one(chunk: list[str | os.PathLike[str]]) -> list[str]:
            datas = await read_files(chunk)

            def body() -> aiohttp.MultipartWriter:
                mp = aiohttp.MultipartWriter("form-data")
                for i, data in enumerate(datas):
                    part = mp.append(data, {"Content-Type": "image/*"})
                    part.set_content_disposition("form-data", name=f"{i}-file", filename=str(i))
                return mp

            answer = await self._api.transport.upload("images.bulk.upload", body, content_type=None)
            return [a["hash"] for a in answer or [] if isinstance(a, dict) and a.get("hash")]

        answers = await self._api.gather_limited(
            one(chunk) for chunk in batched(paths, self._api.config.bulk_upload_batch)
        )
        return {h for answer in answers for h in answer}

    async def upload_paths(
        self,
        dataset_id: int,
        names: Sequence[str],
        paths: Sequence[str | os.PathLike[str]],
        progress_cb: ProgressCallback = None,
        metas: Sequence[dict[str, Any]] | None = None,
        conflict_resolution: ConflictResolution | None = None,
    ) -> list[ImageInfo]:
        """The standard per-image path: hash, ``images.internal.hashes.list``,
        ``images.bulk.upload`` of the missing bytes (3 rounds), ``images.bulk.add`` by hash.
        """
        if len(names) != len(paths):
            raise ValueError("names and paths differ in length")
        hashes: list[str] = []
        for chunk in batched(paths, 256):
            hashes.extend(await asyncio.to_thread(_hash_files, chunk))
        path_of = dict(zip(hashes, paths, strict=False))
        pending = set(path_of) - await self.check_existing_hashes(list(path_of))
        for _ in range(3):
            if not pending:
                break
            pending -= await self._upload_data_bulk([path_of[h] for h in sorted(pending)])
        if pending:
            raise ApiError(None, f"{len(pending)} images could not be uploaded (hash mismatch?)")
        return await self.upload_hashes(
            dataset_id, names, hashes, progress_cb, metas, conflict_resolution
        )

    async def upload_path(
        self,
        dataset_id: int,
        name: str,
        path: str | os.PathLike[str],
        meta: dict[str, Any] | None = None,
    ) -> ImageInfo:
        return (await self.upload_paths(dataset_id, [name], [path], metas=[meta or {}]))[0]

    async def upload_by_offsets(
        self,
        dataset: int | DatasetInfo,
        team_file_id: int,
        names: Sequence[str],
        offsets: Sequence[Mapping[str, int]],
        progress_cb: ProgressCallback = None,
        metas: Sequence[dict[str, Any]] | None = None,
        batch_size: int | None = None,
        conflict_resolution: ConflictResolution | None = None,
    ) -> list[ImageInfo]:
        """Register blob images from explicit names and ``{offsetStart, offsetEnd}`` ranges."""
        ds = await self._api.dataset.resolve(dataset)
        assert ds.id is not None and ds.project_id is not None
        await self._api.project.mark_blob_project(ds.project_id)
        return await self._bulk_add(
            ds.id, names, offset_items(team_file_id, offsets), metas, batch_size,
            conflict_resolution, Progress(progress_cb),
        )  # fmt: skip

    async def get_blob_offsets_file(
        self, team_file_id: int, progress_cb: ProgressCallback = None, dest_dir: str | None = None
    ) -> str:
        """Download ``<blob dir>/<blob stem>_offsets.pkl`` of a Team Files blob; local path."""
        blob = await self._api.file.get_info_by_id(team_file_id)
        if blob.path is None or blob.team_id is None:
            raise ApiError(None, f"Team Files entry {team_file_id} has no path/team")
        remote = team_files_offsets_path(blob.path)
        if dest_dir is None:
            dest_dir = await asyncio.to_thread(tempfile.mkdtemp, prefix="blobflow-")
        local = os.path.join(dest_dir, posixpath.basename(remote))
        await self._api.file.download(blob.team_id, remote, local, progress_cb)
        return local

    async def upload_by_offsets_generator(
        self,
        dataset: int | DatasetInfo,
        team_file_id: int,
        offsets_file_path: str | os.PathLike[str] | None = None,
        progress_cb: ProgressCallback = None,
        metas: Mapping[str, dict[str, Any]] | None = None,
        batch_size: int | None = None,
        conflict_resolution: ConflictResolution | None = None,
    ) -> AsyncIterator[list[ImageInfo]]:
        """Read the offsets pickle 10,000 at a time; one ``images.bulk.add`` per batch, yielding
        each batch's ImageInfo in order. Afterwards the project is marked ``is_blob_project``.
        """
        ds = await self._api.dataset.resolve(dataset)
        async for infos in register_offsets(
            self._api, ds, team_file_id, offsets_file_path,
            metas=metas, batch_size=batch_size, conflict_resolution=conflict_resolution,
            progress_cb=progress_cb,
        ):  # fmt: skip
            yield infos

    @overload
    def upload_blob_images(
        self,
        dataset: int | DatasetInfo,
        blob_file: FileInfo | str,
        metas: Mapping[str, dict[str, Any]] | None = None,
        change_name_if_conflict: bool = True,
        progress_cb: ProgressCallback = None,
        return_image_infos_generator: Literal[False] = False,
    ) -> Awaitable[list[ImageInfo]]: ...

    @overload
    def upload_blob_images(
        self,
        dataset: int | DatasetInfo,
        blob_file: FileInfo | str,
        metas: Mapping[str, dict[str, Any]] | None = None,
        change_name_if_conflict: bool = True,
        progress_cb: ProgressCallback = None,
        *,
        return_image_infos_generator: Literal[True],
    ) -> AsyncIterator[list[ImageInfo]]: ...

    def upload_blob_images(
        self,
        dataset: int | DatasetInfo,
        blob_file: FileInfo | str,
        metas: Mapping[str, dict[str, Any]] | None = None,
        change_name_if_conflict: bool = True,
        progress_cb: ProgressCallback = None,
        return_image_infos_generator: bool = False,
    ) -> Awaitable[list[ImageInfo]] | AsyncIterator[list[ImageInfo]]:
        """Register every image of a Team Files blob (its ``_offsets.pkl`` beside it).

        ``await`` it for all the ImageInfo; with ``return_image_infos_generator=True`` it is an
        async iterator of batches instead (``async for batch in ...``), registering as you go
        and keeping nothing, as the SDK's generator.
        """
        batches = self._blob_batches(dataset, blob_file, metas, change_name_if_conflict,
                                     progress_cb)  # fmt: skip
        if return_image_infos_generator:
            return batches
        return _collect(batches)

    async def _blob_batches(
        self,
        dataset: int | DatasetInfo,
        blob_file: FileInfo | str,
        metas: Mapping[str, dict[str, Any]] | None,
        change_name_if_conflict: bool,
        progress_cb: ProgressCallback,
    ) -> AsyncIterator[list[ImageInfo]]:
        ds = await self._api.dataset.resolve(dataset)
        if isinstance(blob_file, str):
            assert ds.team_id is not None
            found = await self._api.file.get_info_by_path(ds.team_id, blob_file)
            if found is None:
                raise NotFoundError(
                    404, f"Team Files path {blob_file} not found", "file-storage.list"
                )
            blob_file = found
        assert blob_file.id is not None
        async for batch in self.upload_by_offsets_generator(
            ds, blob_file.id, progress_cb=progress_cb, metas=metas,
            conflict_resolution="rename" if change_name_if_conflict else "skip",
        ):  # fmt: skip
            yield batch

    # -- downloads --------------------------------------------------------------------------

    async def download_bytes(
        self, dataset_id: int, ids: Sequence[int], progress_cb: ProgressCallback = None
    ) -> list[bytes]:
        """``images.bulk.download`` (multipart, 50 a call); bytes in the order of ``ids``."""
        progress = Progress(progress_cb)

        async def one(chunk: list[int]) -> dict[int, bytes]:
            parts = await self._api.transport.post_multipart_parts(
                "images.bulk.download", {"datasetId": dataset_id, "imageIds": chunk}
            )
            got: dict[int, bytes] = {}
            for headers, data in parts:
                m = _PART_NAME.search(headers.get("Content-Disposition", ""))
                if m and m.group(2):
                    got[int(m.group(2))] = data
            progress.advance(len(got))
            return got

        found: dict[int, bytes] = {}
        for got in await self._api.gather_limited(
            one(c) for c in batched(ids, self._api.config.bulk_download_batch)
        ):
            found.update(got)
        missing = [i for i in ids if i not in found]
        if missing:
            raise ApiError(200, f"images.bulk.download did not return images {missing[:10]}")
        return [found[i] for i in ids]

    async def download_paths(
        self,
        dataset_id: int,
        ids: Sequence[int],
        paths: Sequence[str | os.PathLike[str]],
        progress_cb: ProgressCallback = None,
    ) -> None:
        """Download images to ``paths`` (written in batches, each file atomically)."""
        if len(ids) != len(paths):
            raise ValueError("ids and paths differ in length")
        step = self._api.config.extract_batch
        for start in range(0, len(ids), step):
            datas = await self.download_bytes(dataset_id, ids[start : start + step], progress_cb)
            await write_files(zip(paths[start : start + step], datas, strict=False))

    async def download_path(
        self, id: int, path: str | os.PathLike[str], progress_cb: ProgressCallback = None
    ) -> DownloadedFile:
        """``images.download`` streamed to ``path`` (resumable, checksum-verified)."""
        return await self._api.transport.download(
            "images.download", {"id": id}, path, progress=Progress(progress_cb)
        )

    async def download_blob_file(
        self,
        project_id: int,
        download_id: str,
        path: str | os.PathLike[str] | None = None,
        progress_cb: ProgressCallback = None,
        *,
        expected_size: int | None = None,
    ) -> DownloadedFile | bytes:
        """The whole blob ``.tar`` an image lives in (``images.data.download``).

        Written to ``path`` through ``<path>.part``, resumed with Range after a broken stream,
        verified by size and ``x-content-checksum-sha256``; without ``path`` returns the bytes.
        """
        body = {"projectId": project_id, "downloadId": download_id}
        progress = Progress(progress_cb)
        if path is not None:
            async with self._api.semaphore("download"):
                return await self._api.transport.download(
                    "images.data.download", body, path, progress=progress,
                    expected_size=expected_size,
                )  # fmt: skip
        tmp = await asyncio.to_thread(tempfile.mkdtemp, prefix="blobflow-")
        target = Path(tmp) / "blob.tar"
        try:
            await self.download_blob_file(
                project_id, download_id, target, progress_cb, expected_size=expected_size
            )
            return await asyncio.to_thread(target.read_bytes)
        finally:
            await asyncio.to_thread(_rmtree, tmp)

    async def download_blob_files_async(
        self,
        project_id: int,
        download_ids: Sequence[str],
        paths: Sequence[str | os.PathLike[str]],
        semaphore: asyncio.Semaphore | None = None,
        progress_cb: ProgressCallback = None,
    ) -> list[DownloadedFile]:
        """Several blobs in parallel (under ``semaphore`` or ``download_concurrency``)."""
        if len(download_ids) != len(paths):
            raise ValueError("download_ids and paths differ in length")
        progress = Progress(progress_cb)
        sem = semaphore or self._api.semaphore("download")
        body = "images.data.download"

        async def one(did: str, path: str | os.PathLike[str]) -> DownloadedFile:
            async with sem:
                return await self._api.transport.download(
                    body, {"projectId": project_id, "downloadId": did}, path, progress=progress
                )

        return list(
            await asyncio.gather(*(one(d, p) for d, p in zip(download_ids, paths, strict=False)))
        )


async def _collect(batches: AsyncIterator[list[ImageInfo]]) -> list[ImageInfo]:
    out: list[ImageInfo] = []
    async for batch in batches:
        out.extend(batch)
    return out


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
