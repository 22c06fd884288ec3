"""The wire contract: a recording proxy, what a recording keeps of each request, the shared
inputs of the blob flows, and how to run each flow with the SDK (a subprocess) or blobflow.

Used by ``record_sdk_wire.py`` (run once with the SDK; its output is kept under
``tests/fixtures/wire/``) and by ``test_wire_contract.py`` (blobflow's same flows, compared).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import tarfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web
from PIL import Image

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "wire"
SDK_SCRIPT = HERE / "sdk_wire_flows.py"
API = "/public/api/v3/"
FLOWS = ("upload_project", "quick_import", "download_fast")
IMAGES = 120  # three annotations.bulk.add batches of 50, 50, 20
META = {"classes": [{"title": "car", "shape": "rectangle", "color": "#FF0000"},
                    {"title": "dot", "shape": "point", "color": "#00FF00"},
                    {"title": "area", "shape": "polygon", "color": "#0000FF"}], "tags": []}
_FORWARD = ("x-api-key", "content-type", "range", "transfer-encoding")
_BACK = ("content-type", "content-range", "x-content-checksum-sha256", "accept-ranges")
_GEOMETRY_KEYS = ("points", "bitmap", "nodes", "parts")


# --- inputs -------------------------------------------------------------------------------


def image_names() -> list[str]:
    return [f"w_{n:03d}.png" for n in range(IMAGES)]


def _png(n: int) -> bytes:
    rng = np.random.default_rng(n)
    arr = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)  # 16 x 12
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def annotation(n: int) -> dict[str, Any]:
    """Image ``n``'s annotation, in the pixel system of local files: a box, a point, a polygon."""
    x = n % 9
    return {"description": "", "size": {"height": 12, "width": 16}, "tags": [], "objects": [
        {"classTitle": "car", "geometryType": "rectangle", "tags": [], "description": "",
         "points": {"exterior": [[x, 1], [x + 6, 5]], "interior": []}},
        {"classTitle": "dot", "geometryType": "point", "tags": [], "description": "",
         "points": {"exterior": [[15, 11 - x % 3]], "interior": []}},
        {"classTitle": "area", "geometryType": "polygon", "tags": [], "description": "",
         "points": {"exterior": [[0, 0], [x + 1, 0], [x + 1, 3]], "interior": []}},
    ]}


def write_inputs(root: Path) -> dict[str, Path]:
    """Loose images, their blob + offsets, annotation files, meta, and a local blob project
    (Supervisely layout) holding the same: every flow's input, the same for both clients."""
    from blobflow.blob import archive_directory
    from blobflow.project import OpenMode, Project

    imgs, anns, blob = root / "imgs", root / "anns", root / "blob"
    for d in (imgs, anns, blob):
        d.mkdir(parents=True)
    for n, name in enumerate(image_names()):
        (imgs / name).write_bytes(_png(n))
        (anns / f"{name}.json").write_text(json.dumps(annotation(n)))
    (root / "meta.json").write_text(json.dumps(META))
    tar = blob / "wire.tar"
    infos = archive_directory(imgs, tar, offsets_dir=blob)
    project = Project(root / "project" / "wire", OpenMode.CREATE)
    project.set_meta(META)
    project.add_blob_file(tar)
    ds = project.create_dataset("ds0")
    ds.add_blob_offsets("wire.tar", infos)
    ds.write_anns({name: annotation(n) for n, name in enumerate(image_names())})
    project.close()
    return {"imgs": imgs, "anns": anns, "tar": tar, "pkl": blob / "wire_offsets.pkl",
            "meta": root / "meta.json", "project": root / "project" / "wire"}


# --- recording ----------------------------------------------------------------------------


def _content_type(value: str | None) -> str | None:
    return value.split(";")[0].strip().lower() if value else None


def _shape(body: Any) -> dict[str, Any]:
    """Top-level keys, and for each list value its length and its items' keys."""
    if isinstance(body, list):
        return {"array": len(body)}
    if not isinstance(body, dict):
        return {"json": type(body).__name__}
    lists = {
        k: {"len": len(v), "itemKeys": sorted({key for i in v if isinstance(i, dict) for key in i})}
        for k, v in body.items() if isinstance(v, list)
    }
    return {"keys": sorted(body), "lists": lists}


