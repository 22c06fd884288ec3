"""The seed tutorial's code, timed block by block: the official SDK vs ``blobflow.sly`` vs the
async API doing the same work, on one server and the same data.

    python benchmarks/bench_seed.py                          # 30,000 x ~4 KB, SDK if available
    python benchmarks/bench_seed.py --images 2000 --no-sdk   # quick look, blobflow only
    python benchmarks/bench_seed.py --sdk-python .sdk-venv/bin/python --json seed.json

Each variant runs in a fresh process as its own user (own team and workspace) against one
``ServerProcess``. ``supervisely`` and ``blobflow.sly`` run the tutorial's eight Python blocks,
taken from ``tests/fixtures/seed/optimized-import-of-small-images.md``, with only the package
name changed and the placeholders filled (``blobflow.bench._seed``). ``async`` is the same work
written against ``blobflow.api.Api`` and the async project flows. The package import is timed
apart (interpreter start-up, not the tutorial's work). Variants run in the order given by
``--order``, alternating on repeats, so a noisy neighbour hurts each alike; each repeat has its
own server. ``--block-limit`` caps every variant's blocks alike (a capped time is a lower
bound, shown with '>'). Besides wall time, the client process's CPU time per block is
reported (all its threads): on a shared machine it moves less than wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from blobflow.bench import DataSpec, ensure_data
from blobflow.bench._seed import SeedValues, prepare_seed, run_seed_subprocess, seed_script
from blobflow.server import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "tests" / "fixtures" / "seed" / "optimized-import-of-small-images.md"
BLOCKS = [
    "1 pack + offsets",
    "2 Team Files upload",
    "3 project + upload_blob_images",
    "4 meta + annotations",
    "5 upload_project",
    "6 download_fast",
    "7 read local project",
    "8 quick_import",
]
RESULT_PREFIX = "BLOBFLOW_SEED_RESULT "


# -- the async API doing the tutorial's work (run in a child: python bench_seed.py --async-child)


class _AsyncSeed:
    """The tutorial's eight blocks written against the async API: the same calls in the same
    order (one after the other), with the tutorial's progress bars. State passes between
    blocks on ``self`` as the tutorial's variables do in its namespace."""

    def __init__(self, v: SeedValues) -> None:
        self.v = v
        self.blob_dir = Path("blob_archive_dir")
        self.tar = self.blob_dir / "images.tar"
        self.vars: dict[str, Any] = {}

    async def block1(self) -> None:
        from blobflow.blob import archive_directory, save_blob_offsets_pkl

        await asyncio.to_thread(self.blob_dir.mkdir, exist_ok=True)
        await asyncio.to_thread(archive_directory, self.v.images_dir, self.tar)
        self.pkl = await asyncio.to_thread(save_blob_offsets_pkl, self.tar, self.blob_dir)

    async def block2(self) -> None:
        from blobflow import Api

        self.api = api = Api.from_env()
        self.blob = await api.file.upload(self.v.team_id, self.tar, "/blob-files/images.tar")
        await api.file.upload(self.v.team_id, self.pkl, "/blob-files/images_offsets.pkl")

    async def block3(self) -> None:
        from tqdm import tqdm

        api, v = self.api, self.v
        self.project = await api.project.create(
            v.team_id, "Blob Images Project", change_name_if_conflict=True
        )
        dataset = await api.dataset.create(self.project.id, "dataset_1")  # type: ignore[arg-type]
        self.batches = api.image.upload_blob_images(
            dataset, self.blob, progress_cb=tqdm(desc="Uploading images"),
            return_image_infos_generator=True,
        )  # fmt: skip

    async def block4(self) -> None:
        from tqdm import tqdm

        api, v = self.api, self.v
        self.meta = json.loads(await asyncio.to_thread(Path(v.meta_path).read_text))
        await api.project.update_meta(self.project.id, self.meta)  # type: ignore[arg-type]
        async for batch in self.batches:
            # as the tutorial: only the images whose annotation file exists
            paths = [os.path.join(v.anns_dir, f"{i.name}.json") for i in batch]
            found = await asyncio.to_thread(lambda ps=paths: [os.path.exists(p) for p in ps])
            ids = [i.id for i, ok in zip(batch, found, strict=True) if ok]
            paths = [p for p, ok in zip(paths, found, strict=True) if ok]
            bar = tqdm(desc="Uploading annotations batch", total=len(ids))
            await api.annotation.upload_paths(ids, paths, bar)  # type: ignore[arg-type]

    async def block5(self) -> None:
        from blobflow.project import upload_project_async

        # the flows' default progress bars, as the tutorial's calls show them
        res = await upload_project_async(
            self.v.local_project, self.api, self.v.workspace_id, "My Blob Project"
        )
        self.project_id = res.project_id

    async def block6(self) -> None:
        from blobflow.project import download_fast_async

        await download_fast_async(self.api, self.project_id, "downloaded_project", True)

    async def block7(self) -> None:
        from blobflow import Project

        def read_local() -> None:
            with Project("downloaded_project") as local:
                for ds in local:
                    for name in ds.get_items_names():
                        ds.get_ann(name)
                        img = ds.get_blob_img_bytes(name)
                        if img is not None:
                            Path("downloaded_project", name).write_bytes(img)

        await asyncio.to_thread(read_local)

    async def block8(self) -> None:
        from blobflow.project import quick_import_async

        api = self.api
        ann_dir = self.blob_dir / "dataset" / "ann"
        anns = [str(p) for p in await asyncio.to_thread(lambda: list(ann_dir.iterdir()))]
        project = await api.project.create(
            self.v.workspace_id, "Quick Import", change_name_if_conflict=True
        )
        dataset = await api.dataset.create(project.id, "ds1")  # type: ignore[arg-type]
        await api.project.update_meta(project.id, self.meta)  # type: ignore[arg-type]
        await quick_import_async(api, dataset, self.tar, self.pkl, anns, self.meta)

    async def run(self, block_limit: float | None) -> dict[str, Any]:
        """Each block timed (wall and process CPU) and, as in the seed runner, stopped after
        ``block_limit`` seconds (a lower bound, listed in "stopped"); the next block runs."""
        blocks = [self.block1, self.block2, self.block3, self.block4,
                  self.block5, self.block6, self.block7, self.block8]  # fmt: skip
        times: list[float] = []
        cpu: list[float] = []
        stopped: list[int] = []
        try:
            for i, block in enumerate(blocks, 1):
                t, c = time.perf_counter(), time.process_time()
                try:
                    await asyncio.wait_for(block(), block_limit)
                except asyncio.TimeoutError:
                    stopped.append(i)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
        finally:
            if hasattr(self, "api"):
                await self.api.close()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        return {"import": None, "times": times, "cpu": cpu, "stopped": stopped,
                "peak_rss_mb": round(peak_mb)}  # fmt: skip


