"""Fixtures of the server tests: a plain aiohttp client bound to the ``server`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ._helpers import Client


@pytest.fixture
async def client(server: Any) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession(server.address, auto_decompress=False) as session:
        yield Client(session, server.token)


@pytest.fixture
async def project(client: Client, server: Any) -> dict[str, Any]:
    return await client.ok(  # type: ignore[no-any-return]
        "projects.add", {"workspaceId": server.workspace_id, "name": "proj", "type": "images"}
    )


@pytest.fixture
async def dataset(client: Client, project: dict[str, Any]) -> dict[str, Any]:
    return await client.ok(  # type: ignore[no-any-return]
        "datasets.add", {"projectId": project["id"], "name": "ds0", "parentId": None}
    )


@pytest.fixture
def backend(each_backend: str) -> str:
    """The server suites run on each backend (see tests/conftest.py)."""
    return each_backend
