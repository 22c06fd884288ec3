"""images.*: blob and hash registration, conflicts, listing, downloads, removal."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import aiohttp

from ._helpers import API, Client, blob_items, member, member_range, tar_blob

BLOB = tar_blob()


def b64sha(data: bytes) -> str:
    return base64.standard_b64encode(hashlib.sha256(data).digest()).decode()


async def _blob_images(
    client: Client, server: Any, dataset: dict[str, Any], n: int = 4
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    f = await client.upload(server.team_id, "/blob-files/b.tar", BLOB)
    names = [f"img_{i}.png" for i in range(n)]
    images = await client.ok(
        "images.bulk.add",
        {"datasetId": dataset["id"], "images": blob_items(f["id"], names),
         "forceMetadataForLinks": True, "skipValidation": False},
    )
    return f, images


async def test_blob_bulk_add_returns_blob_fields_in_order(
    client: Client, server: Any, dataset: dict[str, Any]
) -> None:
    f, images = await _blob_images(client, server, dataset)
    assert [i["name"] for i in images] == [f"img_{i}.png" for i in range(4)]
    for n, image in enumerate(images):
        assert image["datasetId"] == dataset["id"]
        assert (image["offsetStart"], image["offsetEnd"]) == member_range(n)
        assert image["size"] == 10 and image["mime"] == "image/png"
        assert isinstance(image["relatedDataId"], int) and isinstance(image["downloadId"], str)
    assert len({i["relatedDataId"] for i in images}) == 1
    info = await client.ok("datasets.info", {"id": dataset["id"]})
    assert info["itemsCount"] == 4


async def test_list_has_blob_fields_by_default(
    client: Client, server: Any, dataset: dict[str, Any]
) -> None:
    _, images = await _blob_images(client, server, dataset, 5)
    listed = await client.ok("images.list", {"datasetId": dataset["id"], "filter": [],
                                             "sort": "id", "sort_order": "asc"})
    assert listed["total"] == 5
    for got, want in zip(listed["entities"], images, strict=True):
        for key in ("id", "name", "relatedDataId", "downloadId", "offsetStart", "offsetEnd"):
            assert got[key] == want[key]
    page = await client.ok("images.list", {"datasetId": dataset["id"], "per_page": 2, "page": 3})
    assert page["pagesCount"] == 3 and [i["id"] for i in page["entities"]] == [images[4]["id"]]
    ids = [images[1]["id"], images[3]["id"]]
    sel = await client.ok("images.list", {"datasetId": dataset["id"], "filter": [
        {"field": "id", "operator": "in", "value": ids}]})
    assert [i["id"] for i in sel["entities"]] == ids
    by_name = await client.ok("images.list", {"datasetId": dataset["id"], "filter": [
        {"field": "name", "operator": "=", "value": "img_2.png"}]})
    assert [i["id"] for i in by_name["entities"]] == [images[2]["id"]]
    one = await client.ok("images.info", {"id": images[0]["id"], "forceMetadataForLinks": False})
    assert one["relatedDataId"] == images[0]["relatedDataId"]
    status, _ = await client.call("images.info", {"id": 987654})
    assert status == 404


async def test_nonunique_lists_every_conflict_and_inserts_nothing(
    client: Client, server: Any, dataset: dict[str, Any]
) -> None:
    f, images = await _blob_images(client, server, dataset, 3)
    batch = blob_items(f["id"], ["new_a.png", "img_0.png", "new_b.png", "img_2.png"])
    status, err = await client.call("images.bulk.add", {"datasetId": dataset["id"],
                                                        "images": batch})
    assert status == 400
    details = err["details"]
    assert details["type"] == "NONUNIQUE"
    assert details["errors"] == [
        {"name": "img_0.png", "id": images[0]["id"]}, {"name": "img_2.png", "id": images[2]["id"]}]
    info = await client.ok("datasets.info", {"id": dataset["id"]})
    assert info["itemsCount"] == 3  # nothing of the batch went in


async def test_offsets_outside_the_file_are_400(
    client: Client, server: Any, dataset: dict[str, Any]
) -> None:
    f = await client.upload(server.team_id, "/blob-files/small.tar", b"x" * 100)
    for start, end in ((90, 101), (-1, 5), (50, 40)):
        status, err = await client.call("images.bulk.add", {"datasetId": dataset["id"], "images": [
            {"title": "a.png", "teamFileId": f["id"],
             "sourceBlob": {"offsetStart": start, "offsetEnd": end}}]})
        assert status == 400, (start, end, err)
    status, _ = await client.call("images.bulk.add", {"datasetId": dataset["id"], "images": [
        {"title": "a.png", "teamFileId": 999999, "sourceBlob": {"offsetStart": 0,
                                                                 "offsetEnd": 1}}]})
    assert status == 404


async def test_data_download_whole_blob(
    client: Client, server: Any, dataset: dict[str, Any], project: dict[str, Any]
) -> None:
    _, images = await _blob_images(client, server, dataset)
    body = {"projectId": project["id"], "downloadId": images[2]["downloadId"]}
    headers = {**client.headers(), "Accept-Encoding": "gzip, deflate"}
    async with client.session.post(API + "images.data.download", json=body,
                                   headers=headers) as r:
        assert r.status == 200
        assert "Content-Encoding" not in r.headers
        assert int(r.headers["Content-Length"]) == len(BLOB)
        assert r.headers["x-content-checksum-sha256"] == b64sha(BLOB)
        assert await r.read() == BLOB
    async with client.session.get(API + "images.data.download", params={
            "projectId": str(project["id"]), "downloadId": images[0]["downloadId"]},
            headers=headers) as r:
        assert r.status == 200 and int(r.headers["Content-Length"]) == len(BLOB)
        assert await r.content.read(10) == BLOB[:10]  # the SDK hangs up early; fine
    async with client.session.post(API + "images.data.download", json=body,
                                   headers={**headers, "Range": "bytes=1000-1999"}) as r:
        assert r.status == 206 and await r.read() == BLOB[1000:2000]
    status, _ = await client.call("images.data.download", {"projectId": project["id"],
                                                           "downloadId": "dl-424242"})
    assert status == 404


async def test_single_and_bulk_download_serve_the_byte_range(
    client: Client, server: Any, dataset: dict[str, Any]
) -> None:
    _, images = await _blob_images(client, server, dataset)
    async with client.session.post(API + "images.download", json={"id": images[1]["id"]},
                                   headers=client.headers()) as r:
        assert r.status == 200 and await r.read() == member(1)
        assert r.headers["x-content-checksum-sha256"] == b64sha(member(1))
    async with client.session.post(API + "images.download", json={"id": images[1]["id"]},
                                   headers={**client.headers(), "Range": "bytes=2-4"}) as r:
        assert r.status == 206 and await r.read() == member(1)[2:5]
    ids = [images[3]["id"], images[0]["id"]]
    async with client.session.post(
        API + "images.bulk.download", json={"datasetId": dataset["id"], "imageIds": ids},
        headers=client.headers(),
    ) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("multipart/")
        reader = aiohttp.MultipartReader.from_response(r)
        parts: dict[int, bytes] = {}
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            disposition = part.headers["Content-Disposition"]
            match = re.search(r'(^|[\s;])name="(\d*)"', disposition)  # the SDK's regex
            assert match is not None
            parts[int(match.group(2))] = bytes(await part.read())
    assert parts == {images[3]["id"]: member(3), images[0]["id"]: member(0)}


async def test_bulk_remove_updates_items_count(
    client: Client, server: Any, dataset: dict[str, Any]
) -> None:
    _, images = await _blob_images(client, server, dataset)
    await client.ok("images.bulk.remove", {"imageIds": [images[0]["id"], images[2]["id"]]})
    assert (await client.ok("datasets.info", {"id": dataset["id"]}))["itemsCount"] == 2
    listed = await client.ok("images.list", {"datasetId": dataset["id"]})
    assert [i["id"] for i in listed["entities"]] == [images[1]["id"], images[3]["id"]]
    status, _ = await client.call("images.bulk.remove", {"imageIds": [images[0]["id"]]})
    assert status == 404


async def test_overwritten_team_file_keeps_old_images_bytes(
    client: Client, server: Any, dataset: dict[str, Any], project: dict[str, Any]
) -> None:
    """§18: a blob image references the immutable object it was registered against."""
    _, old = await _blob_images(client, server, dataset, 2)
    new_blob = tar_blob(1, 100, seed=7)
    f2 = await client.upload(server.team_id, "/blob-files/b.tar", new_blob)
    new = await client.ok("images.bulk.add", {
        "datasetId": dataset["id"], "images": blob_items(f2["id"], ["n0.png"], size=100)})
    assert new[0]["relatedDataId"] != old[0]["relatedDataId"]
    async with client.session.post(API + "images.download", json={"id": old[1]["id"]},
                                   headers=client.headers()) as r:
        assert await r.read() == member(1)
    async with client.session.post(API + "images.data.download", json={
            "projectId": project["id"], "downloadId": old[0]["downloadId"]},
            headers=client.headers()) as r:
        assert await r.read() == BLOB
    async with client.session.post(API + "images.data.download", json={
            "projectId": project["id"], "downloadId": new[0]["downloadId"]},
            headers=client.headers()) as r:
        assert await r.read() == new_blob


async def _upload_images(client: Client, blobs: list[bytes]) -> list[Any]:
    form = aiohttp.FormData()
    for n, data in enumerate(blobs):  # the SDK's part names and filenames
        form.add_field(f"{n}-file", data, filename=str(n), content_type="image/*")
    async with client.session.post(API + "images.bulk.upload", data=form,
                                   headers=client.headers()) as r:
        assert r.status == 200, await r.text()
        return await r.json()  # type: ignore[no-any-return]


async def test_hash_upload_flow(client: Client, dataset: dict[str, Any]) -> None:
    blobs = [b"\x89PNG fake image %d" % i for i in range(3)]
    hashes = [b64sha(b) for b in blobs]
    assert await client.ok("images.internal.hashes.list", hashes) == []
    uploaded = await _upload_images(client, blobs[:2])
    assert uploaded == [{"hash": h} for h in hashes[:2]]
    assert sorted(await client.ok("images.internal.hashes.list", hashes)) == sorted(hashes[:2])
    status, _ = await client.call("images.bulk.add", {"datasetId": dataset["id"], "images": [
        {"title": "c.png", "hash": hashes[2]}]})
    assert status == 400  # never uploaded
    images = await client.ok("images.bulk.add", {"datasetId": dataset["id"], "images": [
        {"title": "a.png", "hash": hashes[0]}, {"title": "b.jpg", "hash": hashes[1],
                                               "meta": {"k": 1}}]})
    assert [i["hash"] for i in images] == hashes[:2]
    assert images[1]["mime"] == "image/jpeg" and images[1]["meta"] == {"k": 1}
    assert images[0]["relatedDataId"] is None and images[0]["size"] == len(blobs[0])
    async with client.session.post(API + "images.download", json={"id": images[1]["id"]},
                                   headers=client.headers()) as r:
        assert await r.read() == blobs[1]
        assert r.headers["x-content-checksum-sha256"] == hashes[1]
    async with client.session.post(
        API + "images.bulk.download",
        json={"datasetId": dataset["id"], "imageIds": [i["id"] for i in images]},
        headers=client.headers(),
    ) as r:
        reader = aiohttp.MultipartReader.from_response(r)
        got = []
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            got.append(bytes(await part.read()))
    assert got == blobs[:2]
    # re-uploading identical bytes is idempotent
    assert await _upload_images(client, blobs[:1]) == [{"hash": hashes[0]}]


async def test_hashes_are_private_to_their_uploader(client: Client, server: Any) -> None:
    data = b"secret image bytes"
    await _upload_images(client, [data])
    await server.add_tenant("other")
    assert await client.ok("images.internal.hashes.list", [b64sha(data)], token="other") == []


def test_image_text_is_the_api_image_object() -> None:
    import json

    from blobflow.server._images import image_text

    text = image_text(1, 2, 3, 'we"ird\\ näme.png', None, 10, "image/png", 7, 0, 10, None, 1,
                      "a", "b", 2)
    assert json.loads(text) == {
        "id": 1, "name": 'we"ird\\ näme.png', "link": None, "hash": None, "mime": "image/png",
        "ext": "png", "size": 10, "width": None, "height": None, "labelsCount": 2,
        "datasetId": 2, "createdAt": "a", "updatedAt": "b", "meta": {},
        "pathOriginal": "/blob/7/0-10", "fullStorageUrl": None, "tags": [], "createdBy": 1,
        "relatedDataId": 7, "downloadId": "dl-7", "offsetStart": 0, "offsetEnd": 10,
        "projectId": 3, "description": "",
    }
    hashed = json.loads(image_text(1, 2, 3, "x", "h=", 5, None, None, None, None,
                                   '{"k": [1]}', None, "a", "b"))
    assert hashed["hash"] == "h=" and hashed["meta"] == {"k": [1]} and hashed["mime"] is None
    assert hashed["relatedDataId"] is None and hashed["downloadId"] is None


async def test_list_by_project_and_recursive(
    client: Client, server: Any, project: dict[str, Any], dataset: dict[str, Any]
) -> None:
    f = await client.upload(server.team_id, "/blob-files/r.tar", BLOB)
    child = await client.ok("datasets.add", {"projectId": project["id"], "name": "child",
                                             "parentId": dataset["id"]})
    await client.ok("images.bulk.add", {"datasetId": dataset["id"],
                                        "images": blob_items(f["id"], ["p.png"])})
    await client.ok("images.bulk.add", {"datasetId": child["id"],
                                        "images": blob_items(f["id"], ["c.png"])})
    flat = await client.ok("images.list", {"datasetId": dataset["id"]})
    assert [i["name"] for i in flat["entities"]] == ["p.png"]
    deep = await client.ok("images.list", {"datasetId": dataset["id"], "recursive": True})
    assert [i["name"] for i in deep["entities"]] == ["p.png", "c.png"]
    whole = await client.ok("images.list", {"projectId": project["id"], "datasetId": None})
    assert whole["total"] == 2
    status, _ = await client.call("images.list", {})
    assert status == 400


async def test_download_id_is_scoped_to_its_project(
    client: Client, server: Any, dataset: dict[str, Any]
) -> None:
    _, images = await _blob_images(client, server, dataset, 1)
    other = await client.ok("projects.add", {"workspaceId": server.workspace_id,
                                             "name": "other"})
    status, _ = await client.call("images.data.download", {
        "projectId": other["id"], "downloadId": images[0]["downloadId"]})
    assert status == 404
    status, _ = await client.call("images.data.download", {
        "projectId": other["id"], "downloadId": "not-an-id"})
    assert status == 404


async def test_bulk_add_reply_equals_images_info(
    client: Client, server: Any, dataset: dict[str, Any]
) -> None:
    """The hot-path encoders agree with the plain dict form, field for field."""
    f = await client.upload(server.team_id, "/blob-files/e.tar", BLOB)
    (digest,) = await _upload_images(client, [b"img"])
    items = [*blob_items(f["id"], ['we"ird näme.JPG', "x.tif", "noext"]),
             {"title": "h.png", "hash": digest["hash"], "meta": {"a": [1, None]}}]
    added = await client.ok("images.bulk.add", {"datasetId": dataset["id"], "images": items})
    listed = await client.ok("images.list", {"datasetId": dataset["id"]})
    for image, from_list in zip(added, listed["entities"], strict=True):
        assert image == await client.ok("images.info", {"id": image["id"]}) == from_list
