"""The server refuses what the platform refuses, each with a 400 in the platform's error shape
naming the image and the field, and fills what the platform fills (width, height, size)."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest
from PIL import Image

from ._helpers import API, Client, blob_items, member_range, tar_blob

META = {"classes": [{"title": "cat", "shape": "rectangle", "color": "#FF0000"},
                    {"title": "any", "shape": "any", "color": "#00FF00"}], "tags": []}


def _box(title: str = "cat", kind: str = "rectangle") -> dict[str, Any]:
    return {"classTitle": title, "geometryType": kind, "tags": [], "description": "",
            "points": {"exterior": [[1, 1], [7, 6]], "interior": []}}


def _ann(*objects: dict[str, Any], height: int | None = 9, width: int | None = 11) -> Any:
    return {"description": "", "size": {"height": height, "width": width}, "tags": [],
            "objects": list(objects)}


def _images_tar(sizes: list[tuple[str, tuple[int, int]]]) -> tuple[bytes, list[tuple[int, int]]]:
    """A tar of real images (format, (width, height)) and each member's data range."""
    buf = io.BytesIO()
    ranges = []
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for n, (fmt, wh) in enumerate(sizes):
            data = io.BytesIO()
            Image.new("RGB", wh, (n * 40, 0, 0)).save(data, format=fmt)
            info = tarfile.TarInfo(f"i{n}.{fmt.lower()}")
            info.size = len(data.getvalue())
            start = buf.tell() + 512
            tar.addfile(info, io.BytesIO(data.getvalue()))
            ranges.append((start, start + info.size))
    return buf.getvalue(), ranges


def _message(answer: Any) -> str:
    assert set(answer) == {"error", "details"} and answer["details"]["message"] == answer["error"]
    return str(answer["error"])


async def _refused(client: Client, method: str, body: Any, *needles: str, **kw: Any) -> str:
    status, answer = await client.call(method, body, **kw)
    assert status == 400, (status, answer)
    message = _message(answer)
    for needle in needles:
        assert needle in message, (needle, message)
    return message


@pytest.fixture
async def images(client: Client, server: Any, project: dict[str, Any],
                 dataset: dict[str, Any]) -> list[dict[str, Any]]:
    await client.ok("projects.meta.update", {"id": project["id"], "meta": META})
    blob, ranges = _images_tar([("PNG", (11, 9)), ("JPEG", (33, 21)), ("GIF", (5, 4)),
                                ("BMP", (7, 3)), ("WEBP", (13, 12)), ("TIFF", (6, 8))])
    f = await client.upload(server.team_id, "/blob-files/real.tar", blob)
    return list(await client.ok("images.bulk.add", {"datasetId": dataset["id"], "images": [
        {"title": f"i{n}.png", "teamFileId": f["id"],
         "sourceBlob": {"offsetStart": s, "offsetEnd": e}} for n, (s, e) in enumerate(ranges)]}))


async def test_width_and_height_come_from_each_images_header(
    client: Client, images: list[dict[str, Any]]
) -> None:
    want = [(11, 9), (33, 21), (5, 4), (7, 3), (13, 12), (6, 8)]
    assert [(i["width"], i["height"]) for i in images] == want
    for image, wh in zip(images, want, strict=True):
        info = await client.ok("images.info", {"id": image["id"]})
        assert (info["width"], info["height"]) == wh


async def test_size_is_filled_in_returned_annotations(
    client: Client, dataset: dict[str, Any], images: list[dict[str, Any]]
) -> None:
    ids = [i["id"] for i in images]
    await client.ok("annotations.bulk.add", {"datasetId": dataset["id"], "annotations": [
        {"imageId": ids[1], "annotation": _ann(_box(), height=None, width=None)}]})
    infos = await client.ok("annotations.bulk.info", {"datasetId": dataset["id"],
                                                      "imageIds": ids[:2]})
    assert infos[0]["annotation"]["size"] == {"height": 9, "width": 11}  # none stored
    assert infos[1]["annotation"]["size"] == {"height": 21, "width": 33}  # sent as null
    # geometry is stored as it arrived (the SDK sends the platform's subpixel system)
    assert infos[1]["annotation"]["objects"][0]["points"]["exterior"] == [[1, 1], [7, 6]]


async def test_hash_images_get_their_size_too(client: Client, dataset: dict[str, Any]) -> None:
    import aiohttp

    data = io.BytesIO()
    Image.new("RGB", (17, 5)).save(data, format="PNG")
    form = aiohttp.FormData()
    form.add_field("file", data.getvalue(), filename="a.png", content_type="image/png")
    async with client.session.post(API + "images.bulk.upload", data=form,
                                   headers=client.headers()) as r:
        [digest] = await r.json()
    [image] = await client.ok("images.bulk.add", {"datasetId": dataset["id"], "images": [
        {"title": "h.png", "hash": digest["hash"]}]})
    assert (image["width"], image["height"]) == (17, 5)


