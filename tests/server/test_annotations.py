"""annotations.* stored verbatim; figures and tags (quick_import) returned as objects."""

from __future__ import annotations

from typing import Any

from ._helpers import Client, blob_items, tar_blob

ANN = {
    "description": "",
    "size": {"height": 20, "width": 30},
    "tags": [],
    "objects": [{"classTitle": "cat", "description": "", "tags": [],
                 "points": {"exterior": [[1, 1], [6, 6]], "interior": []},
                 "geometryType": "rectangle", "shape": "rectangle",
                 "nnCreated": False, "nnUpdated": False}],
    "customBigData": {},
}


async def _setup(client: Client, server: Any, project: dict[str, Any],
                 dataset: dict[str, Any], n: int = 3) -> tuple[dict[str, Any], list[int]]:
    meta = await client.ok("projects.meta.update", {"id": project["id"], "meta": {
        "classes": [{"title": "cat", "shape": "rectangle", "color": "#FF0000"}],
        "tags": [{"name": "good", "value_type": "any_string", "color": "#00FF00"}]}})
    f = await client.upload(server.team_id, "/blob-files/a.tar", tar_blob(n))
    images = await client.ok("images.bulk.add", {
        "datasetId": dataset["id"], "images": blob_items(f["id"], [f"{i}.png" for i in range(n)])})
    return meta, [i["id"] for i in images]


async def test_annotations_round_trip_verbatim(
    client: Client, server: Any, project: dict[str, Any], dataset: dict[str, Any]
) -> None:
    _, ids = await _setup(client, server, project, dataset)
    await client.ok("annotations.bulk.add", {
        "datasetId": dataset["id"], "skipBoundsValidation": False,
        "annotations": [{"imageId": ids[0], "annotation": ANN}]})
    infos = await client.ok("annotations.bulk.info", {
        "datasetId": dataset["id"], "imageIds": ids, "withCustomBigData": False,
        "forceMetadataForLinks": True, "integerCoords": False})
    assert [i["imageId"] for i in infos] == ids  # every requested id, annotated or not
    assert infos[0]["annotation"] == ANN and infos[0]["imageName"] == "0.png"
    assert infos[1]["annotation"]["objects"] == [] and "size" in infos[1]["annotation"]
    one = await client.ok("annotations.info", {"imageId": ids[0], "withCustomBigData": False})
    assert one["annotation"] == ANN and one["datasetId"] == dataset["id"]


async def test_figures_and_tags_become_objects(
    client: Client, server: Any, project: dict[str, Any], dataset: dict[str, Any]
) -> None:
    meta, ids = await _setup(client, server, project, dataset)
    class_id = meta["classes"][0]["id"]
    tag_id = meta["tags"][0]["id"]
    geometry = {"points": {"exterior": [[1, 1], [5, 5]], "interior": []}}
    figures = await client.ok("figures.bulk.add", {"datasetId": dataset["id"], "figures": [
        {"entityId": ids[1], "classId": class_id, "geometryType": "rectangle",
         "geometry": geometry}]})
    assert len(figures) == 1 and isinstance(figures[0]["id"], int)
    await client.ok("figures.tags.bulk.add", {"projectId": project["id"], "tags": [
        {"tagId": tag_id, "figureId": figures[0]["id"], "value": "v"}]})
    await client.ok("image-tags.bulk.add-to-image", {"tagId": tag_id, "value": "img",
                                                     "ids": [ids[1]]})
    ann = (await client.ok("annotations.info", {"imageId": ids[1]}))["annotation"]
    (obj,) = ann["objects"]
    assert obj["classTitle"] == "cat" and obj["geometryType"] == "rectangle"
    assert obj["points"] == geometry["points"]
    assert obj["tags"][0]["name"] == "good" and obj["tags"][0]["value"] == "v"
    assert ann["tags"][0]["name"] == "good" and ann["tags"][0]["value"] == "img"
    listed = await client.ok("images.list", {"datasetId": dataset["id"]})
    assert [i["labelsCount"] for i in listed["entities"]] == [0, 1, 0]
    # annotations.bulk.add replaces the figures, as on the platform
    await client.ok("annotations.bulk.add", {"datasetId": dataset["id"], "annotations": [
        {"imageId": ids[1], "annotation": ANN}]})
    assert (await client.ok("annotations.info", {"imageId": ids[1]}))["annotation"] == ANN


async def test_unknown_class_or_foreign_image_is_refused(
    client: Client, server: Any, project: dict[str, Any], dataset: dict[str, Any]
) -> None:
    _, ids = await _setup(client, server, project, dataset)
    status, _ = await client.call("figures.bulk.add", {"datasetId": dataset["id"], "figures": [
        {"entityId": ids[0], "classId": 99999, "geometryType": "rectangle",
         "geometry": {"points": {"exterior": [], "interior": []}}}]})
    assert status == 400
    status, _ = await client.call("annotations.bulk.info", {"datasetId": dataset["id"],
                                                            "imageIds": [ids[0], 77777]})
    assert status == 404


async def test_too_deep_annotation_is_400_and_the_batch_is_not_stored(
    client: Client, server: Any, project: dict[str, Any], dataset: dict[str, Any]
) -> None:
    _, ids = await _setup(client, server, project, dataset)
    deep: Any = []
    for _ in range(300):  # parses (limit 1,024), but deeper than the encoder stores (254)
        deep = [deep]
    status, answer = await client.call("annotations.bulk.add", {
        "datasetId": dataset["id"], "annotations": [
            {"imageId": ids[0], "annotation": ANN},
            {"imageId": ids[1], "annotation": {**ANN, "customBigData": {"x": deep}}}]})
    assert status == 400 and "annotations[1] (image" in answer["details"]["message"]
    infos = await client.ok("annotations.bulk.info", {"datasetId": dataset["id"], "imageIds": ids})
    assert [i["annotation"]["objects"] for i in infos] == [[], [], []]


async def test_image_names_are_escaped_in_annotation_infos(
    client: Client, server: Any, project: dict[str, Any], dataset: dict[str, Any]
) -> None:
    await client.ok("projects.meta.update", {"id": project["id"], "meta": {
        "classes": [{"title": "cat", "shape": "rectangle", "color": "#FF0000"}], "tags": []}})
    f = await client.upload(server.team_id, "/blob-files/n.tar", tar_blob(1))
    name = 'ünï "quoted" {tab:\t}.png'
    images = await client.ok("images.bulk.add", {
        "datasetId": dataset["id"], "images": blob_items(f["id"], [name])})
    await client.ok("annotations.bulk.add", {"datasetId": dataset["id"], "annotations": [
        {"imageId": images[0]["id"], "annotation": ANN}]})
    infos = await client.ok("annotations.bulk.info", {
        "datasetId": dataset["id"], "imageIds": [images[0]["id"]]})
    assert infos[0]["imageName"] == name and infos[0]["annotation"] == ANN
    assert infos[0]["datasetId"] == dataset["id"] and infos[0]["createdAt"]
