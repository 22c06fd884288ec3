"""The scale-out backends (PostgreSQL + S3) as N stateless nodes: what one node stores another
serves; concurrent registrations through different nodes never duplicate or lose an image; a
node killed mid-upload leaves nothing visible and nothing behind once a survivor sweeps; an
unreachable database or object store is a prompt 503 (in the error shape), never a 500 or a hang.

Every test here needs the services (``scale_urls``: skipped without them, failed in CI).
Outcomes are checked with plain HTTP, hashlib and the store's own listing.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from benchmarks.reliability.faultproxy import FaultProxy
from blobflow._errors import BlobflowError
from blobflow.server import ServerProcess, serve_in_process
from blobflow.server._app import sweep_orphans
from blobflow.server._context import STATE

from ._helpers import API, Client, blob_items, stored_files, tar_blob

# The point is the backends, not the client's loop flavour: one loop keeps the suite short.
pytestmark = pytest.mark.asyncio(loop_factories=["uvloop"])

TOKEN = "scale-token-" + "s" * 20


def _b64(data: bytes) -> str:
    import base64

    return base64.standard_b64encode(hashlib.sha256(data).digest()).decode()


async def _client(session: aiohttp.ClientSession) -> Client:
    return Client(session, TOKEN)


async def _upload(session: aiohttp.ClientSession, team_id: int, path: str, data: Any) -> Any:
    async with session.post(
        API + "file-storage.upload", params={"teamId": str(team_id), "path": path}, data=data,
        headers={"x-api-key": TOKEN},
    ) as r:
        body = await r.json()
        assert r.status == 200, body
        return body


def part_size() -> int:
    """The S3 store's part size. Its module needs the scale-out drivers (the [server-scale]
    extra), so it is imported by the tests that run, never when the file is collected: the
    README's test command, without that extra, skips these tests instead of failing."""
    from blobflow.server._s3 import PART_SIZE

    return PART_SIZE


async def test_what_one_node_stores_another_serves(scale_urls: dict[str, Any], tmp_path: Path
                                                   ) -> None:
    # Larger than a part: a multipart upload, streamed; then whole and ranged reads elsewhere.
    part = part_size()
    data = os.urandom(2 * part + 12345)
    async with serve_in_process(tmp_path / "n1", token=TOKEN, **scale_urls) as n1, \
            serve_in_process(tmp_path / "n2", token=TOKEN, **scale_urls) as n2:
        assert (n1.team_id, n1.workspace_id) == (n2.team_id, n2.workspace_id)
        async with aiohttp.ClientSession(n1.address) as s1, \
                aiohttp.ClientSession(n2.address, auto_decompress=False) as s2:
            info = await _upload(s1, n1.team_id, "/big/blob.tar", data)
            assert info["hash"] == _b64(data)
            c2 = await _client(s2)
            listed = await c2.ok("file-storage.list", {"teamId": n2.team_id, "path": "/big/"})
            assert [f["id"] for f in listed] == [info["id"]]
            body = {"id": info["id"]}
            async with s2.post(API + "file-storage.download", json=body,
                               headers=c2.headers()) as r:
                assert r.status == 200
                assert r.headers["x-content-checksum-sha256"] == _b64(data)
                assert await r.read() == data
            start, end = part - 100, part + 5000  # across a part boundary
            async with s2.post(API + "file-storage.download", json=body,
                               headers={**c2.headers(), "Range": f"bytes={start}-{end - 1}"}
                               ) as r:
                assert r.status == 206
                assert r.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(data)}"
                assert await r.read() == data[start:end]
        stored = await stored_files(n1)
        assert await stored_files(n2) == stored
        assert len(stored) == 1 and "/objects/" in stored[0], stored  # nothing in flight


