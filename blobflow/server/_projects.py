"""projects.* and datasets.*: ids, meta with server-assigned class/tag ids, nested datasets."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from blobflow.server._context import Ctx, json_method
from blobflow.server._core import workspace_row
from blobflow.server._db import now_iso
from blobflow.server._errors import BadRequest
from blobflow.server._lists import fetch_page, filter_sql, order_sql, page_of, page_result
from blobflow.server._rules import check_meta
from blobflow.server._validate import Body, as_dict, as_list, as_str

__all__ = ["project_row", "dataset_row", "checked_project", "checked_dataset", "meta_names"]

_PROJECT_COLUMNS = {
    "id": "p.id", "name": "p.name", "workspaceId": "p.workspace_id", "teamId": "p.team_id",
    "type": "p.type",
}
_DATASET_COLUMNS = {
    "id": "d.id", "name": "d.name", "parentId": "d.parent_id", "projectId": "d.project_id",
}
_PROJECT_SELECT = """
SELECT p.*, (SELECT count(*) FROM datasets d WHERE d.project_id = p.id) AS datasets_count,
  (SELECT count(*) FROM images i JOIN datasets d ON i.dataset_id = d.id
   WHERE d.project_id = p.id) AS items_count
FROM projects p"""
_DATASET_SELECT = """
SELECT d.*, p.team_id, p.workspace_id,
  (SELECT count(*) FROM images i WHERE i.dataset_id = d.id) AS items_count
FROM datasets d JOIN projects p ON p.id = d.project_id"""


def project_json(row: sqlite3.Row) -> dict[str, Any]:
    count = row["items_count"]
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "size": "0",
        "readme": row["readme"],
        "workspaceId": row["workspace_id"],
        "imagesCount": count,
        "itemsCount": count,
        "datasetsCount": row["datasets_count"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "type": row["type"],
        "referenceImageUrl": None,
        "customData": json.loads(row["custom_data"]),
        "backupArchive": None,
        "teamId": row["team_id"],
        "settings": json.loads(row["settings"]),
        "importSettings": {},
        "version": None,
        "createdBy": row["created_by"],
    }


def dataset_json(row: sqlite3.Row, custom_data: bool = True) -> dict[str, Any]:
    count = row["items_count"]
    out = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "size": "0",
        "projectId": row["project_id"],
        "imagesCount": count,
        "itemsCount": count,
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "referenceImageUrl": None,
        "teamId": row["team_id"],
        "workspaceId": row["workspace_id"],
        "parentId": row["parent_id"],
        "createdBy": row["created_by"],
    }
    if custom_data:
        out["customData"] = json.loads(row["custom_data"])
    return out


# Without the counts: what the hot paths (bulk adds, annotation reads) check access with.
_PROJECT_ACCESS = "SELECT p.* FROM projects p"
_DATASET_ACCESS = (
    "SELECT d.*, p.team_id, p.workspace_id FROM datasets d JOIN projects p ON p.id = d.project_id"
)


def project_row(
    conn: sqlite3.Connection, project_id: int, *, counts: bool = True
) -> sqlite3.Row | None:
    select = _PROJECT_SELECT if counts else _PROJECT_ACCESS
    row: sqlite3.Row | None = conn.execute(select + " WHERE p.id = ?", (project_id,)).fetchone()
    return row


def dataset_row(
    conn: sqlite3.Connection, dataset_id: int, *, counts: bool = True
) -> sqlite3.Row | None:
    """The dataset; ``counts=False`` skips ``items_count`` (a scan of its images)."""
    select = _DATASET_SELECT if counts else _DATASET_ACCESS
    row: sqlite3.Row | None = conn.execute(select + " WHERE d.id = ?", (dataset_id,)).fetchone()
    return row


def checked_project(
    ctx: Ctx, conn: sqlite3.Connection, project_id: int, *, counts: bool = True
) -> sqlite3.Row:
    """The project, if the caller's teams can see it (else 404: do not reveal it exists)."""
    return ctx.visible(project_row(conn, project_id, counts=counts), f"project {project_id}")


def checked_dataset(
    ctx: Ctx, conn: sqlite3.Connection, dataset_id: int, *, counts: bool = True
) -> sqlite3.Row:
    return ctx.visible(dataset_row(conn, dataset_id, counts=counts), f"dataset {dataset_id}")


# --- projects -----------------------------------------------------------------------------


def _json_text(value: Any, field: str) -> str:
    return json.dumps(as_dict(value, field))


