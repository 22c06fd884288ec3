"""instance.version, users.me, teams.*, workspaces.*."""

from __future__ import annotations

import sqlite3
from typing import Any

from blobflow.server._context import Ctx, json_method
from blobflow.server._errors import NotFound
from blobflow.server._lists import fetch_page, filter_sql, order_sql, page_of, page_result
from blobflow.server._validate import Body

__all__ = ["INSTANCE_VERSION", "team_json", "workspace_json"]

# SDK 6.74.51 expects an instance of at least 6.18.3 (supervisely/versions.json).
INSTANCE_VERSION = "6.18.3"


def team_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": "",
        "role": "admin",
        "createdAt": row["created_at"],
        "updatedAt": row["created_at"],
    }


def workspace_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "teamId": row["team_id"],
        "createdAt": row["created_at"],
        "updatedAt": row["created_at"],
    }


@json_method("instance.version")
async def instance_version(ctx: Ctx, data: Any) -> Any:
    return {"version": INSTANCE_VERSION}


@json_method("users.me")
async def users_me(ctx: Ctx, data: Any) -> Any:
    p = ctx.principal
    return {"id": p.user_id, "login": p.login, "name": p.login, "teams": sorted(p.team_ids)}


def _list(
    conn: sqlite3.Connection, table: str, scope: str, scope_ids: list[int], body: Body,
    columns: dict[str, str], per_page: int, offset: int,
) -> tuple[int, list[sqlite3.Row]]:
    where, params = filter_sql(body, columns)
    marks = ",".join("?" * len(scope_ids)) or "NULL"
    cond = f" WHERE {scope} IN ({marks}) AND {where}"
    return fetch_page(conn, f"SELECT * FROM {table}", table, cond, [*scope_ids, *params],
                      order_sql(body), per_page, offset)


@json_method("teams.list")
async def teams_list(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    per_page, offset = page_of(body, ctx.state.config)
    teams = sorted(ctx.principal.team_ids)
    total, rows = await ctx.db.read(
        _list, "teams", "id", teams, body, {"id": "id", "name": "name"}, per_page, offset
    )
    return page_result(total, per_page, [team_json(r) for r in rows])


@json_method("teams.info")
async def teams_info(ctx: Ctx, data: Any) -> Any:
    team_id = Body(data).int("id")
    if not ctx.sees_team(team_id):
        raise NotFound(f"team {team_id} not found")
    row = await ctx.db.read(
        lambda conn: conn.execute("SELECT * FROM teams WHERE id = ?", (team_id,)).fetchone()
    )
    return team_json(row)


@json_method("workspaces.list")
async def workspaces_list(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    per_page, offset = page_of(body, ctx.state.config)
    team_id = body.int("teamId", None)
    if team_id is not None:
        ctx.require_team(team_id)
    teams = [team_id] if team_id is not None else sorted(ctx.principal.team_ids)
    columns = {"id": "id", "name": "name", "teamId": "team_id"}
    total, rows = await ctx.db.read(
        _list, "workspaces", "team_id", teams, body, columns, per_page, offset
    )
    return page_result(total, per_page, [workspace_json(r) for r in rows])


def workspace_row(conn: sqlite3.Connection, ws_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM workspaces WHERE id = ?", (ws_id,)
    ).fetchone()
    return row


@json_method("workspaces.info")
async def workspaces_info(ctx: Ctx, data: Any) -> Any:
    ws_id = Body(data).int("id")
    row = ctx.visible(await ctx.db.read(workspace_row, ws_id), f"workspace {ws_id}")
    return workspace_json(row)