@pytest.mark.parametrize(("annotation", "needles"), [
    ({"description": "", "tags": [], "objects": []}, [".annotation.size"]),
    ({"size": {"height": 1, "width": 1}, "tags": []}, [".annotation.objects"]),
    (_ann(_box("dog")), [".annotation.objects[0].classTitle", "'dog'"]),
    (_ann(_box("cat", "polygon")), [".annotation.objects[0].geometryType", "'rectangle'"]),
    (_ann({**_box(), "points": {"exterior": [[1, 1]]}}), [".annotation.objects[0].points"]),
    ("not an object", [".annotation: must be a JSON object"]),
])
async def test_annotations_the_platform_refuses_are_400_naming_image_and_field(
    client: Client, dataset: dict[str, Any], images: list[dict[str, Any]], annotation: Any,
    needles: list[str],
) -> None:
    ids = [i["id"] for i in images]
    await _refused(client, "annotations.bulk.add", {"datasetId": dataset["id"], "annotations": [
        {"imageId": ids[0], "annotation": _ann(_box())},
        {"imageId": ids[1], "annotation": annotation}]},
        f"annotations[1] (image {ids[1]}, 'i1.png')", *needles)
    infos = await client.ok("annotations.bulk.info", {"datasetId": dataset["id"],
                                                      "imageIds": ids[:1]})
    assert infos[0]["annotation"]["objects"] == []  # nothing of the batch was stored


async def test_an_any_class_takes_every_geometry(
    client: Client, dataset: dict[str, Any], images: list[dict[str, Any]]
) -> None:
    await client.ok("annotations.bulk.add", {"datasetId": dataset["id"], "annotations": [
        {"imageId": images[0]["id"], "annotation": _ann(_box("any", "polygon"))}]})


@pytest.mark.parametrize(("meta", "needle"), [
    ({"classes": [{"title": "x", "color": "#000000"}]}, "meta.classes[0].shape"),
    ({"classes": [{"title": "x", "shape": "blob", "color": "#000000"}]}, "meta.classes[0].shape"),
    ({"classes": [{"shape": "point"}]}, "meta.classes[0].title"),
    ({"classes": [{"title": "x", "shape": "point"}, {"title": "x", "shape": "point"}]},
     "meta.classes[1].title"),
    ({"tags": [{"value_type": "none"}]}, "meta.tags[0].name"),
])
async def test_meta_classes_are_validated(
    client: Client, project: dict[str, Any], meta: dict[str, Any], needle: str
) -> None:
    await _refused(client, "projects.meta.update", {"id": project["id"], "meta": meta}, needle)
    got = await client.ok("projects.meta", {"id": project["id"]})
    assert got["classes"] == [] and got["tags"] == []


async def test_blob_ranges_must_be_one_members_data(
    client: Client, server: Any, dataset: dict[str, Any]
) -> None:
    f = await client.upload(server.team_id, "/blob-files/t.tar", tar_blob(3))
    start, end = member_range(1)
    for bad, why in [((0, end), "do not start at a tar member's data"),
                     ((start - 512, end), "is not preceded by a tar member header"),
                     ((start, end + 1), "covers 11 bytes where the tar member"),
                     ((start + 512, start + 522), "is not preceded by a tar member header")]:
        await _refused(client, "images.bulk.add", {"datasetId": dataset["id"], "images": [
            *blob_items(f["id"], ["ok.png"]),
            {"title": "bad.png", "teamFileId": f["id"],
             "sourceBlob": {"offsetStart": bad[0], "offsetEnd": bad[1]}}]},
            "images[1] ('bad.png').sourceBlob", why)
    assert (await client.ok("datasets.info", {"id": dataset["id"]}))["itemsCount"] == 0


async def test_at_most_10000_images_per_bulk_add(client: Client, dataset: dict[str, Any]) -> None:
    items = [{"title": f"{n}.png", "hash": "x"} for n in range(10_001)]
    await _refused(client, "images.bulk.add", {"datasetId": dataset["id"], "images": items},
                   "at most 10000")


async def test_unknown_top_level_keys_are_refused(client: Client, dataset: dict[str, Any]) -> None:
    await _refused(client, "images.bulk.add", {"datasetId": dataset["id"], "images": [],
                                               "imagse": []}, "images.bulk.add", "'imagse'")
    await _refused(client, "annotations.bulk.add", {"datasetId": dataset["id"],
                                                    "annotations": [], "anotations": []},
                   "'anotations'")


async def test_per_page_is_capped_at_the_platforms_limit(
    client: Client, dataset: dict[str, Any]
) -> None:
    await _refused(client, "images.list", {"datasetId": dataset["id"], "per_page": 100_000},
                   "'per_page' must be at most 20000")
    assert (await client.ok("images.list", {"datasetId": dataset["id"], "per_page": 20_000}))[
        "perPage"] == 20_000


async def test_json_methods_need_application_json(client: Client, project: dict[str, Any]) -> None:
    body = b'{"id": %d}' % project["id"]
    async with client.session.post(API + "projects.info", data=body, headers={
            **client.headers(), "Content-Type": "text/plain"}) as r:
        assert r.status == 400
        assert "application/json" in _message(await r.json())
    async with client.session.post(API + "projects.info", data=body, headers={
            **client.headers(), "Content-Type": "application/json"}) as r:
        assert r.status == 200
