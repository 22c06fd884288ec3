"""Benchmark of the reference server (blobflow.server), the server in its own process.

    python benchmarks/bench_server.py [--items 10000] [--blob-mb 130] [--repeat 5] [--json]

* ``images.bulk.add`` of ``--items`` blob items (one request, as the SDK sends them): wall
  time from request to the parsed reply, on loopback, a fresh dataset per round; and the
  server process's CPU time for it (user + system, from /proc: unaffected by other load);
* ``images.list`` of those items in one page;
* ``images.data.download`` of a ``--blob-mb`` MB blob (sendfile), read and discarded by an
  aiohttp client: MB/s (1 MB = 10**6 bytes);
* ``file-storage.upload`` of the same blob (chunked body, temp + fsync + rename): MB/s.

Median and best of ``--repeat`` rounds. The server is a ``ServerProcess`` on a temp data dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from blobflow.server import ServerProcess

API = "/public/api/v3/"


def _cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (Linux): robust to other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def _file_chunks(path: Path, chunk: int = 8 << 20) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    with open(path, "rb") as f:  # noqa: ASYNC230 - benchmark driver, reads off-loop below
        while data := await loop.run_in_executor(None, f.read, chunk):
            yield data


async def run(items: int, blob_mb: int, repeat: int, workdir: Path) -> dict[str, Any]:
    blob = workdir / "blob.tar"
    with open(blob, "wb") as f:  # noqa: ASYNC230 - set-up, before any timing
        for _ in range(blob_mb):
            f.write(os.urandom(1_000_000))
    size = blob.stat().st_size
    results: dict[str, list[float]] = {"bulk_add_s": [], "bulk_add_server_cpu_s": [],
                                       "list_s": [], "download_MBps": [], "upload_MBps": []}
    async with ServerProcess(workdir / "data") as srv:
        headers = {"x-api-key": srv.token}
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(srv.address, timeout=timeout,
                                         auto_decompress=False) as s:

            async def call(method: str, body: Any) -> Any:
                async with s.post(API + method, json=body, headers=headers) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            async def upload() -> Any:
                params = {"teamId": str(srv.team_id), "path": "/blob-files/blob.tar"}
                async with s.post(API + "file-storage.upload", params=params,
                                  data=_file_chunks(blob), headers=headers) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            project = await call("projects.add", {"workspaceId": srv.workspace_id,
                                                  "name": "bench"})
            file_info: dict[str, Any] = {}
            for _ in range(repeat):
                t = time.perf_counter()
                file_info = await upload()
                results["upload_MBps"].append(size / 1e6 / (time.perf_counter() - t))
            step = size // items
            images = [{"title": f"img_{i:06d}.png", "teamFileId": file_info["id"],
                       "sourceBlob": {"offsetStart": i * step, "offsetEnd": (i + 1) * step}}
                      for i in range(items)]
            first: list[Any] = []
            for n in range(repeat):
                ds = await call("datasets.add", {"projectId": project["id"], "name": f"d{n}"})
                body = json.dumps({"datasetId": ds["id"], "images": images,
                                   "forceMetadataForLinks": True, "skipValidation": False})

                async def bulk_add(body: str = body) -> None:
                    async with s.post(API + "images.bulk.add", data=body, headers={
                            **headers, "Content-Type": "application/json"}) as r:
                        assert r.status == 200, await r.text()
                        first[:] = (await r.json())[:1]

                cpu = _cpu_seconds(srv.pid)
                results["bulk_add_s"].append(await _timed(bulk_add))
                results["bulk_add_server_cpu_s"].append(_cpu_seconds(srv.pid) - cpu)
                listing = {"datasetId": ds["id"], "per_page": items, "filter": []}
                results["list_s"].append(await _timed(lambda b=listing: call("images.list", b)))

            async def download() -> None:
                body = {"projectId": project["id"], "downloadId": first[0]["downloadId"]}
                async with s.post(API + "images.data.download", json=body,
                                  headers=headers) as r:
                    got = 0
                    async for chunk in r.content.iter_chunked(8 << 20):
                        got += len(chunk)
                    assert got == size, (got, size)

            await download()  # warm the page cache: measure the server, not the disk
            for _ in range(repeat):
                results["download_MBps"].append(size / 1e6 / await _timed(download))
    summary: dict[str, Any] = {"items": items, "blob_MB": size / 1e6, "repeat": repeat}
    for key, values in results.items():
        best = min(values) if key.endswith("_s") else max(values)
        summary[key] = {"median": statistics.median(values), "best": best}
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--blob-mb", type=int, default=130)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        summary = asyncio.run(run(args.items, args.blob_mb, args.repeat, Path(tmp)))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"reference server, {summary['items']} items, {summary['blob_MB']:.0f} MB blob, "
          f"{summary['repeat']} rounds (median / best), {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}")
    rows = [("images.bulk.add of blob items", "bulk_add_s", "s"),
            ("  server CPU time of that request", "bulk_add_server_cpu_s", "s"),
            ("images.list, one page", "list_s", "s"),
            ("images.data.download (sendfile)", "download_MBps", "MB/s"),
            ("file-storage.upload (chunked)", "upload_MBps", "MB/s")]
    for label, key, unit in rows:
        fig = summary[key]
        print(f"  {label:34s} {fig['median']:9.3f} / {fig['best']:9.3f} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
