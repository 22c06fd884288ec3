"""Scale-out figures: the embedded server beside one node and two nodes (behind nginx) on
PostgreSQL + S3, in one run, targets alternating round by round.

    eval "$(bash .ci/services.sh)"      # PostgreSQL + moto's S3 on loopback (or your own)
    python -m benchmarks.scale_out --images 10000 --rounds 2 --load-seconds 60

Per target and round:

* registration: one ``images.bulk.add`` of 10,000 blob items (a fresh dataset): images/s;
* blob: ``file-storage.upload`` of a ``--blob-mb`` MB file (streamed) and its
  ``file-storage.download``: MB/s each (1 MB = 10**6 bytes);
* ``blobflow bench --server`` with the ``quick`` upload and the ``fast`` download of
  ``--images`` images: seconds.

Then the load: ``--clients`` clients across the two nodes (client k on node k mod 2), half
importing 10,000-image blobs, half downloading one, for ``--load-seconds``; requests, errors,
every import exactly its images, every download equal to its source
(``benchmarks.reliability.load``).

Needs ``BLOBFLOW_TEST_DB`` (postgresql://) and ``BLOBFLOW_TEST_S3`` (s3://bucket) with the
AWS_* variables, and nginx on the PATH (Debian's nginx-light) for the two-node target. The
machine is shared: compare the rows of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from blobflow.server import ServerProcess

API = "/public/api/v3/"
TOKEN = "scale-bench-" + "b" * 24
NGINX_CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx-scale.conf"


async def _backend(db: str, s3: str) -> dict[str, str]:
    """A fresh schema and key prefix (the schema stays: the services are throwaway)."""
    import asyncpg
    from aiobotocore.session import get_session

    name = f"bench{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(db)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
    finally:
        await conn.close()
    bucket = s3[len("s3://"):].split("/", 1)[0]
    async with get_session().create_client("s3") as client:
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            await client.create_bucket(Bucket=bucket)
    sep = "&" if "?" in db else "?"
    return {"db_url": f"{db}{sep}search_path={name}", "storage_url": f"s3://{bucket}/{name}"}


@contextlib.contextmanager
def _nginx(work: Path, upstreams: list[str]) -> Iterator[str]:
    """deploy/nginx-scale.conf in front of ``upstreams`` (host:port), on a free port."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = NGINX_CONF.read_text()
    conf = conf.replace("    server node1:8000 max_fails=2 fail_timeout=5s;\n"
                        "    server node2:8000 max_fails=2 fail_timeout=5s;\n",
                        "".join(f"    server {u};\n" for u in upstreams))
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    root = work / "nginx"
    root.mkdir(parents=True)
    (root / "site.conf").write_text(conf)
    (root / "nginx.conf").write_text(
        f"worker_processes 1; pid {root}/nginx.pid; error_log {root}/error.log;\n"
        f"events {{ worker_connections 4096; }}\n"
        f"http {{ access_log off; client_body_temp_path {root}/body;"
        f" proxy_temp_path {root}/proxy; include {root}/site.conf; }}\n"
    )
    proc = subprocess.Popen(["nginx", "-p", str(root), "-c", str(root / "nginx.conf"),
                             "-g", "daemon off;"])
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def _json(s: aiohttp.ClientSession, base: str, method: str, body: Any) -> Any:
    async with s.post(base + API + method, json=body, headers={"x-api-key": TOKEN}) as r:
        data = await r.json()
        assert r.status == 200, (method, r.status, data)
        return data


def _tar(items: int, size: int) -> tuple[bytes, list[tuple[int, int]]]:
    """A tar of ``items`` members of ``size`` random bytes, and each member's data range (the
    server registers only a range that is exactly one member's data)."""
    import io
    import tarfile

    buf = io.BytesIO()
    ranges = []
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(items):
            info = tarfile.TarInfo(f"{i:06d}.bin")
            info.size = size
            start = buf.tell() + 512
            tar.addfile(info, io.BytesIO(os.urandom(size)))
            ranges.append((start, start + size))
    return buf.getvalue(), ranges