async def test_concurrent_registrations_through_two_nodes(scale_urls: dict[str, Any],
                                                          tmp_path: Path) -> None:
    """Overlapping batches into one dataset through both nodes at once: each batch is all
    registered or refused whole (NONUNIQUE, naming names that exist), no name twice, none lost."""
    names = [f"img_{i:05d}.png" for i in range(2000)]
    blob = tar_blob(len(names))
    async with serve_in_process(tmp_path / "n1", token=TOKEN, **scale_urls) as n1, \
            serve_in_process(tmp_path / "n2", token=TOKEN, **scale_urls) as n2:
        async with aiohttp.ClientSession(n1.address) as s1, \
                aiohttp.ClientSession(n2.address) as s2:
            c1, c2 = await _client(s1), await _client(s2)
            file = await _upload(s1, n1.team_id, "/blob/b.tar", blob)
            project = await c1.ok("projects.add", {"workspaceId": n1.workspace_id, "name": "p",
                                                   "type": "images"})
            ds = await c2.ok("datasets.add", {"projectId": project["id"], "name": "d"})
            items = blob_items(file["id"], names)
            # 16 batches of 250 names, each half overlapping the next: every name is asked for
            # twice, through alternating nodes.
            batches = [items[(k * 125) % 2000:][:250] for k in range(16)]

            async def add(client: Client, batch: list[dict[str, Any]]) -> tuple[int, Any]:
                return await client.call("images.bulk.add",
                                         {"datasetId": ds["id"], "images": batch})

            results = await asyncio.gather(
                *(add(c1 if k % 2 else c2, b) for k, b in enumerate(batches))
            )
            page = await c1.ok("images.list", {"datasetId": ds["id"], "per_page": 20000})
    listed = [e["name"] for e in page["entities"]]
    assert len(listed) == len(set(listed)), "a name was registered twice"
    assert len({e["id"] for e in page["entities"]}) == len(listed)
    registered: set[str] = set()
    for (status, body), batch in zip(results, batches, strict=True):
        batch_names = {i["title"] for i in batch}
        if status == 200:
            assert {i["name"] for i in body} == batch_names
            registered |= batch_names
        else:
            assert status == 400 and body["details"]["type"] == "NONUNIQUE", body
            conflicts = {e["name"] for e in body["details"]["errors"]}
            assert conflicts and conflicts <= batch_names and conflicts <= set(listed)
    assert set(listed) == registered, "an accepted image is missing, or a refused one is there"
    assert registered, "no batch was accepted"


async def test_a_node_killed_mid_upload_leaves_nothing_after_a_sweep(
    scale_urls: dict[str, Any], tmp_path: Path
) -> None:
    part = part_size()
    sent = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        chunk = os.urandom(1 << 20)
        for i in range(10 * part >> 20):
            yield chunk
            if i == (2 * part >> 20) + 2:  # two parts are stored by now
                sent.set()
                await asyncio.sleep(30)  # the node dies meanwhile

    victim = ServerProcess(tmp_path / "victim", token=TOKEN, **scale_urls)
    async with victim, aiohttp.ClientSession(victim.address) as s:
        upload = asyncio.ensure_future(_upload(s, victim.team_id, "/crash/x.tar", body()))
        await asyncio.wait_for(sent.wait(), 60)
        await asyncio.sleep(1.0)  # let the node send the parts on
        victim.kill()
        with pytest.raises(aiohttp.ClientError):
            await upload
    async with serve_in_process(tmp_path / "survivor", token=TOKEN, **scale_urls) as node:
        c = await _client(aiohttp.ClientSession(node.address))
        async with c.session:
            assert await c.ok("file-storage.list", {"teamId": node.team_id, "path": "/"}) == []
            in_flight = await stored_files(node)
            assert in_flight and all(f.startswith("in flight: ") for f in in_flight), in_flight
            state = node._app[STATE]  # type: ignore[index]
            state.storage.sweep_grace_s = 0  # a survivor's sweep, once the grace has passed
            assert await sweep_orphans(state) == len(in_flight)
            assert await stored_files(node) == []
            rows = await state.db.read(
                lambda conn: conn.execute("SELECT count(*) FROM objects").fetchone()[0]
            )
            assert rows == 0


async def _wait_status(s: aiohttp.ClientSession, path: str, status: int, **kw: Any) -> Any:
    """Poll until ``path`` answers ``status``; each answer must come within 15 s (no hang)."""
    deadline = time.monotonic() + 30
    while True:
        started = time.monotonic()
        async with s.post(path, **kw) if kw else s.get(path) as r:
            assert time.monotonic() - started < 15, "the answer took too long"
            assert r.status != 500, await r.text()
            if r.status == status:
                return await r.json()
        assert time.monotonic() < deadline, f"{path} never answered {status}"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("store", ["database", "object store"])
