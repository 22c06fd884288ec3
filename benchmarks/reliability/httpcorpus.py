"""Hostile HTTP bodies for every server method: the server never answers 5xx and never dies.

For each method: non-JSON and wrongly-shaped bodies, every field of a valid template replaced by
wrong types, negative, huge and path-like values, huge arrays, deep nesting; plus blob offsets
out of range, hostile query strings, Range headers and multipart bodies. Where the input is
invalid for sure (a bad id, an offset outside the file) the answer must be a 4xx with the JSON
error shape; elsewhere a 2xx is allowed (the server may ignore an unknown field). A 5xx, a
non-JSON error, a reset connection or a timeout is a failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from benchmarks.reliability.tenants import Team, call

__all__ = [
    "HttpItem",
    "HttpResult",
    "http_corpus",
    "run_http_corpus",
    "templates",
    "SPECIAL_METHODS",
]

#: Methods whose bodies are not JSON objects: probed by dedicated items (query strings,
#: multipart, bare arrays) rather than by field mutation of a template.
SPECIAL_METHODS = {
    "file-storage.upload",
    "file-storage.bulk.upload",
    "images.bulk.upload",
    "images.internal.hashes.list",
}

ID_KEYS = {
    "id",
    "teamId",
    "workspaceId",
    "projectId",
    "datasetId",
    "imageId",
    "teamFileId",
    "entityId",
    "classId",
    "tagId",
    "figureId",
}
BAD_VALUES: list[tuple[str, Any]] = [
    ("null", None),
    ("str", "x"),
    ("empty_str", ""),
    ("negative", -1),
    ("zero", 0),
    ("int64_overflow", 2**63),
    ("bigint", 10**40),
    ("float", 1.5),
    ("true", True),
    ("list", [1, 2]),
    ("dict", {"a": 1}),
    ("traversal", "../../../../etc/passwd"),
    ("nul", "a\u0000b"),
    ("long_str", "x" * 100_000),
    ("nan", float("nan")),
]


@dataclass
class HttpItem:
    name: str
    method: str
    must_refuse: bool
    body: Any = None
    data: bytes | None = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    verb: str = "POST"
    form: list[tuple[str, bytes | str, str | None]] | None = None
    # aiohttp's own parser answers an over-long request line with a plain-text 400 before the
    # app sees it: that is a clean refusal too.
    http_layer_400: bool = False


@dataclass
class HttpResult:
    name: str
    status: int
    ok: bool
    detail: str


def templates(t: Team) -> dict[str, Any]:
    """A valid body per JSON method (ids of team ``t``)."""
    ann = {"description": "", "size": {"height": 1, "width": 1}, "tags": [], "objects": []}
    return {
        "instance.version": {},
        "users.me": {},
        "teams.list": {"filter": []},
        "teams.info": {"id": t.team_id},
        "workspaces.list": {"teamId": t.team_id, "filter": []},
        "workspaces.info": {"id": t.workspace_id},
        "projects.add": {
            "name": "c",
            "workspaceId": t.workspace_id,
            "description": "",
            "type": "images",
        },
        "projects.info": {"id": t.project_id},
        "projects.list": {
            "workspaceId": t.workspace_id,
            "page": 1,
            "per_page": 10,
            "filter": [{"field": "name", "operator": "=", "value": "x"}],
        },
        "projects.meta": {"id": t.project_id},
        "projects.meta.update": {"id": t.project_id, "meta": {"classes": [], "tags": []}},
        "projects.settings.update": {"id": t.project_id, "settings": {"groupImages": False}},
        "projects.editInfo": {"id": t.project_id, "customData": {"k": 1}, "silent": False},
        "datasets.add": {
            "projectId": t.project_id,
            "name": "c",
            "description": "",
            "parentId": None,
        },
        "datasets.info": {"id": t.dataset_id},
        "datasets.list": {"projectId": t.project_id, "filter": [], "recursive": True},
        "datasets.editInfo": {"id": t.dataset_id, "description": "c"},
        "file-storage.list": {"teamId": t.team_id, "path": "/blob-files/", "recursive": True},
        "file-storage.info": {"id": t.file_id},
        "file-storage.download": {"teamId": t.team_id, "path": t.file_path},
        "images.bulk.add": {
            "datasetId": t.dataset_id,
            "forceMetadataForLinks": True,
            "images": [
                {
                    "title": "c.png",
                    "teamFileId": t.file_id,
                    "sourceBlob": {"offsetStart": 512, "offsetEnd": 600},
                }
            ],
        },
        "images.list": {"datasetId": t.dataset_id, "filter": [], "page": 1, "per_page": 10},
        "images.info": {"id": t.image_ids[0]},
        "images.bulk.remove": {"imageIds": [2**31 - 7]},
        "images.download": {"id": t.image_ids[0]},
        "images.bulk.download": {"datasetId": t.dataset_id, "imageIds": t.image_ids},
        "images.data.download": {"projectId": t.project_id, "downloadId": t.download_id},
        "annotations.bulk.add": {
            "datasetId": t.dataset_id,
            "annotations": [{"imageId": t.image_ids[0], "annotation": ann}],
        },
        "annotations.bulk.info": {"datasetId": t.dataset_id, "imageIds": t.image_ids},
        "annotations.info": {"imageId": t.image_ids[0]},
        "figures.bulk.add": {
            "datasetId": t.dataset_id,
            "figures": [
                {
                    "entityId": t.image_ids[0],
                    "classId": t.class_id,
                    "geometryType": "rectangle",
                    "geometry": {"points": {"exterior": [[0, 0], [1, 1]], "interior": []}},
                }
            ],
        },
        "figures.tags.bulk.add": {
            "projectId": t.project_id,
            "tags": [{"tagId": t.tag_id, "figureId": t.figure_id, "value": None}],
        },
        "image-tags.bulk.add-to-image": {"tagId": t.tag_id, "value": None, "ids": t.image_ids[:1]},
    }


_STRUCTURAL: list[tuple[str, bytes]] = [
    ("empty_body", b""),
    ("truncated_json", b'{"id": '),
    ("json_null", b"null"),
    ("json_string", b'"x"'),
    ("json_number", b"123"),
    ("json_array_of_junk", b"[1, {}, null]"),
    ("invalid_utf8", b'{"id": "\xff\xfe"}'),
    ("deep_nesting", b"[" * 100_000 + b"]" * 100_000),
    ("deep_object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("duplicate_keys", b'{"id": 1, "id": "x"}'),
    ("bom", b'\xef\xbb\xbf{"id": 1}'),
]
# Structural items a server may legitimately accept: an empty body or a BOM can mean ``{}`` /
# valid JSON, and the last of duplicate keys wins (a field the method may not use at all).
_LENIENT_STRUCTURAL = {"empty_body", "duplicate_keys", "bom"}
# A null scope id on a list/bulk call means "no filter" (still limited to the caller's teams).
_NULL_SCOPE_OK = {
    ("workspaces.list", "teamId"),
    ("projects.list", "workspaceId"),
    ("images.list", "datasetId"),
    ("images.list", "projectId"),
    ("images.bulk.download", "datasetId"),
    ("datasets.add", "parentId"),
}


def _mutations(method: str, tpl: Any) -> list[HttpItem]:
    items = [
        HttpItem(
            f"{method}/{n}",
            method,
            method not in _NO_FIELDS and n not in _LENIENT_STRUCTURAL,
            data=d,
            headers={"Content-Type": "application/json"},
        )
        for n, d in _STRUCTURAL
    ]
    if not isinstance(tpl, dict):
        return items
    for key in tpl:
        for vname, value in BAD_VALUES:
            body = dict(tpl)
            body[key] = value
            refuse = key in ID_KEYS and not (value is None and (method, key) in _NULL_SCOPE_OK)
            items.append(HttpItem(f"{method}/{key}={vname}", method, refuse, body=body))
        if isinstance(tpl[key], list):  # a huge array of junk
            body = dict(tpl)
            body[key] = [{"junk": i} for i in range(100_000)]
            items.append(HttpItem(f"{method}/{key}=huge_array", method, True, body=body))
            body = dict(tpl)
            body[key] = list(range(-1, -200_001, -1))
            items.append(HttpItem(f"{method}/{key}=huge_negative_ints", method, True, body=body))
    return items


_NO_FIELDS = {"instance.version", "users.me", "teams.list"}  # any body is fine for these


def _blob_items(t: Team) -> list[HttpItem]:
    size = len(t.blob)

    def add(name: str, sb: Any, **extra: Any) -> HttpItem:
        item = {"title": f"{name}.png", "teamFileId": t.file_id, "sourceBlob": sb} | extra
        return HttpItem(
            f"images.bulk.add/{name}",
            "images.bulk.add",
            name != "hash_and_blob",  # both kinds in one item: refused, or one of them used
            body={"datasetId": t.dataset_id, "images": [item]},
        )

    return [
        add("offset_end_past_eof", {"offsetStart": 512, "offsetEnd": size + 1}),
        add("offset_start_past_eof", {"offsetStart": size + 10, "offsetEnd": size + 20}),
        add("offset_negative", {"offsetStart": -100, "offsetEnd": 10}),
        add("offset_end_before_start", {"offsetStart": 600, "offsetEnd": 512}),
        add("offset_huge", {"offsetStart": 2**62, "offsetEnd": 2**63 - 1}),
        add("offset_int64_overflow", {"offsetStart": 0, "offsetEnd": 2**64}),
        add("offset_strings", {"offsetStart": "0", "offsetEnd": "10"}),
        add("offset_floats", {"offsetStart": 0.5, "offsetEnd": 10.5}),
        add("offset_bools", {"offsetStart": False, "offsetEnd": True}),
        add("source_blob_missing_end", {"offsetStart": 0}),
        add("source_blob_list", [0, 10]),
        add("source_blob_null", None),
        add("title_traversal", {"offsetStart": 512, "offsetEnd": 600}, title="../../x.png"),
        add("title_absolute", {"offsetStart": 512, "offsetEnd": 600}, title="/etc/x.png"),
        add("title_empty", {"offsetStart": 512, "offsetEnd": 600}, title=""),
        add("title_not_str", {"offsetStart": 512, "offsetEnd": 600}, title=5),
        add("team_file_missing", {"offsetStart": 512, "offsetEnd": 600}, teamFileId=2**31 - 3),
        add("hash_and_blob", {"offsetStart": 512, "offsetEnd": 600}, hash="AAAA"),
        HttpItem(
            "images.bulk.add/unknown_hash",
            "images.bulk.add",
            True,
            body={
                "datasetId": t.dataset_id,
                "images": [{"title": "h.png", "hash": "A" * 43 + "="}],
            },
        ),
        HttpItem(
            "images.bulk.add/images_not_list",
            "images.bulk.add",
            True,
            body={"datasetId": t.dataset_id, "images": {"title": "x"}},
        ),
        HttpItem(
            "images.bulk.add/item_not_object",
            "images.bulk.add",
            True,
            body={"datasetId": t.dataset_id, "images": ["x.png", 5, None]},
        ),
        HttpItem(
            "images.bulk.add/20000_duplicate_titles",
            "images.bulk.add",
            True,
            body={
                "datasetId": t.dataset_id,
                "images": [
                    {
                        "title": "dup.png",
                        "teamFileId": t.file_id,
                        "sourceBlob": {"offsetStart": 512, "offsetEnd": 600},
                    }
                ]
                * 20_000,
            },
        ),
    ]


def _transport_items(t: Team) -> list[HttpItem]:
    up = "file-storage.upload"
    tid = str(t.team_id)
    raw = {"Content-Type": "application/octet-stream"}
    items = [
        HttpItem("unknown_method", "no.such.method", True, body={}),
        HttpItem("projects.info/GET", "projects.info", True, verb="GET"),
        HttpItem("projects.info/PUT", "projects.info", True, body={"id": 1}, verb="PUT"),
        HttpItem(
            "projects.info/text_plain",
            "projects.info",
            False,
            data=b'{"id": 1}',
            headers={"Content-Type": "text/plain"},
        ),
    ]
    for name, params in [
        ("no_params", {}),
        ("team_str", {"teamId": "x", "path": "/a.tar"}),
        ("team_negative", {"teamId": "-1", "path": "/a.tar"}),
        ("team_huge", {"teamId": str(2**70), "path": "/a.tar"}),
        ("path_missing", {"teamId": tid}),
        ("path_empty", {"teamId": tid, "path": ""}),
        ("path_traversal", {"teamId": tid, "path": "/../../../../tmp/blobflow_escape.tar"}),
        ("path_dotdot_mid", {"teamId": tid, "path": "/a/../../b.tar"}),
        ("path_relative", {"teamId": tid, "path": "../escape.tar"}),
        ("path_nul", {"teamId": tid, "path": "/a\x00b.tar"}),
        ("path_backslash", {"teamId": tid, "path": "/..\\..\\escape.tar"}),
        ("path_dir_only", {"teamId": tid, "path": "/blob-files/"}),
        ("path_root", {"teamId": tid, "path": "/"}),
        ("path_long", {"teamId": tid, "path": "/" + "a" * 10_000 + ".tar"}),
    ]:
        items.append(
            HttpItem(
                f"{up}/{name}",
                up,
                True,
                data=b"data",
                params=params,
                headers=raw,
                http_layer_400=name == "path_long",
            )
        )
    bulk = "file-storage.bulk.upload"
    forms: list[tuple[str, list[tuple[str, bytes | str, str | None]]]] = [
        ("no_file_part", [("name", "a.tar", None), ("path", "/x/", None)]),
        (
            "file_before_name",
            [("file", b"d", "a.tar"), ("name", "a.tar", None), ("path", "/x/", None)],
        ),
        (
            "traversal_name",
            [
                ("name", "../../escape.tar", None),
                ("path", "/x/", None),
                ("file", b"d", "../../escape.tar"),
            ],
        ),
        (
            "traversal_path",
            [("name", "a.tar", None), ("path", "/../../../tmp/", None), ("file", b"d", "a.tar")],
        ),
    ]
    for name, form in forms:
        # parts out of order: refused, or stored under a name and path that stay in the team
        must = name != "file_before_name"
        items.append(HttpItem(f"{bulk}/{name}", bulk, must, form=form, params={"teamId": tid}))
    items.append(
        HttpItem(
            f"{bulk}/not_multipart",
            bulk,
            True,
            data=b"garbage",
            params={"teamId": tid},
            headers={"Content-Type": "multipart/form-data; boundary=zzz"},
        )
    )
    items.append(
        HttpItem(
            f"{bulk}/no_boundary",
            bulk,
            True,
            data=b"--x\r\n",
            params={"teamId": tid},
            headers={"Content-Type": "multipart/form-data"},
        )
    )
    items.append(
        HttpItem(
            "images.bulk.upload/not_multipart",
            "images.bulk.upload",
            True,
            data=b"garbage",
            headers={"Content-Type": "multipart/form-data; b=1"},
        )
    )
    hashes = "images.internal.hashes.list"
    items += [
        HttpItem(f"{hashes}/object", hashes, True, body={"hashes": []}),
        HttpItem(f"{hashes}/ints", hashes, True, body=[1, 2, 3]),
        HttpItem(f"{hashes}/huge", hashes, False, body=[f"h{i}" for i in range(200_000)]),
    ]
    for method, body in [
        ("file-storage.download", {"teamId": t.team_id, "path": t.file_path}),
        ("images.data.download", {"projectId": t.project_id, "downloadId": t.download_id}),
        ("images.download", {"id": t.image_ids[0]}),
    ]:
        for rname, rng in [
            ("garbage", "bytes=abc"),
            ("reversed", "bytes=100-50"),
            ("past_eof", f"bytes={10**12}-"),
            ("suffix_zero", "bytes=-0"),
            ("multi", "bytes=0-1,5-6"),
            ("empty", "bytes="),
            ("negative", "bytes=-5--1"),
            ("huge", f"bytes=0-{2**70}"),
            ("units", "items=0-1"),
        ]:
            items.append(
                HttpItem(
                    f"{method}/range_{rname}", method, False, body=body, headers={"Range": rng}
                )
            )
    for name, params in [
        ("none", {}),
        ("project_str", {"projectId": "x", "downloadId": "1"}),
        ("other_download", {"projectId": str(t.project_id), "downloadId": "-1"}),
    ]:
        items.append(
            HttpItem(
                f"GET images.data.download/{name}",
                "images.data.download",
                True,
                verb="GET",
                params=params,
            )
        )
    return items


def http_corpus(t: Team, methods: list[str] | None = None) -> list[HttpItem]:
    tpl = templates(t)
    items: list[HttpItem] = []
    for method in methods if methods is not None else list(tpl):
        items += _mutations(method, tpl.get(method, {"id": t.project_id}))
    return items + _blob_items(t) + _transport_items(t)


def _classify(
    item: HttpItem, status: int, body: bytes, headers: dict[str, str]
) -> tuple[bool, str]:
    if status >= 500:
        return False, f"HTTP {status}: {body[:200]!r}"
    if status == 416 and headers.get("Content-Range", "").startswith("bytes */"):
        return True, "HTTP 416 (RFC 9110, with Content-Range)"  # aiohttp's FileResponse
    if status == 400 and item.http_layer_400:
        return True, "HTTP 400 from the HTTP parser"
    if status >= 400:
        try:
            err = json.loads(body)
            good = isinstance(err, dict) and "error" in err
        except ValueError:
            good = False
        return good, f"HTTP {status}" + (
            "" if good else f" without the JSON error shape {body[:120]!r}"
        )
    if item.must_refuse:
        return False, f"HTTP {status}: accepted an invalid request {body[:160]!r}"
    return True, f"HTTP {status}"


async def run_http_corpus(
    session: aiohttp.ClientSession,
    base: str,
    team: Team,
    items: list[HttpItem],
    *,
    concurrency: int = 8,
    timeout: float = 30.0,
    on_done: Callable[[HttpResult], None] | None = None,
) -> list[HttpResult]:
    sem = asyncio.Semaphore(concurrency)

    async def one(item: HttpItem) -> HttpResult:
        async with sem:
            data: Any = item.data
            if item.form is not None:
                form = aiohttp.FormData()
                for k, v, fn in item.form:
                    form.add_field(k, v, filename=fn)
                data = form
            try:
                r = await asyncio.wait_for(
                    call(
                        session,
                        base,
                        team.token,
                        item.method,
                        item.body,
                        data=data,
                        params=item.params,
                        headers=item.headers,
                        verb=item.verb,
                    ),
                    timeout,
                )
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                res = HttpResult(item.name, 0, False, f"{type(exc).__name__}: {exc}")
            else:
                ok, detail = _classify(item, r.status, r.body, r.headers)
                res = HttpResult(item.name, r.status, ok, detail)
        if on_done is not None:
            on_done(res)
        return res

    return list(await asyncio.gather(*(one(i) for i in items)))


async def healthy(session: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with session.get(base + "/healthz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False
