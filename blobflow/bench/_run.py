"""The orchestrator behind ``blobflow bench``.

Per run: a fresh server (the embedded reference server in its own process, on loopback, with a
fresh data dir and the profile's shaping) unless one was given; the limits; every upload strategy
on a fresh project; then every download strategy from one verified blob project into a fresh
folder. Each strategy runs in its own child process (see ``_runner``) and is verified afterwards
(see ``_verify``); a run that fails or does not verify is recorded as failed, with no time.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from blobflow.bench._data import BenchData, DataSpec, ensure_data
from blobflow.bench._limits import measure_limits
from blobflow.bench._progress import Progress, Step
from blobflow.bench._raw import RawClient
from blobflow.bench._report import (
    ORDER,
    FloorRecord,
    RunRecord,
    build_results,
    format_table,
    write_outputs,
)
from blobflow.bench._rss import process_cpu_seconds
from blobflow.bench._runner import Job, JobResult, run_job
from blobflow.bench._verify import verify_download, verify_upload

__all__ = ["HEADLINE", "PROFILES", "BenchOptions", "Target", "plan", "run_bench", "run_sweep"]

# name -> (latency per request in ms, per-connection bandwidth in Mbit/s or None)
PROFILES: dict[str, tuple[float, float | None]] = {"loopback": (0.0, None), "wan": (40.0, 200.0)}
# What the default run repeats after its first run: the answer a first-time user wants.
HEADLINE: tuple[tuple[str, str], ...] = (("upload", "quick"), ("download", "fast"))
# Preferred download sources: a blob project uploaded (and verified) in the same run.
_SOURCES = [("blobflow", "quick"), ("blobflow", "blob"), ("sdk", "quick"), ("sdk", "blob")]


@dataclass
class BenchOptions:
    images: int = 30000
    image_kb: float = 4.0
    runs: int = 3
    profile: str = "loopback"
    sdk_python: str | None = None
    out: Path | None = Path("bench-results")
    server: str | None = None
    token: str | None = None
    seed: int = 0
    strategies: Sequence[tuple[str, str]] = tuple(ORDER)
    #: strategies timed again in the runs after the first (None: every strategy in every run);
    #: the floors are measured in every run only when it is None
    repeat: Sequence[tuple[str, str]] | None = None
    clients: Sequence[str] = ("blobflow", "sdk")
    cache_dir: Path | None = None
    work_dir: Path | None = None
    verify_sample: int = 1000
    #: requests in flight tried by the floor's replay client; the fastest counts
    floor_concurrency: Sequence[int] = (4, 16, 32)
    floors: bool = True
    timeout: float = 3600.0
    python: str = sys.executable
    command: str = ""
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))
    #: a terminal on which each step's line is updated in place (None: lines through ``log``)
    live: TextIO | None = None

    def active_clients(self) -> list[str]:
        return [c for c in self.clients if c == "blobflow" or (c == "sdk" and self.sdk_python)]

    def strategies_in(self, run: int, direction: str) -> list[str]:
        """The strategies of ``direction`` timed in ``run``: every one in the first run, then
        those in ``repeat`` (every one when it is None)."""
        return [
            s
            for d, s in self.strategies
            if d == direction and (run == 0 or self.repeat is None or (d, s) in self.repeat)
        ]

    def floors_in(self, run: int) -> list[int]:
        """The concurrencies at which ``run`` measures the floors: every one in every run, or,
        when only the headline is repeated, the middle one in the first run."""
        if not self.floors or not self.floor_concurrency:
            return []
        if self.repeat is None:
            return list(self.floor_concurrency)
        middle = sorted(self.floor_concurrency)[len(self.floor_concurrency) // 2]
        return [middle] if run == 0 else []


_SETUP = ("setup", "", "")
_CLEANUP = ("cleanup", "", "")


def plan(opts: BenchOptions) -> list[Step]:
    """The bench's steps in order, as far as they are known up front (for the time left)."""
    steps = []
    for run in range(opts.runs):
        steps.append(Step(run, _SETUP))
        uploads = opts.strategies_in(run, "upload")
        downloads = opts.strategies_in(run, "download")
        for direction, strategies in (("upload", uploads), ("download", downloads)):
            if direction == "download" and downloads and not {"quick", "blob"} & set(uploads):
                steps.append(Step(run, ("source", "quick", "blobflow")))
            clients = opts.active_clients()
            steps += [Step(run, (direction, s, c)) for s in strategies for c in clients]
            if strategies and opts.floors_in(run):
                if run == 0:
                    steps.append(Step(run, ("recording", direction, "")))
                steps += [Step(run, ("floor", direction, str(c))) for c in opts.floors_in(run)]
        steps.append(Step(run, _CLEANUP))
    return steps