async def test_an_unreachable_store_is_a_503_until_it_is_back(
    scale_urls: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    db_url, storage_url = scale_urls["db_url"], scale_urls["storage_url"]
    target = db_url if store == "database" else os.environ["AWS_ENDPOINT_URL"]
    host_port = target.split("@")[-1].split("//")[-1].split("/")[0]
    upstream = int(host_port.rsplit(":", 1)[1])
    proxy = await FaultProxy(upstream).start()
    through = target.replace(f":{upstream}", f":{proxy.port}", 1)
    if store == "database":
        db_url = through
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", through)
    data = os.urandom(5000)
    try:
        async with serve_in_process(tmp_path / "n", token=TOKEN, db_url=db_url,
                                    storage_url=storage_url) as node:
            async with aiohttp.ClientSession(node.address) as s:
                file = await _upload(s, node.team_id, "/f.bin", data)
                await proxy.close()  # the store goes away
                health = await _wait_status(s, "/healthz", 503)
                assert health["error"] and health["details"]["message"]
                download = {"json": {"id": file["id"]}, "headers": {"x-api-key": TOKEN}}
                answer = await _wait_status(s, API + "file-storage.download", 503, **download)
                assert store in answer["error"], answer
                await proxy.start(proxy.port)  # back
                await _wait_status(s, "/healthz", 200)
                async with s.post(API + "file-storage.download", **download) as r:
                    assert r.status == 200 and await r.read() == data
    finally:
        await proxy.close()


async def test_start_up_waits_a_bounded_time_for_the_stores(
    scale_urls: dict[str, Any], tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a free port, where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = f"postgresql://blobflow@127.0.0.1:{port}/blobflow"
    started = time.monotonic()
    with pytest.raises(BlobflowError, match="database did not become ready"):
        async with serve_in_process(tmp_path / "n", token=TOKEN, db_url=dead,
                                    storage_url=scale_urls["storage_url"],
                                    startup_timeout_s=1.5):
            pass
    assert time.monotonic() - started < 10


async def test_schemas_match(scale_urls: dict[str, Any], tmp_path: Path) -> None:
    """PostgreSQL's migrated schema has every table and column of SQLite's (a column added to
    one backend only would break the other's queries)."""
    from blobflow.server._db import connect
    from blobflow.server._pg import PgDatabase

    def sqlite_columns(path: Path) -> set[tuple[str, str]]:
        conn = connect(path)
        try:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )]
            return {(t, r[1]) for t in tables for r in conn.execute(f"PRAGMA table_info({t})")}
        finally:
            conn.close()

    lite = await asyncio.to_thread(sqlite_columns, tmp_path / "db.sqlite3")
    db = PgDatabase(scale_urls["db_url"], pool_size=1)
    await db.open()
    try:
        pg = await db.read(lambda conn: {(r[0], r[1]) for r in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
        )})
    finally:
        await db.close()
    missing = sorted(lite - pg)
    assert not missing, f"add a step to blobflow.server._pg.MIGRATIONS for: {missing}"


async def test_a_running_node_sweeps_what_a_crashed_one_left(
    scale_urls: dict[str, Any], tmp_path: Path
) -> None:
    """With a sweep interval, a node removes orphans (an unfinished multipart upload, an
    object no row names) while it runs, once they are older than the grace period."""
    async with serve_in_process(tmp_path / "n", token=TOKEN, sweep_grace_s=0,
                                sweep_interval_s=0.2, **scale_urls) as node:
        storage = node._app[STATE].storage  # type: ignore[index]
        await storage.client.create_multipart_upload(
            Bucket=storage.bucket, Key=storage.key("tmp/1-crashed")
        )
        await storage.client.put_object(
            Bucket=storage.bucket, Key=storage.key("objects/ab/orphan"), Body=b"x"
        )
        deadline = time.monotonic() + 20
        while await stored_files(node):
            assert time.monotonic() < deadline, await stored_files(node)
            await asyncio.sleep(0.2)
