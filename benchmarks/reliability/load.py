"""Load: concurrent clients against one ``ServerProcess`` on loopback, for a bounded time.

Half the clients import 10,000-image blobs (``blobflow.engine.upload_blob``: Team Files,
registration, annotations) into fresh datasets, half download a 10,000-image blob project
(``blobflow.project.download_fast_async``) and verify it. No job may fail; afterwards every
imported dataset must hold exactly its images (no duplicates, none missing) and the server's
peak RSS (``VmHWM`` of the child) is reported.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from benchmarks.reliability.trials import Source, Verifier, make_source
from blobflow.bench._rss import peak_rss_mb

__all__ = ["LoadResult", "run_load"]

T = TypeVar("T")


@dataclass
class LoadResult:
    clients: int
    images_per_blob: int
    seconds: float = 0.0
    imports: int = 0
    images_imported: int = 0
    downloads: int = 0
    bytes_downloaded: int = 0
    requests: int = 0  # HTTP attempts answered (retries counted separately)
    retried_attempts: int = 0
    errors: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    failed_by: dict[str, int] = field(default_factory=dict)  # failed attempts by error
    server_peak_rss_mb: float = 0.0


def _counting_transport(stats: Counter[str]) -> Callable[..., Any]:
    from blobflow.api import HttpTransport

    class CountingTransport(HttpTransport):
        """Counts every HTTP attempt that got an answer, and the ones that failed."""

        async def retrying(self, url: str, attempt_fn: Callable[[int], Awaitable[T]]) -> T:
            async def counted(n: int) -> T:
                try:
                    out = await attempt_fn(n)
                except BaseException as exc:
                    stats["failed_attempts"] += 1
                    cause = getattr(exc, "error", exc)  # the transport wraps retryable ones
                    status = getattr(cause, "status", None)
                    what = f"{type(cause).__name__} {status}" if status else type(cause).__name__
                    stats[f"failed: {what}: {str(cause)[:100]}"] += 1
                    raise
                stats["requests"] += 1
                return out

            return await super().retrying(url, counted)

    return CountingTransport


def _api(address: str, token: str, stats: Counter[str]) -> Any:
    from blobflow.api import Api, TransferConfig

    cfg = TransferConfig()
    transport = _counting_transport(stats)(address + "/public/api/v3", {"x-api-key": token}, cfg)
    return Api(address, token, cfg, transport=transport)


async def run_load(
    work: Path, *, clients: int = 16, images: int = 10_000, duration: float = 60.0,
    nodes: list[Any] | None = None, direct: Any = None,
) -> LoadResult:
    """``nodes``: running servers sharing one store (``address``, ``token``, ``team_id``,
    ``workspace_id``, ``pid``); client k talks to node k mod N, the checks to ``direct`` (a
    node's own address when ``nodes`` are proxies). Default: one ServerProcess."""
    from blobflow.server import ServerProcess

    if nodes:
        return await _run_load(work, clients, images, duration, nodes, direct or nodes[0])
    token = "load-token-" + "l" * 24
    async with ServerProcess(work / "data", token=token) as srv:
        return await _run_load(work, clients, images, duration, [srv], srv)


async def _run_load(
    work: Path, clients: int, images: int, duration: float, nodes: list[Any], srv: Any
) -> LoadResult:
    from blobflow.engine import upload_blob
    from blobflow.project import download_fast_async

    res = LoadResult(clients, images)
    src: Source = await asyncio.to_thread(
        make_source, work / "src", images, 4242, min_size=3000, max_size=5000
    )
    tar_sha = hashlib.sha256(src.tar.read_bytes()).hexdigest()
    stats: Counter[str] = Counter()
    token = srv.token
    async with aiohttp.ClientSession() as s:
        v = Verifier(s, srv.address, token, srv.team_id)
        proj = await v._json(
            "projects.add",
            {"name": "load-download", "type": "images", "workspaceId": srv.workspace_id},
        )
        ds = await v._json("datasets.add", {"projectId": proj["id"], "name": "ds0"})
        # importers work in their own project: downloaders fetch a fixed 10,000 images
        imp = await v._json(
            "projects.add",
            {"name": "load-import", "type": "images", "workspaceId": srv.workspace_id},
        )
        async with _api(nodes[0].address, token, Counter()) as api:
            async for _ in upload_blob(api, ds["id"], src.tar, src.pkl, annotations=src.anns):
                pass
        imported: list[tuple[int, int]] = []  # (dataset id, images)
        deadline = time.monotonic() + duration
        t0 = time.monotonic()

        async def importer(k: int) -> None:
            j = 0
            async with _api(nodes[k % len(nodes)].address, token, stats) as api:
                while time.monotonic() < deadline:
                    j += 1
                    tar = work / f"imp{k}_{j}.tar"
                    await asyncio.to_thread(os.link, src.tar, tar)
                    d = await v._json(
                        "datasets.add", {"projectId": imp["id"], "name": f"imp{k}_{j}"}
                    )
                    n = 0
                    async for batch in upload_blob(
                        api, d["id"], tar, src.pkl, annotations=src.anns
                    ):
                        n += len(batch)
                    imported.append((d["id"], n))
                    res.imports += 1
                    res.images_imported += n
                    await asyncio.to_thread(tar.unlink)

        async def downloader(k: int) -> None:
            j = 0
            async with _api(nodes[k % len(nodes)].address, token, stats) as api:
                while time.monotonic() < deadline:
                    j += 1
                    dest = work / f"dl{k}_{j}"
                    r = await download_fast_async(
                        api, proj["id"], dest, progress=False, readme=False
                    )
                    tars = list((dest / "blob").glob("*.tar"))
                    for t in tars:
                        data = await asyncio.to_thread(t.read_bytes)
                        if hashlib.sha256(data).hexdigest() != tar_sha:
                            res.inconsistent.append(f"download {dest}: {t.name} differs")
                        res.bytes_downloaded += len(data)
                    if r.images != images or len(tars) != 1:
                        res.inconsistent.append(f"download {dest}: {r.images} images")
                    res.downloads += 1
                    await asyncio.to_thread(shutil.rmtree, dest)

        async def guarded(fn: Callable[[int], Awaitable[None]], k: int) -> None:
            try:
                await fn(k)
            except Exception as exc:
                res.errors.append(f"{fn.__name__} {k}: {type(exc).__name__}: {exc}"[:300])

        jobs = [guarded(importer if k % 2 == 0 else downloader, k) for k in range(clients)]
        await asyncio.wait_for(asyncio.gather(*jobs), duration + 900)
        res.seconds = time.monotonic() - t0
        res.server_peak_rss_mb = max(peak_rss_mb(n.pid) for n in nodes)
        # consistency: every import holds exactly its images, the download project too
        for ds_id, n in imported:
            listed = await v.images(ds_id)
            names = [i["name"] for i in listed]
            if len(names) != len(set(names)) or set(names) != set(src.images) or n != images:
                res.inconsistent.append(
                    f"dataset {ds_id}: {len(names)} images, {len(set(names))} distinct"
                )
        info = await v._json("datasets.info", {"id": ds["id"]})
        if info.get("itemsCount", info.get("imagesCount")) != images:
            res.inconsistent.append(f"download dataset itemsCount {info.get('itemsCount')}")
    res.requests = stats["requests"]
    res.retried_attempts = stats["failed_attempts"]
    res.failed_by = {k[len("failed: "):]: v for k, v in stats.items() if k.startswith("failed: ")}
    return res
