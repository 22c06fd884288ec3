"""Where a ``quick`` upload's time goes over a slow link: its requests on a time line.

    python benchmarks/wan_timeline.py [--images 30000] [--latency-ms 40] [--mbps 200]
        [--in-flight 16]

Starts the reference server with the ``wan`` profile's latency and link (as ``blobflow bench
--profile wan`` does), runs ``quick_import(..., images_dir=...)`` of the bench's data into a
new project, and prints when each blob part's upload and each registration ran, and how many
annotation requests started and ended in each half second. The requests are recorded by the
bench's recording transport (``blobflow.bench._record``), the one the floor's replay uses.
``--in-flight N`` sets ``TransferConfig.request_concurrency`` and
``max_connections_per_host`` (16 by default). One run, one process; the link's arithmetic is
what to read, not the exact seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from blobflow import TransferConfig
from blobflow.api import Api
from blobflow.bench._data import DataSpec, ensure_data
from blobflow.bench._record import RecordingTransport
from blobflow.project import quick_import_async
from blobflow.server import ServerProcess


async def _quick(
    address: str, token: str, workspace: int, root: Path, work: Path, in_flight: int
) -> Any:
    config = TransferConfig(request_concurrency=in_flight, max_connections_per_host=in_flight)
    async with Api(address, token, config) as api:
        project = await api.project.create(workspace, "timeline", change_name_if_conflict=True)
        assert project.id is not None
        meta = json.loads(await asyncio.to_thread((root / "meta.json").read_text))
        await api.project.update_meta(project.id, meta)
        dataset = await api.dataset.create(project.id, "ds0")
        recorder = RecordingTransport(api.transport)
        api.transport = recorder
        start = time.perf_counter()
        await quick_import_async(
            api, dataset, work / "b.tar", anns=root / "ann", images_dir=root / "img",
            progress=False,
        )  # fmt: skip
        return time.perf_counter() - start, recorder.calls


def _report(seconds: float, calls: list[dict[str, Any]]) -> None:
    print(f"quick: {seconds:.2f} s, {len(calls)} requests")
    for call in calls:
        if call["kind"] == "upload" or call["method"] == "images.bulk.add":
            what = str(call.get("file") or call["method"]).rsplit("/", 1)[-1]
            print(f"  {call['t0']:6.2f} -> {call.get('t1', 0):6.2f}  {call['method']:22} {what}")
    starts: collections.Counter[int] = collections.Counter()
    ends: collections.Counter[int] = collections.Counter()
    for call in calls:
        if call["method"] == "annotations.bulk.add":
            starts[int(call["t0"] * 2)] += 1
            ends[int(call.get("t1", 0) * 2)] += 1
    print("annotations.bulk.add per half second (from: started / ended):")
    for slot in sorted(set(starts) | set(ends)):
        print(f"  {slot / 2:5.1f} s: {starts[slot]:4d} / {ends[slot]:4d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30_000)
    parser.add_argument("--latency-ms", type=float, default=40)
    parser.add_argument("--mbps", type=float, default=200)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    data = ensure_data(DataSpec(images=args.images), args.cache_dir)
    work = Path(tempfile.mkdtemp(prefix="blobflow-timeline-"))
    try:
        with ServerProcess(
            work / "server", latency_ms=args.latency_ms, bandwidth_mbps=args.mbps
        ) as srv:
            seconds, calls = asyncio.run(
                _quick(srv.address, srv.token, int(srv.workspace_id), data.root, work,
                       args.in_flight)
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _report(seconds, calls)


if __name__ == "__main__":
    main()
