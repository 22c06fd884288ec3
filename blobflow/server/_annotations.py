"""annotations.*, plus the figure and tag calls ``quick_import`` labels through.

An image's annotation is its stored JSON with the figures and image tags added by
``figures.bulk.add`` / ``image-tags.bulk.add-to-image`` appended as objects and tags.
``annotations.bulk.add`` replaces all of it, as on the real platform. Geometry is kept as it
arrives: in the platform's subpixel system, which the SDK converts to before sending. Each
annotation is checked against the project meta (``blobflow._geometry.annotation_problem``),
and a ``size`` sent as null is the image's own, read from its header at registration.
"""

from __future__ import annotations

import json
import sqlite3
from json.encoder import encode_basestring
from typing import Any

from blobflow import _json
from blobflow._geometry import annotation_problem, meta_shapes
from blobflow.server._context import Ctx, json_method
from blobflow.server._db import now_iso
from blobflow.server._errors import BadRequest, NotFound
from blobflow.server._http import Encoded
from blobflow.server._images import checked_images
from blobflow.server._projects import checked_dataset, checked_project, meta_names
from blobflow.server._validate import Body, as_dict, as_int, as_str, int_list

__all__: list[str] = []


def _empty_annotation(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "description": "",
        "size": {"height": row["height"], "width": row["width"]},
        "tags": [],
        "objects": [],
        "customBigData": {},
    }