def _geometry(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: obj[k] for k in _GEOMETRY_KEYS if k in obj}


class Recorder:
    """A reverse proxy to ``upstream`` that keeps a summary of every API request: method, HTTP
    verb, content type, chunked or not, query keys, JSON shape, and the annotation geometry
    sent per image name (names from the ``images.bulk.add`` answers)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: list[dict[str, Any]] = []
        self.names: dict[int, str] = {}  # image id -> name, from images.bulk.add answers
        self.geometry: dict[str, list[Any]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARD
                   and k.lower() != "transfer-encoding"}
        method = request.match_info["method"]
        call: dict[str, Any] = {
            "method": method, "http": request.method,
            "contentType": _content_type(request.headers.get("Content-Type")),
            "chunked": request.headers.get("Transfer-Encoding", "").lower() == "chunked",
            "query": sorted(request.query),
        }
        parsed: Any = None
        if call["contentType"] == "application/json" and body:
            parsed = json.loads(body)
            call.update(_shape(parsed))
        self.calls.append(call)
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as r:
            data = await r.read()
            call["status"] = r.status
            back = {k: v for k, v in r.headers.items() if k.lower() in _BACK}
        if r.status == 200 and parsed is not None:
            self._learn(method, parsed, data)
        return web.Response(body=data, status=r.status, headers=back)

    def _learn(self, method: str, body: Any, answer: bytes) -> None:
        if method == "images.bulk.add":
            for item in json.loads(answer):
                self.names[item["id"]] = item["name"]
        elif method == "annotations.bulk.add":
            for item in body["annotations"]:
                name = self.names.get(item["imageId"], str(item["imageId"]))
                self.geometry[name] = [
                    [o.get("geometryType"), _geometry(o)] for o in item["annotation"]["objects"]]
        elif method == "figures.bulk.add":
            for fig in body["figures"]:
                name = self.names.get(fig["entityId"], str(fig["entityId"]))
                self.geometry.setdefault(name, []).append(
                    [fig.get("geometryType"), _geometry(fig.get("geometry") or {})])

    def recording(self, flow: str) -> dict[str, Any]:
        return {"flow": flow, "calls": self.calls,
                "geometry": {k: self.geometry[k] for k in sorted(self.geometry)}}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve the proxy; yields its address."""
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", API + "{method}", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self._session = aiohttp.ClientSession(auto_decompress=False)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await self._session.close()
            await runner.cleanup()


# --- driving the flows --------------------------------------------------------------------


async def call(address: str, token: str, method: str, body: dict[str, Any]) -> Any:
    """A plain JSON call, straight to a server (set-up, not recorded)."""
    async with aiohttp.ClientSession() as http, http.post(
        address + API + method, json=body, headers={"x-api-key": token}
    ) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def new_dataset(address: str, token: str, workspace_id: int, name: str) -> dict[str, Any]:
    """A project with META and one dataset ``ds0`` (the quick_import set-up)."""
    project = await call(address, token, "projects.add",
                         {"workspaceId": workspace_id, "name": name, "type": "images"})
    await call(address, token, "projects.meta.update", {"id": project["id"], "meta": META})
    return dict(await call(address, token, "datasets.add",
                           {"projectId": project["id"], "name": "ds0"}))


async def run_sdk(python: str, address: str, token: str, args: dict[str, Any]) -> Any:
    """One flow with the official SDK (``sdk_wire_flows.py`` in its interpreter)."""
    proc = await asyncio.create_subprocess_exec(
        python, str(SDK_SCRIPT), json.dumps(args), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd="/",
        env={**os.environ, "SERVER_ADDRESS": address, "API_TOKEN": token, "LOG_LEVEL": "WARNING"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 600)
    if proc.returncode != 0:
        sys.stderr.write(err.decode()[-4000:])
        raise RuntimeError(f"SDK flow {args['flow']} failed")
    return json.loads(out.decode().strip().splitlines()[-1])


def tar_members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()
