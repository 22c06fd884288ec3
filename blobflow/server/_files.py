"""Team Files: ``file-storage.*``.

A Team Files entry is a mutable path pointing at an immutable stored object; overwriting the
path creates a new object, so blob images registered against the old bytes keep them.
"""

from __future__ import annotations

import posixpath
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import BodyPartReader, web

from blobflow.server._context import Ctx, json_method, parse_json, raw_method
from blobflow.server._db import now_iso
from blobflow.server._errors import BadRequest, NotFound
from blobflow.server._http import json_response
from blobflow.server._storage import Upload
from blobflow.server._validate import Body, as_int

__all__ = ["clean_path", "file_json", "file_row_by_id", "collect_object", "receive_part",
           "multipart_parts"]

_TEXT_PART_LIMIT = 64 << 10
_FILE_SELECT = (
    "SELECT f.*, o.size, o.hash, o.relpath FROM team_files f JOIN objects o ON o.id = f.object_id"
)


def clean_path(raw: str, field: str = "path") -> str:
    """A normalised absolute Team Files path; ``..`` is refused, never resolved."""
    if "\x00" in raw or "\\" in raw:
        raise BadRequest(f"'{field}' contains a forbidden character")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BadRequest(f"'{field}' must not contain '..'")
    if len(raw) > 4096:
        raise BadRequest(f"'{field}' is too long")
    clean = "/" + "/".join(parts)
    return clean + "/" if raw.endswith("/") and parts else clean


