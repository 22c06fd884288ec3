"""Routing, authentication, the bootstrap tenant, teams and workspaces."""

from __future__ import annotations

from typing import Any

import aiohttp

from ._helpers import API, Client


async def test_healthz_needs_no_token(server: Any) -> None:
    async with aiohttp.ClientSession() as s, s.get(server.address + "/healthz") as r:
        assert r.status == 200
        assert (await r.json()) == {"status": "ok"}


async def test_missing_and_wrong_token_are_401(client: Client) -> None:
    async with client.session.post(API + "users.me", json={}) as r:
        assert r.status == 401
        body = await r.json()
        assert body["error"] and body["details"]["message"]
    status, body = await client.call("users.me", token="not-a-token")
    assert status == 401


async def test_instance_version_is_recent_enough(client: Client) -> None:
    version = (await client.ok("instance.version"))["version"]
    assert tuple(int(p) for p in version.split(".")) >= (6, 18, 3)


async def test_bootstrap_tenant_is_visible(client: Client, server: Any) -> None:
    me = await client.ok("users.me")
    assert me["id"] and server.team_id in me["teams"]
    teams = await client.ok("teams.list", {"filter": []})
    assert teams["total"] == 1 and teams["entities"][0]["id"] == server.team_id
    assert (await client.ok("teams.info", {"id": server.team_id}))["id"] == server.team_id
    spaces = await client.ok("workspaces.list", {"teamId": server.team_id, "filter": []})
    assert [w["id"] for w in spaces["entities"]] == [server.workspace_id]
    ws = await client.ok("workspaces.info", {"id": server.workspace_id})
    assert ws["teamId"] == server.team_id


async def test_bootstrap_is_stable_across_restarts(tmp_path: Any) -> None:
    from blobflow.server import serve_in_process

    async with serve_in_process(tmp_path, token="t1") as first:
        pass
    async with serve_in_process(tmp_path) as again:
        assert again.token == "t1"  # the stored token is reused
        assert (again.team_id, again.workspace_id) == (first.team_id, first.workspace_id)
    async with serve_in_process(tmp_path, token="t2") as other:
        assert other.token == "t2" and other.team_id == first.team_id


async def test_tenants_see_only_their_team(client: Client, server: Any) -> None:
    team2, ws2 = await server.add_tenant("token-2")
    assert team2 != server.team_id
    teams = await client.ok("teams.list", {}, token="token-2")
    assert [t["id"] for t in teams["entities"]] == [team2]
    status, _ = await client.call("teams.info", {"id": server.team_id}, token="token-2")
    assert status in (403, 404)
    status, _ = await client.call("workspaces.info", {"id": server.workspace_id}, token="token-2")
    assert status in (403, 404)
    status, _ = await client.call("workspaces.list", {"teamId": server.team_id}, token="token-2")
    assert status == 403
    assert (await server.add_tenant("token-2")) == (team2, ws2)  # idempotent


async def test_unknown_method_and_wrong_verb(client: Client) -> None:
    status, body = await client.call("no.such.method")
    assert status == 404 and "no.such.method" in body["error"]
    async with client.session.get(API + "users.me", headers=client.headers()) as r:
        assert r.status == 405
        assert "error" in await r.json()


async def test_a_data_dir_serves_one_server_at_a_time(tmp_path: Any) -> None:
    import pytest

    from blobflow import BlobflowError
    from blobflow.server import serve_in_process

    async with serve_in_process(tmp_path, token="t"):
        with pytest.raises(BlobflowError, match="in use"):
            async with serve_in_process(tmp_path, token="t"):
                pass
    async with serve_in_process(tmp_path, token="t"):  # free again once the first stopped
        pass


async def test_batch_limits(client: Client, server: Any) -> None:
    status, err = await client.call("images.bulk.download", {"imageIds": list(range(1, 1002))})
    assert status == 400 and "at most" in err["error"]
    items = [{"title": f"{i}", "hash": "h"} for i in range(50_001)]
    status, err = await client.call("images.bulk.add", {"datasetId": 1, "images": items})
    assert status == 400 and "at most" in err["error"]
