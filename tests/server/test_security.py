"""Every method refuses another team's objects; bad bodies are 400s, never 500s."""

from __future__ import annotations

import json
import random
from typing import Any

import aiohttp
import pytest

from blobflow.server._context import JSON_METHODS, RAW_METHODS

from ._helpers import API, Client, blob_items, tar_blob

OTHER = "intruder-token"


@pytest.fixture
async def world(client: Client, server: Any, project: dict[str, Any],
                dataset: dict[str, Any]) -> dict[str, Any]:
    """Objects owned by the bootstrap tenant, plus a second tenant with its own team."""
    meta = await client.ok("projects.meta.update", {"id": project["id"], "meta": {
        "classes": [{"title": "c", "shape": "rectangle", "color": "#000000"}],
        "tags": [{"name": "t", "value_type": "none", "color": "#000000"}]}})
    f = await client.upload(server.team_id, "/blob-files/w.tar", tar_blob(4))
    images = await client.ok("images.bulk.add", {"datasetId": dataset["id"],
                                                 "images": blob_items(f["id"], ["a.png"])})
    figure = await client.ok("figures.bulk.add", {"datasetId": dataset["id"], "figures": [
        {"entityId": images[0]["id"], "classId": meta["classes"][0]["id"],
         "geometryType": "rectangle", "geometry": {"points": {"exterior": [], "interior": []}}}]})
    other_team, other_ws = await server.add_tenant(OTHER)
    return {
        "team": server.team_id, "ws": server.workspace_id, "project": project["id"],
        "dataset": dataset["id"], "file": f["id"], "image": images[0]["id"],
        "download": images[0]["downloadId"], "class": meta["classes"][0]["id"],
        "tag": meta["tags"][0]["id"], "figure": figure[0]["id"], "other_ws": other_ws,
    }


