"""The platform's hash convention, shared by the client and the server: base64(sha256)."""

from __future__ import annotations

import base64
import hashlib
import os

__all__ = ["b64_digest", "b64_sha256", "file_sha256_b64"]


def b64_digest(digest: bytes) -> str:
    """The platform's hash convention for a sha256 digest: base64 of it, 44 characters."""
    return base64.standard_b64encode(digest).decode("ascii")


def b64_sha256(data: bytes) -> str:
    """The platform's hash of ``data``: base64(sha256(bytes))."""
    return b64_digest(hashlib.sha256(data).digest())


def file_sha256_b64(path: str | os.PathLike[str], chunk: int = 4 * 1024 * 1024) -> str:
    """base64(sha256(file)) (sync; run it in a thread)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(chunk):
            h.update(data)
    return b64_digest(h.digest())
