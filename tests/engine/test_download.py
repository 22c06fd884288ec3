"""Download pipeline against the reference server: bytes identical, faults survived."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blobflow import IntegrityError
from blobflow.api import Api, DatasetInfo, ImageInfo, ProjectInfo, RetryBudgetExceeded
from blobflow.engine import DOWNLOAD_STATE_FILE, DatasetDownload, download_dataset_blobs

from ._helpers import FAST, Blob, Faults


async def _register(api: Api, server: Any, ds: DatasetInfo, blob: Blob) -> list[ImageInfo]:
    tf = await api.file.upload(server.team_id, blob.tar, f"/blob-files/{blob.tar.name}")
    assert tf.id is not None
    return await api.image.upload_by_offsets(
        ds, tf.id, blob.names, blob.offsets, batch_size=api.config.bulk_add_batch
    )


async def _check_files(img_dir: Path, blobs: list[Blob]) -> None:
    await asyncio.to_thread(_check_files_sync, img_dir, blobs)


def _check_files_sync(img_dir: Path, blobs: list[Blob]) -> None:
    want = {name: data for b in blobs for name, data in b.data.items()}
    got = {p.name: p.read_bytes() for p in img_dir.iterdir()}
    assert got.keys() == want.keys()
    assert all(got[k] == want[k] for k in want)


async def _download(
    api: Api, project: ProjectInfo, ds: DatasetInfo, out: Path, **kw: Any
) -> tuple[DatasetDownload, list[ImageInfo]]:
    assert project.id is not None and ds.id is not None
    summary = DatasetDownload()
    pages: list[ImageInfo] = []
    async for page in download_dataset_blobs(
        api, project.id, ds.id, out / "blob", img_dir=out / "img", summary=summary, **kw
    ):
        pages.extend(page)
    return summary, pages


async def _roundtrip_one_blob(
    api: Api, server: Any, dataset: tuple[ProjectInfo, DatasetInfo], blob: Blob, out: Path
) -> None:
    project, ds = dataset
    infos = await _register(api, server, ds, blob)
    assert [i.name for i in infos] == blob.names
    summary, pages = await _download(api, project, ds, out)
    assert len(pages) == len(blob.names) == summary.images == summary.extracted
    [(rid, path)] = summary.blobs.items()
    assert path == out / "blob" / f"{rid}.tar"
    assert path.read_bytes() == blob.tar.read_bytes()
    await _check_files(out / "img", [blob])


async def test_roundtrip_one_image(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    await _roundtrip_one_blob(api, server, dataset, blob_factory("b", 1), tmp_path / "out")


@pytest.mark.asyncio(loop_factories=["uvloop"])  # heavy: one loop is enough
async def test_roundtrip_10000_images(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    await _roundtrip_one_blob(api, server, dataset, blob_factory("b", 10_000), tmp_path / "out")


@pytest.mark.asyncio(loop_factories=["uvloop"])
async def test_roundtrip_30000_images_three_blobs(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    project, ds = dataset
    blobs = [blob_factory(f"b{k}", 10_000, size=300, prefix=f"b{k}") for k in range(3)]
    for blob in blobs:
        await _register(api, server, ds, blob)
    bar: list[int] = []
    summary, pages = await _download(
        api, project, ds, tmp_path / "out", bytes_progress_cb=bar.append
    )
    assert len(pages) == 30_000 and len({p.id for p in pages}) == 30_000
    assert len(summary.blobs) == 3
    assert sorted(p.read_bytes() for p in summary.blobs.values()) == sorted(
        b.tar.read_bytes() for b in blobs
    )
    assert sum(bar) == sum(b.tar.stat().st_size for b in blobs)
    await _check_files(tmp_path / "out" / "img", blobs)


async def test_existing_verified_blob_is_not_fetched_again(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    project, ds = dataset
    await _register(api, server, ds, blob_factory("b", 20))
    first, _ = await _download(api, project, ds, tmp_path / "out")
    second, _ = await _download(api, project, ds, tmp_path / "out")
    assert len(first.results) == 1 and second.results == {}


async def test_a_blob_file_never_verified_is_fetched_again(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    """A ``<id>.tar`` of the right name but without a record of its verification (someone
    else's file, a copy, a different blob) is replaced, not trusted: the same definition of
    "already downloaded" as download_fast's."""
    project, ds = dataset
    blob = blob_factory("n", 12)
    await _register(api, server, ds, blob)
    first, _ = await _download(api, project, ds, tmp_path / "out")
    [(rid, path)] = first.blobs.items()
    state = tmp_path / "out" / "blob" / DOWNLOAD_STATE_FILE
    await asyncio.to_thread(state.unlink)
    await asyncio.to_thread(path.write_bytes, b"not the blob")
    second, _ = await _download(api, project, ds, tmp_path / "out")
    assert list(second.results) == [rid]
    assert await asyncio.to_thread(path.read_bytes) == blob.tar.read_bytes()


async def test_blob_download_survives_cuts_and_503(
    proxy: tuple[str, Faults],
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    project, ds = dataset
    blob = blob_factory("b", 500)
    await _register(api, server, ds, blob)
    address, faults = proxy
    faults.plan["images.data.download"] = ["cut", "503", "cut"]
    faults.plan["images.list"] = ["503"]
    async with Api(address, server.token, FAST) as flaky:
        summary, pages = await _download(flaky, project, ds, tmp_path / "out")
    assert faults.seen.count("images.data.download") == 4
    assert len(pages) == 500
    await _check_files(tmp_path / "out" / "img", [blob])
    [path] = summary.blobs.values()
    assert path.read_bytes() == blob.tar.read_bytes()


async def test_blob_download_gives_up_cleanly(
    proxy: tuple[str, Faults],
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    project, ds = dataset
    await _register(api, server, ds, blob_factory("b", 50))
    address, faults = proxy
    faults.plan["images.data.download"] = ["cut"] * 20
    async with Api(address, server.token, FAST.with_(retry_attempts=3)) as flaky:
        with pytest.raises(RetryBudgetExceeded):
            await _download(flaky, project, ds, tmp_path / "out")
    assert not (tmp_path / "out" / "blob").exists() or not any(
        (tmp_path / "out" / "blob").iterdir()
    )  # neither a final .tar nor a stale .part


async def test_wrong_expected_size_never_lands(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    project, ds = dataset
    infos = await _register(api, server, ds, blob_factory("b", 5))
    assert project.id is not None and infos[0].download_id is not None
    async with Api(api.server_address, api.token, FAST.with_(retry_attempts=2)) as api2:
        with pytest.raises(IntegrityError):
            await api2.image.download_blob_file(
                project.id, infos[0].download_id, tmp_path / "x.tar", expected_size=1
            )
    assert list(tmp_path.glob("x.tar*")) == []


async def test_standard_download_bytes_and_paths(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    _, ds = dataset
    blob = blob_factory("b", 120)
    infos = await _register(api, server, ds, blob)
    ids = [i.id for i in infos if i.id is not None]
    assert ds.id is not None
    datas = await api.image.download_bytes(ds.id, ids)
    assert datas == [blob.data[n] for n in blob.names]
    paths = [tmp_path / "img" / n for n in blob.names]
    await api.image.download_paths(ds.id, ids, paths)
    assert [p.read_bytes() for p in paths] == datas


async def test_download_blob_files_async_several(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    tmp_path: Path,
) -> None:
    project, ds = dataset
    blobs = [blob_factory(f"b{k}", 30, prefix=f"b{k}") for k in range(3)]
    firsts = [(await _register(api, server, ds, b))[0] for b in blobs]
    assert project.id is not None
    bar: list[int] = []
    results = await api.image.download_blob_files_async(
        project.id,
        [i.download_id or "" for i in firsts],
        [tmp_path / f"{k}.tar" for k in range(3)],
        progress_cb=bar.append,
    )
    assert [r.path.read_bytes() for r in results] == [b.tar.read_bytes() for b in blobs]
    assert sum(bar) == sum(r.size for r in results)