def _async_child() -> None:
    from blobflow.engine import run

    job = json.loads(sys.stdin.read())
    seed = _AsyncSeed(SeedValues(**job["values"]))
    # blobflow is imported with this harness: no separate import time (reported as "-")
    print(RESULT_PREFIX + json.dumps(run(seed.run(job["block_limit"]))))


# -- the harness ------------------------------------------------------------------------------


def _run_variant(
    variant: str,
    server: ServerProcess,
    data: Any,
    root: Path,
    sdk_python: str | None,
    block_limit: float | None,
) -> dict[str, Any]:
    token = secrets.token_hex(32)
    team_id, workspace_id = server.add_tenant_sync(token)
    work = root / variant
    work.mkdir(parents=True)
    values = prepare_seed(data.img_dir, data.ann_dir, data.meta_path, work, team_id, workspace_id)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISELY_")}
    env.update(
        SERVER_ADDRESS=server.address, API_TOKEN=token, HOME=str(work), LOG_LEVEL="WARNING",
        SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK="1",
    )  # fmt: skip
    markdown = SEED.read_text()
    if variant == "sdk":
        assert sdk_python is not None
        blocks = seed_script(markdown, "supervisely", values)
        return run_seed_subprocess(sdk_python, blocks, work, env, block_limit=block_limit)
    if variant == "sly":
        blocks = seed_script(markdown, "blobflow.sly", values)
        return run_seed_subprocess(sys.executable, blocks, work, env, block_limit=block_limit)
    job = {"values": values.__dict__, "block_limit": block_limit}
    proc = subprocess.run(
        [sys.executable, __file__, "--async-child"], input=json.dumps(job),
        capture_output=True, text=True, cwd=work, env=env, check=False,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX) and proc.returncode == 0:
            return json.loads(line[len(RESULT_PREFIX) :])  # type: ignore[no-any-return]
    raise RuntimeError(f"async variant failed:\n{proc.stderr[-3000:]}")


