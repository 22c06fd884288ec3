"""Team Files: both upload forms, listing, info, download with Range and checksum, paths."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ._helpers import API, Client, stored_files


def b64sha(data: bytes) -> str:
    return base64.standard_b64encode(hashlib.sha256(data).digest()).decode()


async def test_bulk_upload_triples(client: Client, server: Any) -> None:
    import aiohttp

    form = aiohttp.FormData()
    for name, data in (("a.tar", b"A" * 100), ("a_offsets.pkl", b"P" * 7)):
        form.add_field("name", name)
        form.add_field("path", "/blob-files/")
        form.add_field("file", data, filename=name)
    async with client.session.post(
        API + "file-storage.bulk.upload", params={"teamId": str(server.team_id)}, data=form,
        headers=client.headers(),
    ) as r:
        assert r.status == 200
        files = await r.json()
    assert [f["path"] for f in files] == ["/blob-files/a.tar", "/blob-files/a_offsets.pkl"]
    assert [f["name"] for f in files] == ["a.tar", "a_offsets.pkl"]
    assert files[0]["hash"] == b64sha(b"A" * 100) and files[0]["meta"]["size"] == 100
    assert files[0]["teamId"] == server.team_id
    info = await client.ok("file-storage.info", {"id": files[1]["id"]})
    assert info["path"] == "/blob-files/a_offsets.pkl" and info["meta"]["size"] == 7


async def test_raw_chunked_upload(client: Client, server: Any) -> None:
    payload = bytes(range(256)) * 5000

    async def body() -> Any:  # no Content-Length: chunked, like httpx in the SDK
        for i in range(0, len(payload), 65536):
            yield payload[i : i + 65536]

    async with client.session.post(
        API + "file-storage.upload",
        params={"teamId": str(server.team_id), "path": "/blob-files/big.tar"},
        data=body(), headers={**client.headers(), "Content-Type": "application/octet-stream"},
    ) as r:
        assert r.status == 200, await r.text()
        f = await r.json()
    assert f["hash"] == b64sha(payload) and f["size"] == len(payload)
    assert f["path"] == "/blob-files/big.tar"


async def test_list_is_a_prefix_listing(client: Client, server: Any) -> None:
    for path in ("/blob-files/x.tar", "/blob-files/x_offsets.pkl", "/blob-files/sub/y.tar",
                 "/blob-filesX/z.tar"):
        await client.upload(server.team_id, path, b"data")
    own = await client.ok(
        "file-storage.list",
        {"teamId": server.team_id, "path": "/blob-files/x.tar", "recursive": True},
    )
    assert [f["path"] for f in own] == ["/blob-files/x.tar"]  # get_info_by_path relies on it
    deep = await client.ok("file-storage.list", {"teamId": server.team_id, "path": "/blob-files"})
    assert [f["path"] for f in deep] == [
        "/blob-files/sub/y.tar", "/blob-files/x.tar", "/blob-files/x_offsets.pkl"]
    flat = await client.ok(
        "file-storage.list", {"teamId": server.team_id, "path": "/blob-files/", "recursive": False}
    )
    assert [f["name"] for f in flat] == ["x.tar", "x_offsets.pkl"]


async def test_download_range_and_checksum(client: Client, server: Any) -> None:
    data = bytes(range(256)) * 40
    await client.upload(server.team_id, "/d/file.bin", data)
    body = {"teamId": server.team_id, "path": "/d/file.bin"}
    async with client.session.post(
        API + "file-storage.download", json=body,
        headers={**client.headers(), "Accept-Encoding": "gzip, deflate"},
    ) as r:
        assert r.status == 200
        assert "Content-Encoding" not in r.headers
        assert r.headers["x-content-checksum-sha256"] == b64sha(data)
        assert int(r.headers["Content-Length"]) == len(data)
        assert await r.read() == data
    async with client.session.post(
        API + "file-storage.download", json=body,
        headers={**client.headers(), "Range": "bytes=100-"},
    ) as r:
        assert r.status == 206
        assert await r.read() == data[100:]
    status, _ = await client.call("file-storage.download", {"teamId": server.team_id,
                                                            "path": "/d/missing"})
    assert status == 404


async def test_paths_are_normalised_and_dotdot_refused(client: Client, server: Any) -> None:
    f = await client.upload(server.team_id, "//a/./b//c.bin", b"x")
    assert f["path"] == "/a/b/c.bin"
    for bad in ("/a/../../etc/passwd", "/../x"):
        async with client.session.post(
            API + "file-storage.upload", params={"teamId": str(server.team_id), "path": bad},
            data=b"x", headers=client.headers(),
        ) as r:
            assert r.status == 400
    status, _ = await client.call(
        "file-storage.list", {"teamId": server.team_id, "path": "/a/../.."}
    )
    assert status == 400


async def test_overwrite_replaces_entry(client: Client, server: Any) -> None:
    first = await client.upload(server.team_id, "/blob-files/o.tar", b"old")
    second = await client.upload(server.team_id, "/blob-files/o.tar", b"new!")
    assert second["id"] == first["id"] and second["hash"] == b64sha(b"new!")
    listed = await client.ok("file-storage.list", {"teamId": server.team_id,
                                                   "path": "/blob-files/o.tar"})
    assert len(listed) == 1 and listed[0]["meta"]["size"] == 4


async def test_failed_bulk_upload_registers_nothing(client: Client, server: Any) -> None:
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("name", "ok.bin")
    form.add_field("path", "/batch/")
    form.add_field("file", b"fine", filename="ok.bin")
    form.add_field("name", "../escape.bin")  # the second file is refused...
    form.add_field("path", "/batch/")
    form.add_field("file", b"evil", filename="escape.bin")
    async with client.session.post(
        API + "file-storage.bulk.upload", params={"teamId": str(server.team_id)}, data=form,
        headers=client.headers(),
    ) as r:
        assert r.status == 400
    # ...and so is the whole request: no entry, no stored or temporary file
    assert await client.ok("file-storage.list", {"teamId": server.team_id, "path": "/"}) == []
    assert await stored_files(server) == []
