"""Upload pipeline against the reference server: blob + index -> registration -> annotations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blobflow._errors import BlobflowError
from blobflow._json import Encoded
from blobflow.api import Api, DatasetInfo, ImageInfo, ProjectInfo, register_offsets
from blobflow.blob import BlobImageInfo
from blobflow.engine import upload_blob

from ._helpers import FAST, Blob, Faults


def write_pkl(blob: Blob) -> Path:
    pkl = blob.tar.with_name(blob.tar.stem + "_offsets.pkl")
    BlobImageInfo.dump_to_pickle([BlobImageInfo(n, s, e) for n, s, e in blob.entries], pkl)
    return pkl


async def make_pkl(blob: Blob) -> Path:
    return await asyncio.to_thread(write_pkl, blob)


def ann(name: str) -> dict[str, Any]:
    return {"description": name, "size": {"height": 2, "width": 2}, "tags": [], "objects": []}


async def _all(gen: Any) -> list[list[ImageInfo]]:
    return [batch async for batch in gen]


async def _assert_each_has_its_annotation(
    api: Api, ds: DatasetInfo, infos: list[ImageInfo], names: list[str]
) -> None:
    """Read back from the server: image i carries ``ann(names[i])``."""
    assert ds.id is not None
    got = await api.annotation.download_batch(ds.id, [i.id for i in infos if i.id is not None])
    assert [a.annotation["description"] for a in got if a.annotation] == names


async def _dataset_images(api: Api, ds: DatasetInfo) -> list[ImageInfo]:
    assert ds.id is not None
    return await api.image.get_list(ds.id)


@pytest.mark.asyncio(loop_factories=["uvloop"])  # heavy: one loop is enough
async def test_upload_blob_with_annotations_in_order(
    api: Api,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
) -> None:
    project, ds = dataset
    blob = blob_factory("b", 20_001, size=200)
    await make_pkl(blob)
    anns = {n: ann(n) for n in blob.names}
    counted: list[int] = []
    batches = await _all(
        upload_blob(api, ds, blob.tar, annotations=anns, progress_cb=counted.append)
    )
    assert [len(b) for b in batches] == [10_000, 10_000, 1]
    infos = [i for b in batches for i in b]
    assert [i.name for i in infos] == blob.names
    assert sum(counted) == 20_001
    assert project.id is not None and ds.id is not None
    assert (await api.project.get_custom_data(project.id)).get("is_blob_project") is True
    some = [infos[0], infos[12_345], infos[-1]]
    got = await api.annotation.download_batch(ds.id, [i.id for i in some if i.id is not None])
    assert [a.annotation["description"] for a in got if a.annotation] == [i.name for i in some]
    data = await api.image.download_bytes(ds.id, [i.id for i in some if i.id is not None])
    assert data == [blob.data[i.name] for i in some if i.name]


async def test_rerun_with_skip_never_duplicates(
    api: Api,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
) -> None:
    _, ds = dataset
    blob = blob_factory("b", 300)
    await make_pkl(blob)
    first = [i for b in await _all(upload_blob(api, ds, blob.tar)) for i in b]
    again = [i for b in await _all(upload_blob(api, ds, blob.tar)) for i in b]
    assert [i.id for i in again] == [i.id for i in first]
    assert len(await _dataset_images(api, ds)) == 300


async def test_rename_on_rerun_keeps_both(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
) -> None:
    _, ds = dataset
    blob = blob_factory("b", 10)
    await make_pkl(blob)
    await _all(upload_blob(api, ds, blob.tar))
    tf = await api.file.get_info_by_path(server.team_id, "/blob-files/b.tar")
    assert tf is not None
    renamed = await api.image.upload_blob_images(ds, tf, change_name_if_conflict=True)
    assert len(renamed) == 10 and all(i.name not in blob.data for i in renamed)
    assert len(await _dataset_images(api, ds)) == 20


async def test_generator_downloads_offsets_from_team_files(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
) -> None:
    _, ds = dataset
    blob = blob_factory("b", 1)
    pkl = await make_pkl(blob)
    tf = await api.file.upload(server.team_id, blob.tar, "/blob-files/b.tar")
    await api.file.upload(server.team_id, pkl, "/blob-files/b_offsets.pkl")
    assert tf.id is not None
    batches = await _all(api.image.upload_by_offsets_generator(ds, tf.id))
    assert [[i.name for i in b] for b in batches] == [blob.names]
    assert batches[0][0].offset_start == blob.entries[0][1]


async def test_registration_concurrency_and_small_batches(
    api: Api,
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
) -> None:
    _, ds = dataset
    blob = blob_factory("b", 1_000)
    pkl = await make_pkl(blob)
    tf = await api.file.upload(server.team_id, blob.tar, "/blob-files/b.tar")
    assert tf.id is not None
    batches = await _all(register_offsets(api, ds, tf.id, pkl, batch_size=64))
    assert len(batches) == 16
    assert [i.name for b in batches for i in b] == blob.names


@pytest.mark.parametrize("resolution", [None, "skip", "rename"])
@pytest.mark.parametrize("fault", ["drop_answer", "503"])
async def test_bulk_add_faults_never_duplicate(
    proxy: tuple[str, Faults],
    server: Any,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    fault: str,
    resolution: Any,
) -> None:
    """The connection drops after the server committed (or a 503 burst): identical result."""
    _, ds = dataset
    blob = blob_factory("b", 2_500)
    await make_pkl(blob)
    address, faults = proxy
    faults.plan["images.bulk.add"] = [fault, fault]
    faults.plan["file-storage.upload"] = ["503"]
    async with Api(address, server.token, FAST.with_(bulk_add_batch=1_000)) as flaky:
        batches = await _all(upload_blob(flaky, ds, blob.tar, conflict_resolution=resolution))
    infos = [i for b in batches for i in b]
    assert [i.name for i in infos] == blob.names
    assert faults.seen.count("images.bulk.add") == 5  # 3 batches + 2 retries
    async with Api(server.address, server.token, FAST) as direct:
        listed = await _dataset_images(direct, ds)
    assert sorted(i.id or 0 for i in listed) == sorted(i.id or 0 for i in infos)


async def test_upload_paths_standard_protocol(
    api: Api,
    dataset: tuple[ProjectInfo, DatasetInfo],
    tmp_path: Path,
) -> None:
    _, ds = dataset
    assert ds.id is not None
    paths = []
    for i in range(60):
        p = tmp_path / f"s{i}.png"
        await asyncio.to_thread(p.write_bytes, b"px" * (i + 1))
        paths.append(p)
    names = [p.name for p in paths]
    infos = await api.image.upload_paths(ds.id, names, paths)
    assert [i.name for i in infos] == names
    # same bytes again under new names: hashes exist, nothing re-uploaded, still registered
    infos2 = await api.image.upload_paths(ds.id, [f"x{n}" for n in names], paths)
    assert len(infos2) == 60
    data = await api.image.download_bytes(ds.id, [i.id for i in infos if i.id is not None])
    assert data == [b"px" * (i + 1) for i in range(60)]
    anns = [ann(n) for n in names]
    await api.annotation.upload_jsons([i.id for i in infos if i.id is not None], anns)
    got = await api.annotation.download_batch(ds.id, [i.id for i in infos if i.id is not None])
    assert [a.annotation for a in got] == anns


async def test_encoded_annotations_go_as_they_are_only_checked_and_unconverted(
    api: Api, dataset: tuple[ProjectInfo, DatasetInfo], tmp_path: Path
) -> None:
    _, ds = dataset
    assert ds.id is not None
    p = tmp_path / "e.png"
    await asyncio.to_thread(p.write_bytes, b"enc")
    (info,) = await api.image.upload_paths(ds.id, ["e.png"], [p])
    assert info.id is not None
    raw = b'{ "description": "as in the file", "size": {"height": 2, "width": 2},\n'
    raw += b' "tags": [], "objects": [] }'
    for bad in ({"checked": False, "convert_coordinates": False},
                {"checked": True, "convert_coordinates": True}):  # fmt: skip
        with pytest.raises(ValueError, match="checked and unconverted"):
            await api.annotation.upload_jsons([info.id], [Encoded(raw)], dataset_id=ds.id, **bad)
    await api.annotation.upload_jsons(
        [info.id], [Encoded(raw)], dataset_id=ds.id, checked=True, convert_coordinates=False
    )
    (got,) = await api.annotation.download_batch(ds.id, [info.id])
    assert got.annotation == json.loads(raw)


async def test_annotations_are_loaded_a_chunk_at_a_time(
    api: Api,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A registered batch's annotations are read ``annotation_upload_chunk`` at a time (bounded
    memory), and every image still gets its own."""
    monkeypatch.setattr(api, "config", api.config.with_(annotation_upload_chunk=7))
    _, ds = dataset
    blob = blob_factory("c", 30)
    await make_pkl(blob)
    asked: list[int] = []

    async def load(names: list[str]) -> list[dict[str, Any]]:
        asked.append(len(names))
        return [ann(n) for n in names]

    infos = [i for b in await _all(upload_blob(api, ds, blob.tar, annotations=load)) for i in b]
    assert asked == [7, 7, 7, 7, 2]
    await _assert_each_has_its_annotation(api, ds, infos, blob.names)


