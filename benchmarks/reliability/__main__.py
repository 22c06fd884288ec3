"""``python -m benchmarks.reliability``: the whole reliability and security suite, with figures.

Full run (a few tens of minutes on 2 cores)::

    python -m benchmarks.reliability --trials 100

Quick look (what CI runs through ``tests/reliability``, roughly)::

    python -m benchmarks.reliability --trials 3 --crash 1 --bomb-members 100000 --no-load

Exits 1 when any invariant fails: an unclean error, a corrupt file, a duplicate image, a re-run
that does not complete, a corpus item handled unsafely, an isolation check, a 5xx, a load error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.reliability.load import run_load
from benchmarks.reliability.suite import (
    TrialFigures,
    run_corpora,
    run_crash_trials,
    run_security,
    run_transfer_trials,
)
from benchmarks.reliability.trials import TrialResult

PARTS = ("corpora", "security", "trials", "crash", "load")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.reliability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--trials",
        type=int,
        default=100,
        help="upload trials and download trials (each) through the fault proxy [100]",
    )
    p.add_argument("--crash", type=int, default=None, help="server kill -9 trials [trials/10]")
    p.add_argument("--images", type=int, default=1000, help="max images per trial blob [1000]")
    p.add_argument("--crash-images", type=int, default=3000, help="images of the crash blob")
    p.add_argument(
        "--bomb-members",
        type=int,
        default=3_000_000,
        help="empty members of the tar bomb [3,000,000]",
    )
    p.add_argument("--load-seconds", type=float, default=60.0, help="load duration [60]")
    p.add_argument("--load-clients", type=int, default=16)
    p.add_argument("--load-images", type=int, default=10_000, help="images per load blob")
    p.add_argument("--no-load", action="store_true", help="skip the load part")
    p.add_argument(
        "--only", nargs="+", choices=PARTS, default=list(PARTS), help="run only these parts [all]"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", type=Path, default=None, help="work dir [a temp dir]")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per trial")
    return p


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def _main(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}

    def log(r: TrialResult) -> None:
        if args.verbose:
            _say(
                f"  {r.kind:8} seed {r.seed:>7} {r.outcome:13} rerun={r.rerun_verified} "
                f"corrupt={r.corrupt} dups={r.duplicates} faults={r.faults} "
                f"{r.seconds:.1f}s {r.error[:100]}"
            )

    t0 = time.monotonic()
    parts = set(args.only) - ({"load"} if args.no_load else set())
    if "corpora" in parts:
        _say("corpora: pickles, tars, tar bomb ...")
        out["corpora"] = await run_corpora(work, bomb_members=args.bomb_members)
    if "security" in parts:
        _say("security: isolation matrix and hostile HTTP ...")
        out["security"] = await run_security(work)
    figs = TrialFigures()
    if "trials" in parts:
        _say(f"trials: {args.trials} upload + {args.trials} download through the fault proxy")
        await run_transfer_trials(
            work / "trials",
            uploads=args.trials,
            downloads=args.trials,
            images=args.images,
            seed=args.seed,
            figures=figs,
            log=log,
        )
    if "crash" in parts:
        crash = args.crash if args.crash is not None else max(1, args.trials // 10)
        _say(f"crash: {crash} kill -9 trials ...")
        await run_crash_trials(
            work / "crash",
            trials=crash,
            images=args.crash_images,
            seed=args.seed,
            figures=figs,
            log=log,
        )
    if figs.results:
        out["trials"] = figs.figures()
    if "load" in parts:
        _say(f"load: {args.load_clients} clients for {args.load_seconds:.0f} s ...")
        lr = await run_load(
            work / "load",
            clients=args.load_clients,
            images=args.load_images,
            duration=args.load_seconds,
        )
        out["load"] = vars(lr)
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def _failures(out: dict[str, Any]) -> list[str]:
    bad = []
    t = out.get("trials")
    if t and (
        t["unclean_errors"] or t["corrupt"] or t["duplicates"] or t["reruns_completed"] != t["run"]
    ):
        bad.append("trials")
    if "corpora" in out and out["corpora"]["harm"]:
        bad.append("corpora")
    sec = out.get("security")
    if sec and sec["isolation"]["failed"]:
        bad.append("isolation")
    if sec and (sec["http"]["failed"] or not sec["http"]["server_healthy_after"]):
        bad.append("http corpus")
    if sec and sec["http"]["integrity_check"] != "ok":
        bad.append("database integrity")
    if "load" in out and (out["load"]["errors"] or out["load"]["inconsistent"]):
        bad.append("load")
    return bad


def report(out: dict[str, Any]) -> str:
    lines = ["blobflow reliability and security"]
    if "trials" in out:
        t = out["trials"]
        lines += [
            f"  trials    run {t['run']} {t['by_kind']}: verified {t['verified']}, "
            f"clean errors {t['clean_errors']}, unclean errors {t['unclean_errors']}, "
            f"corrupt {t['corrupt']}, duplicates {t['duplicates']}, "
            f"re-runs completed {t['reruns_completed']}/{t['run']}",
            f"            faults injected {t['faults_injected']}",
        ]
    if "corpora" in out:
        c = out["corpora"]
        lines.append(
            f"  corpora   tried {c['tried']}, refused or handled cleanly {c['clean']} "
            + ", ".join(f"({k} {v['clean']}/{v['tried']})" for k, v in c["by_corpus"].items())
        )
        if c.get("bomb"):
            b = c["bomb"]
            lines.append(
                f"            tar bomb {b['members']:,} members: {b['outcome']} in "
                f"{b['seconds']} s, {b['rss_mb']} MB peak RSS (input mmapped)"
            )
    if "security" in out:
        sec = out["security"]
        h = sec["http"]
        lines += [
            f"  http      tried {h['tried']} on {h['methods']} methods: clean {h['clean']}, "
            f"4xx {h['refused_4xx']}, 5xx {h['status_5xx']}, healthy after: "
            f"{h['server_healthy_after']}, integrity_check: {h['integrity_check']}",
            f"  isolation checks passed {sec['isolation']['passed']}/{sec['isolation']['checks']}",
        ]
    if "load" in out:
        ld = out["load"]
        lines.append(
            f"  load      {ld['clients']} clients, {ld['seconds']:.0f} s: requests served "
            f"{ld['requests']}, errors {len(ld['errors'])}, imports {ld['imports']} "
            f"({ld['images_imported']:,} images), downloads {ld['downloads']} "
            f"({ld['bytes_downloaded'] / 1e9:.2f} GB), retried attempts "
            f"{ld['retried_attempts']}, inconsistencies {len(ld['inconsistent'])}, "
            f"server peak RSS {ld['server_peak_rss_mb']:.0f} MB"
        )
    lines.append(f"  total     {out['seconds']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="blobflow-reliability-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        out = asyncio.run(_main(args, work))
    print(report(out))
    bad = _failures(out)
    for part in bad:
        print(f"FAILED: {part}")
    sec = out.get("security", {})
    load = out.get("load", {})
    for key, items in (
        ("trials", out.get("trials", {}).get("failed", [])),
        ("corpora", out.get("corpora", {}).get("harm", [])),
        ("isolation", sec.get("isolation", {}).get("failed", [])),
        ("http", sec.get("http", {}).get("failed", [])),
        ("load", load.get("errors", []) + load.get("inconsistent", [])),
    ):
        for item in items[:20]:
            print(f"  {key}: {item}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