def _table(results: dict[str, list[dict[str, Any]]], key: str = "times") -> str:
    """Medians per block (``key``: "times" wall, "cpu" the client process's CPU), the total,
    and (wall only) the import; ratios sdk/sly and sly/async. A block stopped at --block-limit
    in any run of a variant is a lower bound: '>' on that variant's figure, and on a ratio
    '>' when its numerator is a lower bound, '<' when its denominator is ('?' when both)."""
    cols = [v for v in ("sdk", "sly", "async") if v in results]
    stopped = {
        v: {b - 1 for r in runs for b in r.get("stopped", [])} for v, runs in results.items()
    }

    def med(variant: str, i: int | None) -> float:
        runs = results[variant]
        if i == -1:
            return statistics.median([r["import"] or 0.0 for r in runs])
        return statistics.median([sum(r[key]) if i is None else r[key][i] for r in runs])

    def low(variant: str, i: int | None) -> bool:
        return i != -1 and (bool(stopped[variant]) if i is None else i in stopped[variant])

    def ratio(num: str, den: str, i: int | None, fmt: str) -> str:
        mark = {(True, False): ">", (False, True): "<", (True, True): "?"}.get(
            (low(num, i), low(den, i)), ""
        )
        return f"{mark + format(med(num, i) / max(med(den, i), 1e-9), fmt):>10}"

    head = f"{'block':32}" + "".join(f"{c:>10}" for c in cols)
    head += (f"{'sdk/sly':>10}" if "sdk" in cols else "") + f"{'sly/async':>10}"
    rows: list[tuple[int | None, str]] = [*enumerate(BLOCKS), (None, "total (8 blocks)")]
    if key == "times":
        rows.append((-1, "import (apart)"))
    lines = [head]
    for i, name in rows:
        row = f"{name:32}"
        for c in cols:
            shown = "-" if i == -1 and c == "async" else format(med(c, i), ".2f")
            row += f"{('>' if low(c, i) else '') + shown:>10}"
        if "sdk" in cols:
            row += ratio("sdk", "sly", i, ".1f")
        if i != -1:
            row += ratio("sly", "async", i, ".2f")
        lines.append(row)
    return "\n".join(lines)


def main() -> None:
    if "--async-child" in sys.argv:
        _async_child()
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", type=int, default=30_000)
    ap.add_argument("--image-kb", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=1, help="runs per variant (median reported)")
    ap.add_argument("--sdk-python", default=os.environ.get("BLOBFLOW_SDK_PYTHON"))
    ap.add_argument("--no-sdk", action="store_true")
    ap.add_argument("--order", default="sdk,sly,async")
    ap.add_argument(
        "--block-limit", type=float, default=900.0,
        help="stop a block of any variant (SDK, sly, async alike) after this many seconds and "
        "report its time with '>' (a lower bound); the next block still runs. The SDK's block 7 "
        "reloads the whole offsets file for every image (quadratic in the image count)",
    )  # fmt: skip
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument(
        "--keep", action="store_true",
        help="keep each run's files and server (default: deleted after the run / repeat, so "
        "30,000 images x 3 variants x N repeats fit in a small tmpfs)",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, help="write the raw timings here")
    args = ap.parse_args()
    no_sdk = args.no_sdk or not args.sdk_python
    variants = [v for v in args.order.split(",") if not (v == "sdk" and no_sdk)]
    data = ensure_data(DataSpec(args.images, args.image_kb))
    root = args.work or Path(tempfile.mkdtemp(prefix="bench-seed-"))
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for rep in range(args.repeat):
        # one server per repeat, shared by its variants (each as its own user): the files of a
        # finished repeat are not kept on disk while the next runs
        order = variants if rep % 2 == 0 else variants[::-1]
        with ServerProcess(root / f"server{rep}") as server:
            for variant in order:
                work = root / f"run{rep}"
                res = _run_variant(variant, server, data, work, args.sdk_python, args.block_limit)
                if not args.keep:
                    shutil.rmtree(work / variant, ignore_errors=True)
                results[variant].append(res)
                print(f"rep {rep} {variant:6} total {sum(res['times']):8.2f} s  "
                      f"blocks {[round(x, 2) for x in res['times']]} "
                      f"stopped {res.get('stopped', [])} "
                      f"peak RSS {res.get('peak_rss_mb')} MB", flush=True)  # fmt: skip
        if not args.keep:
            shutil.rmtree(root / f"server{rep}", ignore_errors=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.images:,} images x ~{args.image_kb} KB, median of {args.repeat} run(s), "
          "seconds:\n")  # fmt: skip
    print(_table(results))
    print("\nCPU seconds of the client process (all its threads), median:\n")
    print(_table(results, "cpu"))
    if args.json:
        args.json.write_text(json.dumps({"images": args.images, "results": results}, indent=1))


if __name__ == "__main__":
    main()
