"""The server in a child process: start-up, shutdown, and crash (SIGKILL) safety."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from blobflow.server import ServerProcess

from ._helpers import API


def test_sync_context_manager(tmp_path: Path) -> None:
    import urllib.request

    # A generated token starts with "-" one time in 64: it must not read as an option.
    with ServerProcess(tmp_path, token="-tok") as srv:
        assert srv.address.startswith("http://127.0.0.1:") and srv.pid > 0
        assert srv.team_id > 0 and srv.workspace_id > 0
        with urllib.request.urlopen(srv.address + "/healthz") as r:
            assert r.status == 200
        pid = srv.pid
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        import os

        os.kill(pid, 0)


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an orphan's reaper may be slow)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_server_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    import time

    script = (
        "import sys, time\n"
        "from blobflow.server import ServerProcess\n"
        f"srv = ServerProcess({str(tmp_path)!r}).start()\n"
        "print(srv.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    assert _running(server_pid)
    parent.kill()  # no clean-up of any kind in the parent
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 30
    while _running(server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(server_pid), "the orphaned server kept running"


async def test_async_context_manager_and_tenants() -> None:
    async with ServerProcess(token="tok") as srv:
        team2, _ = await srv.add_tenant("second")
        assert team2 != srv.team_id
        async with aiohttp.ClientSession(srv.address) as s:
            async with s.post(API + "teams.list", json={}, headers={"x-api-key": "second"}) as r:
                body = await r.json()
                assert [t["id"] for t in body["entities"]] == [team2]
            async with s.post(API + "users.me", json={}) as r:
                assert r.status == 401
        data_dir = srv.data_dir
        assert data_dir is not None and data_dir.exists()
    assert not data_dir.exists()  # a temporary data dir goes away with the server


async def _slow_body(total: int, sent: list[int], halfway: asyncio.Event) -> Any:
    chunk = b"k" * (1 << 20)
    while sent[0] < total:
        sent[0] += len(chunk)
        if sent[0] >= 8 << 20:
            halfway.set()
        yield chunk
        await asyncio.sleep(0.01)


@pytest.mark.asyncio(loop_factories=["asyncio"])
async def test_sigkill_mid_upload_leaves_nothing_half_written(tmp_path: Path) -> None:
    good = b"committed bytes" * 1000
    good_hash = base64.standard_b64encode(hashlib.sha256(good).digest()).decode()
    async with ServerProcess(tmp_path, token="tok") as srv:
        headers = {"x-api-key": "tok"}
        async with aiohttp.ClientSession(srv.address) as s:
            params = {"teamId": str(srv.team_id), "path": "/blob-files/good.tar"}
            async with s.post(API + "file-storage.upload", params=params, data=good,
                              headers=headers) as r:
                assert r.status == 200
            sent = [0]
            halfway = asyncio.Event()
            params = {"teamId": str(srv.team_id), "path": "/blob-files/partial.tar"}
            upload = asyncio.ensure_future(s.post(
                API + "file-storage.upload", params=params,
                data=_slow_body(200 << 20, sent, halfway), headers=headers,
            ))
            await halfway.wait()
            srv.kill()
            with pytest.raises(aiohttp.ClientError):
                resp = await upload
                resp.release()
        partial = list((tmp_path / "tmp").iterdir())
        assert partial, "the upload should have been in flight in tmp/"

    async with ServerProcess(tmp_path, token="tok") as srv:
        async with aiohttp.ClientSession(srv.address) as s:
            async with s.post(API + "file-storage.list", json={"teamId": srv.team_id,
                              "path": "/blob-files/"}, headers={"x-api-key": "tok"}) as r:
                files = await r.json()
            assert [f["path"] for f in files] == ["/blob-files/good.tar"]
            assert files[0]["hash"] == good_hash
            async with s.post(API + "file-storage.download", json={
                    "teamId": srv.team_id, "path": "/blob-files/good.tar"},
                    headers={"x-api-key": "tok"}) as r:
                assert await r.read() == good
        assert list((tmp_path / "tmp").iterdir()) == []
        conn = sqlite3.connect(tmp_path / "blobflow.sqlite3")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            conn.close()
    stored = [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]
    assert len(stored) == 1  # only the committed object


def test_orphaned_object_is_swept_on_start(tmp_path: Path) -> None:
    """A crash between the rename and the commit leaves a file no row knows: it goes."""
    with ServerProcess(tmp_path, token="tok"):
        pass
    orphan = tmp_path / "objects" / "ab" / "ab0000"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")
    with ServerProcess(tmp_path, token="tok"):
        assert not orphan.exists()


def test_blobflow_serve_prints_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "blobflow.cli", "serve", "--port", "0", "--data-dir",
         str(tmp_path), "--token", "clitoken"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first
        rest = "".join(proc.stdout.readline() for _ in range(3))
        assert "team id 1, workspace id 1" in rest and "clitoken" in rest
        proc.terminate()
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_server_process_collects_less_often() -> None:
    import gc

    from blobflow.server._main import GC_THRESHOLDS, _tune_gc

    before = gc.get_threshold()
    try:
        _tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # start-up objects are out of every collection
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