def file_json(row: sqlite3.Row) -> dict[str, Any]:
    name = posixpath.basename(row["path"])
    ext = posixpath.splitext(name)[1].lstrip(".")
    return {
        "id": row["id"],
        "teamId": row["team_id"],
        "userId": row["user_id"],
        "name": name,
        "hash": row["hash"],
        "path": row["path"],
        "storagePath": row["relpath"],
        "meta": {"size": row["size"], "mime": None, "ext": ext},
        "size": row["size"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "fullStorageUrl": None,
        "isDir": False,
    }


def file_row_by_id(conn: sqlite3.Connection, file_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(_FILE_SELECT + " WHERE f.id = ?", (file_id,)).fetchone()
    return row


def _file_row_by_path(conn: sqlite3.Connection, team_id: int, path: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        _FILE_SELECT + " WHERE f.team_id = ? AND f.path = ?", (team_id, path)
    ).fetchone()
    return row


def _query_team(ctx: Ctx) -> int:
    raw = ctx.request.query.get("teamId")
    if raw is None:
        raise BadRequest("query parameter 'teamId' is required")
    try:
        team_id = int(raw)
    except ValueError:
        raise BadRequest("query parameter 'teamId' must be an integer") from None
    ctx.require_team(team_id)
    return team_id


def _register(
    conn: sqlite3.Connection, team_id: int, user_id: int, items: list[tuple[str, str, int, str]]
) -> tuple[list[sqlite3.Row], list[str]]:
    """Insert the new objects and point the paths at them; returns the rows and the files of
    objects nothing references any more."""
    now = now_iso()
    rows: list[sqlite3.Row] = []
    garbage: list[str] = []
    for path, relpath, size, digest in items:
        object_id = conn.execute(
            "INSERT INTO objects(team_id, relpath, size, hash, created_at) VALUES(?,?,?,?,?)",
            (team_id, relpath, size, digest, now),
        ).lastrowid
        old = conn.execute(
            "SELECT id, object_id FROM team_files WHERE team_id = ? AND path = ?", (team_id, path)
        ).fetchone()
        if old is None:
            conn.execute(
                "INSERT INTO team_files(team_id, user_id, path, object_id, created_at, updated_at)"
                " VALUES(?,?,?,?,?,?)",
                (team_id, user_id, path, object_id, now, now),
            )
        else:
            conn.execute(
                "UPDATE team_files SET object_id = ?, user_id = ?, updated_at = ? WHERE id = ?",
                (object_id, user_id, now, old["id"]),
            )
            garbage += collect_object(conn, old["object_id"])
        row = _file_row_by_path(conn, team_id, path)
        assert row is not None
        rows.append(row)
    return rows, garbage


def collect_object(conn: sqlite3.Connection, object_id: int) -> list[str]:
    """Drop an object no image and no path references; its file is removed after commit."""
    used = conn.execute(
        "SELECT 1 FROM images WHERE object_id = ?1 UNION ALL"
        " SELECT 1 FROM team_files WHERE object_id = ?1 LIMIT 1",
        (object_id,),
    ).fetchone()
    if used:
        return []
    relpath = conn.execute("SELECT relpath FROM objects WHERE id = ?", (object_id,)).fetchone()
    conn.execute("DELETE FROM objects WHERE id = ?", (object_id,))
    return [relpath[0]]


async def _store(
    ctx: Ctx, team_id: int, uploads: list[tuple[str, Upload]]
) -> list[dict[str, Any]]:
    """Commit finished uploads as objects, then register them in one transaction."""
    items: list[tuple[str, str, int, str]] = []
    try:
        for path, writer in uploads:
            relpath = await writer.commit_object()
            items.append((path, relpath, writer.size, writer.hash))
        rows, garbage = await ctx.db.write(_register, team_id, ctx.user_id, items)
    except BaseException:
        await ctx.storage.remove([relpath for _, relpath, _, _ in items])
        raise
    if garbage:
        await ctx.storage.remove(garbage)
    return [file_json(r) for r in rows]


async def _read_text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(8192):
        data += chunk
        if len(data) > _TEXT_PART_LIMIT:
            raise BadRequest(f"multipart field {part.name!r} is too large")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise BadRequest(f"multipart field {part.name!r} is not UTF-8") from None


async def multipart_parts(ctx: Ctx) -> AsyncIterator[BodyPartReader]:
    """The parts of a flat multipart body (a malformed one is a 400)."""
    if not ctx.request.content_type.startswith("multipart/"):
        raise BadRequest("this method needs a multipart/form-data body")
    try:
        reader = await ctx.request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart bodies are not supported")
            yield part
    except ValueError as exc:  # what aiohttp's parser raises for a malformed body
        raise BadRequest(f"malformed multipart body: {exc}") from None


async def receive_part(ctx: Ctx, part: BodyPartReader) -> Upload:
    writer = await ctx.storage.open_temp(ctx.state.config.max_upload_bytes)
    try:
        while chunk := await part.read_chunk(1 << 20):
            await writer.write(chunk)
    except BaseException:
        await writer.abort()
        raise
    return writer


@raw_method("file-storage.bulk.upload")
async def bulk_upload(ctx: Ctx) -> web.StreamResponse:
    team_id = _query_team(ctx)
    uploads: list[tuple[str, Upload]] = []
    try:
        name: str | None = None
        directory = "/"
        async for part in multipart_parts(ctx):
            if part.name == "name":
                name = await _read_text(part)
            elif part.name == "path":
                directory = await _read_text(part)
            elif part.name == "file":
                file_name = name or part.filename
                if not file_name or "/" in file_name:
                    raise BadRequest("each file needs a plain 'name' (no '/')")
                path = clean_path(directory.rstrip("/") + "/" + file_name)
                uploads.append((path, await receive_part(ctx, part)))
                name, directory = None, "/"
            else:
                await part.release()
    except BaseException:
        for _, writer in uploads:
            await writer.abort()
        raise
    if not uploads:
        raise BadRequest("no 'file' part in the request")
    return json_response(await _store(ctx, team_id, uploads))


@raw_method("file-storage.upload")
async def upload(ctx: Ctx) -> web.StreamResponse:
    team_id = _query_team(ctx)
    raw_path = ctx.request.query.get("path")
    if not raw_path or raw_path.endswith("/"):
        raise BadRequest("query parameter 'path' must name a file")
    path = clean_path(raw_path)
    writer = await ctx.storage.open_temp(ctx.state.config.max_upload_bytes)
    try:
        async for chunk in ctx.request.content.iter_chunked(1 << 20):
            await writer.write(chunk)
    except BaseException:
        await writer.abort()
        raise
    return json_response((await _store(ctx, team_id, [(path, writer)]))[0])


@json_method("file-storage.list")
async def list_files(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    team_id = body.int("teamId")
    ctx.require_team(team_id)
    path = clean_path(body.str("path", "/"))
    recursive = body.bool("recursive", True)
    prefix = path if path.endswith("/") else path + "/"

    def run(conn: sqlite3.Connection) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = conn.execute(
            _FILE_SELECT + " WHERE f.team_id = ? AND (f.path = ? OR substr(f.path, 1, ?) = ?)"
            " ORDER BY f.path",
            (team_id, path, len(prefix), prefix),
        ).fetchall()
        return rows

    rows = await ctx.db.read(run)
    if not recursive:
        rows = [r for r in rows if r["path"] == path or "/" not in r["path"][len(prefix):]]
    return [file_json(r) for r in rows]


@json_method("file-storage.info")
async def info(ctx: Ctx, data: Any) -> Any:
    file_id = Body(data).int("id")
    return file_json(ctx.visible(await ctx.db.read(file_row_by_id, file_id), f"file {file_id}"))


@raw_method("file-storage.download")
async def download(ctx: Ctx) -> web.StreamResponse:
    body = Body(parse_json(await ctx.request.read()))
    if body.data.get("id") is not None:
        file_id = as_int(body.data["id"], "id")
        row = ctx.visible(await ctx.db.read(file_row_by_id, file_id), f"file {file_id}")
    else:
        team_id = body.int("teamId")
        ctx.require_team(team_id)
        path = clean_path(body.str("path"))
        found = await ctx.db.read(_file_row_by_path, team_id, path)
        if found is None:
            raise NotFound(f"file {path!r} not found in team {team_id}")
        row = found
    return await ctx.storage.send(
        ctx.request, row["relpath"], row["size"], checksum=row["hash"], shaper=ctx.state.shaper
    )
