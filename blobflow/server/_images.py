"""images.*: registration by hash or by blob offsets, listing, removal and downloads.

A blob image is a reference (``relatedDataId`` = stored object id, plus its byte range) into
the immutable object its Team Files tar pointed at when the image was registered.
"""

from __future__ import annotations

import json
import posixpath
import re
import sqlite3
import uuid
from json.encoder import encode_basestring
from typing import Any

from aiohttp import web

from blobflow.server._context import Ctx, json_method, parse_json, raw_method
from blobflow.server._db import now_iso
from blobflow.server._errors import BadRequest, NonUnique, NotFound
from blobflow.server._files import collect_object, multipart_parts, receive_part
from blobflow.server._http import Encoded, json_response, send_bytes
from blobflow.server._imagesize import HEAD_BYTES, image_size
from blobflow.server._lists import fetch_page, filter_sql, order_sql, page_of, page_result
from blobflow.server._projects import checked_dataset, checked_project
from blobflow.server._rules import TAR_BLOCK, member_problem
from blobflow.server._validate import Body, as_str

__all__ = ["mime_for", "image_text", "checked_images"]

_IMAGE_EXTS = {"png", "bmp", "gif", "webp", "tiff", "tif", "jfif", "avif", "heic", "ico"}
_JPEG_EXTS = {"jpg", "jpeg", "mpo"}  # what the SDK accepts for image/jpeg
_DOWNLOAD_ID = re.compile(r"dl-(\d{1,18})")
MAX_ADD_ITEMS = 10_000  # what the SDK sends per request (spec §14)
MAX_BULK_DOWNLOAD = 1_000  # ids per images.bulk.download (the SDK sends 50 or 72)
MAX_BULK_DOWNLOAD_BYTES = 512 << 20  # the reply is built in memory
_IMAGE_SELECT = """
SELECT i.*, d.project_id, p.team_id, o.relpath AS object_relpath, h.relpath AS hash_relpath,
  (SELECT count(*) FROM figures f WHERE f.image_id = i.id)
  + coalesce((SELECT a.objects FROM annotations a WHERE a.image_id = i.id), 0) AS labels_count
FROM images i JOIN datasets d ON d.id = i.dataset_id JOIN projects p ON p.id = d.project_id
LEFT JOIN objects o ON o.id = i.object_id LEFT JOIN hash_blobs h ON h.hash = i.hash"""

# What validating ids needs (annotations, tags, figures): no storage paths, no label counts,
# half the cost of _IMAGE_SELECT per row.
_IMAGE_KEYS_SELECT = """
SELECT i.id, i.name, i.dataset_id, i.created_at, i.updated_at, i.width, i.height, d.project_id,
  p.team_id
FROM images i JOIN datasets d ON d.id = i.dataset_id JOIN projects p ON p.id = d.project_id"""


def mime_for(name: str) -> str | None:
    """A mime whose subtype the SDK accepts for this extension (else it renames the image)."""
    ext = posixpath.splitext(name)[1][1:].lower()
    if ext in _JPEG_EXTS:
        return "image/jpeg"
    return f"image/{ext}" if ext in _IMAGE_EXTS else None


def _download_id(object_id: int | None) -> str | None:
    return None if object_id is None else f"dl-{object_id}"


# An image object as JSON text: on 10,000-item replies a third of the cost of dict + dumps.
_IMAGE_TEXT = (
    '{"id":%d,"name":%s,"link":null,"hash":%s,"mime":%s,"ext":%s,"size":%d,"width":%s,'
    '"height":%s,"labelsCount":%d,"datasetId":%d,"createdAt":%s,"updatedAt":%s,"meta":%s,'
    '"pathOriginal":%s,"fullStorageUrl":null,"tags":[],"createdBy":%s,"relatedDataId":%s,'
    '"downloadId":%s,"offsetStart":%s,"offsetEnd":%s,"projectId":%d,"description":""}'
)


def _j(value: Any) -> str:
    if value is None:
        return "null"
    return encode_basestring(value) if isinstance(value, str) else str(int(value))