def _compose(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[str]:
    """The annotation objects (JSON texts) for these images (all in visible projects).

    An image with no figures or tags added since its annotation was stored gets the stored
    text spliced in as is: parsing and re-serialising 30,000 annotations dominated
    ``annotations.bulk.info``.
    """
    ids = json.dumps([r["id"] for r in rows])
    anns = {
        r[0]: (r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT image_id, data, created_at, updated_at FROM annotations"
            " WHERE image_id IN (SELECT value FROM json_each(?))", (ids,),
        )
    }
    figures: dict[int, list[sqlite3.Row]] = {}
    for f in conn.execute(
        "SELECT * FROM figures WHERE image_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (ids,),
    ):
        figures.setdefault(f["image_id"], []).append(f)
    figure_tags: dict[int, list[sqlite3.Row]] = {}
    for t in conn.execute(
        "SELECT t.* FROM figure_tags t JOIN figures f ON f.id = t.figure_id"
        " WHERE f.image_id IN (SELECT value FROM json_each(?)) ORDER BY t.id", (ids,),
    ):
        figure_tags.setdefault(t["figure_id"], []).append(t)
    image_tags: dict[int, list[sqlite3.Row]] = {}
    for t in conn.execute(
        "SELECT * FROM image_tags WHERE image_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (ids,),
    ):
        image_tags.setdefault(t["image_id"], []).append(t)
    metas: dict[int, tuple[dict[int, str], dict[int, str]]] = {}

    out = []
    for row in rows:
        if row["project_id"] not in metas:
            meta = conn.execute(
                "SELECT meta FROM projects WHERE id = ?", (row["project_id"],)
            ).fetchone()[0]
            metas[row["project_id"]] = meta_names(json.loads(meta))
        class_titles, tag_names = metas[row["project_id"]]
        text, created, updated = anns.get(row["id"], (None, row["created_at"], row["updated_at"]))
        head = f'{{"imageId":{row["id"]:d},"imageName":{encode_basestring(row["name"])}'
        tail = (f'"createdAt":{encode_basestring(created)},'
                f'"updatedAt":{encode_basestring(updated)},"datasetId":{row["dataset_id"]:d}}}')
        if text is not None and row["id"] not in figures and row["id"] not in image_tags:
            out.append(f'{head},"annotation":{text},{tail}')
            continue
        ann = _json.loads(text) if text is not None else _empty_annotation(row)
        for f in figures.get(row["id"], []):
            geometry = _json.loads(f["geometry"])
            obj = {
                **(geometry if isinstance(geometry, dict) else {}),
                "id": f["id"],
                "classId": f["class_id"],
                "classTitle": class_titles.get(f["class_id"]),
                "description": "",
                "geometryType": f["geometry_type"],
                "shape": f["geometry_type"],
                "tags": [_tag_json(t, tag_names) for t in figure_tags.get(f["id"], [])],
                "labelerLogin": None,
                "nnCreated": False,
                "nnUpdated": False,
                "createdAt": f["created_at"],
                "updatedAt": f["created_at"],
            }
            ann.setdefault("objects", []).append(obj)
        for t in image_tags.get(row["id"], []):
            ann.setdefault("tags", []).append(_tag_json(t, tag_names))
        out.append(f'{head},"annotation":{_json.dumps(ann).decode()},{tail}')
    return out


def _tag_json(row: sqlite3.Row, names: dict[int, str]) -> dict[str, Any]:
    return {"id": row["id"], "tagId": row["tag_id"], "name": names.get(row["tag_id"]),
            "value": json.loads(row["value"])}


def _targets(
    conn: sqlite3.Connection, ctx: Ctx, dataset_id: int, ids: list[int]
) -> tuple[dict[str, str], list[sqlite3.Row]]:
    """The project meta's classes (title -> shape) and the images, all in the dataset."""
    dataset = checked_dataset(ctx, conn, dataset_id, counts=False)
    rows = checked_images(ctx, conn, ids, keys_only=True)
    if any(r["dataset_id"] != dataset_id for r in rows):
        raise BadRequest(f"some images are not in dataset {dataset_id}")
    meta = conn.execute(
        "SELECT meta FROM projects WHERE id = ?", (dataset["project_id"],)
    ).fetchone()[0]
    return meta_shapes(json.loads(meta)), rows


def _stored_text(n: int, row: sqlite3.Row, ann: Any, classes: dict[str, str]) -> str:
    """The annotation as stored: refused (400 naming image and field) if the platform would
    refuse it; a ``size`` left null is filled with the image's own, when known (a given one
    is kept: the SDK's own conformance flows read back the size they sent)."""
    problem = annotation_problem(ann, classes)
    if problem is not None:
        field = problem if problem.startswith("annotation:") else f"annotation.{problem}"
        raise BadRequest(f"annotations[{n}] (image {row['id']}, {row['name']!r}).{field}")
    size = ann["size"]
    if row["width"] is not None and (size["height"] is None or size["width"] is None):
        ann = {**ann, "size": {"height": row["height"], "width": row["width"]}}
    try:
        return _json.dumps(ann).decode()
    except TypeError as exc:  # nested deeper than the encoder goes
        raise BadRequest(f"annotations[{n}] (image {row['id']}).annotation: {exc}") from None


@json_method("annotations.bulk.add")
async def bulk_add(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    dataset_id = body.int("datasetId")
    entries: list[tuple[int, Any]] = []
    for n, item in enumerate(body.list("annotations")):
        item = as_dict(item, f"annotations[{n}]")
        entries.append((as_int(item.get("imageId"), f"annotations[{n}].imageId"),
                        item.get("annotation")))
    ids = [i for i, _ in entries]

    def add(conn: sqlite3.Connection) -> None:
        # checked and encoded in the transaction that writes them: one round trip a request
        classes, rows = _targets(conn, ctx, dataset_id, ids)
        items = [
            (image_id, _stored_text(n, row, ann, classes), len(ann["objects"]))
            for n, ((image_id, ann), row) in enumerate(zip(entries, rows, strict=True))
        ]
        id_list = json.dumps(ids)
        for table in ("figures", "image_tags"):
            conn.execute(
                f"DELETE FROM {table} WHERE image_id IN (SELECT value FROM json_each(?))",
                (id_list,),
            )
        now = now_iso()
        conn.executemany(
            "INSERT INTO annotations(image_id, data, created_at, updated_at, objects)"
            " VALUES(?,?,?,?,?) ON CONFLICT(image_id) DO UPDATE SET data = excluded.data,"
            " updated_at = excluded.updated_at, objects = excluded.objects",
            [(i, text, now, now, objects) for i, text, objects in items],
        )

    await ctx.db.write(add)
    return {"success": True}


@json_method("annotations.bulk.info")
async def bulk_info(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    dataset_id = body.int("datasetId")
    ids = body.int_list("imageIds")

    def run(conn: sqlite3.Connection) -> list[str]:
        checked_dataset(ctx, conn, dataset_id, counts=False)
        rows = checked_images(ctx, conn, ids, keys_only=True)
        if any(r["dataset_id"] != dataset_id for r in rows):
            raise BadRequest(f"some images are not in dataset {dataset_id}")
        return _compose(conn, rows)

    return Encoded(("[" + ",".join(await ctx.db.read(run)) + "]").encode())


@json_method("annotations.info")
async def info(ctx: Ctx, data: Any) -> Any:
    image_id = Body(data).int("imageId")
    texts = await ctx.db.read(
        lambda c: _compose(c, checked_images(ctx, c, [image_id], keys_only=True))
    )
    return Encoded(texts[0].encode())


@json_method("figures.bulk.add")
async def figures_bulk_add(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    dataset_id = body.int("datasetId")
    figures: list[tuple[int, int, str, str]] = []
    for n, item in enumerate(body.list("figures")):
        item = as_dict(item, f"figures[{n}]")
        figures.append((
            as_int(item.get("entityId"), f"figures[{n}].entityId"),
            as_int(item.get("classId"), f"figures[{n}].classId"),
            as_str(item.get("geometryType"), f"figures[{n}].geometryType"),
            json.dumps(as_dict(item.get("geometry"), f"figures[{n}].geometry")),
        ))

    def add(conn: sqlite3.Connection) -> list[dict[str, int]]:
        dataset = checked_dataset(ctx, conn, dataset_id, counts=False)
        rows = checked_images(ctx, conn, sorted({f[0] for f in figures}), keys_only=True)
        if any(r["dataset_id"] != dataset_id for r in rows):
            raise BadRequest(f"some images are not in dataset {dataset_id}")
        project = checked_project(ctx, conn, dataset["project_id"], counts=False)
        meta = json.loads(project["meta"])
        classes, _ = meta_names(meta)
        unknown = {f[1] for f in figures} - classes.keys()
        if unknown:
            raise BadRequest(f"classes not in the project meta: {sorted(unknown)}")
        shapes = {c["id"]: c.get("shape") for c in meta.get("classes", []) if "id" in c}
        for n, (_, class_id, kind, _) in enumerate(figures):
            if shapes[class_id] not in ("any", kind):
                raise BadRequest(f"figures[{n}].geometryType: {kind!r} does not match the shape"
                                 f" {shapes[class_id]!r} of class {classes[class_id]!r}")
        first = (conn.execute("SELECT max(id) FROM figures").fetchone()[0] or 0) + 1
        now = now_iso()
        conn.executemany(
            "INSERT INTO figures(id, image_id, class_id, geometry_type, geometry, created_at)"
            " VALUES(?,?,?,?,?,?)",
            [(fid, *f, now) for fid, f in enumerate(figures, first)],
        )
        return [{"id": fid} for fid in range(first, first + len(figures))]

    return await ctx.db.write(add)


def _tag_ids(conn: sqlite3.Connection, project_id: int) -> set[int]:
    meta = conn.execute("SELECT meta FROM projects WHERE id = ?", (project_id,)).fetchone()[0]
    return set(meta_names(json.loads(meta))[1])


@json_method("figures.tags.bulk.add")
async def figure_tags_bulk_add(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    project_id = body.int("projectId")
    tags: list[tuple[int, int, str]] = []
    for n, item in enumerate(body.list("tags")):
        item = as_dict(item, f"tags[{n}]")
        tags.append((
            as_int(item.get("figureId"), f"tags[{n}].figureId"),
            as_int(item.get("tagId"), f"tags[{n}].tagId"),
            json.dumps(item.get("value")),
        ))

    def add(conn: sqlite3.Connection) -> list[dict[str, int]]:
        checked_project(ctx, conn, project_id, counts=False)
        figure_ids = sorted({t[0] for t in tags})
        found = {r[0] for r in conn.execute(
            "SELECT f.id FROM figures f JOIN images i ON i.id = f.image_id"
            " JOIN datasets d ON d.id = i.dataset_id WHERE d.project_id = ?"
            " AND f.id IN (SELECT value FROM json_each(?))",
            (project_id, json.dumps(figure_ids)),
        )}
        if missing := set(figure_ids) - found:
            raise NotFound(f"figures not found in project {project_id}: {sorted(missing)[:20]}")
        if unknown := {t[1] for t in tags} - _tag_ids(conn, project_id):
            raise BadRequest(f"tags not in the project meta: {sorted(unknown)}")
        sql = "INSERT INTO figure_tags(figure_id, tag_id, value) VALUES(?,?,?)"
        return [{"id": conn.execute(sql, tag).lastrowid or 0} for tag in tags]

    return await ctx.db.write(add)


@json_method("image-tags.bulk.add-to-image")
async def image_tags_add(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    tag_id = body.int("tagId")
    ids = int_list(body.data.get("ids"), "ids")
    value = json.dumps(body.data.get("value"))

    def add(conn: sqlite3.Connection) -> None:
        rows = checked_images(ctx, conn, ids, keys_only=True)
        for project_id in {r["project_id"] for r in rows}:
            if tag_id not in _tag_ids(conn, project_id):
                raise BadRequest(f"tag {tag_id} is not in the meta of project {project_id}")
        conn.executemany(
            "INSERT INTO image_tags(image_id, tag_id, value) VALUES(?,?,?)",
            [(i, tag_id, value) for i in ids],
        )

    await ctx.db.write(add)
    return {"success": True}
