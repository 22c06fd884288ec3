"""Tenant isolation matrix: with its own valid token, team B goes after team A's objects.

For every server method, B tries A's ids (reads and writes): each attempt must be refused
(400/401/403/404) and no response B gets may carry A's secret marker. B's own lists must not
show anything of A. Afterwards A's objects must be exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from benchmarks.reliability.tenants import Reply, Team, b64sha256, call

__all__ = ["Check", "run_isolation", "snapshot"]

REFUSED = {400, 401, 403, 404}


@dataclass
class Check:
    attacker: str
    name: str
    passed: bool
    detail: str


def _attempts(a: Team, b: Team) -> list[tuple[str, str, dict[str, Any]]]:
    """(check name, method, request kwargs) for B acting on A's objects: each must be refused."""
    img = a.image_ids[0]
    blob_item = {
        "title": "stolen.png",
        "teamFileId": a.file_id,
        "sourceBlob": {"offsetStart": 512, "offsetEnd": 600},
    }
    own_item = {
        "title": "planted.png",
        "teamFileId": b.file_id,
        "sourceBlob": {"offsetStart": 512, "offsetEnd": 600},
    }
    ann = {"description": "x", "size": {"height": 1, "width": 1}, "tags": [], "objects": []}
    j = "body"
    return [
        # reads
        ("teams.info other team", "teams.info", {j: {"id": a.team_id}}),
        ("workspaces.info other", "workspaces.info", {j: {"id": a.workspace_id}}),
        ("workspaces.list other team", "workspaces.list", {j: {"teamId": a.team_id, "filter": []}}),
        ("projects.info other", "projects.info", {j: {"id": a.project_id}}),
        (
            "projects.list other workspace",
            "projects.list",
            {j: {"workspaceId": a.workspace_id, "filter": []}},
        ),
        ("projects.meta other", "projects.meta", {j: {"id": a.project_id}}),
        ("datasets.info other", "datasets.info", {j: {"id": a.dataset_id}}),
        (
            "datasets.list other project",
            "datasets.list",
            {j: {"projectId": a.project_id, "filter": [], "recursive": True}},
        ),
        ("images.info other", "images.info", {j: {"id": img}}),
        (
            "images.list other dataset",
            "images.list",
            {j: {"datasetId": a.dataset_id, "filter": []}},
        ),
        (
            "images.list other project",
            "images.list",
            {j: {"projectId": a.project_id, "datasetId": None, "filter": []}},
        ),
        ("images.download other", "images.download", {j: {"id": img}}),
        (
            "images.bulk.download other dataset",
            "images.bulk.download",
            {j: {"datasetId": a.dataset_id, "imageIds": a.image_ids}},
        ),
        (
            "images.bulk.download own dataset, other ids",
            "images.bulk.download",
            {j: {"datasetId": b.dataset_id, "imageIds": a.image_ids}},
        ),
        (
            "images.data.download other project",
            "images.data.download",
            {j: {"projectId": a.project_id, "downloadId": a.download_id}},
        ),
        (
            "images.data.download own project, other downloadId",
            "images.data.download",
            {j: {"projectId": b.project_id, "downloadId": a.download_id}},
        ),
        (
            "GET images.data.download other",
            "images.data.download",
            {
                "verb": "GET",
                "params": {"projectId": str(a.project_id), "downloadId": a.download_id},
            },
        ),
        ("annotations.info other", "annotations.info", {j: {"imageId": img}}),
        (
            "annotations.bulk.info other dataset",
            "annotations.bulk.info",
            {j: {"datasetId": a.dataset_id, "imageIds": a.image_ids}},
        ),
        (
            "annotations.bulk.info own dataset, other ids",
            "annotations.bulk.info",
            {j: {"datasetId": b.dataset_id, "imageIds": a.image_ids}},
        ),
        (
            "file-storage.list other team",
            "file-storage.list",
            {j: {"teamId": a.team_id, "path": "/", "recursive": True}},
        ),
        ("file-storage.info other", "file-storage.info", {j: {"id": a.file_id}}),
        (
            "file-storage.download other team",
            "file-storage.download",
            {j: {"teamId": a.team_id, "path": a.file_path}},
        ),
        # writes
        (
            "projects.add into other workspace",
            "projects.add",
            {j: {"name": "intruder", "workspaceId": a.workspace_id, "type": "images"}},
        ),
        (
            "projects.meta.update other",
            "projects.meta.update",
            {j: {"id": a.project_id, "meta": {"classes": [], "tags": []}}},
        ),
        (
            "projects.settings.update other",
            "projects.settings.update",
            {j: {"id": a.project_id, "settings": {"groupImages": True}}},
        ),
        (
            "projects.editInfo other",
            "projects.editInfo",
            {j: {"id": a.project_id, "customData": {"owned": True}, "silent": False}},
        ),
        (
            "datasets.add into other project",
            "datasets.add",
            {j: {"projectId": a.project_id, "name": "intruder", "parentId": None}},
        ),
        (
            "datasets.add with other parent",
            "datasets.add",
            {j: {"projectId": b.project_id, "name": "intruder", "parentId": a.dataset_id}},
        ),
        ("datasets.editInfo other", "datasets.editInfo", {j: {"id": a.dataset_id, "name": "x"}}),
        (
            "images.bulk.add into other dataset",
            "images.bulk.add",
            {j: {"datasetId": a.dataset_id, "images": [own_item]}},
        ),
        (
            "images.bulk.add own dataset from other team's blob",
            "images.bulk.add",
            {j: {"datasetId": b.dataset_id, "images": [blob_item]}},
        ),
        (
            "images.bulk.add own dataset from other team's image hash",
            "images.bulk.add",
            {
                j: {
                    "datasetId": b.dataset_id,
                    "images": [{"title": "h.png", "hash": b64sha256(a.hash_image)}],
                }
            },
        ),
        ("images.bulk.remove other", "images.bulk.remove", {j: {"imageIds": a.image_ids}}),
        (
            "annotations.bulk.add other dataset",
            "annotations.bulk.add",
            {j: {"datasetId": a.dataset_id, "annotations": [{"imageId": img, "annotation": ann}]}},
        ),
        (
            "annotations.bulk.add own dataset, other image",
            "annotations.bulk.add",
            {j: {"datasetId": b.dataset_id, "annotations": [{"imageId": img, "annotation": ann}]}},
        ),
        (
            "figures.bulk.add on other image",
            "figures.bulk.add",
            {
                j: {
                    "datasetId": b.dataset_id,
                    "figures": [
                        {
                            "entityId": img,
                            "classId": a.class_id or b.class_id,
                            "geometryType": "rectangle",
                            "geometry": {"points": {"exterior": [[0, 0], [1, 1]], "interior": []}},
                        }
                    ],
                }
            },
        ),
        (
            "figures.tags.bulk.add other",
            "figures.tags.bulk.add",
            {
                j: {
                    "projectId": a.project_id,
                    "tags": [{"tagId": a.tag_id, "figureId": a.figure_id, "value": None}],
                }
            },
        ),
        (
            "image-tags.bulk.add-to-image other",
            "image-tags.bulk.add-to-image",
            {j: {"tagId": a.tag_id, "value": None, "ids": a.image_ids}},
        ),
        (
            "file-storage.upload into other team",
            "file-storage.upload",
            {
                "data": b"intruder",
                "params": {"teamId": str(a.team_id), "path": "/blob-files/intruder.tar"},
                "headers": {"Content-Type": "application/octet-stream"},
            },
        ),
        (
            "file-storage.bulk.upload into other team",
            "file-storage.bulk.upload",
            {"form": True, "params": {"teamId": str(a.team_id)}},
        ),
    ]