def image_text(  # noqa: PLR0913 - the columns of one image row
    image_id: int, dataset_id: int, project_id: int, name: str, digest: str | None, size: int,
    mime: str | None, object_id: int | None, start: int | None, end: int | None,
    meta_text: str | None, created_by: int | None, created_at: str, updated_at: str,
    labels: int = 0, width: int | None = None, height: int | None = None,
) -> str:
    """One image object as the API returns it (``meta_text``: the stored meta JSON or
    ``None``); the SDK reads the blob fields ``relatedDataId``, ``downloadId``,
    ``offsetStart``, ``offsetEnd`` as top-level keys."""
    path = f"/images/{image_id}" if digest else f"/blob/{object_id}/{start}-{end}"
    return _IMAGE_TEXT % (
        image_id, encode_basestring(name), _j(digest), _j(mime),
        _j(mime.split("/")[1] if mime else None), size, _j(width), _j(height), labels, dataset_id,
        encode_basestring(created_at), encode_basestring(updated_at), meta_text or "{}",
        encode_basestring(path), _j(created_by), _j(object_id), _j(_download_id(object_id)),
        _j(start), _j(end), project_id,
    )


class _BatchText:
    """:func:`image_text` for one ``images.bulk.add``: the batch's constants are baked into
    the template and mimes cached per extension (half the cost on 10,000 items)."""

    def __init__(self, dataset_id: int, project_id: int, created_by: int, now: str) -> None:
        stamp = encode_basestring(now)
        self._template = (
            '{"id":%d,"name":%s,"link":null,"hash":%s,"mime":%s,"ext":%s,"size":%d,'
            '"width":%s,"height":%s,"labelsCount":0,'
            f'"datasetId":{dataset_id},"createdAt":{stamp},"updatedAt":{stamp},'
            '"meta":%s,"pathOriginal":%s,"fullStorageUrl":null,"tags":[],'
            f'"createdBy":{created_by},'
            '"relatedDataId":%s,"downloadId":%s,"offsetStart":%s,"offsetEnd":%s,'
            f'"projectId":{project_id},"description":""}}'
        )
        self._mimes: dict[str, tuple[str | None, str, str]] = {}

    def text(  # noqa: PLR0913 - the columns of one image row
        self, image_id: int, name: str, digest: str | None, size: int, object_id: int | None,
        start: int | None, end: int | None, meta_text: str | None,
        dims: tuple[int, int] | None,
    ) -> tuple[str | None, str]:
        """``(mime, JSON text)`` of one new image."""
        ext = posixpath.splitext(name)[1]
        cached = self._mimes.get(ext)
        if cached is None:
            mime = mime_for(name)
            cached = self._mimes[ext] = (mime, _j(mime), _j(mime.split("/")[1] if mime else None))
        path = f"/images/{image_id}" if digest else f"/blob/{object_id}/{start}-{end}"
        return cached[0], self._template % (
            image_id, encode_basestring(name), _j(digest), cached[1], cached[2], size,
            *(dims or ("null", "null")), meta_text or "{}", encode_basestring(path), _j(object_id),
            _j(_download_id(object_id)), _j(start), _j(end),
        )


def _encode_list(parts: list[str]) -> Encoded:
    return Encoded(("[" + ",".join(parts) + "]").encode())


def _row_text(row: sqlite3.Row) -> str:
    return image_text(
        row["id"], row["dataset_id"], row["project_id"], row["name"], row["hash"], row["size"],
        row["mime"], row["object_id"], row["offset_start"], row["offset_end"], row["meta"],
        row["created_by"], row["created_at"], row["updated_at"], row["labels_count"],
        row["width"], row["height"],
    )


def checked_images(
    ctx: Ctx, conn: sqlite3.Connection, ids: list[int], *, keys_only: bool = False
) -> list[sqlite3.Row]:
    """The images, in the order asked; any id missing or in another team is a 404.

    ``keys_only``: just id, name, dataset, project, team and timestamps.
    """
    select = _IMAGE_KEYS_SELECT if keys_only else _IMAGE_SELECT
    rows = conn.execute(
        select + " WHERE i.id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
    ).fetchall()
    by_id = {r["id"]: r for r in rows if ctx.sees_team(r["team_id"])}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NotFound(f"images not found: {missing[:20]}")
    return [by_id[i] for i in ids]


# --- registration -------------------------------------------------------------------------