@dataclass(frozen=True)
class Target:
    address: str
    token: str
    team_id: int
    workspace_id: int
    #: the embedded server's process (its CPU time is read around each run), else None
    server_pid: int | None = None
    #: a fresh user on the same server (embedded server only), else None
    new_tenant: Callable[[], Target] | None = field(default=None, compare=False, repr=False)

    def fresh(self) -> Target:
        """A user of its own for one upload: the server deduplicates uploaded bytes per user,
        so a ``standard`` upload run after another one would skip sending its images."""
        return self.new_tenant() if self.new_tenant is not None else self


@contextlib.contextmanager
def _embedded_server(opts: BenchOptions, data_dir: Path) -> Iterator[Target]:
    from blobflow.server import ServerProcess

    latency_ms, bandwidth = PROFILES[opts.profile]
    with ServerProcess(
        data_dir=data_dir, latency_ms=latency_ms, bandwidth_mbps=bandwidth, startup_timeout=120
    ) as srv:

        def new_tenant() -> Target:
            token = secrets.token_urlsafe(32)
            team_id, workspace_id = srv.add_tenant_sync(token)
            return Target(srv.address, token, team_id, workspace_id, srv.pid, new_tenant)

        yield Target(
            srv.address, srv.token, int(srv.team_id), int(srv.workspace_id), srv.pid, new_tenant
        )


@contextlib.contextmanager
def _external_server(opts: BenchOptions) -> Iterator[Target]:
    assert opts.server is not None and opts.token is not None
    with RawClient(opts.server, opts.token) as raw:
        teams = raw.list_all("teams.list", {"filter": []})
        if not teams:
            raise RuntimeError(f"{opts.server}: this token sees no team")
        team_id = int(teams[0]["id"])
        spaces = raw.list_all("workspaces.list", {"teamId": team_id, "filter": []})
        if not spaces:
            raise RuntimeError(f"{opts.server}: team {team_id} has no workspace")
    yield Target(opts.server, opts.token, team_id, int(spaces[0]["id"]))


def _server(opts: BenchOptions, data_dir: Path) -> contextlib.AbstractContextManager[Target]:
    if opts.server:
        if not opts.token:
            raise ValueError("--server needs --token (or API_TOKEN)")
        return _external_server(opts)
    return _embedded_server(opts, data_dir)


