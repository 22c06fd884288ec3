"""The ``blobflow`` command line: one command, one sub-command per job.

Exit codes: 0 success, 1 a clear error (one line on stderr; ``--debug`` shows the
traceback), 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from blobflow import __version__
from blobflow._errors import BlobflowError

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


def _emit(args: argparse.Namespace, summary: dict[str, Any], text: str) -> None:
    """Print a result: JSON for scripts with ``--json``, else a human line unless ``--quiet``."""
    if getattr(args, "json", False):
        print(json.dumps(summary, sort_keys=True))
    elif not getattr(args, "quiet", False):
        print(text)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or text")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


# --- blob format commands (pack, offsets, ls) --------------------------------------------
# --- end blob format commands ------------------------------------------------------------

# --- server command (serve) --------------------------------------------------------------


def _run_serve(args: argparse.Namespace) -> int:
    from blobflow.server._main import run

    return run(args)


def _add_serve(sub: Any) -> None:
    from blobflow.server._main import add_arguments

    parser = sub.add_parser(
        "serve",
        help="run the reference server (Supervisely API subset, SQLite + files)",
        description="Run the blobflow reference server until Ctrl-C or SIGTERM. On an empty "
        "data dir it creates a user, a team and a workspace and registers the token.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=_run_serve)


# --- end server command ------------------------------------------------------------------

# --- transfer commands (upload, download, import-blob) -----------------------------------
# --- end transfer commands ---------------------------------------------------------------

# --- benchmark command (bench) -----------------------------------------------------------
def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of image counts: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"not a list of image counts: {text!r}")
    return sizes


def _parse_strategies(text: str) -> list[tuple[str, str]]:
    from blobflow.bench._report import ORDER

    chosen = []
    for part in text.split(","):
        direction, _, name = part.strip().partition(":")
        if (direction, name) not in ORDER:
            choices = ", ".join(f"{d}:{s}" for d, s in ORDER)
            raise argparse.ArgumentTypeError(f"unknown strategy {part!r} (choose from {choices})")
        chosen.append((direction, name))
    return chosen


def _bench_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (secrets left out)."""
    parts = ["blobflow bench", f"--images {args.images}", f"--image-kb {args.image_kb:g}",
             f"--runs {args.runs}", f"--profile {args.profile}"]
    if args.sdk_python:
        parts.append(f"--sdk-python {args.sdk_python}")
    if args.sweep:
        parts.append("--sweep " + ",".join(str(n) for n in args.sweep))
    if args.strategies:
        parts.append("--strategies " + ",".join(f"{d}:{s}" for d, s in args.strategies))
    if args.server:
        parts.append(f"--server {args.server}")
    return " ".join(parts)


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from blobflow.bench import BenchOptions, format_sweep, format_table, run_bench, run_sweep
    from blobflow.bench._report import ORDER, write_outputs

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    opts = BenchOptions(
        images=args.images,
        image_kb=args.image_kb,
        runs=args.runs,
        profile=args.profile,
        sdk_python=args.sdk_python,
        out=Path(args.out),
        server=args.server,
        token=args.token,
        seed=args.seed,
        strategies=args.strategies or ORDER,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        work_dir=Path(args.work_dir) if args.work_dir else None,
        verify_sample=args.verify_sample,
        timeout=args.timeout,
        command=_bench_command(args),
        log=log,
    )
    results = run_sweep(opts, args.sweep) if args.sweep else run_bench(opts)
    paths = write_outputs(results, Path(args.out))
    if args.json:
        print(json.dumps(results, sort_keys=True))
    elif not args.quiet:
        print(format_table(results))
        if results.get("sweep"):
            print(format_sweep(results["sweep"]))
        print("wrote " + ", ".join(str(p) for p in paths))
    failed = sum(r["runs_failed"] for r in results["results"])
    if failed:
        print(f"blobflow: {failed} run(s) failed or did not verify", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _add_bench(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark standard vs blob vs quick/fast transfers (starts its own server)",
        description="Reproduce the 30,000 x 4 KB comparison on the embedded reference server "
        "(or on --server), with the machine's limits and optional official-SDK peer rows.",
    )
    p.add_argument("--images", type=int, default=30000, help="number of images (default 30000)")
    p.add_argument("--image-kb", type=float, default=4.0, help="average image size in KB")
    p.add_argument("--runs", type=int, default=3, help="repetitions; the median is reported")
    p.add_argument("--profile", choices=["loopback", "wan"], default="loopback",
                   help="wan: the embedded server adds 40 ms per request and 200 Mbit/s")
    p.add_argument("--sdk-python", metavar="PATH",
                   help="a Python with the official supervisely SDK: adds the SDK's peer rows")
    p.add_argument("--out", default="bench-results", help="folder for results.json/.md/.png")
    p.add_argument("--server", default=os.environ.get("SERVER_ADDRESS"),
                   help="bench against this server instead of the embedded one")
    p.add_argument("--token", default=os.environ.get("API_TOKEN"), help="its API token")
    p.add_argument("--sweep", type=_parse_sizes, metavar="N,N,...",
                   help="run at each image count and report the time per image")
    p.add_argument("--strategies", type=_parse_strategies, metavar="DIR:NAME,...",
                   help="only these, e.g. upload:quick,download:fast (default: all six)")
    p.add_argument("--seed", type=int, default=0, help="data generator seed")
    p.add_argument("--cache-dir", help="generated data cache (default ~/.cache/blobflow/bench)")
    p.add_argument("--work-dir", help="scratch folder for tars, downloads and server data")
    p.add_argument("--verify-sample", type=int, default=1000,
                   help="images whose bytes and annotation are re-downloaded to verify an "
                   "upload (0: all); names, count and sizes are always checked for all")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per strategy run")
    p.set_defaults(handler=_bench)


# --- end benchmark command ---------------------------------------------------------------

# Each entry adds one sub-command's parser and returns its handler.
_COMMANDS: list[Callable[[Any], None]] = [_add_bench, _add_serve]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blobflow", description="Move very many small images as tar blobs."
    )
    parser.add_argument("--version", action="version", version=f"blobflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _COMMANDS:
        add(sub)
    for choice in sub.choices.values():
        _common(choice)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("blobflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (BlobflowError, OSError) as exc:
        if args.debug or os.environ.get("BLOBFLOW_DEBUG"):
            raise
        print(f"blobflow: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
