"""Start-up of the ``blobflow`` command, and ``blobflow pack`` as a whole process vs GNU tar.

    python benchmarks/bench_startup.py [--rounds 15] [--files 30000] [--size 4096] [--repeat 7]

* ``blobflow --help`` and every sub-command's ``--help``, each against a bare interpreter start
  (``python -c pass``, the same interpreter) run right before it, round after round; the ratio
  is of the medians. Target: within 4x.
* ``blobflow pack SRC OUT.tar`` (tar + ``_offsets.pkl``) vs ``tar cf OUT.tar -C SRC .`` on the
  same folder of ~4 KB files, alternated, each timed as a whole process (start-up included).
  Target: within 1.3x on the medians.

Every timing is a fresh process started by this script (wall clock around
``subprocess.run``), so start-up, imports and exit are all counted, as a user would see them,
with bytecode caching on as for an installed package (``PYTHONDONTWRITEBYTECODE`` is dropped
from the commands' environment; the warm-up runs write the ``.pyc`` files).
The machine is shared: only the ratios of runs interleaved in this one run mean anything.
The source folder is cached under ``--cache-dir`` (see ``bench_format.make_source``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_format import make_source


def blobflow_command() -> list[str]:
    """The installed ``blobflow`` script beside this interpreter, as a user runs it."""
    script = Path(sys.executable).with_name("blobflow")
    if not script.exists():
        raise SystemExit(f"no {script}: pip install -e . into this interpreter's environment")
    return [str(script)]


# Bytecode caching on, as for an installed package (pip compiles every module to .pyc when it
# installs): with PYTHONDONTWRITEBYTECODE set (some shells and CI images set it), an editable
# checkout would compile blobflow's sources on every run, which no installed copy does.
_INSTALLED_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cpu: list[float] | None = None) -> float:
    """Wall seconds of one run of cmd; its CPU seconds (user + system, all its processes that
    were waited for) appended to ``cpu`` if given: the load-independent companion figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=_INSTALLED_ENV)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def sub_commands() -> list[str]:
    from blobflow.cli import build_parser

    parser = build_parser()
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    return []


def bench_help(rounds: int) -> list[tuple[str, float, float]]:
    """(command, median seconds, median of the bare interpreter runs interleaved with it)."""
    bare = [sys.executable, "-c", "pass"]
    commands = [[]] + [[name] for name in sub_commands()]
    blobflow = blobflow_command()
    times: dict[str, list[float]] = {" ".join(["blobflow", *c, "--help"]): [] for c in commands}
    bare_times: list[float] = []
    for cmd in (bare, [*blobflow, "--help"]):  # warm the page cache once
        timed(cmd)
    for _ in range(rounds):
        for c in commands:
            bare_times.append(timed(bare))
            times[" ".join(["blobflow", *c, "--help"])].append(timed([*blobflow, *c, "--help"]))
    base = statistics.median(bare_times)
    return [(name, statistics.median(ts), base) for name, ts in times.items()]


Runs = dict[str, list[float]]  # "tar" / "pack" (wall seconds), "tar cpu" / "pack cpu"


def bench_pack(src: Path, work: Path, repeat: int, pause: float) -> Runs:
    tar_cmd = ["tar", "cf", str(work / "gnu.tar"), "-C", str(src), "."]
    pack_cmd = [*blobflow_command(), "pack", "--quiet", str(src), str(work / "blob.tar")]
    runs: Runs = {"tar": [], "pack": [], "tar cpu": [], "pack cpu": []}
    timed(tar_cmd)  # warm the page cache and both code paths once
    timed(pack_cmd)
    for i in range(repeat):
        pairs = [("tar", tar_cmd), ("pack", pack_cmd)]
        for name, cmd in pairs if i % 2 == 0 else pairs[::-1]:  # neither always goes first
            time.sleep(pause)
            runs[name].append(timed(cmd, runs[f"{name} cpu"]))
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15, help="--help rounds (each command once)")
    ap.add_argument("--files", type=int, default=30000)
    ap.add_argument("--size", type=int, default=4096, help="average file size in bytes")
    ap.add_argument("--repeat", type=int, default=7, help="pack / tar pairs")
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "blobflow-bench"))
    ap.add_argument("--skip-pack", action="store_true")
    ap.add_argument(
        "--pause", type=float, default=0.0, metavar="S",
        help="idle seconds before each pack / tar run: keeps a run under `chrt -f` (real-time "
        "priority, which other work cannot preempt) within the kernel's real-time budget "
        "(95%% of each second), whose throttling would stall whichever command is running",
    )  # fmt: skip
    args = ap.parse_args()

    print(
        f"blobflow start-up benchmark  (python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})"
    )
    rows = bench_help(args.rounds)
    base = rows[0][2]
    print(f"  {'python -c pass (median)':44} {base * 1000:8.1f} ms")
    worst = 0.0
    for name, median, bare in rows:
        ratio = median / bare
        worst = max(worst, ratio)
        print(f"  {name:44} {median * 1000:8.1f} ms  {ratio:5.2f}x bare")
    print(f"  {'worst --help':44} {'':8}     {worst:5.2f}x bare  target <= 4x")

    if not args.skip_pack:
        if shutil.which("tar") is None:
            print("GNU tar is required for the pack comparison", file=sys.stderr)
            return 2
        src = make_source(Path(args.cache_dir), args.files, args.size)
        work = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=args.cache_dir))
        try:
            runs = bench_pack(src, work, args.repeat, args.pause)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"  {'files':44} {args.files:8,} x ~{args.size} B")
        report_pack(runs)
    print(f"  load average after: {os.getloadavg()[0]:.1f}")
    return 0


def report_pack(runs: Runs) -> None:
    med = {k: statistics.median(v) for k, v in runs.items()}
    best = {k: min(v) for k, v in runs.items()}
    for key, label in (("tar", "tar cf"), ("pack", "blobflow pack")):
        print(
            f"  {label + ', whole process (median / best)':44} {med[key]:8.3f} s / "
            f"{best[key]:.3f} s  (CPU {med[key + ' cpu']:.3f} s)"
        )
    print(
        f"  {'ratio (medians / bests)':44} {med['pack'] / med['tar']:7.2f}x / "
        f"{best['pack'] / best['tar']:.2f}x  target <= 1.3x"
    )
    print(f"  {'CPU ratio (medians; user + system)':44} {med['pack cpu'] / med['tar cpu']:7.2f}x")


if __name__ == "__main__":
    sys.exit(main())