@json_method("projects.add")
async def projects_add(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    ws_id = body.int("workspaceId")
    name = body.str("name")
    if not name.strip():
        raise BadRequest("'name' must not be empty")
    description = body.str("description", "")
    ptype = body.str("type", "images")
    readme = body.str("readme", None)
    settings = _json_text(body.dict("settings", {}), "settings")
    custom = _json_text(body.dict("customData", {}), "customData")

    def add(conn: sqlite3.Connection) -> sqlite3.Row:
        ws = ctx.visible(workspace_row(conn, ws_id), f"workspace {ws_id}")
        if conn.execute(
            "SELECT 1 FROM projects WHERE workspace_id = ? AND name = ?", (ws_id, name)
        ).fetchone():
            raise BadRequest(f"project with name {name!r} already exists in the workspace")
        now = now_iso()
        pid = conn.execute(
            "INSERT INTO projects(workspace_id, team_id, name, description, type, readme,"
            " custom_data, settings, created_by, created_at, updated_at)"
            " VALUES(?,?,?,?,?,?,?,?,?,?,?)",
            (ws_id, ws["team_id"], name, description, ptype, readme, custom, settings,
             ctx.user_id, now, now),
        ).lastrowid
        return checked_project(ctx, conn, pid or 0)

    return project_json(await ctx.db.write(add))


@json_method("projects.info")
async def projects_info(ctx: Ctx, data: Any) -> Any:
    project_id = Body(data).int("id")
    return project_json(await ctx.db.read(lambda c: checked_project(ctx, c, project_id)))


@json_method("projects.list")
async def projects_list(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    per_page, offset = page_of(body, ctx.state.config)
    ws_id = body.int("workspaceId", None)
    team_id = body.int("teamId", body.int("groupId", None))
    if team_id is not None:
        ctx.require_team(team_id)

    def run(conn: sqlite3.Connection) -> tuple[int, list[sqlite3.Row]]:
        where, filter_params = filter_sql(body, _PROJECT_COLUMNS)
        teams = [team_id] if team_id is not None else sorted(ctx.principal.team_ids)
        scope = f"p.team_id IN ({','.join('?' * len(teams)) or 'NULL'})"
        params: list[Any] = list(teams)
        if ws_id is not None:
            ctx.visible(workspace_row(conn, ws_id), f"workspace {ws_id}")
            scope += " AND p.workspace_id = ?"
            params.append(ws_id)
        params += filter_params
        cond = f" WHERE {scope} AND {where}"
        return fetch_page(conn, _PROJECT_SELECT, "projects p", cond, params,
                          order_sql(body, "p."), per_page, offset)

    total, rows = await ctx.db.read(run)
    return page_result(total, per_page, [project_json(r) for r in rows])


def meta_names(meta: dict[str, Any]) -> tuple[dict[int, str], dict[int, str]]:
    """``(class id -> title, tag id -> name)`` of a stored meta."""
    classes = {c["id"]: c["title"] for c in meta.get("classes", []) if "id" in c}
    tags = {t["id"]: t["name"] for t in meta.get("tags", []) if "id" in t}
    return classes, tags


def _with_ids(
    conn: sqlite3.Connection, project_id: int, kind: str, key: str, items: list[Any],
    known: dict[str, int],
) -> list[dict[str, Any]]:
    out = []
    for item in items:
        item = dict(as_dict(item, f"meta.{kind}[]"))
        name = as_str(item.get(key), f"meta.{kind}[].{key}")
        if name in known:
            item["id"] = known[name]
        else:
            item["id"] = conn.execute(
                "INSERT INTO meta_ids(project_id, kind, name) VALUES(?,?,?)",
                (project_id, kind, name),
            ).lastrowid
        out.append(item)
    return out


@json_method("projects.meta")
async def projects_meta(ctx: Ctx, data: Any) -> Any:
    project_id = Body(data).int("id")
    row = await ctx.db.read(lambda c: checked_project(ctx, c, project_id))
    meta = json.loads(row["meta"])
    meta["projectType"] = row["type"]
    return meta


@json_method("projects.meta.update")
async def projects_meta_update(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    project_id = body.int("id")
    meta = dict(body.dict("meta"))
    classes = as_list(meta.get("classes") or [], "meta.classes")
    tags = as_list(meta.get("tags") or [], "meta.tags")
    check_meta(meta)

    def update(conn: sqlite3.Connection) -> dict[str, Any]:
        row = checked_project(ctx, conn, project_id)
        old = json.loads(row["meta"])
        known_classes = {c["title"]: c["id"] for c in old.get("classes", [])}
        known_tags = {t["name"]: t["id"] for t in old.get("tags", [])}
        meta["classes"] = _with_ids(conn, project_id, "classes", "title", classes, known_classes)
        meta["tags"] = _with_ids(conn, project_id, "tags", "name", tags, known_tags)
        meta.pop("projectType", None)
        conn.execute(
            "UPDATE projects SET meta = ?, updated_at = ? WHERE id = ?",
            (json.dumps(meta), now_iso(), project_id),
        )
        return {**meta, "projectType": row["type"]}

    return await ctx.db.write(update)


@json_method("projects.settings.update")
async def projects_settings_update(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    project_id = body.int("id")
    settings = body.dict("settings")

    def update(conn: sqlite3.Connection) -> dict[str, Any]:
        row = checked_project(ctx, conn, project_id)
        merged = {**json.loads(row["settings"]), **settings}
        conn.execute(
            "UPDATE projects SET settings = ?, updated_at = ? WHERE id = ?",
            (json.dumps(merged), now_iso(), project_id),
        )
        return project_json(checked_project(ctx, conn, project_id))

    return await ctx.db.write(update)


def _edits(body: Body, keys: tuple[str, ...]) -> dict[str, Any]:
    """The editable fields present in an ``*.editInfo`` body, as column -> value."""
    changes: dict[str, Any] = {}
    for key in keys:
        if key == "customData":
            if (custom := body.dict(key, None)) is not None:
                changes["custom_data"] = json.dumps(custom)
        elif (value := body.str(key, None)) is not None:
            changes[key] = value
    return changes


def _apply(conn: sqlite3.Connection, table: str, row_id: int, changes: dict[str, Any]) -> None:
    sets = "".join(f"{column} = ?, " for column in changes)
    conn.execute(
        f"UPDATE {table} SET {sets}updated_at = ? WHERE id = ?",
        (*changes.values(), now_iso(), row_id),
    )


@json_method("projects.editInfo")
async def projects_edit_info(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    project_id = body.int("id")
    changes = _edits(body, ("name", "description", "readme", "customData"))

    def update(conn: sqlite3.Connection) -> dict[str, Any]:
        row = checked_project(ctx, conn, project_id)
        if "name" in changes and conn.execute(
            "SELECT 1 FROM projects WHERE workspace_id = ? AND name = ? AND id != ?",
            (row["workspace_id"], changes["name"], project_id),
        ).fetchone():
            raise BadRequest(f"project name {changes['name']!r} already exists")
        _apply(conn, "projects", project_id, changes)
        return project_json(checked_project(ctx, conn, project_id))

    return await ctx.db.write(update)


# --- datasets -----------------------------------------------------------------------------


@json_method("datasets.add")
async def datasets_add(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    project_id = body.int("projectId")
    name = body.str("name")
    if not name.strip() or "/" in name:
        raise BadRequest("'name' must be a non-empty dataset name without '/'")
    description = body.str("description", "")
    parent_id = body.int("parentId", None)
    custom = _json_text(body.dict("customData", {}), "customData")

    def add(conn: sqlite3.Connection) -> sqlite3.Row:
        checked_project(ctx, conn, project_id)
        if parent_id is not None:
            parent = checked_dataset(ctx, conn, parent_id)
            if parent["project_id"] != project_id:
                raise BadRequest(f"parent dataset {parent_id} is not in project {project_id}")
        if conn.execute(
            "SELECT 1 FROM datasets WHERE project_id = ? AND parent_id IS ? AND name = ?",
            (project_id, parent_id, name),
        ).fetchone():
            raise BadRequest(f"dataset with name {name!r} already exists")
        now = now_iso()
        ds_id = conn.execute(
            "INSERT INTO datasets(project_id, parent_id, name, description, custom_data,"
            " created_by, created_at, updated_at) VALUES(?,?,?,?,?,?,?,?)",
            (project_id, parent_id, name, description, custom, ctx.user_id, now, now),
        ).lastrowid
        return checked_dataset(ctx, conn, ds_id or 0)

    return dataset_json(await ctx.db.write(add))


@json_method("datasets.info")
async def datasets_info(ctx: Ctx, data: Any) -> Any:
    dataset_id = Body(data).int("id")
    return dataset_json(await ctx.db.read(lambda c: checked_dataset(ctx, c, dataset_id)))


@json_method("datasets.list")
async def datasets_list(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    per_page, offset = page_of(body, ctx.state.config)
    project_id = body.int("projectId")
    recursive = body.bool("recursive", False)
    custom = "customData" in body.list("extraFields", [])
    filters = body.list("filter", [])

    def run(conn: sqlite3.Connection) -> tuple[int, list[sqlite3.Row]]:
        checked_project(ctx, conn, project_id)
        where, params = filter_sql(body, _DATASET_COLUMNS)
        has_parent_filter = any(isinstance(f, dict) and f.get("field") == "parentId"
                                for f in filters)
        if not recursive and not has_parent_filter:
            where += " AND d.parent_id IS NULL"
        cond = f" WHERE d.project_id = ? AND {where}"
        params = [project_id, *params]
        return fetch_page(conn, _DATASET_SELECT, "datasets d", cond, params,
                          order_sql(body, "d."), per_page, offset)

    total, rows = await ctx.db.read(run)
    return page_result(total, per_page, [dataset_json(r, custom) for r in rows])


@json_method("datasets.editInfo")
async def datasets_edit_info(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    dataset_id = body.int("id")
    changes = _edits(body, ("name", "description", "customData"))

    def update(conn: sqlite3.Connection) -> dict[str, Any]:
        row = checked_dataset(ctx, conn, dataset_id)
        if "name" in changes and conn.execute(
            "SELECT 1 FROM datasets WHERE project_id = ? AND parent_id IS ? AND name = ?"
            " AND id != ?",
            (row["project_id"], row["parent_id"], changes["name"], dataset_id),
        ).fetchone():
            raise BadRequest(f"dataset name {changes['name']!r} already exists")
        _apply(conn, "datasets", dataset_id, changes)
        return dataset_json(checked_dataset(ctx, conn, dataset_id))

    return await ctx.db.write(update)