async def _micro(base: str, team_id: int, workspace_id: int, blob_mb: int) -> dict[str, float]:
    """Registration images/s and blob upload/download MB/s against ``base``."""
    items = 10_000
    blob, ranges = await asyncio.to_thread(_tar, items, blob_mb * 1_000_000 // items - 512)
    mb = len(blob) / 1e6
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as s:
        t = time.perf_counter()
        async with s.post(base + API + "file-storage.upload", data=blob,
                          params={"teamId": str(team_id), "path": f"/b/{uuid.uuid4().hex}.tar"},
                          headers={"x-api-key": TOKEN}) as r:
            file = await r.json()
            assert r.status == 200, file
        up = time.perf_counter() - t
        t = time.perf_counter()
        async with s.post(base + API + "file-storage.download", json={"id": file["id"]},
                          headers={"x-api-key": TOKEN}) as r:
            n = 0
            async for chunk in r.content.iter_chunked(1 << 20):
                n += len(chunk)
            assert r.status == 200 and n == len(blob)
        down = time.perf_counter() - t
        proj = await _json(s, base, "projects.add", {"workspaceId": workspace_id,
                                                     "name": uuid.uuid4().hex, "type": "images"})
        ds = await _json(s, base, "datasets.add", {"projectId": proj["id"], "name": "d"})
        images = [{"title": f"{i:06d}.bin", "teamFileId": file["id"],
                   "sourceBlob": {"offsetStart": a, "offsetEnd": b}}
                  for i, (a, b) in enumerate(ranges)]
        t = time.perf_counter()
        added = await _json(s, base, "images.bulk.add", {"datasetId": ds["id"], "images": images})
        reg = time.perf_counter() - t
        assert len(added) == items
    return {"registration_images_per_s": items / reg, "blob_upload_mb_per_s": mb / up,
            "blob_download_mb_per_s": mb / down}


def _bench(address: str, images: int, work: Path) -> dict[str, float]:
    """``blobflow bench --server``: quick and fast seconds."""
    cmd = [sys.executable, "-m", "blobflow.cli", "bench", "--server", address, "--token", TOKEN,
           "--images", str(images), "--runs", "1", "--strategies", "upload:quick,download:fast",
           "--no-floor", "--json", "--quiet", "--work-dir", str(work), "--out", str(work / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout)
    return {f"{r['strategy']}_s": r["seconds_median"] for r in out["results"]}


@contextlib.asynccontextmanager
async def _target(name: str, work: Path, db: str, s3: str) -> AsyncIterator[dict[str, Any]]:
    """A running target: ``address`` (what clients use), ``team_id``, ``workspace_id``."""
    data = work / "".join(c if c.isalnum() else "_" for c in name)
    if name == "embedded":
        async with ServerProcess(data, token=TOKEN) as srv:
            yield {"address": srv.address, "team_id": srv.team_id,
                   "workspace_id": srv.workspace_id, "nodes": [srv]}
        return
    urls = await _backend(db, s3)
    count = 2 if "2 nodes" in name else 1
    async with contextlib.AsyncExitStack() as stack:
        nodes = [await stack.enter_async_context(
            ServerProcess(data / f"n{i}", token=TOKEN, **urls)) for i in range(count)]
        address = nodes[0].address
        if count > 1:
            hosts = [n.address.split("//")[1] for n in nodes]
            address = stack.enter_context(_nginx(data, hosts))
        yield {"address": address, "team_id": nodes[0].team_id,
               "workspace_id": nodes[0].workspace_id, "nodes": nodes}
    await _drop_objects(urls["storage_url"])


async def _drop_objects(storage_url: str) -> None:
    """Delete a target's objects (moto keeps them in memory)."""
    from aiobotocore.session import get_session

    bucket, _, prefix = storage_url[len("s3://"):].partition("/")
    async with get_session().create_client("s3") as client:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                 Prefix=prefix + "/")
        async for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                await client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


TARGETS = ("embedded", "pg+s3, 1 node", "pg+s3, 2 nodes + nginx")


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    db, s3 = os.environ["BLOBFLOW_TEST_DB"], os.environ["BLOBFLOW_TEST_S3"]
    rows: dict[str, list[dict[str, float]]] = {t: [] for t in TARGETS}
    for r in range(args.rounds):
        order = TARGETS if r % 2 == 0 else TARGETS[::-1]
        for name in order:
            async with _target(name, work / f"r{r}", db, s3) as t:
                figures = await _micro(t["address"], t["team_id"], t["workspace_id"],
                                       args.blob_mb)
                figures |= await asyncio.to_thread(
                    _bench, t["address"], args.images, work / f"bench{r}"
                )
                rows[name].append(figures)
                print(name, json.dumps(figures), file=sys.stderr, flush=True)
    medians = {name: {k: statistics.median(f[k] for f in runs) for k in runs[0]}
               for name, runs in rows.items() if runs}
    result: dict[str, Any] = {"rounds": args.rounds, "images": args.images,
                              "blob_mb": args.blob_mb, "medians": medians}
    if args.load_seconds > 0:
        from benchmarks.reliability.load import run_load

        async with _target("pg+s3, 2 nodes", work / "load", db, s3) as t:
            lr = await run_load(work / "load-work", clients=args.clients, images=10_000,
                                duration=args.load_seconds, nodes=t["nodes"])
        result["load"] = {
            "clients": lr.clients, "seconds": round(lr.seconds, 1), "requests": lr.requests,
            "retried_attempts": lr.retried_attempts, "retried_by": lr.failed_by,
            "errors": len(lr.errors),
            "imports": lr.imports, "images_imported": lr.images_imported,
            "downloads": lr.downloads, "inconsistent": len(lr.inconsistent),
            "node_peak_rss_mb": round(lr.server_peak_rss_mb, 1),
            "first_errors": lr.errors[:5] + lr.inconsistent[:5],
        }
    return result


def _table(result: dict[str, Any]) -> str:
    cols = [("registration_images_per_s", "registration images/s", ",.0f"),
            ("blob_upload_mb_per_s", "blob upload MB/s", ".0f"),
            ("blob_download_mb_per_s", "blob download MB/s", ".0f"),
            ("quick_s", "quick s", ".2f"), ("fast_s", "fast s", ".2f")]
    lines = ["| target | " + " | ".join(c[1] for c in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for name, m in result["medians"].items():
        lines.append(f"| {name} | " + " | ".join(format(m[k], f) for k, _, f in cols) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=10_000, help="images for blobflow bench")
    p.add_argument("--blob-mb", type=int, default=64)
    p.add_argument("--rounds", type=int, default=2, help="0: only the load run")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--load-seconds", type=float, default=60.0, help="0: no load run")
    p.add_argument("--out", type=Path, default=None, help="write results.json here")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="blobflow-scale-"))
    try:
        result = asyncio.run(run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["command"] = "python -m benchmarks.scale_out " + " ".join(sys.argv[1:])
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(result, indent=2))
    if result["medians"]:
        print(_table(result))
    if "load" in result:
        print(json.dumps(result["load"], indent=2))
    return 1 if result.get("load", {}).get("errors") or result.get("load", {}).get(
        "inconsistent") else 0


if __name__ == "__main__":
    sys.exit(main())
