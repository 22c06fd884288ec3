"""Helpers of the server tests: a plain aiohttp client, bulk.add items, the stored files."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import aiohttp

__all__ = [
    "API", "Client", "blob_items", "member", "member_range", "stored_files", "tar_blob",
]

API = "/public/api/v3/"


class Client:
    """Thin JSON caller: ``await c.call(method, body) -> (status, json)``."""

    def __init__(self, session: aiohttp.ClientSession, token: str) -> None:
        self.session = session
        self.token = token

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"x-api-key": self.token if token is None else token}

    async def call(
        self, method: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body or {}}
        async with self.session.post(API + method, headers=self.headers(token), **kwargs) as r:
            text = await r.read()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    async def ok(self, method: str, body: Any = None, **kw: Any) -> Any:
        status, data = await self.call(method, body, **kw)
        assert status == 200, (method, status, data)
        return data

    async def upload(self, team_id: int, path: str, data: bytes, token: str | None = None) -> Any:
        """Team Files upload through ``file-storage.bulk.upload`` (the SDK's sync form)."""
        directory, _, name = path.rpartition("/")
        form = aiohttp.FormData()
        form.add_field("name", name)
        form.add_field("path", directory + "/")
        form.add_field("file", data, filename=name, content_type="application/x-tar")
        async with self.session.post(
            API + "file-storage.bulk.upload", params={"teamId": str(team_id)}, data=form,
            headers=self.headers(token),
        ) as r:
            body = await r.json()
            assert r.status == 200, body
            return body[0]


def _span(size: int) -> int:
    """Bytes one tar member of ``size`` data bytes takes: its header and padded data."""
    return 512 + -(-size // 512) * 512


def member(i: int, size: int = 10, seed: int = 0) -> bytes:
    """The data of member ``i`` of :func:`tar_blob`."""
    return bytes((seed + i * size + k) % 256 for k in range(size))


def tar_blob(count: int = 8, size: int = 10, seed: int = 0) -> bytes:
    """A real tar of ``count`` members of ``size`` bytes (the server registers only a range
    that is exactly one member's data)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(count):
            info = tarfile.TarInfo(f"m{i}.png")
            info.size = size
            tar.addfile(info, io.BytesIO(member(i, size, seed)))
    return buf.getvalue()


def member_range(i: int, size: int = 10) -> tuple[int, int]:
    start = i * _span(size) + 512
    return start, start + size


def blob_items(file_id: int, names: list[str], size: int = 10) -> list[dict[str, Any]]:
    """bulk.add items for consecutive members (``size`` bytes each) of a :func:`tar_blob`."""
    return [
        {"title": n, "teamFileId": file_id,
         "sourceBlob": dict(zip(("offsetStart", "offsetEnd"), member_range(i, size), strict=True))}
        for i, n in enumerate(names)
    ]


async def stored_files(server: Any) -> list[str]:
    """Every file the server's store holds, complete or in flight, on either backend (checked
    with the store's own listing: the files on disk, or the bucket's keys and open multipart
    uploads)."""
    from blobflow.server._context import STATE
    from blobflow.server._storage import LocalStorage

    storage = server._app[STATE].storage
    if isinstance(storage, LocalStorage):
        return sorted(
            str(p.relative_to(storage.root))
            for sub in ("objects", "images", "tmp")
            for p in (storage.root / sub).rglob("*")
            if p.is_file()
        )
    s3, root = storage.client, storage.key("")
    keys = [
        obj["Key"]
        async for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=storage.bucket, Prefix=root
        )
        for obj in page.get("Contents", [])
    ]
    uploads = await s3.list_multipart_uploads(Bucket=storage.bucket, Prefix=root)
    return sorted(keys + [f"in flight: {u['Key']}" for u in uploads.get("Uploads", [])])
