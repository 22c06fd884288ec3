"""The server under hostile HTTP and across tenants (an in-process server, raw HTTP).

* every method gets malformed JSON, wrong types, huge arrays, negative ids and offsets out of
  range: never a 5xx, always the JSON error shape, and the server stays healthy;
* team B, with its own valid token, is refused on every method that touches team A's objects,
  sees nothing of A in its own lists, and A's objects are unchanged afterwards (both ways).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from benchmarks.reliability.httpcorpus import (
    SPECIAL_METHODS,
    healthy,
    http_corpus,
    run_http_corpus,
    templates,
)
from benchmarks.reliability.isolation import run_isolation
from benchmarks.reliability.tenants import Team, call, populate

# One loop is enough: these tests are about the server's answers, not the client's event loop.
one_loop = pytest.mark.asyncio(loop_factories=["uvloop"])


@pytest.fixture
async def two_teams(server: Any) -> AsyncIterator[tuple[str, Team, Team, Path]]:
    """Two teams on one server (the ``server`` fixture: one per backend), both populated."""
    tid, wid = await server.add_tenant("team-b-token-" + "b" * 20)
    a = Team(server.token, server.team_id, server.workspace_id, "SECRETaaa")
    b = Team("team-b-token-" + "b" * 20, tid, wid, "SECRETbbb")
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        await populate(s, server.address, a)
        await populate(s, server.address, b)
    yield server.address, a, b, server.data_dir


@one_loop
async def test_isolation_matrix(two_teams: tuple[str, Team, Team, Path]) -> None:
    base, a, b, _ = two_teams
    async with aiohttp.ClientSession() as s:
        checks = await run_isolation(s, base, a, b, "B->A")
        checks += await run_isolation(s, base, b, a, "A->B")
    failed = [f"{c.attacker} {c.name}: {c.detail}" for c in checks if not c.passed]
    assert len(checks) > 100
    assert not failed, "isolation failures:\n" + "\n".join(failed)


def test_isolation_covers_every_method() -> None:
    from benchmarks.reliability.isolation import _attempts
    from blobflow.server._context import JSON_METHODS, RAW_METHODS

    t = Team("t", 1, 1, "m", 1, 1, 1, "/p", b"", [1, 2], {}, "d", 1, b"", 1, 1, 1)
    attacked = {m for _, m, _ in _attempts(t, t)}
    public = {
        "instance.version",
        "users.me",
        "teams.list",
        "images.internal.hashes.list",
        "images.bulk.upload",
    }  # no other team's object to name (lists are checked apart)
    missing = (set(JSON_METHODS) | set(RAW_METHODS)) - attacked - public
    assert not missing, f"methods without an isolation check: {sorted(missing)}"


@one_loop
async def test_hostile_http_never_500(two_teams: tuple[str, Team, Team, Path]) -> None:
    from blobflow.server._context import JSON_METHODS, RAW_METHODS

    base, a, _, data_dir = two_teams
    methods = sorted(set(JSON_METHODS) | set(RAW_METHODS))
    untemplated = set(methods) - set(templates(a)) - SPECIAL_METHODS
    items = http_corpus(a, methods)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        results = await run_http_corpus(s, base, a, items)
        assert await healthy(s, base), "the server is not healthy after the corpus"
        # and it still serves a real request
        async with s.post(
            base + "/public/api/v3/projects.info",
            json={"id": a.project_id},
            headers={"x-api-key": a.token},
        ) as r:
            assert r.status == 200
    bad = [f"{r.name}: {r.detail}" for r in results if not r.ok]
    assert len(results) > 1000
    assert not bad, f"{len(bad)} of {len(results)} answers were unsafe:\n" + "\n".join(bad[:400])
    assert not untemplated, f"methods only probed with a generic body: {sorted(untemplated)}"
    assert not list(data_dir.parent.rglob("blobflow_escape*")), "a path escaped the data dir"
    if (data_dir / "blobflow.sqlite3").exists():  # the embedded backend
        with sqlite3.connect(data_dir / "blobflow.sqlite3") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@one_loop
@pytest.mark.parametrize("title", ["../../x.png", "/etc/x.png", "a\\b.png", "..", "sub/x.png"])
async def test_regression_image_title_must_be_a_file_name(
    two_teams: tuple[str, Team, Team, Path], title: str
) -> None:
    # Found by the corpus: the server registered titles that are paths; a client writing
    # img/<title> or ann/<title>.json (the SDK does) would then write outside its folder.
    base, a, _, _ = two_teams
    item = {
        "title": title,
        "teamFileId": a.file_id,
        "sourceBlob": {"offsetStart": 512, "offsetEnd": 600},
    }
    async with aiohttp.ClientSession() as s:
        r = await call(
            s, base, a.token, "images.bulk.add", {"datasetId": a.dataset_id, "images": [item]}
        )
    assert r.status == 400 and "file name" in r.json()["error"]
