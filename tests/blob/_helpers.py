"""Shared helpers for the blob format tests (tarfile is the independent oracle)."""

from __future__ import annotations

import io
import os
import tarfile


def tar_bytes(
    members: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.PAX_FORMAT
) -> bytes:
    """An in-memory tar built with the stdlib (the independent oracle)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def tarfile_offsets(path: str | os.PathLike[str]) -> list[tuple[str, int, int]]:
    """(basename, start, end) of every regular member, as Python's tarfile reports them."""
    with tarfile.open(path) as tar:
        return [
            (os.path.basename(m.name), m.offset_data, m.offset_data + m.size)
            for m in tar.getmembers()
            if m.isfile()
        ]
