"""``api.file``: Team Files (blobs and their ``_offsets.pkl`` live in ``/blob-files/``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from blobflow._errors import IntegrityError
from blobflow._hash import file_sha256_b64
from blobflow.api._models import FileInfo, file_info
from blobflow.api._progress import Progress, ProgressCallback
from blobflow.api._transport import BodyFactory, DownloadedFile

if TYPE_CHECKING:
    from blobflow.api._api import Api

__all__ = ["FileApi"]


def _checked_info(data: Any, dst: str, local: str | None, src: str) -> FileInfo:
    """The uploaded file's info; IntegrityError if its hash is not the local one."""
    if isinstance(data, list):
        data = data[0] if data else {}
    info = file_info(data or {})
    if local is not None and info.hash is not None and info.hash != local:
        raise IntegrityError(f"Team Files {dst}: server hash {info.hash} != local {local} of {src}")
    return info


class FileApi:
    def __init__(self, api: Api) -> None:
        self._api = api

    async def upload(
        self,
        team_id: int,
        src: str | os.PathLike[str],
        dst: str,
        progress_cb: ProgressCallback = None,
        *,
        verify: bool = True,
    ) -> FileInfo:
        """Stream ``src`` to Team Files ``dst`` (``file-storage.upload``, with Content-Length).

        Retries re-send the file from its first byte (the progress bar is rewound). With
        ``verify`` the local sha256 is computed in a thread while the upload runs and compared
        with the server's ``hash``: a mismatch raises IntegrityError.
        """
        progress = Progress(progress_cb)
        upload = self._api.transport.upload(
            "file-storage.upload",
            src,
            params={"teamId": team_id, "path": dst},
            progress=progress,
        )
        if verify:
            local, data = await asyncio.gather(asyncio.to_thread(file_sha256_b64, src), upload)
        else:
            local, data = None, await upload
        return _checked_info(data, dst, local, os.fspath(src))

    async def upload_stream(
        self,
        team_id: int,
        body: BodyFactory,
        dst: str,
        *,
        sha256: Callable[[], str] | None = None,
    ) -> FileInfo:
        """Stream a body of unknown length to Team Files ``dst`` (chunked, as the SDK sends
        files). ``body()`` is called once per attempt and must start from the first byte;
        ``sha256()``, asked once the upload is done, is compared with the server's ``hash``.
        """
        data = await self._api.transport.upload(
            "file-storage.upload", body, params={"teamId": team_id, "path": dst}
        )
        return _checked_info(data, dst, sha256() if sha256 is not None else None, "the stream")

    async def upload_bulk(
        self,
        team_id: int,
        src_paths: Sequence[str | os.PathLike[str]],
        dst_paths: Sequence[str],
        progress_cb: ProgressCallback = None,
    ) -> list[FileInfo]:
        """Upload files in parallel (bounded by ``download_concurrency``); infos in order."""
        if len(src_paths) != len(dst_paths):
            raise ValueError("src_paths and dst_paths differ in length")
        progress = Progress(progress_cb)
        return await self._api.gather_limited(
            (
                self.upload(team_id, s, d, progress)
                for s, d in zip(src_paths, dst_paths, strict=False)
            ),
            "download",
        )

    @overload
    async def list(
        self,
        team_id: int,
        path: str,
        recursive: bool = True,
        return_type: Literal["dict"] = "dict",
    ) -> list[dict[str, Any]]: ...

    @overload
    async def list(
        self, team_id: int, path: str, recursive: bool, return_type: Literal["fileinfo"]
    ) -> list[FileInfo]: ...

    async def list(
        self,
        team_id: int,
        path: str,
        recursive: bool = True,
        return_type: Literal["dict", "fileinfo"] = "dict",
    ) -> list[dict[str, Any]] | list[FileInfo]:
        """``file-storage.list``: entries under ``path`` (a bare array; no pagination)."""
        if not recursive and not path.endswith("/"):
            path += "/"
        data = await self._api.post(
            "file-storage.list", {"teamId": team_id, "path": path, "recursive": recursive}
        )
        rows: list[dict[str, Any]] = data.get("entities", []) if isinstance(data, dict) else data
        if return_type == "fileinfo":
            return [file_info(r) for r in rows]
        return rows

    async def get_info_by_path(self, team_id: int, remote_path: str) -> FileInfo | None:
        for row in await self.list(team_id, remote_path, recursive=True):
            if row.get("path") == remote_path:
                return file_info(row)
        return None

    async def exists(self, team_id: int, remote_path: str) -> bool:
        return await self.get_info_by_path(team_id, remote_path) is not None

    async def dir_exists(self, team_id: int, remote_dir: str) -> bool:
        return bool(await self.list(team_id, remote_dir, recursive=True))

    async def get_info_by_id(self, id: int) -> FileInfo:
        """``file-storage.info``; a 404 raises NotFoundError (as the SDK, no None here)."""
        return file_info(await self._api.post("file-storage.info", {"id": id}))

    async def download(
        self,
        team_id: int,
        remote_path: str,
        local_save_path: str | os.PathLike[str],
        progress_cb: ProgressCallback = None,
        *,
        expected_sha256: str | None = None,
    ) -> DownloadedFile:
        """Stream ``file-storage.download`` to ``local_save_path`` (resumable, verified)."""
        async with self._api.semaphore("download"):
            return await self._api.transport.download(
                "file-storage.download",
                {"teamId": team_id, "path": remote_path},
                local_save_path,
                progress=Progress(progress_cb),
                expected_sha256=expected_sha256,
            )
