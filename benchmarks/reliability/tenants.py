"""Raw-HTTP helpers shared by the HTTP corpus and the tenant isolation matrix.

These talk to the server on the wire (``aiohttp``), not through ``blobflow.Api``: the point is to
send what a well-behaved client never would. ``populate`` gives a team one of everything (a
project with meta, a dataset, a blob in Team Files, blob images, annotations, a figure, a
hash-uploaded image), every name carrying a secret marker so a leak shows up in any response.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from benchmarks.reliability.corpora import tar_header

__all__ = ["Reply", "call", "Team", "populate", "small_tar", "b64sha256"]

API = "/public/api/v3/"


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    session: aiohttp.ClientSession,
    base: str,
    token: str | None,
    method: str,
    body: Any = None,
    *,
    data: bytes | aiohttp.FormData | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    verb: str = "POST",
) -> Reply:
    """One request; ``body`` is sent as JSON, ``data`` as-is."""
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["x-api-key"] = token
    if data is None and body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    async with session.request(
        verb, base + API + method, data=data, params=params, headers=hdrs
    ) as r:
        return Reply(r.status, await r.read(), dict(r.headers))


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def small_tar(images: dict[str, bytes]) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """An uncompressed tar of ``images`` and each one's data range (end exclusive)."""
    out = bytearray()
    offsets = {}
    for name, data in images.items():
        out += tar_header(name, len(data))
        offsets[name] = (len(out), len(out) + len(data))
        out += data + b"\0" * (-len(data) % 512)
    out += b"\0" * 1024
    return bytes(out), offsets


@dataclass
class Team:
    token: str
    team_id: int
    workspace_id: int
    marker: str
    project_id: int = 0
    dataset_id: int = 0
    file_id: int = 0
    file_path: str = ""
    blob: bytes = b""
    image_ids: list[int] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    download_id: str = ""
    hash_image_id: int = 0
    hash_image: bytes = b""
    class_id: int = 0
    tag_id: int = 0
    figure_id: int = 0


def _ok(r: Reply, what: str) -> Any:
    if r.status != 200:
        raise RuntimeError(f"setup {what}: HTTP {r.status} {r.body[:300]!r}")
    return r.json()


async def populate(session: aiohttp.ClientSession, base: str, team: Team) -> Team:
    """Create one of everything for ``team`` (through its own token)."""
    m, tok = team.marker, team.token
    p = _ok(
        await call(
            session,
            base,
            tok,
            "projects.add",
            {
                "name": f"{m}-project",
                "workspaceId": team.workspace_id,
                "description": m,
                "type": "images",
            },
        ),
        "projects.add",
    )
    team.project_id = p["id"]
    meta = _ok(
        await call(
            session,
            base,
            tok,
            "projects.meta.update",
            {
                "id": team.project_id,
                "meta": {
                    "classes": [
                        {
                            "title": f"{m}-box",
                            "shape": "rectangle",
                            "color": "#FF0000",
                            "geometry_config": {},
                        }
                    ],
                    "tags": [{"name": f"{m}-tag", "value_type": "none", "color": "#00FF00"}],
                },
            },
        ),
        "projects.meta.update",
    )
    if isinstance(meta, dict) and meta.get("classes"):
        team.class_id = meta["classes"][0].get("id", 0)
        team.tag_id = (meta.get("tags") or [{}])[0].get("id", 0)
    d = _ok(
        await call(
            session,
            base,
            tok,
            "datasets.add",
            {
                "projectId": team.project_id,
                "name": f"{m}-dataset",
                "description": m,
                "parentId": None,
            },
        ),
        "datasets.add",
    )
    team.dataset_id = d["id"]
    team.images = {f"{m}-{i}.png": (m.encode() + bytes([i])) * (50 + i) for i in range(3)}
    team.blob, offsets = small_tar(team.images)
    team.file_path = f"/blob-files/{m}.tar"
    f = _ok(
        await call(
            session,
            base,
            tok,
            "file-storage.upload",
            data=team.blob,
            params={"teamId": str(team.team_id), "path": team.file_path},
            headers={"Content-Type": "application/octet-stream"},
        ),
        "file-storage.upload",
    )
    team.file_id = (f[0] if isinstance(f, list) else f)["id"]
    items = [
        {"title": n, "teamFileId": team.file_id, "sourceBlob": {"offsetStart": s, "offsetEnd": e}}
        for n, (s, e) in offsets.items()
    ]
    imgs = _ok(
        await call(
            session,
            base,
            tok,
            "images.bulk.add",
            {
                "datasetId": team.dataset_id,
                "images": items,
                "forceMetadataForLinks": True,
                "skipValidation": False,
            },
        ),
        "images.bulk.add",
    )
    team.image_ids = [i["id"] for i in imgs]
    team.download_id = str(imgs[0].get("downloadId"))
    ann = {
        "description": m,
        "size": {"height": 10, "width": 10},
        "tags": [],
        "objects": [],
        "customBigData": {},
    }
    _ok(
        await call(
            session,
            base,
            tok,
            "annotations.bulk.add",
            {
                "datasetId": team.dataset_id,
                "skipBoundsValidation": False,
                "annotations": [{"imageId": i, "annotation": ann} for i in team.image_ids],
            },
        ),
        "annotations.bulk.add",
    )
    if team.class_id:
        fig = _ok(
            await call(
                session,
                base,
                tok,
                "figures.bulk.add",
                {
                    "datasetId": team.dataset_id,
                    "figures": [
                        {
                            "entityId": team.image_ids[0],
                            "classId": team.class_id,
                            "geometryType": "rectangle",
                            "geometry": {"points": {"exterior": [[1, 1], [5, 5]], "interior": []}},
                        }
                    ],
                },
            ),
            "figures.bulk.add",
        )
        team.figure_id = fig[0]["id"]
    # one image by hash (the standard path), so hash lookups have something to find
    team.hash_image = (m + "-by-hash").encode() * 40
    form = aiohttp.FormData()
    form.add_field("0-file", team.hash_image, filename="0", content_type="image/png")
    _ok(await call(session, base, tok, "images.bulk.upload", data=form), "images.bulk.upload")
    h = _ok(
        await call(
            session,
            base,
            tok,
            "images.bulk.add",
            {
                "datasetId": team.dataset_id,
                "images": [{"title": f"{m}-hash.png", "hash": b64sha256(team.hash_image)}],
                "forceMetadataForLinks": True,
                "skipValidation": False,
            },
        ),
        "images.bulk.add (hash)",
    )
    team.hash_image_id = h[0]["id"]
    return team
