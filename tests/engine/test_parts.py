"""Pipelined blob parts (``TransferConfig.blob_part_images``): a folder packed, uploaded and
registered part by part, each part registered while the next one uploads."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from blobflow.api import Api, DatasetInfo, ProjectInfo, b64_sha256
from blobflow.blob import BlobImageInfo, archive_directory
from blobflow.engine import upload_blob

from .._helpers import FAST


def _images(folder: Path, n: int) -> dict[str, bytes]:
    folder.mkdir(parents=True)
    data = {f"im_{i:04d}.png": os.urandom(900 + i % 13) for i in range(n)}
    for name, body in data.items():
        (folder / name).write_bytes(body)
    return data


async def _read(path: Path) -> bytes:
    return await asyncio.to_thread(path.read_bytes)


def _names(pkl: Path) -> list[str]:
    return [o.name for b in BlobImageInfo.load_from_pickle_generator(pkl) for o in b]


class _Gate:
    """Holds the last part's upload until a registration has been answered: a pipeline that
    registered only after every upload would wait here forever (the test's timeout)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.registered = asyncio.Event()
        self.order: list[str] = []

    async def post_json(self, method: str, body: Any, **kw: Any) -> Any:
        answer = await self.inner.post_json(method, body, **kw)
        if method == "images.bulk.add":
            self.order.append(method)
            self.registered.set()
        return answer

    async def upload(self, method: str, source: Any, **kw: Any) -> Any:
        path = str((kw.get("params") or {}).get("path"))
        if path.endswith("_003.tar"):
            await asyncio.wait_for(self.registered.wait(), 30)
        self.order.append(path)
        return await self.inner.upload(method, source, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_folder_goes_in_parts_each_registered_while_the_next_uploads(
    server: Any, dataset: tuple[ProjectInfo, DatasetInfo], tmp_path: Path
) -> None:
    _, ds = dataset
    assert ds.id is not None
    data = await asyncio.to_thread(_images, tmp_path / "img", 250)
    anns = {n: {"description": n, "size": {"height": 1, "width": 1}, "tags": [], "objects": []}
            for n in data}  # fmt: skip
    tar = tmp_path / "out" / "b.tar"
    await asyncio.to_thread(tar.parent.mkdir)
    async with Api(server.address, server.token, FAST.with_(blob_part_images=100)) as api:
        gate = _Gate(api.transport)
        api.transport = gate
        batches = [b async for b in upload_blob(api, ds, tar, images_dir=tmp_path / "img",
                                                annotations=anns)]  # fmt: skip
        infos = [i for b in batches for i in b]
        # in file order, each image once; a part's registration came before the last upload
        assert [i.name for i in infos] == sorted(data)
        assert gate.order.index("images.bulk.add") < gate.order.index("/blob-files/b_003.tar")
        # three complete tars, each with its offsets beside it, locally and in Team Files
        names = sorted(data)
        assert not await asyncio.to_thread(tar.exists)
        for k in range(3):
            part = tar.with_name(f"b_{k + 1:03d}.tar")
            pkl = tar.with_name(f"b_{k + 1:03d}_offsets.pkl")
            members = names[100 * k : 100 * (k + 1)]
            ref = tmp_path / f"ref{k}"
            await asyncio.to_thread(ref.mkdir)
            for n in members:
                await asyncio.to_thread((ref / n).write_bytes, data[n])
            await asyncio.to_thread(archive_directory, ref, ref / "r.tar", offsets_dir=ref / "o")
            assert await _read(part) == await _read(ref / "r.tar")
            assert await asyncio.to_thread(_names, pkl) == members
            for local in (part, pkl):
                info = await api.file.get_info_by_path(ds.team_id or 1, f"/blob-files/{local.name}")
                assert info is not None and info.hash == b64_sha256(await _read(local))
        # the server's images are the files, each with its annotation
        some = infos[:3] + infos[99:102] + infos[-3:]
        ids = [i.id for i in some if i.id is not None]
        assert await api.image.download_bytes(ds.id, ids) == [data[i.name or ""] for i in some]
        got = await api.annotation.download_batch(ds.id, ids)
        assert [a.annotation["description"] for a in got] == [i.name for i in some]
        project = await api.project.get_info_by_id(ds.project_id or 0)
        assert project is not None and (project.custom_data or {}).get("is_blob_project")


async def test_a_folder_no_bigger_than_a_part_is_one_blob(
    server: Any, dataset: tuple[ProjectInfo, DatasetInfo], tmp_path: Path
) -> None:
    _, ds = dataset
    data = await asyncio.to_thread(_images, tmp_path / "img", 100)
    tar = tmp_path / "b.tar"
    async with Api(server.address, server.token, FAST.with_(blob_part_images=100)) as api:
        infos = [i async for b in upload_blob(api, ds, tar, images_dir=tmp_path / "img")
                 for i in b]  # fmt: skip
    assert sorted(i.name for i in infos) == sorted(data)
    assert await asyncio.to_thread(tar.exists)
    assert not await asyncio.to_thread(tar.with_name("b_001.tar").exists)


def test_blob_part_images_must_be_positive() -> None:
    from blobflow import TransferConfig

    with pytest.raises(ValueError, match="blob_part_images"):
        TransferConfig(blob_part_images=0)


class _Refuse(_Gate):
    async def upload(self, method: str, source: Any, **kw: Any) -> Any:
        if str((kw.get("params") or {}).get("path")).endswith("_002.tar"):
            raise RuntimeError("part 2 refused")
        return await self.inner.upload(method, source, **kw)


async def test_a_part_that_fails_stops_the_import_with_its_error(
    server: Any, dataset: tuple[ProjectInfo, DatasetInfo], tmp_path: Path
) -> None:
    _, ds = dataset
    await asyncio.to_thread(_images, tmp_path / "img", 250)
    async with Api(server.address, server.token, FAST.with_(blob_part_images=100)) as api:
        api.transport = _Refuse(api.transport)
        with pytest.raises(RuntimeError, match="part 2 refused"):
            async for _batch in upload_blob(
                api, ds, tmp_path / "b.tar", images_dir=tmp_path / "img"
            ):
                pass
    # what was packed of the failed part is not left under a final name
    assert not await asyncio.to_thread(tmp_path.joinpath("b_002.tar").exists)


async def test_a_failed_check_registers_nothing_of_any_part(
    server: Any, dataset: tuple[ProjectInfo, DatasetInfo], tmp_path: Path
) -> None:
    _, ds = dataset
    assert ds.id is not None
    await asyncio.to_thread(_images, tmp_path / "img", 250)

    async def check() -> None:
        raise ValueError("annotation 7 is not an object")

    async with Api(server.address, server.token, FAST.with_(blob_part_images=100)) as api:
        with pytest.raises(ValueError, match="annotation 7"):
            async for _batch in upload_blob(
                api, ds, tmp_path / "b.tar", images_dir=tmp_path / "img", checked=check
            ):
                pass
        assert await api.image.get_list(ds.id) == []


class _Log(_Gate):
    """Records each part's upload and each registration, in order; holds nothing."""

    async def upload(self, method: str, source: Any, **kw: Any) -> Any:
        self.order.append(str((kw.get("params") or {}).get("path")).rsplit("/", 1)[-1])
        return await self.inner.upload(method, source, **kw)


@pytest.mark.parametrize("passes", [True, False])
async def test_parts_go_on_uploading_while_a_long_check_runs(
    server: Any, dataset: tuple[ProjectInfo, DatasetInfo], tmp_path: Path, passes: bool
) -> None:
    """Up to ``parts_registering`` parts wait for the check, uploaded, and one more uploads;
    none registers before the check ends; a failed check registers nothing."""
    _, ds = dataset
    assert ds.id is not None
    await asyncio.to_thread(_images, tmp_path / "img", 500)
    uploaded_three = asyncio.Event()

    async def check() -> None:
        await asyncio.wait_for(uploaded_three.wait(), 30)  # a check slower than 3 uploads
        if not passes:
            raise ValueError("annotation 400 is not an object")

    cfg = FAST.with_(blob_part_images=100, parts_registering=2)
    async with Api(server.address, server.token, cfg) as api:
        log = api.transport = _Log(api.transport)

        async def upload(method: str, source: Any, **kw: Any) -> Any:
            answer = await _Log.upload(log, method, source, **kw)
            if sum(p.endswith(".tar") for p in log.order) == 3:
                uploaded_three.set()
            return answer

        log.upload = upload  # type: ignore[method-assign]
        batches = upload_blob(api, ds, tmp_path / "b.tar", images_dir=tmp_path / "img",
                              checked=check)  # fmt: skip
        if passes:
            infos = [i for batch in [b async for b in batches] for i in batch]
            assert len(infos) == 500
        else:
            with pytest.raises(ValueError, match="annotation 400"):
                async for _batch in batches:
                    pass
            assert await api.image.get_list(ds.id) == []
    tars = [p for p in log.order if p.endswith(".tar")]
    first_registration = log.order.index("images.bulk.add") if passes else len(log.order)
    assert tars[:3] == ["b_001.tar", "b_002.tar", "b_003.tar"]
    assert log.order.index("b_003.tar") < first_registration  # three parts before the check
    if not passes:
        assert len(tars) == 3  # the fourth part waits for a slot; the failure ends the import
