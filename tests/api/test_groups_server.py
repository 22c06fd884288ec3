"""The API groups against the in-process reference server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from blobflow.api import Api, AuthError, NotFoundError

from .._helpers import FAST


async def test_teams_workspaces(api: Api, server: Any) -> None:
    teams = await api.team.get_list()
    assert server.team_id in [t.id for t in teams]
    spaces = await api.workspace.get_list(server.team_id)
    assert server.workspace_id in [w.id for w in spaces]
    ws = await api.workspace.get_info_by_id(server.workspace_id)
    assert ws is not None and ws.team_id == server.team_id


async def test_bad_token_is_auth_error(server: Any) -> None:
    async with Api(server.address, "wrong-token", FAST) as bad:
        with pytest.raises(AuthError) as info:
            await bad.team.get_list()
    assert info.value.status in (401, 403)


async def test_project_meta_and_custom_data(api: Api, server: Any) -> None:
    p = await api.project.create(server.workspace_id, "m")
    assert p.id is not None and p.team_id == server.team_id and p.type == "images"
    again = await api.project.create(server.workspace_id, "m", change_name_if_conflict=True)
    assert again.name == "m_001"
    assert (
        await api.project.get_info_by_name(server.workspace_id, "m")
    ) == await api.project.get_info_by_id(p.id)
    meta = {
        "classes": [{"title": "cat", "shape": "rectangle", "color": "#FF0000"}],
        "tags": [],
    }
    stored = await api.project.update_meta(p.id, meta)
    got = await api.project.get_meta(p.id, with_settings=True)
    assert [c["title"] for c in got["classes"]] == ["cat"]
    assert "projectSettings" in got and [c["title"] for c in stored["classes"]] == ["cat"]
    await api.project.update_custom_data(p.id, {"k": 1})
    await api.project.mark_blob_project(p.id)
    assert await api.project.get_custom_data(p.id) == {"k": 1, "is_blob_project": True}
    assert await api.project.get_info_by_id(10_000) is None


async def test_datasets_nested(api: Api, server: Any) -> None:
    p = await api.project.create(server.workspace_id, "d")
    assert p.id is not None
    top = await api.dataset.create(p.id, "top")
    child = await api.dataset.create(p.id, "child", parent_id=top.id)
    assert child.parent_id == top.id
    assert [d.name for d in await api.dataset.get_list(p.id)] == ["top"]
    assert sorted(d.name or "" for d in await api.dataset.get_list(p.id, recursive=True)) == [
        "child",
        "top",
    ]
    assert [d.id for d in await api.dataset.get_list(p.id, parent_id=top.id)] == [child.id]
    dup = await api.dataset.create(p.id, "top", change_name_if_conflict=True)
    assert dup.name == "top_001"
    assert await api.dataset.get_info_by_id(10_000) is None


async def test_team_files(api: Api, server: Any, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    await asyncio.to_thread(src.write_bytes, b"abc" * 1000)
    info = await api.file.upload(server.team_id, src, "/x/a.bin")
    assert info.path == "/x/a.bin" and info.id is not None
    assert await api.file.exists(server.team_id, "/x/a.bin")
    assert not await api.file.exists(server.team_id, "/x/nope.bin")
    assert await api.file.dir_exists(server.team_id, "/x/")
    listed = await api.file.list(server.team_id, "/x/", recursive=False, return_type="fileinfo")
    assert [f.name for f in listed] == ["a.bin"]
    assert (await api.file.get_info_by_id(info.id)).path == "/x/a.bin"
    res = await api.file.download(server.team_id, "/x/a.bin", tmp_path / "out" / "a.bin")
    assert await asyncio.to_thread(res.path.read_bytes) == b"abc" * 1000
    with pytest.raises(NotFoundError):
        await api.file.get_info_by_id(10_000)