async def test_annotations_load_while_their_batch_registers(
    api: Api,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first chunk is read before the server answers ``images.bulk.add``, and each next
    chunk before the one before has been sent."""
    monkeypatch.setattr(api, "config", api.config.with_(annotation_upload_chunk=10))
    _, ds = dataset
    blob = blob_factory("p", 25)
    await make_pkl(blob)
    events: list[str] = []
    bulk_add = api.image._bulk_add_batch
    upload_jsons = api.annotation.upload_jsons

    async def registered(*args: Any, **kwargs: Any) -> list[ImageInfo]:
        infos = await bulk_add(*args, **kwargs)
        events.append("registered")
        return infos

    async def sent(ids: Any, anns: list[dict[str, Any]], **kwargs: Any) -> None:
        await upload_jsons(ids, anns, **kwargs)
        events.append(f"sent {len(anns)}")

    async def load(names: list[str]) -> list[dict[str, Any]]:
        events.append(f"load {len(names)}")
        return [ann(n) for n in names]

    monkeypatch.setattr(api.image, "_bulk_add_batch", registered)
    monkeypatch.setattr(api.annotation, "upload_jsons", sent)
    infos = [i for b in await _all(upload_blob(api, ds, blob.tar, annotations=load)) for i in b]
    assert events == ["load 10", "registered", "load 10", "sent 10", "load 5", "sent 10", "sent 5"]
    await _assert_each_has_its_annotation(api, ds, infos, blob.names)


async def test_a_missing_annotation_stops_before_its_batch_registers(
    api: Api,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
) -> None:
    _, ds = dataset
    blob = blob_factory("m", 5)
    await make_pkl(blob)
    anns = {n: ann(n) for n in blob.names[1:]}
    with pytest.raises(BlobflowError, match=f"no annotation for images \\['{blob.names[0]}'\\]"):
        await _all(upload_blob(api, ds, blob.tar, annotations=anns))
    assert await _dataset_images(api, ds) == []


async def test_a_failing_annotation_load_is_raised_and_never_left_running(
    api: Api,
    dataset: tuple[ProjectInfo, DatasetInfo],
    blob_factory: Callable[..., Blob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(api, "config", api.config.with_(annotation_upload_chunk=2))
    _, ds = dataset
    blob = blob_factory("f", 6)
    await make_pkl(blob)
    started: list[list[str]] = []

    async def load(names: list[str]) -> list[dict[str, Any]]:
        started.append(names)
        if len(started) == 2:
            raise OSError("disk gone")
        await asyncio.sleep(0)
        return [ann(n) for n in names]

    with pytest.raises(OSError, match="disk gone"):
        await _all(upload_blob(api, ds, blob.tar, annotations=load))
    assert len(started) == 2  # the third chunk was never asked for
    # registration itself failing: the first chunk's load is cancelled, not left behind
    async def refuse(*args: Any, **kwargs: Any) -> list[ImageInfo]:
        await asyncio.sleep(0.01)
        raise BlobflowError("registration refused")

    started.clear()
    monkeypatch.setattr(api.image, "_bulk_add_batch", refuse)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        with pytest.raises(BlobflowError, match="registration refused"):
            await _all(upload_blob(api, ds, blob.tar, annotations=load))
    finally:
        loop.set_exception_handler(None)
    assert started and unhandled == []
