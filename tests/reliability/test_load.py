"""A small version of the load part (the full one is ``python -m benchmarks.reliability``):
concurrent importers and downloaders against one ServerProcess, no errors, counts consistent."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import blobflow.engine
import blobflow.project
from benchmarks.reliability.load import run_load

# run_load imports these inside its coroutine: import them here, at collection, so that a run of
# this file alone does not do the import's file work on the event loop.
_ = (blobflow.engine.upload_blob, blobflow.project.download_fast_async)


@pytest.mark.asyncio(loop_factories=["uvloop"])
async def test_load_smoke(tmp_path: Path) -> None:
    res = await run_load(tmp_path, clients=4, images=500, duration=2.0)
    assert res.errors == [] and res.inconsistent == []
    assert res.imports >= 2 and res.downloads >= 2
    assert res.images_imported == 500 * res.imports
    assert res.requests > 0 and 0 < res.server_peak_rss_mb < 1024


@pytest.mark.asyncio(loop_factories=["uvloop"])
async def test_two_nodes_at_once_through_the_fault_proxy(
    scale_urls: dict[str, Any], tmp_path: Path
) -> None:
    """Two stateless nodes on one PostgreSQL + S3, each behind a fault proxy (503 bursts,
    stalls, slow links), driven at once by importers and downloaders: no job fails, every
    import holds exactly its images, every download equals its source."""
    from benchmarks.reliability.faultproxy import FaultProxy, FaultSchedule
    from blobflow.server import ServerProcess

    token = "two-nodes-" + "t" * 24
    async with ServerProcess(tmp_path / "n1", token=token, **scale_urls) as n1, \
            ServerProcess(tmp_path / "n2", token=token, **scale_urls) as n2:
        kinds = ("http503", "stall", "slow")
        async with FaultProxy(_port(n1.address), FaultSchedule(3, 0.25, kinds)) as p1, \
                FaultProxy(_port(n2.address), FaultSchedule(4, 0.25, kinds)) as p2:
            nodes = [
                SimpleNamespace(address=p.address, token=token, team_id=n.team_id,
                                workspace_id=n.workspace_id, pid=n.pid)
                for p, n in ((p1, n1), (p2, n2))
            ]
            res = await run_load(tmp_path / "work", clients=4, images=500, duration=3.0,
                                 nodes=nodes, direct=n2)
            faults = p1.faults_injected + p2.faults_injected
            served = p1.stats["connections"] + p2.stats["connections"]
    assert res.errors == [] and res.inconsistent == []
    assert res.imports >= 2 and res.downloads >= 2
    assert res.images_imported == 500 * res.imports
    assert faults > 0, "no fault was injected"
    assert served > 0


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])