def _foreign_calls(w: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each method: a JSON body (or query) naming the victim's objects."""
    image = w["image"]
    return {
        "teams.info": {"id": w["team"]},
        "workspaces.info": {"id": w["ws"]},
        "workspaces.list": {"teamId": w["team"]},
        "projects.add": {"workspaceId": w["ws"], "name": "x"},
        "projects.info": {"id": w["project"]},
        "projects.list": {"workspaceId": w["ws"]},
        "projects.meta": {"id": w["project"]},
        "projects.meta.update": {"id": w["project"], "meta": {"classes": [], "tags": []}},
        "projects.settings.update": {"id": w["project"], "settings": {"a": 1}},
        "projects.editInfo": {"id": w["project"], "customData": {"owned": True}},
        "datasets.add": {"projectId": w["project"], "name": "x"},
        "datasets.info": {"id": w["dataset"]},
        "datasets.list": {"projectId": w["project"]},
        "datasets.editInfo": {"id": w["dataset"], "name": "x"},
        "file-storage.list": {"teamId": w["team"], "path": "/"},
        "file-storage.info": {"id": w["file"]},
        "file-storage.download": {"teamId": w["team"], "path": "/blob-files/w.tar"},
        "images.bulk.add": {"datasetId": w["dataset"], "images": blob_items(w["file"], ["z.png"])},
        "images.list": {"datasetId": w["dataset"]},
        "images.info": {"id": image},
        "images.bulk.remove": {"imageIds": [image]},
        "images.download": {"id": image},
        "images.bulk.download": {"datasetId": w["dataset"], "imageIds": [image]},
        "images.data.download": {"projectId": w["project"], "downloadId": w["download"]},
        "annotations.bulk.add": {"datasetId": w["dataset"], "annotations": [
            {"imageId": image, "annotation": {"objects": []}}]},
        "annotations.bulk.info": {"datasetId": w["dataset"], "imageIds": [image]},
        "annotations.info": {"imageId": image},
        "figures.bulk.add": {"datasetId": w["dataset"], "figures": [
            {"entityId": image, "classId": w["class"], "geometryType": "rectangle",
             "geometry": {}}]},
        "figures.tags.bulk.add": {"projectId": w["project"], "tags": [
            {"tagId": w["tag"], "figureId": w["figure"], "value": None}]},
        "image-tags.bulk.add-to-image": {"tagId": w["tag"], "ids": [image]},
    }


# Methods with no object to steal: they only ever act on the caller's own things.
_SELF_ONLY = {"instance.version", "users.me", "teams.list", "images.internal.hashes.list",
              "images.bulk.upload"}
_QUERY_UPLOADS = {"file-storage.upload", "file-storage.bulk.upload"}


def test_every_method_is_covered() -> None:
    methods = set(JSON_METHODS) | set(RAW_METHODS)
    covered = set(_foreign_calls({k: 1 for k in ("team", "ws", "project", "dataset", "file",
                                                 "image", "download", "class", "tag",
                                                 "figure", "other_ws")}))
    assert methods - covered - _SELF_ONLY - _QUERY_UPLOADS == set()


async def test_other_team_is_refused_everywhere(client: Client, world: dict[str, Any]) -> None:
    for method, body in _foreign_calls(world).items():
        status, answer = await client.call(method, body, token=OTHER)
        assert status in (403, 404), (method, status, answer)
        assert answer["error"] and answer["details"]["message"], method
    # nothing changed for the owner
    info = await client.ok("projects.info", {"id": world["project"]})
    assert info["customData"] == {} and info["itemsCount"] == 1
    assert (await client.ok("datasets.info", {"id": world["dataset"]}))["name"] == "ds0"
    ann = await client.ok("annotations.info", {"imageId": world["image"]})
    assert len(ann["annotation"]["objects"]) == 1


async def test_uploads_into_another_team_are_403(client: Client, world: dict[str, Any]) -> None:
    headers = client.headers(OTHER)
    async with client.session.post(
        API + "file-storage.upload", params={"teamId": str(world["team"]), "path": "/x.bin"},
        data=b"x", headers=headers,
    ) as r:
        assert r.status == 403
    form = aiohttp.FormData()
    form.add_field("name", "x.bin")
    form.add_field("path", "/")
    form.add_field("file", b"x", filename="x.bin")
    async with client.session.post(
        API + "file-storage.bulk.upload", params={"teamId": str(world["team"])}, data=form,
        headers=headers,
    ) as r:
        assert r.status == 403
    assert await client.ok("file-storage.list", {"teamId": world["team"], "path": "/x.bin"}) == []


async def test_other_tenant_cannot_register_a_foreign_team_file(
    client: Client, world: dict[str, Any], server: Any
) -> None:
    """Even into its own dataset, a team file id of another team is not usable."""
    own = await client.ok("projects.add", {"workspaceId": world["other_ws"], "name": "mine"},
                          token=OTHER)
    ds = await client.ok("datasets.add", {"projectId": own["id"], "name": "d"}, token=OTHER)
    status, _ = await client.call("images.bulk.add", {
        "datasetId": ds["id"], "images": blob_items(world["file"], ["steal.png"])}, token=OTHER)
    assert status == 404


# --- malformed input --------------------------------------------------------------------

_JUNK: list[Any] = [None, True, -1, 2**70, 1.5, "x", "", [], [1, "a"], {}, {"a": None}, "\x00"]


def _mutations(body: dict[str, Any], rng: random.Random) -> list[Any]:
    """Bodies that keep the shape but break types, drop keys or nest garbage."""
    out: list[Any] = [[], "str", 12, None]
    for key in body:
        out.extend({**body, key: junk} for junk in rng.sample(_JUNK, 4))
        out.append({k: v for k, v in body.items() if k != key})
        value = body[key]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out.extend(
                {**body, key: [{**value[0], inner: rng.choice(_JUNK)}]} for inner in value[0]
            )
    return out


async def test_malformed_bodies_are_400_never_500(client: Client, world: dict[str, Any]) -> None:
    rng = random.Random(1234)
    calls = _foreign_calls(world)
    calls["images.internal.hashes.list"] = {}
    for method, body in calls.items():
        for raw in (b"{not json", b"\xff\xfe", b"[" * 100000, b'{"id": 1e999}'):
            status, answer = await client.call(method, raw=raw)
            assert status == 400, (method, raw[:20], status, answer)
            assert answer["details"]["message"]
        for bad in _mutations(body, rng):
            status, answer = await client.call(method, raw=json.dumps(bad).encode())
            assert status < 500, (method, bad, status, answer)
            if status >= 400:
                assert isinstance(answer, dict) and answer["error"], (method, bad)


async def test_bad_multipart_and_query_are_400(client: Client, server: Any) -> None:
    async with client.session.post(
        API + "file-storage.bulk.upload", params={"teamId": "abc"}, data=b"x",
        headers=client.headers(),
    ) as r:
        assert r.status == 400
    async with client.session.post(
        API + "file-storage.bulk.upload", params={"teamId": str(server.team_id)},
        data=b"--b\r\ngarbage", headers={**client.headers(),
                                           "Content-Type": "multipart/form-data; boundary=b"},
    ) as r:
        assert r.status == 400
    async with client.session.post(
        API + "images.bulk.upload", data=b"x", headers=client.headers()
    ) as r:
        assert r.status == 400
    async with client.session.get(
        API + "images.data.download", params={"projectId": "x", "downloadId": "dl-1"},
        headers=client.headers(),
    ) as r:
        assert r.status == 400


async def test_json_body_size_limit(tmp_path: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from blobflow.server import ServerConfig, create_app

    app = await create_app(ServerConfig(tmp_path, token="t", max_json_bytes=1000))
    async with TestClient(TestServer(app)) as tc:
        r = await tc.post(API + "projects.list", data=b'{"a": "' + b"x" * 2000 + b'"}',
                          headers={"x-api-key": "t", "Content-Type": "application/json"})
        assert r.status == 413
        assert (await r.json())["error"]


async def test_upload_size_limit_leaves_nothing(tmp_path: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from blobflow.server import ServerConfig, create_app

    app = await create_app(ServerConfig(tmp_path, token="t", max_upload_bytes=1000))
    async with TestClient(TestServer(app)) as tc:
        r = await tc.post(API + "file-storage.upload", params={"teamId": "1", "path": "/big"},
                          data=b"x" * 5000, headers={"x-api-key": "t"})
        assert r.status == 413
        r = await tc.post(API + "file-storage.list", json={"teamId": 1, "path": "/"},
                          headers={"x-api-key": "t"})
        assert await r.json() == []
    assert list((tmp_path / "tmp").iterdir()) == []
