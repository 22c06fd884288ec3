"""Run one strategy in a fresh child process and collect its time and peak memory.

Each timed run gets its own interpreter, so its peak RSS (``VmHWM``) is that strategy's
alone, and nothing (warm caches, pools, loops) leaks from one strategy to the next. The child
reads a :class:`Job` as JSON on stdin and prints one ``BLOBFLOW_BENCH_RESULT {json}`` line.
blobflow strategies run with ``python -m blobflow.bench._runner``; the SDK's with
``<sdk-python> _sdk_script.py`` (same protocol).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from blobflow.bench._rss import cpu_seconds, peak_rss_mb

__all__ = ["Job", "JobResult", "run_job", "sdk_script_path"]

RESULT_PREFIX = "BLOBFLOW_BENCH_RESULT "


@dataclass
class Job:
    direction: str  # "upload" | "download"
    strategy: str  # "standard" | "blob" | "quick" | "fast"
    client: str  # "blobflow" | "sdk"
    server: str
    token: str
    team_id: int
    workspace_id: int
    data_root: str
    img_dir: str
    ann_dir: str
    work_dir: str  # a fresh, empty directory for this run's local files
    name: str  # unique project / blob name for this run
    project_id: int | None = None  # download source
    dest: str | None = None  # download target
    record: str | None = None  # untimed recording run: save its requests (and files) here
    concurrency: int | None = None  # floor replay: requests in flight
    config: dict[str, Any] | None = None  # TransferConfig knobs of a blobflow strategy's Api


@dataclass
class JobResult:
    ok: bool
    seconds: float | None = None
    peak_rss_mb: float | None = None
    project_id: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def sdk_script_path() -> Path:
    return Path(__file__).with_name("_sdk_script.py")


def run_job(job: Job, python: str, *, timeout: float, log_path: Path) -> JobResult:
    """Run job in a child process; a crash, a timeout or no result line is a failed run."""
    if job.client == "sdk":
        cmd = [python, str(sdk_script_path())]
    elif job.client == "floor":
        cmd = [python, "-m", "blobflow.bench._floor"]
    else:
        cmd = [python, "-m", "blobflow.bench._runner"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        try:
            proc = subprocess.run(
                cmd,
                input=json.dumps(asdict(job)).encode(),
                stdout=subprocess.PIPE,
                stderr=log,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return JobResult(ok=False, error=f"timed out after {timeout:.0f} s (log: {log_path})")
    stdout = proc.stdout.decode("utf-8", "replace")
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if not lines:
        return JobResult(
            ok=False, error=f"exit code {proc.returncode}, no result (log: {log_path})"
        )
    raw = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return JobResult(
        ok=bool(raw.get("ok")),
        seconds=raw.get("seconds"),
        peak_rss_mb=raw.get("peak_rss_mb"),
        project_id=raw.get("project_id"),
        error=raw.get("error"),
        extra={k: v for k, v in raw.items() if k not in _FIELDS},
    )


_FIELDS = {"ok", "seconds", "peak_rss_mb", "project_id", "error"}


def main() -> None:
    """Child side: run one blobflow strategy, print its result line."""
    from blobflow._malloc import limit_malloc_arenas

    limit_malloc_arenas()  # as the blobflow command's transfers run
    job = Job(**json.load(sys.stdin))
    out: dict[str, Any] = {"ok": False, "seconds": None, "project_id": None, "error": None}
    try:
        from blobflow.bench._strategies import strategy
        from blobflow.engine import run

        func = strategy(job.direction, job.strategy)
        cpu = cpu_seconds()
        start = time.perf_counter()
        out["project_id"] = run(func(job))
        out["seconds"] = time.perf_counter() - start
        out["cpu_seconds"] = cpu_seconds() - cpu  # the timed part only, not the imports
        out["ok"] = True
    except BaseException as exc:  # reported to the orchestrator, which marks the run failed
        traceback.print_exc()
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    out["peak_rss_mb"] = peak_rss_mb()
    sys.stdout.write(RESULT_PREFIX + json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
