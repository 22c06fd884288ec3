"""Transport behaviour with aioresponses: retries, backoff, Retry-After, errors, bodies."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses

from blobflow import TransferConfig
from blobflow.api import (
    Api,
    ApiError,
    AuthError,
    ConflictError,
    HttpTransport,
    NotFoundError,
    RetryBudgetExceeded,
)

BASE = "http://sly.test/public/api/v3"
URL = re.compile(r"^http://sly\.test/public/api/v3/.*$")


def make_api(**cfg: Any) -> tuple[Api, list[float]]:
    """An Api whose backoff sleeps are recorded instead of slept."""
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    config = TransferConfig(**{"backoff_base": 0.5, "backoff_cap": 4.0, **cfg})
    transport = HttpTransport(BASE, {"x-api-key": "tok"}, config, sleep=fake_sleep)
    return Api("http://sly.test", "tok", config, transport=transport), slept


async def test_json_post_sends_token_and_body() -> None:
    api, _ = make_api()
    seen: dict[str, Any] = {}

    def cb(url: Any, **kw: Any) -> CallbackResult:
        seen.update(kw)
        return CallbackResult(status=200, payload={"id": 7, "name": "p", "teamId": 3})

    async with api:
        with aioresponses() as m:
            m.post(f"{BASE}/projects.info", callback=cb)
            info = await api.project.get_info_by_id(7)
    assert info is not None and info.id == 7 and info.team_id == 3
    assert json.loads(seen["data"]) == {"id": 7}
    assert seen["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retryable_status_then_success(status: int) -> None:
    api, slept = make_api()
    async with api:
        with aioresponses() as m:
            m.post(f"{BASE}/teams.info", status=status, body="busy")
            m.post(f"{BASE}/teams.info", status=status, body="busy")
            m.post(f"{BASE}/teams.info", payload={"id": 1, "name": "t"})
            info = await api.team.get_info_by_id(1)
    assert info is not None and info.name == "t"
    assert len(slept) == 2
    # full jitter: each sleep within [0, min(cap, base * 2**i)]
    assert 0 <= slept[0] <= 0.5 and 0 <= slept[1] <= 1.0


async def test_connection_error_is_retried() -> None:
    api, slept = make_api()
    async with api:
        with aioresponses() as m:
            m.post(f"{BASE}/teams.info", exception=aiohttp.ClientConnectionError("reset"))
            m.post(f"{BASE}/teams.info", payload={"id": 2})
            info = await api.team.get_info_by_id(2)
    assert info is not None and info.id == 2 and len(slept) == 1


async def test_retry_after_is_honoured() -> None:
    api, slept = make_api()
    async with api:
        with aioresponses() as m:
            m.post(f"{BASE}/teams.info", status=429, headers={"Retry-After": "3"})
            m.post(f"{BASE}/teams.info", payload={"id": 1})
            await api.team.get_info_by_id(1)
    assert slept == [3.0]


@pytest.mark.parametrize(
    ("status", "exc"),
    [(400, ApiError), (401, AuthError), (403, AuthError), (405, ApiError), (501, ApiError)],
)
async def test_other_errors_are_not_retried(status: int, exc: type[ApiError]) -> None:
    api, slept = make_api()
    body = {"error": "bad thing", "details": {"message": "field x is wrong"}}
    async with api:
        with aioresponses() as m:
            m.post(f"{BASE}/workspaces.add", status=status, payload=body)
            m.post(f"{BASE}/workspaces.add", payload={"id": 1})  # must never be reached
            with pytest.raises(exc) as info:
                await api.workspace.create(1, "w")
    assert slept == []
    assert type(info.value) is exc
    assert info.value.status == status
    assert info.value.message == "bad thing: field x is wrong"
    assert info.value.url.endswith("/workspaces.add")
    assert "field x is wrong" in str(info.value)


async def test_404_maps_to_none_for_info_calls_and_raises_for_files() -> None:
    api, _ = make_api()
    async with api:
        with aioresponses() as m:
            m.post(f"{BASE}/projects.info", status=404, payload={"error": "no such project"})
            m.post(f"{BASE}/file-storage.info", status=404, payload={"error": "no such file"})
            assert await api.project.get_info_by_id(9) is None
            with pytest.raises(NotFoundError, match="no such file"):
                await api.file.get_info_by_id(9)


async def test_nonunique_parsed_as_conflict_error_with_list_details() -> None:
    api, _ = make_api()
    body = {
        "error": "names exist",
        "details": [{"type": "NONUNIQUE", "errors": [{"name": "a.png", "id": 5}]}],
    }
    async with api:
        with aioresponses() as m:
            m.post(f"{BASE}/images.bulk.add", status=400, payload=body)
            with pytest.raises(ConflictError) as info:
                await api.image.upload_hashes(1, ["a.png"], ["h"])
    assert info.value.conflicts == [{"name": "a.png", "id": 5}]


async def test_non_json_error_body_is_kept_as_message() -> None:
    api, _ = make_api()
    async with api:
        with aioresponses() as m:
            m.post(f"{BASE}/teams.info", status=400, body="<html>gateway says no</html>")
            with pytest.raises(ApiError, match="gateway says no"):
                await api.team.get_info_by_id(1)


async def test_budget_exhausted_by_attempts() -> None:
    api, slept = make_api(retry_attempts=3)
    async with api:
        with aioresponses() as m:
            for _ in range(5):
                m.post(f"{BASE}/teams.info", status=503, payload={"error": "overloaded"})
            with pytest.raises(RetryBudgetExceeded) as info:
                await api.team.get_info_by_id(1)
    assert info.value.attempts == 3 and len(slept) == 2
    assert info.value.status == 503 and "overloaded" in str(info.value)


async def test_budget_exhausted_by_total_backoff() -> None:
    api, slept = make_api(retry_attempts=50, retry_max_total_backoff=5.0)
    async with api:
        with aioresponses() as m:
            for _ in range(5):
                m.post(f"{BASE}/teams.info", status=429, headers={"Retry-After": "2"})
            with pytest.raises(RetryBudgetExceeded):
                await api.team.get_info_by_id(1)
    assert slept == [2.0, 2.0]  # a third 2 s sleep would exceed the 5 s budget


async def test_json_body_is_identical_on_every_attempt() -> None:
    api, _ = make_api()
    bodies: list[bytes] = []

    def cb(url: Any, **kw: Any) -> CallbackResult:
        bodies.append(kw["data"])
        if len(bodies) < 3:
            return CallbackResult(status=502)
        return CallbackResult(status=200, payload=[{"id": 1, "name": "a.png"}])

    async with api:
        with aioresponses() as m:
            m.post(URL, callback=cb, repeat=True)
            infos = await api.image.upload_hashes(1, ["a.png"], ["h"])
    assert [i.id for i in infos] == [1]
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]
    assert json.loads(bodies[0])["images"] == [{"title": "a.png", "hash": "h"}]