class _Run:
    """One repetition: limits, uploads, downloads against one server."""

    def __init__(
        self,
        opts: BenchOptions,
        data: BenchData,
        target: Target,
        run: int,
        work: Path,
        recordings: Path,
        progress: Progress,
    ):
        self.opts, self.data, self.target, self.run, self.work = opts, data, target, run, work
        self.progress = progress
        self.recordings = recordings  # kept across runs: one recording per direction
        self.source: tuple[int, Target] | None = None  # the downloads' project
        self.stamp = f"{int(time.time())}-r{run}"
        # (client, strategy) -> (project id, the user who uploaded it)
        self.uploaded: dict[tuple[str, str], tuple[int, Target]] = {}

    def job(self, direction: str, strategy: str, client: str, target: Target, **kw: Any) -> Job:
        name = f"bench-{client}-{direction}-{strategy}-{self.stamp}"
        work_dir = self.work / name
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        return Job(
            direction=direction,
            strategy=strategy,
            client=client,
            server=target.address,
            token=target.token,
            team_id=target.team_id,
            workspace_id=target.workspace_id,
            data_root=str(self.data.root),
            img_dir=str(self.data.img_dir),
            ann_dir=str(self.data.ann_dir),
            work_dir=str(work_dir),
            name=name,
            **kw,
        )

    def execute(self, job: Job, key: tuple[str, str, str] | None = None) -> JobResult:
        """Run one job in its child process and verify it, showing its progress."""
        step = Step(self.run, key or (job.direction, job.strategy, job.client))
        self.progress.begin(step)
        result = self._execute(job)
        if result.ok:
            outcome = f"{result.seconds:.2f} s, verified" if result.seconds else "done"
        else:
            outcome = f"FAILED: {result.error}"
        self.progress.end(step, outcome)
        return result

    def _execute(self, job: Job) -> JobResult:
        python = self.opts.sdk_python if job.client == "sdk" else self.opts.python
        assert python is not None
        # Child logs are kept (in <out>/logs) only for runs that fail.
        logs = self.opts.out / "logs" if self.opts.out is not None else self.work / "logs"
        log_path = logs / f"{job.name}.log"
        pid = self.target.server_pid
        before = process_cpu_seconds(pid) if pid else None
        result = run_job(job, python, timeout=self.opts.timeout, log_path=log_path)
        after = process_cpu_seconds(pid) if pid else None
        if before is not None and after is not None:
            result.extra["server_cpu_seconds"] = after - before
        if result.ok:
            try:
                with RawClient(job.server, job.token) as raw:
                    self._verify(job, result, raw)
            except Exception as exc:  # any verification problem fails the run
                result.ok = False
                result.error = f"not verified: {type(exc).__name__}: {exc}"
        shutil.rmtree(job.work_dir, ignore_errors=True)
        if job.dest is not None:  # a download's folder is verified: its removal is this step's
            shutil.rmtree(job.dest, ignore_errors=True)
        if result.ok:
            log_path.unlink(missing_ok=True)
        elif result.error and str(log_path) not in result.error:
            result.error += f" (log: {log_path})"
        return result

    def _verify(self, job: Job, result: JobResult, raw: RawClient) -> None:
        if job.client == "floor" and job.direction == "download":
            files, size = result.extra.get("ann_files"), result.extra.get("blob_bytes")
            if files != self.opts.images or size != result.extra.get("blob_bytes_recorded"):
                raise RuntimeError(f"the replay wrote {files} annotation files, {size} blob bytes")
        elif job.direction == "upload":
            if result.project_id is None:
                raise RuntimeError("the strategy returned no project id")
            verify_upload(raw, int(result.project_id), self.data, self.opts.verify_sample)
        else:
            assert job.dest is not None
            verify_download(Path(job.dest), self.data)

    def record(self, job: Job, result: JobResult) -> RunRecord:
        return RunRecord(
            job.direction,
            job.strategy,
            job.client,
            self.run,
            result.ok,
            result.seconds if result.ok else None,
            result.peak_rss_mb,
            result.error,
            result.extra.get("cpu_seconds"),
            result.extra.get("server_cpu_seconds"),
        )

    def uploads(self) -> list[RunRecord]:
        records = []
        direction = "upload"
        for strategy in self.opts.strategies_in(self.run, direction):
            for client in self.opts.active_clients():
                target = self.target.fresh()
                job = self.job(direction, strategy, client, target)
                result = self.execute(job)
                records.append(self.record(job, result))
                if result.ok and result.project_id is not None:
                    self.uploaded[(client, strategy)] = (int(result.project_id), target)
        return records

    def floor(self, direction: str, source: tuple[int, Target] | None = None) -> FloorRecord:
        """The direction's floor (see ``_floor``): the fastest replay of a recorded run."""
        record = FloorRecord(direction, self.run)
        folder = self.recordings / direction
        if not folder.exists() and not self._record(direction, folder, source):
            record.error = "no recording of a blobflow run"
            return record
        for concurrency in self.opts.floors_in(self.run):
            if direction == "upload":
                target, project_id = self.target.fresh(), None
            else:
                assert source is not None
                project_id, target = source
            job = self.job(
                direction, "floor", "floor", target,
                record=str(folder), concurrency=concurrency, project_id=project_id,
            )  # fmt: skip
            result = self.execute(job, ("floor", direction, str(concurrency)))
            if result.ok and result.seconds:
                record.tried[concurrency] = result.seconds
                record.cpu[concurrency] = (
                    result.extra.get("cpu_seconds"),
                    result.extra.get("server_cpu_seconds"),
                )
            else:
                record.error = result.error
        return record

    def _record(self, direction: str, folder: Path, source: tuple[int, Target] | None) -> bool:
        """An untimed blobflow run of the job, its requests recorded into folder."""
        strategy = "quick" if direction == "upload" else "fast"
        if direction == "upload":
            job = self.job("upload", strategy, "blobflow", self.target.fresh(), record=str(folder))
        else:
            assert source is not None
            project_id, target = source
            dest = self.work / "dl-recording"
            job = self.job(direction, strategy, "blobflow", target, project_id=project_id,
                           dest=str(dest), record=str(folder))  # fmt: skip
        job.name = f"bench-recording-{direction}-{self.stamp}"
        result = self.execute(job, ("recording", direction, ""))
        if not result.ok:
            self.opts.log(f"recording a blobflow {direction} failed: {result.error}")
            shutil.rmtree(folder, ignore_errors=True)
        return result.ok

    def download_source(self) -> tuple[int, Target] | None:
        for key in _SOURCES:
            if key in self.uploaded:
                return self.uploaded[key]
        # No blob upload ran (or verified) in this run: make one, untimed.
        for client, strategy in _SOURCES:
            if client not in self.opts.active_clients():
                continue
            target = self.target.fresh()
            job = self.job("upload", strategy, client, target)
            job.name = f"bench-source-{self.stamp}"
            result = self.execute(job, ("source", strategy, client))
            if result.ok and result.project_id is not None:
                return int(result.project_id), target
            self.opts.log(f"download source ({client} {strategy}) failed: {result.error}")
        return None

    def downloads(self) -> list[RunRecord]:
        wanted = [("download", s) for s in self.opts.strategies_in(self.run, "download")]
        if not wanted:
            return []
        source = self.download_source()
        self.source = source
        records = []
        for direction, strategy in wanted:
            for client in self.opts.active_clients():
                dest = self.work / f"dl-{client}-{strategy}"
                shutil.rmtree(dest, ignore_errors=True)
                project_id, target = source if source is not None else (None, self.target)
                job = self.job(
                    direction, strategy, client, target, project_id=project_id, dest=str(dest)
                )
                if source is None:
                    result = JobResult(ok=False, error="no verified blob project to download")
                else:
                    result = self.execute(job)
                records.append(self.record(job, result))
        return records


