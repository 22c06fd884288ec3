"""images.bulk.add conflict protocol (skip / rename / replace) through a fake Transport.

The fake stands in for the HTTP layer only (the Transport seam): it keeps images per dataset
and answers NONUNIQUE exactly as the spec's section 6.3 describes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pytest

from blobflow.api import Api, ApiError, ConflictError
from blobflow.api._errors import error_from_response
from blobflow.api._image import offset_items
from blobflow.api._transport import DownloadedFile, UploadSource


class FakeImages:
    """An in-memory images.* backend behind the Transport protocol."""

    def __init__(self) -> None:
        self.images: dict[int, dict[str, Any]] = {}
        self.next_id = 100
        self.calls: list[str] = []
        #: commit the next bulk.add, then fail as if the connection dropped before the answer
        self.drop_after_commit = 0

    def _conflicts(self, ds: int, titles: list[str]) -> list[dict[str, Any]]:
        by_name = {i["name"]: i["id"] for i in self.images.values() if i["datasetId"] == ds}
        return [{"name": t, "id": by_name[t]} for t in titles if t in by_name]

    async def post_json(self, method: str, body: Any, *, params: Any = None) -> Any:
        self.calls.append(method)
        if method == "images.bulk.add":
            return self._bulk_add(body)
        if method == "images.info":
            if body["id"] not in self.images:
                raise error_from_response(404, b'{"error":"no image"}', method)
            return self.images[body["id"]]
        if method == "images.list":
            flt = body["filter"]
            ids = set(flt[0]["value"]) if flt else None
            rows = [
                i
                for i in self.images.values()
                if i["datasetId"] == body["datasetId"] and (ids is None or i["id"] in ids)
            ]
            return {"total": len(rows), "perPage": 10_000, "pagesCount": 1, "entities": rows}
        if method == "images.bulk.remove":
            for i in body["imageIds"]:
                self.images.pop(i)
            return {"success": True}
        raise AssertionError(method)

    def _bulk_add(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        ds = body["datasetId"]
        titles = [i["title"] for i in body["images"]]
        conflicts = self._conflicts(ds, titles)
        if conflicts:
            raw = (
                b'{"error":"exists","details":{"type":"NONUNIQUE","errors":'
                + repr(conflicts).replace("'", '"').encode()
                + b"}}"
            )
            attempt = 2 if self.calls.count("images.bulk.add") > 1 and self._dropped else 1
            raise error_from_response(400, raw, "images.bulk.add", attempt=attempt)
        out = []
        for item in body["images"]:
            self.next_id += 1
            blob = item.get("sourceBlob") or {}
            row = {
                "id": self.next_id,
                "name": item["title"],
                "datasetId": ds,
                "hash": item.get("hash"),
                "offsetStart": blob.get("offsetStart"),
                "offsetEnd": blob.get("offsetEnd"),
            }
            self.images[self.next_id] = row
            out.append(row)
        if self.drop_after_commit:
            self.drop_after_commit -= 1
            self._dropped = True
            raise _Dropped()
        return out

    _dropped = False

    async def post_multipart_parts(self, method: str, body: Any) -> Any:
        raise AssertionError(method)

    async def upload(self, method: str, source: UploadSource, **kw: Any) -> Any:
        raise AssertionError(method)

    async def download(
        self, method: str, body: Any, dest: str | os.PathLike[str], **kw: Any
    ) -> DownloadedFile:
        raise AssertionError(method)

    async def aclose(self) -> None:
        pass


class _Dropped(Exception):
    pass


class RetryingFake(FakeImages):
    """Retries a dropped bulk.add once, like HttpTransport does after a connection error."""

    async def post_json(self, method: str, body: Any, *, params: Any = None) -> Any:
        try:
            return await super().post_json(method, body, params=params)
        except _Dropped:
            return await super().post_json(method, body, params=params)


def api_with(fake: FakeImages) -> Api:
    return Api("http://fake", "tok", transport=fake)


def offsets(n: int, start: int = 0) -> list[Mapping[str, int]]:
    return [
        {"offsetStart": 512 * (i + start), "offsetEnd": 512 * (i + start) + 100} for i in range(n)
    ]


async def _seed(api: Api, names: list[str]) -> list[int]:
    infos = await api.image._bulk_add(1, names, [{"hash": f"h-{n}"} for n in names])
    return [i.id for i in infos if i.id is not None]


async def test_no_resolution_raises_conflict() -> None:
    fake = FakeImages()
    api = api_with(fake)
    await _seed(api, ["a.png"])
    with pytest.raises(ConflictError) as info:
        await api.image.upload_hashes(1, ["b.png", "a.png"], ["x", "y"])
    assert info.value.conflicts[0]["name"] == "a.png"
    assert len(fake.images) == 1  # nothing of the failed batch was added


async def test_skip_returns_existing_in_place_and_never_duplicates() -> None:
    fake = FakeImages()
    api = api_with(fake)
    [existing] = await _seed(api, ["b.png"])
    names = ["a.png", "b.png", "c.png"]
    infos = await api.image.upload_hashes(1, names, ["1", "2", "3"], conflict_resolution="skip")
    assert [i.name for i in infos] == names
    assert infos[1].id == existing
    assert sorted(i["name"] for i in fake.images.values()) == names
    # a re-run adds nothing
    again = await api.image.upload_hashes(1, names, ["1", "2", "3"], conflict_resolution="skip")
    assert [i.id for i in again] == [i.id for i in infos]
    assert len(fake.images) == 3


async def test_rename_uses_sdk_timestamp_format() -> None:
    fake = FakeImages()
    api = api_with(fake)
    await _seed(api, ["a.png"])
    infos = await api.image.upload_hashes(1, ["a.png"], ["1"], conflict_resolution="rename")
    assert infos[0].name is not None
    stem, ext = os.path.splitext(infos[0].name)
    assert ext == ".png" and stem.startswith("a_") and len(stem) == len("a_2026_01_01_00_00_00")
    assert len(fake.images) == 2


async def test_replace_removes_then_adds() -> None:
    fake = FakeImages()
    api = api_with(fake)
    [old] = await _seed(api, ["a.png"])
    infos = await api.image.upload_hashes(1, ["a.png"], ["new"], conflict_resolution="replace")
    assert infos[0].id != old and old not in fake.images
    assert [i["name"] for i in fake.images.values()] == ["a.png"]
    assert "images.bulk.remove" in fake.calls


async def test_bad_resolution_and_duplicate_names_rejected() -> None:
    api = api_with(FakeImages())
    with pytest.raises(ValueError, match="conflict_resolution"):
        await api.image.upload_hashes(1, ["a"], ["h"], conflict_resolution="merge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicated"):
        await api.image.upload_hashes(1, ["a", "a"], ["h", "i"])


@pytest.mark.parametrize("resolution", [None, "skip", "rename", "replace"])
async def test_ambiguous_commit_is_adopted_not_duplicated(resolution: Any) -> None:
    """The server committed, the answer was lost, the retry conflicts with our own images."""
    fake = RetryingFake()
    fake.drop_after_commit = 1
    api = api_with(fake)
    names = [f"img_{i}.png" for i in range(5)]
    infos = await api.image._bulk_add(
        1, names, offset_items(7, offsets(5)), batch_size=50, conflict_resolution=resolution
    )
    assert [i.name for i in infos] == names
    assert len(fake.images) == 5  # no duplicate, nothing renamed or removed
    assert "images.bulk.remove" not in fake.calls


async def test_ambiguous_commit_does_not_adopt_foreign_images() -> None:
    fake = RetryingFake()
    api = api_with(fake)
    # a different image (other offsets) already holds the name
    await api.image._bulk_add(1, ["img_0.png"], offset_items(7, offsets(1, start=50)))
    fake.drop_after_commit = 0
    fake._dropped = True  # the next conflict is reported as coming from a retry
    with pytest.raises(ConflictError):
        await api.image._bulk_add(1, ["img_0.png"], offset_items(7, offsets(1)))


async def test_still_conflicting_after_rounds_is_an_error() -> None:
    class Stubborn(FakeImages):
        def _conflicts(self, ds: int, titles: list[str]) -> list[dict[str, Any]]:
            return [{"name": t, "id": 1} for t in titles]

    api = api_with(Stubborn())
    with pytest.raises(ApiError, match="still conflict"):
        await api.image.upload_hashes(1, ["a.png"], ["h"], conflict_resolution="rename")
