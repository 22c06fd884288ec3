"""The seed runner (``blobflow/bench/_seed_runner.py``) and ``benchmarks/bench_seed.py``'s table:
per-block wall and CPU times, blocks stopped at the limit, '>' on lower bounds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from blobflow.bench._seed import run_seed_subprocess

ROOT = Path(__file__).resolve().parents[2]

BLOCKS = [
    "import blobflow.sly as sly\nx = 1",  # the package line the runner looks for
    "import time\ntime.sleep(0.3)",  # waits: wall time, next to no CPU
    "n = 0\nwhile n < 3_000_000:\n    n += 1",  # CPU
    "import time\nwhile True:\n    time.sleep(0.05)",  # never ends: stopped at the limit
    "assert x == 1 and n == 3_000_000",  # one namespace; runs after a stopped block
]


def test_runner_times_cpu_and_stops_a_block_at_the_limit(tmp_path: Path) -> None:
    res = run_seed_subprocess(sys.executable, BLOCKS, tmp_path, {}, block_limit=1.0)
    assert len(res["times"]) == len(res["cpu"]) == len(BLOCKS)
    sleep_wall, sleep_cpu = res["times"][1], res["cpu"][1]
    assert sleep_wall >= 0.3
    assert sleep_cpu < sleep_wall / 2
    assert res["cpu"][2] > 0.05
    assert res["stopped"] == [4]
    assert 1.0 <= res["times"][3] < 10.0
    assert 5 < res["peak_rss_mb"] < 2000  # MB (ru_maxrss is KiB on Linux)


def _bench_seed() -> Any:
    spec = importlib.util.spec_from_file_location("bench_seed", ROOT / "benchmarks/bench_seed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(times: list[float], stopped: list[int] | None = None) -> dict[str, Any]:
    return {"import": 0.5, "times": times, "cpu": [t / 2 for t in times], "stopped": stopped or []}


def test_table_medians_ratios_and_lower_bounds() -> None:
    bench = _bench_seed()
    n = len(bench.BLOCKS)
    results = {
        "sdk": [_run([10.0] * n, stopped=[7]), _run([30.0] * n)],
        "sly": [_run([1.0] * n), _run([3.0] * n), _run([2.0] * n)],
        "async": [_run([1.0] * n), _run([1.0] * n), _run([4.0] * n)],
    }
    wall = bench._table(results).splitlines()
    rows = {line[:32].strip(): line[32:].split() for line in wall[1:]}
    # medians: sdk 20 (two runs), sly 2, async 1; block 7 was stopped in one SDK run
    assert rows["1 pack + offsets"] == ["20.00", "2.00", "1.00", "10.0", "2.00"]
    assert rows["7 read local project"] == [">20.00", "2.00", "1.00", ">10.0", "2.00"]
    assert rows["total (8 blocks)"] == [">160.00", "16.00", "8.00", ">10.0", "2.00"]
    assert rows["import (apart)"] == ["0.50", "0.50", "-", "1.0"]
    results["async"][0]["stopped"] = [2]  # the denominator of sly/async a lower bound
    rows = {line[:32].strip(): line[32:].split() for line in bench._table(results).splitlines()}
    assert rows["2 Team Files upload"] == ["20.00", "2.00", ">1.00", "10.0", "<2.00"]
    assert rows["total (8 blocks)"] == [">160.00", "16.00", ">8.00", ">10.0", "<2.00"]
    cpu = bench._table(results, "cpu").splitlines()
    assert cpu[1].split()[-5:] == ["10.00", "1.00", "0.50", "10.0", "2.00"]
    assert not any(line.startswith("import") for line in cpu)
