"""Record the requests a blobflow strategy makes, so the floor can replay them exactly.

:class:`RecordingTransport` wraps the Api's transport in an untimed recording run: every call
is kept (method, query, JSON body, JSON answer; for an upload the sent file's name, for a
download the byte count) in the order it was started, and written as ``requests.jsonl`` once
the run is over. The uploaded files (the blob and its index) are kept beside it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from blobflow import _json
from blobflow.api import DownloadedFile, Progress, Transport, UploadSource

__all__ = ["RECORDING", "RecordingTransport", "load_recording"]

RECORDING = "requests.jsonl"


class RecordingTransport:
    """A :class:`~blobflow.api._transport.Transport` that records what passes through it."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.calls: list[dict[str, Any]] = []
        self._start = time.perf_counter()

    def _begin(self, kind: str, method: str, **fields: Any) -> dict[str, Any]:
        call = {"kind": kind, "method": method, "t0": time.perf_counter() - self._start, **fields}
        self.calls.append(call)
        return call

    def _end(self, call: dict[str, Any], **fields: Any) -> None:
        call.update(fields, t1=time.perf_counter() - self._start)

    async def post_json(
        self, method: str, body: Any, *, params: Mapping[str, Any] | None = None
    ) -> Any:
        call = self._begin("json", method, body=body, params=dict(params or {}))
        answer = await self.inner.post_json(method, body, params=params)
        self._end(call, response=answer)
        return answer

    async def post_multipart_parts(
        self, method: str, body: Any
    ) -> list[tuple[Mapping[str, str], bytes]]:
        call = self._begin("multipart", method, body=body)
        parts = await self.inner.post_multipart_parts(method, body)
        self._end(call, size=sum(len(p) for _h, p in parts))
        return parts

    async def upload(
        self,
        method: str,
        source: UploadSource,
        *,
        params: Mapping[str, Any] | None = None,
        content_type: str | None = "application/octet-stream",
        progress: Progress | None = None,
    ) -> Any:
        query = dict(params or {})
        name = os.path.basename(str(query.get("path", "")))
        call = self._begin("upload", method, params=query, file=name)
        answer = await self.inner.upload(
            method, source, params=params, content_type=content_type, progress=progress
        )
        self._end(call, response=answer)
        return answer

    async def download(
        self,
        method: str,
        body: Any,
        dest: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        expected_size: int | None = None,
        expected_sha256: str | None = None,
    ) -> DownloadedFile:
        call = self._begin("download", method, body=body)
        got = await self.inner.download(
            method,
            body,
            dest,
            progress=progress,
            expected_size=expected_size,
            expected_sha256=expected_sha256,
        )
        self._end(call, size=got.size)
        return got

    async def aclose(self) -> None:
        await self.inner.aclose()

    def save(self, folder: Path) -> Path:
        path = folder / RECORDING
        with path.open("wb") as f:
            for call in self.calls:  # orjson: bodies may embed encoded annotation files
                f.write(_json.dumps(call) + b"\n")
        return path


def load_recording(folder: Path) -> list[dict[str, Any]]:
    with (folder / RECORDING).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
