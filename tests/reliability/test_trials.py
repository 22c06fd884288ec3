"""A handful of randomised transfer trials through the fault proxy, and one server crash.

Each trial ends verified identical to the source or with a clear ``BlobflowError``; never a
corrupt file under a final name or a duplicate image; and the re-run without faults completes.
The full run (100 + 100 trials, 10 crashes) is ``python -m benchmarks.reliability``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.reliability.suite import TrialFigures, run_crash_trials, run_transfer_trials

# These trials are about data, not about the event loop flavour: one loop keeps CI short.
pytestmark = pytest.mark.asyncio(loop_factories=["uvloop"])


def _assert_all_ok(figs: TrialFigures, kinds: set[str]) -> None:
    f = figs.figures()
    assert set(f["by_kind"]) == kinds
    assert f["failed"] == [], f"trials that broke an invariant: {f['failed']}"
    assert f["unclean_errors"] == 0 and f["corrupt"] == 0 and f["duplicates"] == 0
    assert f["reruns_completed"] == f["run"]
    assert f["verified"] + f["clean_errors"] == f["run"]


async def test_transfer_trials_through_faults(tmp_path: Path) -> None:
    figs = await run_transfer_trials(
        tmp_path, uploads=4, downloads=4, images=300, seed=11, sources=2
    )
    _assert_all_ok(figs, {"upload", "download"})
    assert sum(figs.figures()["faults_injected"].values()) > 0, "no fault was injected"


async def test_server_crash_mid_import(tmp_path: Path, backend_urls: dict[str, Any]) -> None:
    """On each backend (on PostgreSQL + S3 the restarted node is the survivor that sweeps)."""
    figs = await run_crash_trials(tmp_path, trials=1, images=2000, seed=5, **backend_urls)
    _assert_all_ok(figs, {"crash"})
