"""What the platform refuses that a lenient server would accept: unknown keys, meta classes,
annotations against the meta, blob ranges that are not a tar member's data.

Storage-agnostic: plain functions of the request and of bytes already read, so every backend
shares them. Each refusal is a :class:`BadRequest` (400, the platform's error shape) naming
the field.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from blobflow._geometry import SHAPES
from blobflow.server._errors import BadRequest

__all__ = ["KNOWN_KEYS", "check_keys", "check_meta", "member_problem", "TAR_BLOCK"]

TAR_BLOCK = 512
_REGULAR = (b"0", b"\0", b"7")  # regular file (and the old and contiguous forms)

#: The top-level keys each method accepts: what the SDK 6.74.51 sends (supervisely/api/*),
#: plus what blobflow's own client sends. Methods not listed take any key (the list and info
#: methods, whose optional fields — ``fields``, ``extraFields``, ``pagination_mode`` ... — the
#: SDK passes through from its callers).
KNOWN_KEYS: dict[str, frozenset[str]] = {
    "images.bulk.add": frozenset({"datasetId", "images", "forceMetadataForLinks",
                                  "skipValidation"}),
    "annotations.bulk.add": frozenset({"datasetId", "annotations", "skipBoundsValidation"}),
    "annotations.bulk.info": frozenset({"datasetId", "imageIds", "withCustomBigData",
                                        "forceMetadataForLinks", "integerCoords"}),
    "annotations.info": frozenset({"imageId", "withCustomBigData", "forceMetadataForLinks",
                                   "integerCoords"}),
    "figures.bulk.add": frozenset({"datasetId", "figures", "skipBoundsValidation"}),
    "figures.tags.bulk.add": frozenset({"projectId", "tags"}),
    "image-tags.bulk.add-to-image": frozenset({"tagId", "value", "ids"}),
    "projects.meta.update": frozenset({"id", "meta"}),
    "projects.settings.update": frozenset({"id", "settings"}),
    "images.bulk.remove": frozenset({"imageIds", "batchSize"}),
}


def check_keys(method: str, data: Any) -> None:
    known = KNOWN_KEYS.get(method)
    if known is None or not isinstance(data, Mapping):
        return
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        raise BadRequest(f"{method}: unknown field(s) {unknown[:10]} (accepted: {sorted(known)})")


def check_meta(meta: Mapping[str, Any]) -> None:
    """A project meta's classes (title, a known shape, unique) and tag metas (name, unique)."""
    titles: set[str] = set()
    for n, cls in enumerate(meta.get("classes") or ()):
        where = f"meta.classes[{n}]"
        if not isinstance(cls, Mapping):
            raise BadRequest(f"{where}: must be an object")
        title, shape = cls.get("title"), cls.get("shape")
        if not isinstance(title, str) or not title.strip():
            raise BadRequest(f"{where}.title: must be a non-empty string")
        if shape not in SHAPES:
            raise BadRequest(f"{where}.shape: {shape!r} is not a geometry type"
                             f" (one of {sorted(SHAPES)})")
        if title in titles:
            raise BadRequest(f"{where}.title: class {title!r} appears twice")
        titles.add(title)
    names: set[str] = set()
    for n, tag in enumerate(meta.get("tags") or ()):
        where = f"meta.tags[{n}]"
        if not isinstance(tag, Mapping):
            raise BadRequest(f"{where}: must be an object")
        name = tag.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest(f"{where}.name: must be a non-empty string")
        if name in names:
            raise BadRequest(f"{where}.name: tag {name!r} appears twice")
        names.add(name)


def _tar_number(field: bytes) -> int:
    """A tar header's numeric field: octal text, or base-256 when the high bit is set."""
    if field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    return int(field.strip(b"\0 ") or b"0", 8)


def _checksum_ok(header: bytes) -> bool:
    try:
        stored = _tar_number(header[148:156])
    except ValueError:
        return False
    unsigned = sum(header[:148]) + 256 + sum(header[156:])  # the field itself as 8 spaces
    if stored == unsigned:
        return True
    signed: int = sum(struct.unpack("148b8x356b", header)) + 256  # what some old tars wrote
    return stored == signed


def member_problem(header: bytes, start: int, end: int) -> str | None:
    """Why ``[start, end)`` of a tar is not one member's data, given the 512 bytes before
    ``start`` (the member's header), or None when it is. A plain check of the header block
    (checksum, type, size field), a few microseconds for each image of a registration."""
    if start < TAR_BLOCK or start % TAR_BLOCK:
        return "does not start at a tar member's data (not after a 512-byte header)"
    if len(header) != TAR_BLOCK or not _checksum_ok(header):
        return "is not preceded by a tar member header"
    name = header[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
    if header[156:157] not in _REGULAR:
        return f"is the data of a tar entry that is not a regular file ({name!r})"
    try:
        size = _tar_number(header[124:136])
    except ValueError:
        return "is not preceded by a tar member header"
    if size != end - start:
        return f"covers {end - start} bytes where the tar member {name!r} holds {size}"
    return None
