"""Client + engine benchmark on loopback against ``blobflow serve`` in its own process.

    python benchmarks/bench_engine.py                       # 30,000 x ~4 KB, RSS at 10k and 30k
    python benchmarks/bench_engine.py --images 30000 --rss-counts 10000 30000 --json out.json

For each image count a fresh client process (so its peak RSS is its own) runs, against one
``ServerProcess``: Team Files upload of the blob + index, registration (``images.bulk.add``,
10,000 a call), listing, blob download (resumable/verified path), and extraction of every
image to a file; the downloaded blob is compared with the source byte for byte.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from blobflow.api import Api, register_offsets
from blobflow.bench._rss import peak_rss_mb
from blobflow.blob import BlobImageInfo
from blobflow.engine import download_dataset_blobs, run, upload_blob_files
from blobflow.server import ServerProcess


def make_blob(folder: Path, n: int, size: int) -> tuple[Path, Path]:
    """A ustar of ``n`` random ~``size``-byte images and its SDK offsets pickle."""
    tar = folder / f"bench{n}.tar"
    entries = []
    with open(tar, "wb") as f:
        pos = 0
        for i in range(n):
            body = os.urandom(size - 64 + (i % 128))
            info = tarfile.TarInfo(f"img_{i:07d}.png")
            info.size = len(body)
            header = info.tobuf(format=tarfile.USTAR_FORMAT)
            f.write(header)
            pos += len(header)
            entries.append(BlobImageInfo(info.name, pos, pos + len(body)))
            f.write(body + bytes(-len(body) % 512))
            pos += len(body) + (-len(body) % 512)
        f.write(bytes(1024))
    pkl = folder / f"bench{n}_offsets.pkl"
    BlobImageInfo.dump_to_pickle(entries, pkl)
    return tar, pkl


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(4 << 20):
            h.update(data)
    return h.hexdigest()


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    tar, pkl, out = Path(args.tar), Path(args.pkl), Path(args.out)
    size = (await asyncio.to_thread(tar.stat)).st_size
    res: dict[str, Any] = {"images": args.count, "blob_bytes": size}
    async with Api(args.address, args.token) as api:
        project = await api.project.create(args.workspace, f"bench{args.count}", "images", "", True)
        assert project.id is not None
        ds = await api.dataset.create(project.id, "ds")

        t = time.perf_counter()
        files = await upload_blob_files(api, args.team, tar, pkl, team_dir=f"/bench/{project.id}")
        res["upload_s"] = time.perf_counter() - t
        res["rss_after_upload"] = peak_rss_mb()
        assert files.blob.id is not None

        t = time.perf_counter()
        n = 0
        async for batch in register_offsets(api, ds, files.blob.id, pkl):
            n += len(batch)
        res["register_s"] = time.perf_counter() - t
        res["rss_after_register"] = peak_rss_mb()
        assert n == args.count

        assert ds.id is not None
        t = time.perf_counter()
        first = None
        async for page in api.image.get_list_generator_async(ds.id):
            first = first or page[0]
        res["list_s"] = time.perf_counter() - t
        res["rss_after_list"] = peak_rss_mb()
        assert first is not None and first.download_id is not None

        t = time.perf_counter()
        await api.image.download_blob_file(project.id, first.download_id, out / "direct.tar")
        res["download_s"] = time.perf_counter() - t
        res["rss_after_download"] = peak_rss_mb()

        t = time.perf_counter()
        extracted = 0
        async for page in download_dataset_blobs(
            api, project.id, ds.id, out / "blob", img_dir=out / "img"
        ):
            extracted += len(page)
        res["pipeline_s"] = time.perf_counter() - t
        res["rss_after_pipeline"] = peak_rss_mb()
        assert extracted == args.count
    same = await asyncio.to_thread(sha256_file, out / "direct.tar") == await asyncio.to_thread(
        sha256_file, tar
    )
    res["identical"] = same
    res["peak_rss_mib"] = peak_rss_mb()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=30_000)
    ap.add_argument("--size", type=int, default=4096, help="mean image size in bytes")
    ap.add_argument("--rss-counts", type=int, nargs="*", default=[10_000])
    ap.add_argument("--warmup", type=int, default=1000, help="unreported first run (0 = none)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("address", "token", "tar", "pkl", "out"):
        ap.add_argument(f"--{name}", help=argparse.SUPPRESS)
    for name in ("workspace", "team", "count"):
        ap.add_argument(f"--{name}", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(run(worker(args))))
        return

    counts = sorted({args.images, *args.rss_counts})
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp,
        ServerProcess(Path(tmp) / "server") as srv,
    ):
        for count in ([args.warmup] if args.warmup else []) + counts:
            folder = Path(tmp) / f"c{count}-{len(results)}"
            folder.mkdir()
            tar, pkl = make_blob(folder, count, args.size)
            argv = [
                sys.executable, __file__, "--worker", "--address", srv.address,
                f"--token={srv.token}", "--workspace", str(srv.workspace_id),
                "--team", str(srv.team_id), "--count", str(count), "--tar", str(tar),
                "--pkl", str(pkl), "--out", str(folder / "out"),
            ]  # fmt: skip
            done = subprocess.run(argv, check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            shutil.rmtree(folder)
        if args.warmup:
            results.pop(0)
    mb = 1024 * 1024
    cols = ["images", "blob MB", "upload MB/s", "register img/s", "list img/s",
            "download MB/s", "pipeline img/s", "peak RSS MiB", "identical"]  # fmt: skip
    print(" | ".join(cols))
    for r in results:
        row = [
            r["images"],
            f"{r['blob_bytes'] / mb:.1f}",
            f"{r['blob_bytes'] / mb / r['upload_s']:.0f}",
            f"{r['images'] / r['register_s']:.0f}",
            f"{r['images'] / r['list_s']:.0f}",
            f"{r['blob_bytes'] / mb / r['download_s']:.0f}",
            f"{r['images'] / r['pipeline_s']:.0f}",
            f"{r['peak_rss_mib']:.0f}",
            r["identical"],
        ]
        print(" | ".join(str(v) for v in row))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