def _parse_items(items: list[Any]) -> tuple[list[tuple[Any, ...]], set[int], set[str]]:
    """One pass over the items: ``(title, teamFileId|None, start, end, hash|None, meta)``."""
    parsed: list[tuple[Any, ...]] = []
    files: set[int] = set()
    hashes: set[str] = set()
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"images[{n}] must be an object")
        title = item.get("title")
        if not isinstance(title, str) or not title or "\x00" in title or len(title) > 1024:
            raise BadRequest(f"images[{n}].title must be a non-empty string")
        if "/" in title or "\\" in title or title in (".", ".."):
            # clients write img/<title> and ann/<title>.json: a path would escape the folder
            raise BadRequest(f"images[{n}].title {title[:100]!r} must be a file name, not a path")
        meta = item.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise BadRequest(f"images[{n}].meta must be an object")
        meta_text = json.dumps(meta) if meta else None
        file_id = item.get("teamFileId")
        if file_id is not None:
            blob = item.get("sourceBlob")
            if not isinstance(blob, dict):
                raise BadRequest(f"images[{n}].sourceBlob must be an object")
            start, end = blob.get("offsetStart"), blob.get("offsetEnd")
            if (type(file_id) is not int or type(start) is not int or type(end) is not int
                    or not 0 <= start <= end < 2**63 or not 0 < file_id < 2**63):
                raise BadRequest(
                    f"images[{n}]: teamFileId and sourceBlob offsets must be integers with"
                    " 0 <= offsetStart <= offsetEnd"
                )
            files.add(file_id)
            parsed.append((title, file_id, start, end, None, meta_text))
        elif isinstance(item.get("hash"), str):
            hashes.add(item["hash"])
            parsed.append((title, None, None, None, item["hash"], meta_text))
        else:
            raise BadRequest(f"images[{n}] needs either 'hash' or 'teamFileId' + 'sourceBlob'")
    return parsed, files, hashes


Dims = tuple[int, int] | None


def _stored(
    conn: sqlite3.Connection, ctx: Ctx, dataset_id: int, files: set[int], hashes: set[str]
) -> tuple[dict[int, tuple[str, int]], dict[str, tuple[str, int]]]:
    """Where the items' bytes are, of those the caller may register into the dataset: team
    file id -> (relpath, size), hash -> (relpath, size). The rest are refused by the write,
    which says only "not found" (nothing of another team's files is read or revealed)."""
    team_id = checked_dataset(ctx, conn, dataset_id, counts=False)["team_id"]
    objects = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT f.id, o.relpath, o.size FROM team_files f JOIN objects o ON o.id = f.object_id"
        " WHERE f.team_id = ? AND f.id IN (SELECT value FROM json_each(?))",
        (team_id, json.dumps(sorted(files))),
    )}
    blobs = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT b.hash, b.relpath, b.size FROM hash_owners o JOIN hash_blobs b ON b.hash = o.hash"
        " WHERE o.user_id = ? AND o.hash IN (SELECT value FROM json_each(?))",
        (ctx.user_id, json.dumps(sorted(hashes))),
    )} if hashes else {}
    return objects, blobs


def _range_error(n: int, title: str, start: int, end: int, problem: str) -> BadRequest:
    return BadRequest(f"images[{n}] ({title!r}).sourceBlob: offsets {start}-{end} {problem}")


async def _dimensions(
    ctx: Ctx, dataset_id: int, parsed: list[tuple[Any, ...]], files: set[int], hashes: set[str]
) -> list[Dims]:
    """Each item's ``(width, height)`` from its header, as the platform fills them (None when
    the bytes are not an image it knows). A blob range must be exactly one tar member's data:
    the 512-byte header before it is read along and checked."""
    objects, blobs = await ctx.db.read(_stored, ctx, dataset_id, files, hashes)
    ranges: list[tuple[str, int, int]] = []
    which: list[int] = []
    for n, (title, file_id, start, end, digest, _) in enumerate(parsed):
        if file_id is not None:
            found = objects.get(file_id)
            if found is None or end > found[1]:
                continue  # the write refuses it, naming why
            if start < TAR_BLOCK or start % TAR_BLOCK:
                raise _range_error(n, title, start, end, "do not start at a tar member's data")
            ranges.append((found[0], start - TAR_BLOCK, min(end, start + HEAD_BYTES)))
        elif digest in blobs:
            relpath, size = blobs[digest]
            ranges.append((relpath, 0, min(size, HEAD_BYTES)))
        else:
            continue
        which.append(n)
    heads = await ctx.storage.read_ranges(ranges) if ranges else []
    dims: list[Dims] = [None] * len(parsed)
    longer: list[tuple[int, tuple[str, int, int]]] = []  # a JPEG's frame header after HEAD_BYTES
    for n, (relpath, _, _), head in zip(which, ranges, heads, strict=True):
        title, file_id, start, end = parsed[n][:4]
        if file_id is not None:
            if (problem := member_problem(head[:TAR_BLOCK], start, end)) is not None:
                raise _range_error(n, title, start, end, problem)
            head, whole = head[TAR_BLOCK:], (relpath, start, end)
        else:
            whole = (relpath, 0, blobs[parsed[n][4]][1])
        dims[n] = image_size(head)
        if dims[n] is None and head[:2] == b"\xff\xd8" and whole[2] - whole[1] > len(head):
            longer.append((n, whole))
    if longer:
        for (n, _), data in zip(longer, await ctx.storage.read_ranges([r for _, r in longer]),
                                strict=True):
            dims[n] = image_size(data)
    return dims