def _results(
    opts: BenchOptions,
    data: BenchData,
    records: list[RunRecord],
    limits: list[dict[str, float]],
    runs: int,
    floors: list[FloorRecord],
) -> dict[str, Any]:
    return build_results(
        records,
        floors=floors,
        images=opts.images,
        total_bytes=data.total_bytes,
        profile=opts.profile,
        runs=runs,
        limits=limits,
        command=opts.command,
    )


def _data(opts: BenchOptions) -> BenchData:
    """The cached data set; generating it (the first time only) shows its progress."""
    made = 0
    started = shown = time.monotonic()

    def generated(count: int) -> None:
        nonlocal made, shown
        made += count
        if made == opts.images or time.monotonic() - shown >= 5:
            shown = time.monotonic()
            opts.log(
                f"data: generated {made:,} of {opts.images:,} images in {shown - started:.0f} s "
                "(once; then cached)"
            )

    spec = DataSpec(opts.images, opts.image_kb, opts.seed)
    data = ensure_data(spec, opts.cache_dir, progress=generated)
    opts.log(f"data: {opts.images:,} images, {data.total_bytes / 1e6:.1f} MB, in {data.root}")
    return data


def _describe(opts: BenchOptions) -> str:
    """What this bench will time, in one line."""
    runs = f"{opts.runs} run{'s' if opts.runs > 1 else ''}"
    clients = " and ".join(opts.active_clients())
    if opts.runs > 1 and opts.repeat is not None:
        again = ", ".join(f"{d} {s}" for d, s in opts.strategies if (d, s) in opts.repeat)
        what = f"every strategy in run 1, then {again or 'nothing'} (--full: everything, 3x)"
    else:
        what = "every strategy in every run"
    return f"bench: {opts.images:,} images, {clients}, {runs}: {what}"


#: tmpfs, where Linux has one: what the bench times is transfers, not the disk's small files
SHM = Path("/dev/shm")


def default_work_dir(images: int, image_kb: float) -> Path:
    """Where a run's tars, downloads and server data go without ``--work-dir``: tmpfs when it
    has room for them, else the system's temp folder.

    On a disk, writing 30,000 annotation files is at the mercy of its write-back: ``fast``
    varied 7-20 s from run to run on the development VM's disk after other work had written
    a lot, against 1.5 s on tmpfs. A run holds about eight copies of the image bytes (the tar,
    the server's copy, the download, the floor's recording, the limits) plus a page per
    annotation file.
    """
    need = images * (image_kb * 1024 * 8 + 8192)
    try:
        stat = os.statvfs(SHM)
    except OSError:
        return Path(tempfile.gettempdir())
    if os.access(SHM, os.W_OK) and stat.f_bavail * stat.f_frsize > need:
        return SHM
    return Path(tempfile.gettempdir())


