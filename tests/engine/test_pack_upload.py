"""Packing a folder into a blob while it uploads (``upload_blob(images_dir=...)``)."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest

import blobflow.engine._pack_upload as pack_upload
from blobflow._errors import BlobflowError, BlobFormatError
from blobflow.api import Api, ApiError, DatasetInfo, ImageInfo, ProjectInfo, b64_sha256
from blobflow.api._progress import Progress
from blobflow.blob import archive_directory
from blobflow.engine import upload_blob
from blobflow.engine._pack_upload import TarStream, pack_and_upload_blob_files

from ._helpers import FAST, Faults


def _images(folder: Path, n: int, size: int = 3000) -> dict[str, bytes]:
    folder.mkdir(parents=True)
    data = {f"im_{i:04d}.png": os.urandom(size + i % 13) for i in range(n)}
    for name, body in data.items():
        (folder / name).write_bytes(body)
    return data


async def _all(gen: Any) -> list[ImageInfo]:
    return [i async for batch in gen for i in batch]


async def test_packs_uploads_and_registers_in_one_pass(
    api: Api, dataset: tuple[ProjectInfo, DatasetInfo], tmp_path: Path
) -> None:
    _, ds = dataset
    data = await asyncio.to_thread(_images, tmp_path / "img", 300)
    tar = tmp_path / "out" / "b.tar"
    await asyncio.to_thread(tar.parent.mkdir)
    anns = {n: {"description": n, "size": {"height": 1, "width": 1}, "tags": [], "objects": []}
            for n in data}  # fmt: skip
    sent: list[int] = []
    infos = await _all(
        upload_blob(api, ds, tar, images_dir=tmp_path / "img", annotations=anns,
                    bytes_progress_cb=sent.append)
    )  # fmt: skip
    assert sorted(i.name or "" for i in infos) == sorted(data)
    # the local tar and index are exactly what the packer writes on its own
    ref = tmp_path / "ref" / "b.tar"
    await asyncio.to_thread(ref.parent.mkdir)
    await asyncio.to_thread(archive_directory, tmp_path / "img", ref, offsets_dir=ref.parent)
    assert tar.read_bytes() == ref.read_bytes()
    pkl = tar.with_name("b_offsets.pkl")
    assert pkl.read_bytes() == ref.with_name("b_offsets.pkl").read_bytes()
    assert sum(sent) == tar.stat().st_size + pkl.stat().st_size
    # Team Files holds the same bytes, and the images read back from the server are the files
    team_tar = await api.file.get_info_by_path(ds.team_id or 1, "/blob-files/b.tar")
    assert team_tar is not None and team_tar.hash == b64_sha256(tar.read_bytes())
    assert ds.id is not None
    some = infos[:5] + infos[-5:]
    got = await api.image.download_bytes(ds.id, [i.id for i in some if i.id is not None])
    assert got == [data[i.name or ""] for i in some]
    ann = await api.annotation.download_batch(ds.id, [some[0].id or 0])
    assert ann[0].annotation["description"] == some[0].name


async def test_a_failed_live_upload_is_retried_from_the_finished_tar(
    server: Any, dataset: tuple[ProjectInfo, DatasetInfo], proxy: tuple[str, Faults],
    tmp_path: Path,
) -> None:  # fmt: skip
    _, ds = dataset
    address, faults = proxy
    faults.plan["file-storage.upload"] = ["503"]
    data = await asyncio.to_thread(_images, tmp_path / "img", 120)
    tar = tmp_path / "b.tar"
    sent: list[int] = []
    async with Api(address, server.token, FAST) as flaky:
        infos = await _all(
            upload_blob(flaky, ds, tar, images_dir=tmp_path / "img", bytes_progress_cb=sent.append)
        )
    assert len(infos) == 120 and faults.seen.count("file-storage.upload") == 3  # tar x2, pkl
    assert sum(sent) == tar.stat().st_size + tar.with_name("b_offsets.pkl").stat().st_size
    async with Api(server.address, server.token, FAST) as direct:
        team_tar = await direct.file.get_info_by_path(ds.team_id or 1, "/blob-files/b.tar")
        assert team_tar is not None and team_tar.hash == b64_sha256(tar.read_bytes())
        assert ds.id is not None
        got = await direct.image.download_bytes(ds.id, [infos[7].id or 0])
    assert got == [data[infos[7].name or ""]]


async def test_an_upload_refused_stops_the_packer_and_leaves_nothing(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """64 MiB of images: the packer waits for the body after one 8 MiB chunk, so the refusal
    comes while it packs, and it stops; its temporary files are removed."""
    monkeypatch.setattr(pack_upload, "MAX_CHUNKS", 1)
    await asyncio.to_thread(_images, tmp_path / "img", 320, 200_000)
    out = tmp_path / "out"
    await asyncio.to_thread(out.mkdir)
    async with Api(server.address, "wrong-token", FAST) as bad:
        with pytest.raises(ApiError) as caught:
            await pack_and_upload_blob_files(
                bad, 1, tmp_path / "img", out / "b.tar", team_dir="/blob-files"
            )
    assert caught.value.status in (401, 403)
    assert sorted(os.listdir(out)) == []  # no tar, no index, no temporary file


async def test_a_packing_error_cancels_the_upload(
    api: Api, dataset: tuple[ProjectInfo, DatasetInfo], tmp_path: Path
) -> None:
    _, ds = dataset
    await asyncio.to_thread(_images, tmp_path / "img", 40)
    await asyncio.to_thread((tmp_path / "img" / "zz_empty.png").write_bytes, b"")
    with pytest.raises(BlobFormatError, match="empty file"):
        await _all(upload_blob(api, ds, tmp_path / "b.tar", images_dir=tmp_path / "img"))
    assert not (tmp_path / "b.tar").exists()
    assert await api.file.get_info_by_path(ds.team_id or 1, "/blob-files/b.tar") is None
    assert ds.id is not None and await api.image.get_list(ds.id) == []


async def test_offsets_path_is_refused_with_images_dir(
    api: Api, dataset: tuple[ProjectInfo, DatasetInfo], tmp_path: Path
) -> None:
    _, ds = dataset
    with pytest.raises(ValueError, match="offsets_path must be None"):
        await _all(
            upload_blob(api, ds, tmp_path / "b.tar", tmp_path / "x.pkl", images_dir=tmp_path)
        )


async def test_the_stream_holds_at_most_max_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The packer's writer thread waits while MAX_CHUNKS chunks are unsent (bounded memory)."""
    monkeypatch.setattr(pack_upload, "MAX_CHUNKS", 2)
    stream = TarStream(Path("unused.tar"), Progress())
    written: list[int] = []

    def packer() -> None:
        for i in range(5):
            stream.write(bytes([i]) * 10)
            written.append(i)

    thread = threading.Thread(target=packer)
    thread.start()
    body = stream.body()
    await asyncio.sleep(0.2)
    assert written == [0, 1]  # the third write waits for the body
    got = [await body.__anext__() for _ in range(3)]
    await asyncio.to_thread(thread.join, 5)
    assert written == [0, 1, 2, 3, 4]
    stream.finished(None)
    got += [chunk async for chunk in body]
    assert got == [bytes([i]) * 10 for i in range(5)]
    assert stream.sha256() == b64_sha256(b"".join(got))


async def test_a_stopped_stream_lets_the_packer_finish_or_aborts_it() -> None:
    stream = TarStream(Path("unused.tar"), Progress())
    stream.stop(abort=False)  # a retry reads the file: writes are hashed, not queued
    await asyncio.to_thread(stream.write, b"abc")
    assert stream.sha256() == b64_sha256(b"abc")
    stream.stop(abort=True)
    with pytest.raises(BlobflowError, match="packing stopped"):
        await asyncio.to_thread(stream.write, b"def")
