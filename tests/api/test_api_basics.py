"""Api construction, environment, info objects and pagination."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses

from blobflow import TransferConfig
from blobflow.api import Api, FileInfo, ImageInfo
from blobflow.api._models import dataset_info, file_info, image_info, project_info

BASE = "http://sly.test/public/api/v3"


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("sly.test/", "http://sly.test"),
        ("https://sly.test//", "https://sly.test"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_address_normalised(given: str, want: str) -> None:
    api = Api(given, "t")
    assert api.server_address == want


def test_missing_address_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVER_ADDRESS", raising=False)
    with pytest.raises(ValueError, match="server address"):
        Api(None, "t")


def test_from_env_reads_variables_then_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SERVER_ADDRESS", "http://a.test")
    monkeypatch.setenv("API_TOKEN", "tok1")
    api = Api.from_env(env_file=tmp_path / "none.env")
    assert (api.server_address, api.token) == ("http://a.test", "tok1")

    monkeypatch.delenv("SERVER_ADDRESS")
    monkeypatch.delenv("API_TOKEN")
    monkeypatch.delenv("ENV", raising=False)
    env = tmp_path / "sly.env"
    env.write_text('# comment\nSERVER_ADDRESS="http://b.test"\nexport API_TOKEN=tok2\n')
    api = Api.from_env(env_file=env, config=TransferConfig(retry_attempts=2))
    assert (api.server_address, api.token, api.config.retry_attempts) == (
        "http://b.test",
        "tok2",
        2,
    )


def test_from_env_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SERVER_ADDRESS", raising=False)
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("ENV", raising=False)
    with pytest.raises(FileNotFoundError):
        Api.from_env(env_file=tmp_path / "missing.env")
    with pytest.raises(ValueError, match=".env"):
        Api.from_env(env_file=tmp_path / "x.txt")
    partial = tmp_path / "p.env"
    partial.write_text("SERVER_ADDRESS=http://c.test\n")
    with pytest.raises(KeyError, match="API_TOKEN"):
        Api.from_env(env_file=partial)
    assert "SERVER_ADDRESS" not in os.environ  # the file's values never leak into the process
    monkeypatch.setenv("ENV", "production")
    with pytest.raises(ValueError, match="production"):
        Api.from_env(env_file=partial)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        TransferConfig(chunk_size=0)
    cfg = TransferConfig().with_(download_concurrency=2)
    assert cfg.download_concurrency == 2 and cfg.bulk_add_batch == 10_000


def test_image_info_fields_and_name_rule() -> None:
    info = image_info(
        {
            "id": 5,
            "name": "a.tif",
            "mime": "image/tiff",
            "size": "123",
            "relatedDataId": 9,
            "downloadId": "dl-9",
            "offsetStart": 512,
            "offsetEnd": 635,
            "ext": "ignored",
        }
    )
    assert info.name == "a.tif.tiff" and info.ext == "tiff" and info.size == 123
    assert (info.related_data_id, info.download_id, info.offset_start, info.offset_end) == (
        9,
        "dl-9",
        512,
        635,
    )
    assert info.width is None and info.parent_id is None
    assert image_info({"name": "b.jpg", "mime": "image/jpeg"}).name == "b.jpg"
    assert image_info({"name": "c.png", "mime": None}).name == "c.png"
    assert ImageInfo._fields[-4:] == (
        "embeddings_updated_at",
        "project_id",
        "description",
        "parent_id",
    )


def test_file_project_dataset_info() -> None:
    f = file_info({"id": 1, "teamId": 2, "path": "/x", "meta": {"size": 10, "mime": "m"}})
    assert (f.id, f.team_id, f.sizeb, f.mime, f.is_dir) == (1, 2, 10, "m", None)
    assert file_info({"size": 7}).sizeb == 7  # the SDK's fallback to a top-level key
    assert FileInfo._fields[0] == "team_id"
    p = project_info({"id": 1, "imagesCount": 4, "createdBy": 3, "customData": {}})
    assert (p.items_count, p.created_by_id, p.custom_data) == (4, 3, {})
    d = dataset_info({"id": 1, "imagesCount": 2, "parentId": 7})
    assert (d.items_count, d.parent_id) == (2, 7)


async def test_list_pages_follows_pages_count() -> None:
    bodies: list[dict[str, Any]] = []

    def cb(url: Any, **kw: Any) -> CallbackResult:
        body = json.loads(kw["data"])
        bodies.append(body)
        page = body.get("page", 1)
        ents = [{"id": i, "name": f"{i}.png"} for i in range((page - 1) * 2, min(page * 2, 5))]
        return CallbackResult(
            status=200, payload={"total": 5, "perPage": 2, "pagesCount": 3, "entities": ents}
        )

    async with Api("http://sly.test", "t") as api:
        with aioresponses() as m:
            m.post(re.compile(rf"^{BASE}/images\.list$"), callback=cb, repeat=True)
            pages = [p async for p in api.image.get_list_generator_async(7)]
    assert [[i.id for i in p] for p in pages] == [[0, 1], [2, 3], [4]]
    assert bodies[0]["sort"] == "id" and bodies[0]["sort_order"] == "asc"
    assert "page" not in bodies[0]
    assert sorted((b["page"], b["per_page"]) for b in bodies[1:]) == [(2, 2), (3, 2)]
    assert all(b["datasetId"] == 7 and b["projectId"] is None for b in bodies)


async def test_project_create_finds_free_name() -> None:
    seen: list[Any] = []

    def lister(url: Any, **kw: Any) -> CallbackResult:
        name = json.loads(kw["data"])["filter"][0]["value"]
        taken = name in ("p", "p_001")
        ents = [{"id": 1, "name": name}] if taken else []
        return CallbackResult(
            payload={"total": len(ents), "perPage": 20, "pagesCount": 1, "entities": ents}
        )

    def add(url: Any, **kw: Any) -> CallbackResult:
        seen.append(json.loads(kw["data"]))
        return CallbackResult(payload={"id": 3, "name": seen[-1]["name"], "teamId": 1})

    async with Api("http://sly.test", "t") as api:
        with aioresponses() as m:
            m.post(f"{BASE}/projects.list", callback=lister, repeat=True)
            m.post(f"{BASE}/projects.add", callback=add)
            info = await api.project.create(1, "p", change_name_if_conflict=True)
    assert info.name == "p_002"
    assert seen == [{"name": "p_002", "workspaceId": 1, "description": "", "type": "images"}]