def run_bench(opts: BenchOptions) -> dict[str, Any]:
    """Run the whole comparison; return the results dict (see ``_report``)."""
    if opts.profile not in PROFILES:
        raise ValueError(f"unknown profile {opts.profile!r}; choose from {', '.join(PROFILES)}")
    started = time.perf_counter()
    data = _data(opts)
    records: list[RunRecord] = []
    limits: list[dict[str, float]] = []
    results: dict[str, Any] = {}
    base = opts.work_dir or default_work_dir(opts.images, opts.image_kb)
    base.mkdir(parents=True, exist_ok=True)
    floors: list[FloorRecord] = []
    progress = Progress(plan(opts), opts.images, opts.runs, opts.log, live=opts.live)
    progress.announce(_describe(opts))
    with tempfile.TemporaryDirectory(prefix="blobflow-bench-", dir=base) as tmp:
        recordings = Path(tmp) / "recordings"
        for run in range(opts.runs):
            work = Path(tmp) / f"run{run}"
            work.mkdir()
            progress.begin(setup := Step(run, _SETUP))
            with _server(opts, work / "server-data") as target:
                one = _Run(opts, data, target, run, work, recordings, progress)
                with RawClient(target.address, target.token) as raw:
                    lim = measure_limits(raw, target.team_id, data, work / "limits")
                limits.append(lim.to_dict())
                progress.end(
                    setup,
                    f"tar {lim.tar_seconds:.2f} s, raw upload {lim.raw_upload_seconds:.2f} s, "
                    f"raw download {lim.raw_download_seconds:.2f} s",
                )
                records += one.uploads()
                if opts.floors_in(run) and opts.strategies_in(run, "upload"):
                    floors.append(one.floor("upload"))
                records += one.downloads()
                if opts.floors_in(run) and one.source is not None:
                    floors.append(one.floor("download", one.source))
                progress.begin(cleanup := Step(run, _CLEANUP))
            shutil.rmtree(work, ignore_errors=True)
            results = _results(opts, data, records, limits, run + 1, floors)
            if opts.out is not None and run < opts.runs - 1:
                # A long benchmark keeps what it measured so far if it is interrupted.
                write_outputs({**results, "partial": f"{run + 1} of {opts.runs} runs"}, opts.out)
            progress.end(cleanup)
    if opts.out is not None:
        with contextlib.suppress(OSError):  # only failed runs leave a log
            (opts.out / "logs").rmdir()
    results["wall_seconds"] = time.perf_counter() - started
    return results


def run_sweep(opts: BenchOptions, sizes: Sequence[int]) -> dict[str, Any]:
    """Run the bench at each size; the last size's results plus a ``sweep`` list of points."""
    points: list[dict[str, Any]] = []
    results: dict[str, Any] = {}
    for size in sizes:
        results = run_bench(replace(opts, images=size))
        for row in results["results"]:
            median = row["seconds_median"]
            points.append(
                {
                    "images": size,
                    "direction": row["direction"],
                    "strategy": row["strategy"],
                    "client": row["client"],
                    "seconds_median": median,
                    "seconds_per_image": None if median is None else median / size,
                    "peak_rss_mb": row.get("peak_rss_mb"),
                }
            )
    results["sweep"] = points
    return results


def format_sweep(points: list[dict[str, Any]]) -> str:
    sizes = sorted({p["images"] for p in points})
    keys = sorted(
        {(p["direction"], p["strategy"], p["client"]) for p in points},
        key=lambda k: (k[2], ORDER.index((k[0], k[1]))),
    )
    head = ["direction", "strategy", "client"]
    head += [f"{n:,} img: us/img" for n in sizes] + [f"{n:,} img: RSS MB" for n in sizes]
    table = [head]
    for key in keys:
        at = {p["images"]: p for p in points if (p["direction"], p["strategy"], p["client"]) == key}
        row = list(key)
        for n in sizes:
            spi = at.get(n, {}).get("seconds_per_image")
            row.append("-" if spi is None else f"{spi * 1e6:,.1f}")
        for n in sizes:
            rss = at.get(n, {}).get("peak_rss_mb")
            row.append("-" if rss is None else f"{rss:,.0f}")
        table.append(row)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table)


__all__ += ["format_sweep", "format_table"]