def _bulk_add(
    conn: sqlite3.Connection, ctx: Ctx, dataset_id: int, parsed: list[tuple[Any, ...]],
    files: set[int], hashes: set[str], dims: list[Dims],
) -> Encoded:
    dataset = checked_dataset(ctx, conn, dataset_id, counts=False)
    titles = [p[0] for p in parsed]
    if len(set(titles)) != len(titles):
        seen: set[str] = set()
        dupes = sorted({t for t in titles if t in seen or seen.add(t)})  # type: ignore[func-returns-value]
        raise BadRequest(f"duplicate titles in one request: {dupes[:10]}")
    existing = dict(conn.execute(
        "SELECT name, id FROM images WHERE dataset_id = ?"
        " AND name IN (SELECT value FROM json_each(?))",
        (dataset_id, json.dumps(titles)),
    ).fetchall())
    if existing:
        raise NonUnique([(t, existing[t]) for t in titles if t in existing])

    objects: dict[int, tuple[int, int]] = {}  # team file id -> (object id, size)
    for file_id in files:
        row = conn.execute(
            "SELECT f.team_id, o.id, o.size FROM team_files f JOIN objects o ON o.id = f.object_id"
            " WHERE f.id = ?", (file_id,),
        ).fetchone()
        if row is None or row[0] != dataset["team_id"]:
            raise NotFound(f"team file {file_id} not found in the dataset's team")
        objects[file_id] = (row[1], row[2])
    sizes: dict[str, int] = {}
    if hashes:
        sizes = dict(conn.execute(
            "SELECT b.hash, b.size FROM hash_owners o JOIN hash_blobs b ON b.hash = o.hash"
            " WHERE o.user_id = ? AND o.hash IN (SELECT value FROM json_each(?))",
            (ctx.user_id, json.dumps(sorted(hashes))),
        ).fetchall())
        unknown = hashes - sizes.keys()
        if unknown:
            raise BadRequest(f"unknown image hashes (upload them first): {sorted(unknown)[:5]}")

    first = (conn.execute("SELECT max(id) FROM images").fetchone()[0] or 0) + 1
    now, user = now_iso(), ctx.user_id
    encoder = _BatchText(dataset_id, dataset["project_id"], user, now)
    rows: list[tuple[Any, ...]] = []
    out: list[str] = []
    for (image_id, (title, file_id, start, end, digest, meta)), wh in zip(
        enumerate(parsed, first), dims, strict=True
    ):
        if file_id is not None:
            object_id, object_size = objects[file_id]
            if end > object_size:
                raise BadRequest(
                    f"{title!r}: offsets {start}-{end} are outside team file {file_id}"
                    f" ({object_size} bytes)"
                )
            size = end - start
        else:
            object_id, size = None, sizes[digest]
        mime, text = encoder.text(image_id, title, digest, size, object_id, start, end, meta, wh)
        rows.append((image_id, dataset_id, title, digest, size, mime, object_id, start, end,
                     meta, user, now, now, *(wh or (None, None))))
        out.append(text)
    conn.executemany(
        "INSERT INTO images(id, dataset_id, name, hash, size, mime, object_id, offset_start,"
        " offset_end, meta, created_by, created_at, updated_at, width, height)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.execute("UPDATE datasets SET updated_at = ? WHERE id = ?", (now, dataset_id))
    return _encode_list(out)


@json_method("images.bulk.add")
async def bulk_add(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    dataset_id = body.int("datasetId")
    items = body.list("images")
    if len(items) > MAX_ADD_ITEMS:
        raise BadRequest(f"at most {MAX_ADD_ITEMS} images per images.bulk.add")
    parsed, files, hashes = _parse_items(items)
    if not parsed:
        return []
    dims = await _dimensions(ctx, dataset_id, parsed, files, hashes)
    return await ctx.db.write(_bulk_add, ctx, dataset_id, parsed, files, hashes, dims)


@json_method("images.internal.hashes.list")
async def hashes_list(ctx: Ctx, data: Any) -> Any:
    if not isinstance(data, list) or not all(isinstance(h, str) for h in data):
        raise BadRequest("the body must be a JSON array of hash strings")

    def run(conn: sqlite3.Connection) -> list[str]:
        return [r[0] for r in conn.execute(
            "SELECT hash FROM hash_owners WHERE user_id = ?"
            " AND hash IN (SELECT value FROM json_each(?))",
            (ctx.user_id, json.dumps(data)),
        )]

    return await ctx.db.read(run)


def _own_hashes(conn: sqlite3.Connection, user_id: int, items: list[tuple[str, int, str]]) -> None:
    conn.executemany("INSERT OR IGNORE INTO hash_blobs(hash, size, relpath) VALUES(?,?,?)", items)
    conn.executemany(
        "INSERT OR IGNORE INTO hash_owners(user_id, hash) VALUES(?,?)",
        [(user_id, digest) for digest, _, _ in items],
    )


@raw_method("images.bulk.upload")
async def bulk_upload(ctx: Ctx) -> web.StreamResponse:
    stored: list[tuple[str, int, str]] = []
    async for part in multipart_parts(ctx):
        writer = await receive_part(ctx, part)
        relpath = await writer.commit_content()
        stored.append((writer.hash, writer.size, relpath))
    # Content-addressed files are never half-visible and may be shared, so nothing to undo.
    await ctx.db.write(_own_hashes, ctx.user_id, stored)
    return json_response([{"hash": digest} for digest, _, _ in stored])


@json_method("images.bulk.remove")
async def bulk_remove(ctx: Ctx, data: Any) -> Any:
    ids = Body(data).int_list("imageIds")

    def remove(conn: sqlite3.Connection) -> list[str]:
        rows = checked_images(ctx, conn, ids)
        conn.execute(
            "DELETE FROM images WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
        )
        garbage: list[str] = []
        for object_id in {r["object_id"] for r in rows if r["object_id"] is not None}:
            garbage += collect_object(conn, object_id)
        return garbage

    garbage = await ctx.db.write(remove, )
    if garbage:
        await ctx.storage.remove(garbage)
    return {"success": True}


# --- listing ------------------------------------------------------------------------------


@json_method("images.info")
async def info(ctx: Ctx, data: Any) -> Any:
    image_id = Body(data).int("id")
    rows = await ctx.db.read(lambda c: checked_images(ctx, c, [image_id]))
    return Encoded(_row_text(rows[0]).encode())


@json_method("images.list")
async def list_images(ctx: Ctx, data: Any) -> Any:
    body = Body(data)
    per_page, offset = page_of(body, ctx.state.config)
    dataset_id = body.int("datasetId", None)
    project_id = body.int("projectId", None)
    recursive = body.bool("recursive", False)
    if dataset_id is None and project_id is None:
        raise BadRequest("'datasetId' or 'projectId' is required")

    def run(conn: sqlite3.Connection) -> tuple[int, list[sqlite3.Row]]:
        where, params = filter_sql(body, {"id": "i.id", "name": "i.name"})
        if dataset_id is not None:
            checked_dataset(ctx, conn, dataset_id, counts=False)
            if recursive:
                scope = ("i.dataset_id IN (WITH RECURSIVE t(id) AS (SELECT ? UNION ALL"
                         " SELECT d.id FROM datasets d JOIN t ON d.parent_id = t.id)"
                         " SELECT id FROM t)")
            else:
                scope = "i.dataset_id = ?"
            params = [dataset_id, *params]
        else:
            checked_project(ctx, conn, project_id or 0, counts=False)
            scope = "i.dataset_id IN (SELECT id FROM datasets WHERE project_id = ?)"
            params = [project_id, *params]
        cond = f" WHERE {scope} AND {where}"
        return fetch_page(conn, _IMAGE_SELECT, "images i", cond, params,
                          order_sql(body, "i."), per_page, offset)

    total, rows = await ctx.db.read(run)
    head = json.dumps(page_result(total, per_page, []))[:-3]  # drop the closing '[]}'
    return Encoded(head.encode() + _encode_list([_row_text(r) for r in rows]) + b"}")


# --- downloads ----------------------------------------------------------------------------


def _image_range(row: sqlite3.Row) -> tuple[str, int, int]:
    if row["object_id"] is not None:
        return row["object_relpath"], row["offset_start"], row["offset_end"]
    return row["hash_relpath"], 0, row["size"]


@raw_method("images.download")
async def download(ctx: Ctx) -> web.StreamResponse:
    image_id = Body(parse_json(await ctx.request.read())).int("id")
    row = (await ctx.db.read(lambda c: checked_images(ctx, c, [image_id])))[0]
    if row["object_id"] is None:  # a whole stored file: zero-copy
        return await ctx.storage.send(
            ctx.request, row["hash_relpath"], row["size"],
            checksum=row["hash"], shaper=ctx.state.shaper,
        )
    data, checksum = await ctx.storage.read_hashed(*_image_range(row))
    return await send_bytes(
        ctx.request, data, checksum=checksum, shaper=ctx.state.shaper,
        content_type=row["mime"] or "application/octet-stream",
    )


@raw_method("images.bulk.download")
async def bulk_download(ctx: Ctx) -> web.StreamResponse:
    body = Body(parse_json(await ctx.request.read()))
    dataset_id = body.int("datasetId", None)
    ids = body.int_list("imageIds")
    if len(ids) > MAX_BULK_DOWNLOAD:
        raise BadRequest(f"at most {MAX_BULK_DOWNLOAD} images per images.bulk.download")
    rows = await ctx.db.read(lambda c: checked_images(ctx, c, ids))
    if dataset_id is not None and any(r["dataset_id"] != dataset_id for r in rows):
        raise BadRequest(f"some images are not in dataset {dataset_id}")
    if sum(r["size"] for r in rows) > MAX_BULK_DOWNLOAD_BYTES:
        raise BadRequest("the images total more than 512 MiB: ask for fewer per request")
    parts = await ctx.storage.read_ranges([_image_range(r) for r in rows])
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for row, data in zip(rows, parts, strict=True):
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{row['id']}\"\r\n"
            f"Content-Type: {row['mime'] or 'application/octet-stream'}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
        )
        chunks += (data, b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return web.Response(
        body=b"".join(chunks),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


@raw_method("images.data.download")
async def data_download(ctx: Ctx) -> web.StreamResponse:
    """The whole blob archive an image lives in (POST JSON, or GET with a query string)."""
    if ctx.request.method == "GET":
        query = ctx.request.query
        try:
            project_id = int(query.get("projectId", ""))
        except ValueError:
            raise BadRequest("query parameter 'projectId' must be an integer") from None
        download_id = query.get("downloadId", "")
    elif ctx.request.method == "POST":
        body = Body(parse_json(await ctx.request.read()))
        project_id = body.int("projectId")
        download_id = as_str(body.data.get("downloadId"), "downloadId")
    else:
        raise web.HTTPMethodNotAllowed(ctx.request.method, ["GET", "POST"])
    match = _DOWNLOAD_ID.fullmatch(download_id)
    if match is None:
        raise NotFound(f"download id {download_id!r} not found")
    object_id = int(match.group(1))

    def find(conn: sqlite3.Connection) -> sqlite3.Row | None:
        checked_project(ctx, conn, project_id, counts=False)
        row: sqlite3.Row | None = conn.execute(
            "SELECT o.relpath, o.size, o.hash FROM objects o WHERE o.id = ? AND EXISTS("
            " SELECT 1 FROM images i JOIN datasets d ON d.id = i.dataset_id"
            " WHERE i.object_id = o.id AND d.project_id = ?)",
            (object_id, project_id),
        ).fetchone()
        return row

    row = await ctx.db.read(find)
    if row is None:
        raise NotFound(f"download id {download_id!r} not found in project {project_id}")
    return await ctx.storage.send(
        ctx.request, row["relpath"], row["size"],
        checksum=row["hash"], shaper=ctx.state.shaper,
    )