def _own_lists(a: Team, b: Team) -> list[tuple[str, str, dict[str, Any]]]:
    """B's own listings: allowed, but must show nothing of A."""
    j = "body"
    return [
        ("teams.list", "teams.list", {j: {"filter": []}}),
        ("workspaces.list own", "workspaces.list", {j: {"teamId": b.team_id, "filter": []}}),
        ("projects.list own", "projects.list", {j: {"workspaceId": b.workspace_id, "filter": []}}),
        (
            "datasets.list own",
            "datasets.list",
            {j: {"projectId": b.project_id, "filter": [], "recursive": True}},
        ),
        (
            "images.list own dataset filtered by other ids",
            "images.list",
            {
                j: {
                    "datasetId": b.dataset_id,
                    "filter": [{"field": "id", "operator": "in", "value": a.image_ids}],
                }
            },
        ),
        (
            "file-storage.list own root",
            "file-storage.list",
            {j: {"teamId": b.team_id, "path": "/", "recursive": True}},
        ),
        (
            "images.internal.hashes.list other's hash",
            "images.internal.hashes.list",
            {j: [b64sha256(a.hash_image)]},
        ),
        ("users.me", "users.me", {j: {}}),
    ]


async def _send(
    session: aiohttp.ClientSession, base: str, token: str, method: str, kw: dict[str, Any]
) -> Reply:
    kw = dict(kw)
    if kw.pop("form", False):
        form = aiohttp.FormData()
        form.add_field("name", "intruder.tar")
        form.add_field("path", "/blob-files/")
        form.add_field("file", b"intruder", filename="intruder.tar")
        kw["data"] = form
    return await call(session, base, token, method, **kw)


