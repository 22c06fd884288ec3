"""Shared helpers of the engine tests (blobs on disk, proxy fault plan)."""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from .._helpers import FAST

__all__ = ["FAST", "Blob", "Faults", "make_blob"]


@dataclass
class Blob:
    tar: Path
    entries: list[tuple[str, int, int]]  # (name, start, end exclusive)
    data: dict[str, bytes]

    @property
    def names(self) -> list[str]:
        return [e[0] for e in self.entries]

    @property
    def offsets(self) -> list[dict[str, int]]:
        return [{"offsetStart": s, "offsetEnd": e} for _, s, e in self.entries]


def make_blob(folder: Path, stem: str, n: int, size: int = 1000, prefix: str = "img") -> Blob:
    """An uncompressed ustar of ``n`` random images, built in memory and written once."""
    folder.mkdir(parents=True, exist_ok=True)
    tar = folder / f"{stem}.tar"
    data = {f"{prefix}_{i}.png": os.urandom(size + (i % 7)) for i in range(n)}
    out = bytearray()
    entries = []
    for name, body in data.items():
        info = tarfile.TarInfo(name)
        info.size = len(body)
        out += info.tobuf(format=tarfile.USTAR_FORMAT)
        entries.append((name, len(out), len(out) + len(body)))
        out += body + bytes(-len(body) % 512)
    out += bytes(1024)
    tar.write_bytes(bytes(out))
    return Blob(tar, entries, data)


@dataclass
class Faults:
    """Faults the proxy applies, per API method, consumed one per request."""

    plan: dict[str, list[str]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def next(self, method: str) -> str:
        todo = self.plan.get(method)
        return todo.pop(0) if todo else "ok"
