"""A small version of the load part (the full one is ``python -m benchmarks.reliability``):
concurrent importers and downloaders against one ServerProcess, no errors, counts consistent."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.reliability.load import run_load


@pytest.mark.asyncio(loop_factories=["uvloop"])
async def test_load_smoke(tmp_path: Path) -> None:
    res = await run_load(tmp_path, clients=4, images=500, duration=2.0)
    assert res.errors == [] and res.inconsistent == []
    assert res.imports >= 2 and res.downloads >= 2
    assert res.images_imported == 500 * res.imports
    assert res.requests > 0 and 0 < res.server_peak_rss_mb < 1024