async def snapshot(session: aiohttp.ClientSession, base: str, t: Team) -> dict[str, Any]:
    """What A sees of its own objects (to compare before and after B's attempts)."""

    async def j(method: str, body: Any) -> Any:
        r = await call(session, base, t.token, method, body)
        return r.status, (r.json() if r.status == 200 else r.body)

    proj = await j("projects.info", {"id": t.project_id})
    if proj[0] == 200:
        proj[1].pop("updatedAt", None)
    ds = await j("datasets.info", {"id": t.dataset_id})
    if ds[0] == 200:
        ds[1].pop("updatedAt", None)
    blob = await call(
        session, base, t.token, "file-storage.download", {"teamId": t.team_id, "path": t.file_path}
    )
    imgs = await j("images.list", {"datasetId": t.dataset_id, "filter": []})
    return {
        "project": proj,
        "meta": await j("projects.meta", {"id": t.project_id}),
        "dataset": ds,
        "image_ids": sorted(e["id"] for e in imgs[1]["entities"]) if imgs[0] == 200 else imgs,
        "annotations": await j(
            "annotations.bulk.info", {"datasetId": t.dataset_id, "imageIds": t.image_ids}
        ),
        "blob_ok": blob.status == 200 and blob.body == t.blob,
        "files": await j(
            "file-storage.list", {"teamId": t.team_id, "path": "/", "recursive": True}
        ),
    }


async def run_isolation(
    session: aiohttp.ClientSession, base: str, victim: Team, attacker: Team, label: str
) -> list[Check]:
    checks: list[Check] = []
    before = await snapshot(session, base, victim)
    secret = victim.marker.encode()
    for name, method, kw in _attempts(victim, attacker):
        r = await _send(session, base, attacker.token, method, kw)
        ok = r.status in REFUSED and secret not in r.body
        detail = f"{method} -> HTTP {r.status}"
        if secret in r.body:
            detail += " LEAKS the other team's data"
        elif r.status not in REFUSED:
            detail += f" (not refused) {r.body[:160]!r}"
        checks.append(Check(label, name, ok, detail))
    for name, method, kw in _own_lists(victim, attacker):
        r = await _send(session, base, attacker.token, method, kw)
        leaked = secret in r.body
        if method == "images.internal.hashes.list" and r.status == 200:
            leaked = leaked or b64sha256(victim.hash_image) in r.json()
        ok = r.status == 200 and not leaked
        detail = f"{method} -> HTTP {r.status}" + (" LEAKS" if leaked else "")
        checks.append(Check(label, "own list: " + name, ok, detail))
    for name, tok in (("no token", None), ("wrong token", "x" * 40), ("empty token", "")):
        r = await call(session, base, tok, "projects.info", {"id": victim.project_id})
        checks.append(
            Check(
                label,
                f"{name} -> 401",
                r.status == 401 and secret not in r.body,
                f"HTTP {r.status}",
            )
        )
    after = await snapshot(session, base, victim)
    for key in before:
        same = before[key] == after[key]
        checks.append(
            Check(
                label,
                f"victim's {key} unchanged",
                same,
                "" if same else f"{before[key]!r:.200} -> {after[key]!r:.200}",
            )
        )
    return checks
