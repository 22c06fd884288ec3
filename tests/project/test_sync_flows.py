"""The plain (synchronous) project helpers: one ``Api`` across many calls, with or without an
event loop running in the caller's thread (a script; Jupyter)."""

from __future__ import annotations

import asyncio
import inspect
import threading
from pathlib import Path
from typing import Any

import pytest

from blobflow import Api, Project, download_fast, quick_import, upload_project
from blobflow.project import download_fast_async, quick_import_async, upload_project_async


@pytest.mark.parametrize(
    ("sync", "coro"),
    [
        (upload_project, upload_project_async),
        (download_fast, download_fast_async),
        (quick_import, quick_import_async),
    ],
)
def test_the_sync_helpers_take_the_async_parameters(sync: Any, coro: Any) -> None:
    assert inspect.signature(sync) == inspect.signature(coro)
    assert "conflict_resolution" in inspect.signature(sync).parameters or sync is download_fast


def _round_trip(api: Api, handle: Any, src: Path, dest: Path) -> tuple[int, int]:
    pid, _ = upload_project(src, api, handle.workspace_id, "rt", progress=False)
    first = download_fast(api, pid, dest, progress=False)
    again = download_fast(api, pid, dest, progress=False)
    with Project(dest) as project:
        names = project.get_dataset("ds0").get_items_names()
    assert again.blobs_skipped == 1 and len(names) == first.images
    return pid, first.images


def test_one_api_many_calls_in_a_script(
    thread_server: Any, tmp_path: Path, sdk_fixtures: Path
) -> None:
    api = Api(thread_server.address, thread_server.token)
    _, n = _round_trip(api, thread_server, sdk_fixtures / "project-blob", tmp_path / "d")
    assert n == 12
    _, n = _round_trip(api, thread_server, sdk_fixtures / "project-blob", tmp_path / "e")
    assert n == 12
    asyncio.run(api.close())
    assert not any(t.name.startswith("blobflow-portal-Api") for t in threading.enumerate())


@pytest.mark.allow_blocking  # synchronous helpers block their caller's loop, as in a notebook
async def test_one_api_many_calls_inside_a_running_loop(
    thread_server: Any, tmp_path: Path, sdk_fixtures: Path
) -> None:
    api = Api(thread_server.address, thread_server.token)
    try:
        pid, n = _round_trip(api, thread_server, sdk_fixtures / "project-blob", tmp_path / "d")
        assert n == 12
        got = download_fast(api, pid, tmp_path / "x", progress=False)
        assert got.images == 12
    finally:
        await api.close()  # from the notebook's own loop: the portal closes the session


def test_bad_token_and_dead_server_raise_the_async_errors(
    thread_server: Any, tmp_path: Path, sdk_fixtures: Path
) -> None:
    from blobflow.api import ApiError, AuthError

    bad = Api(thread_server.address, "wrong-token")
    with pytest.raises(AuthError):
        upload_project(sdk_fixtures / "project-blob", bad, thread_server.workspace_id)
    asyncio.run(bad.close())
    from blobflow import TransferConfig

    dead = Api("http://127.0.0.1:9", "t", TransferConfig(retry_attempts=1))
    with pytest.raises(ApiError) as info:
        download_fast(dead, 1, tmp_path / "d", progress=False)
    assert info.value.status is None
    asyncio.run(dead.close())


def test_a_non_api_is_a_clear_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Api"):
        download_fast("http://127.0.0.1:9", 1, tmp_path)  # type: ignore[arg-type]
