"""projects.* and datasets.*: fields the SDK relies on, meta ids, nesting, lists."""

from __future__ import annotations

from typing import Any

from ._helpers import Client


async def test_project_fields_the_sdk_needs(client: Client, server: Any) -> None:
    p = await client.ok(
        "projects.add",
        {"workspaceId": server.workspace_id, "name": "p1", "description": "", "type": "images"},
    )
    assert p["teamId"] == server.team_id and p["workspaceId"] == server.workspace_id
    assert p["type"] == "images" and p["customData"] == {} and p["settings"] == {}
    info = await client.ok("projects.info", {"id": p["id"]})
    assert info["id"] == p["id"] and info["name"] == "p1"
    status, _ = await client.call("projects.info", {"id": 999999})
    assert status == 404


async def test_duplicate_project_name_is_400(client: Client, server: Any) -> None:
    body = {"workspaceId": server.workspace_id, "name": "same", "type": "images"}
    await client.ok("projects.add", body)
    status, err = await client.call("projects.add", body)
    assert status == 400 and "already exists" in err["error"]


async def test_projects_list_filter_and_pages(client: Client, server: Any) -> None:
    for i in range(5):
        await client.ok("projects.add", {"workspaceId": server.workspace_id, "name": f"p{i}"})
    flt = [{"field": "name", "operator": "=", "value": "p3"}]
    found = await client.ok("projects.list", {"workspaceId": server.workspace_id, "filter": flt})
    assert found["total"] == 1 and found["entities"][0]["name"] == "p3"
    none = [{"field": "name", "operator": "=", "value": "p_001"}]
    empty = await client.ok("projects.list", {"workspaceId": server.workspace_id, "filter": none})
    assert empty["total"] == 0 and empty["entities"] == []
    page2 = await client.ok(
        "projects.list",
        {"workspaceId": server.workspace_id, "sort": "id", "sort_order": "asc",
         "page": 2, "per_page": 2},
    )
    assert page2["total"] == 5 and page2["pagesCount"] == 3 and page2["perPage"] == 2
    assert [p["name"] for p in page2["entities"]] == ["p2", "p3"]
    ids = [p["id"] for p in page2["entities"]]
    by_in = await client.ok(
        "projects.list", {"filter": [{"field": "id", "operator": "in", "value": ids}]}
    )
    assert sorted(p["id"] for p in by_in["entities"]) == sorted(ids)


async def test_meta_update_assigns_stable_ids(client: Client, project: dict[str, Any]) -> None:
    meta = {
        "classes": [{"title": "cat", "shape": "rectangle", "color": "#FF0000",
                     "geometry_config": {}, "hotkey": ""}],
        "tags": [{"name": "good", "value_type": "none", "color": "#00FF00"}],
        "projectSettings": {"multiView": {"enabled": False, "tagName": None, "tagId": None,
                                          "isSynced": False}},
    }
    updated = await client.ok("projects.meta.update", {"id": project["id"], "meta": meta})
    cat_id = updated["classes"][0]["id"]
    tag_id = updated["tags"][0]["id"]
    assert isinstance(cat_id, int) and isinstance(tag_id, int)
    meta["classes"].append({"title": "dog", "shape": "polygon", "color": "#0000FF"})
    again = await client.ok("projects.meta.update", {"id": project["id"], "meta": meta})
    ids = {c["title"]: c["id"] for c in again["classes"]}
    assert ids["cat"] == cat_id and ids["dog"] not in (cat_id, tag_id)
    read = await client.ok("projects.meta", {"id": project["id"]})
    assert {c["title"]: c["id"] for c in read["classes"]} == ids
    assert read["tags"][0]["id"] == tag_id


async def test_settings_and_custom_data(client: Client, project: dict[str, Any]) -> None:
    settings = {"groupImages": False, "groupImagesByTagId": None, "groupImagesSync": False}
    await client.ok("projects.settings.update", {"id": project["id"], "settings": settings})
    await client.ok(
        "projects.editInfo",
        {"id": project["id"], "customData": {"is_blob_project": True}, "silent": False},
    )
    info = await client.ok("projects.info", {"id": project["id"]})
    assert info["settings"] == settings
    assert info["customData"] == {"is_blob_project": True}


async def test_nested_datasets(client: Client, project: dict[str, Any]) -> None:
    pid = project["id"]
    top = await client.ok("datasets.add", {"projectId": pid, "name": "top", "description": "",
                                           "parentId": None})
    child = await client.ok("datasets.add", {"projectId": pid, "name": "child",
                                             "parentId": top["id"]})
    assert child["parentId"] == top["id"] and child["projectId"] == pid
    assert child["teamId"] == project["teamId"] and child["workspaceId"] == project["workspaceId"]
    flat = await client.ok("datasets.list", {"projectId": pid, "filter": []})
    assert [d["name"] for d in flat["entities"]] == ["top"]
    tree = await client.ok("datasets.list", {"projectId": pid, "filter": [], "recursive": True})
    assert {d["name"]: d["parentId"] for d in tree["entities"]} == {
        "top": None, "child": top["id"]}
    assert all("customData" not in d for d in tree["entities"])  # keeps DatasetInfo hashable
    with_cd = await client.ok(
        "datasets.list", {"projectId": pid, "recursive": True, "extraFields": ["customData"]}
    )
    assert all(d["customData"] == {} for d in with_cd["entities"])
    by_parent = await client.ok(
        "datasets.list",
        {"projectId": pid, "filter": [{"field": "parentId", "operator": "=", "value": top["id"]}],
         "recursive": True},
    )
    assert [d["id"] for d in by_parent["entities"]] == [child["id"]]
    status, _ = await client.call(
        "datasets.add", {"projectId": pid, "name": "child", "parentId": top["id"]}
    )
    assert status == 400
    info = await client.ok("datasets.info", {"id": child["id"]})
    assert info["itemsCount"] == 0 and info["parentId"] == top["id"]
    status, _ = await client.call("datasets.info", {"id": 424242})
    assert status == 404
    # the same short name under another parent is fine
    await client.ok("datasets.add", {"projectId": pid, "name": "child", "parentId": None})
    project_info = await client.ok("projects.info", {"id": pid})
    assert project_info["datasetsCount"] == 3
