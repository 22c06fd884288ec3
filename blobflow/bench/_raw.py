"""A deliberately tiny synchronous HTTP client (stdlib http.client, one keep-alive connection).

The benchmark uses it for two things that must not depend on the client under test: measuring the
raw transfer limit (one upload and one download of the tar bytes, nothing else), and verifying the
state every strategy leaves on the server. It runs in the orchestrating process, which has no
event loop.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from blobflow._errors import BlobflowError

__all__ = ["RawClient", "RawHTTPError"]

_BLOCK = 1 << 20


class RawHTTPError(BlobflowError):
    """A non-2xx answer to a raw benchmark request."""


class RawClient:
    def __init__(self, address: str, token: str, *, timeout: float = 600.0) -> None:
        url = urllib.parse.urlsplit(address if "://" in address else f"http://{address}")
        self._https = url.scheme == "https"
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port
        self._prefix = url.path.rstrip("/") + "/public/api/v3/"
        self._token = token
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout, blocksize=_BLOCK)
        return self._conn

    def _request(
        self,
        method: str,
        body: bytes | BinaryIO,
        headers: dict[str, str],
        verb: str = "POST",
    ) -> http.client.HTTPResponse:
        conn = self._connection()
        headers = {"x-api-key": self._token, **headers}
        try:
            conn.request(verb, self._prefix + method, body=body, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.status >= 300:
            text = response.read()[:500].decode("utf-8", "replace")
            raise RawHTTPError(f"{method}: HTTP {response.status}: {text}")
        return response

    def post_json(self, method: str, body: Any) -> Any:
        data = json.dumps(body).encode()
        response = self._request(method, data, {"Content-Type": "application/json"})
        return json.loads(response.read() or b"null")

    def post_bytes(self, method: str, body: Any) -> bytes:
        data = json.dumps(body).encode()
        return self._request(method, data, {"Content-Type": "application/json"}).read()

    def iter_pages(
        self, method: str, body: dict[str, Any], per_page: int = 10000
    ) -> Iterator[list[Any]]:
        """The entities of a paginated list method, one page at a time."""
        page = 1
        while True:
            answer = self.post_json(method, {**body, "page": page, "per_page": per_page})
            yield answer["entities"]
            if page >= int(answer.get("pagesCount") or 1):
                return
            page += 1

    def list_all(self, method: str, body: dict[str, Any], per_page: int = 10000) -> list[Any]:
        """Every entity of a paginated list method."""
        return [e for page in self.iter_pages(method, body, per_page) for e in page]

    def upload_file(self, team_id: int, src: Path, dst: str) -> dict[str, Any]:
        """``file-storage.upload``: the raw file as the body, with its Content-Length."""
        query = urllib.parse.urlencode({"teamId": team_id, "path": dst})
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(src.stat().st_size),
        }
        with src.open("rb") as f:
            response = self._request(f"file-storage.upload?{query}", f, headers)
            answer = json.loads(response.read())
        return answer[0] if isinstance(answer, list) else dict(answer)

    def download_file(self, team_id: int, path: str, dst: Path) -> int:
        """``file-storage.download`` streamed to dst; returns the byte count."""
        body = json.dumps({"teamId": team_id, "path": path}).encode()
        response = self._request(
            "file-storage.download", body, {"Content-Type": "application/json"}
        )
        return _drain_to(response, dst)


def _drain_to(response: http.client.HTTPResponse, dst: Path) -> int:
    count = 0
    buffer = bytearray(_BLOCK)
    view = memoryview(buffer)
    with dst.open("wb") as out:
        while True:
            n = response.readinto(view)
            if not n:
                break
            out.write(view[:n])
            count += n
    return count
