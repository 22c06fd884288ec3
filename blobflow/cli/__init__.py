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

from blobflow._errors import BlobflowError, BlobFormatError

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]

#: library parameters that override a refusal -> the flag that does it on the command line
CLI_SWITCHES = {
    "allow_empty": "--allow-empty",
    "follow_symlinks": "--follow-symlinks",
    "skip_special": "--skip-special",
    "force": "--force",
}


def _emit(args: argparse.Namespace, summary: dict[str, Any], text: str) -> None:
    """Print a result: JSON for scripts with ``--json``, else a human line unless ``--quiet``;
    warnings (``summary["_warnings"]``) go to stderr either way."""
    for warning in summary.pop("_warnings", []):
        print(f"blobflow: {warning}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps(summary, sort_keys=True))
    elif not getattr(args, "quiet", False):
        print(text)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or text")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


# --- blob format commands (pack, offsets, ls) --------------------------------------------


def _run_pack(args: argparse.Namespace) -> int:
    import time

    from blobflow._media import selection_from_args
    from blobflow.blob import archive_directory_parts

    offsets_dir = args.offsets_dir or os.path.dirname(os.path.abspath(args.out))
    select = selection_from_args(args)
    started = time.perf_counter()
    try:
        parts = archive_directory_parts(
            args.src_dir,
            args.out,
            filter_func=select,
            offsets_dir=offsets_dir,
            max_bytes=args.max_bytes,
            max_members=args.max_members,
            follow_symlinks=args.follow_symlinks,
            allow_empty=args.allow_empty,
            keep_infos=False,  # the offsets go straight to the .pkl: flat memory for a million
        )
    except BlobFormatError:
        if select.kept or not os.path.isdir(args.src_dir):
            raise
        raise BlobflowError(select.nothing_selected(args.src_dir)) from None
    seconds = time.perf_counter() - started
    images = sum(p.member_count for p in parts)
    summary = {
        "images": images,
        "seconds": round(seconds, 3),
        "parts": [
            {"tar": p.tar_path, "offsets": p.offsets_path, "images": p.member_count}
            for p in parts
        ],
    }
    lines = [f"{p.tar_path}: {p.member_count} images, offsets {p.offsets_path}" for p in parts]
    lines.append(f"packed {images} images in {seconds:.2f} s")
    select.skipped.report(summary, lines)
    _emit(args, summary, "\n".join(lines))
    return EXIT_OK


def _run_offsets(args: argparse.Namespace) -> int:
    from blobflow._media import selection_from_args
    from blobflow.blob import offsets_pkl_path, save_blob_offsets_pkl

    out_dir = args.out_dir or os.path.dirname(os.path.abspath(args.blob))
    existed = os.path.exists(offsets_pkl_path(args.blob, out_dir))
    select = selection_from_args(args)
    path = save_blob_offsets_pkl(
        args.blob, out_dir, filter_func=select, replace=args.replace,
        skip_special=args.skip_special,
    )  # fmt: skip
    kept = existed and not args.replace
    note = " (kept the existing file; --replace rewrites it)" if kept else ""
    summary: dict[str, Any] = {"offsets": path, "kept_existing": kept}
    lines = [f"{path}{note}"]
    if not kept:
        if not select.kept:
            os.unlink(path)  # an index of nothing is no use to anyone
            raise BlobflowError(select.nothing_selected(args.blob))
        summary["images"] = select.kept
        select.skipped.report(summary, lines)
    _emit(args, summary, "\n".join(lines))
    return EXIT_OK


def _run_ls(args: argparse.Namespace) -> int:
    from blobflow.blob import scan_blob

    infos = scan_blob(args.blob, skip_special=args.skip_special)
    if args.json:
        entries = [
            {"name": i.name, "offsetStart": i.offset_start, "offsetEnd": i.offset_end}
            for i in infos
        ]
        print(json.dumps({"blob": args.blob, "images": entries}))
        return EXIT_OK
    out = sys.stdout
    for i in infos:
        out.write(f"{i.offset_start}\t{i.offset_end}\t{i.offset_end - i.offset_start}\t{i.name}\n")
    return EXIT_OK


def _add_blob_commands(sub: Any) -> None:
    from blobflow._media import add_selection_arguments

    pack = sub.add_parser(
        "pack",
        help="pack a folder of images into a blob tar and its _offsets.pkl",
        description="Pack every image file under SRC_DIR (the SDK's image extensions, any "
        "case; sorted, deterministic) into the uncompressed tar OUT and write "
        "<stem>_offsets.pkl (SDK format). Skipped files are counted and named. Image names are "
        "basenames and must be unique. With --max-bytes/--max-members the output is split "
        "into <stem>_001.tar, <stem>_002.tar, ... each with its own offsets file.",
    )
    pack.add_argument("src_dir", metavar="SRC_DIR")
    pack.add_argument("out", metavar="OUT.tar")
    pack.add_argument(
        "--offsets-dir", metavar="DIR", help="where to write the .pkl (default: beside OUT.tar)"
    )
    add_selection_arguments(pack)
    pack.add_argument("--max-bytes", type=int, metavar="N", help="split: max bytes per tar")
    pack.add_argument("--max-members", type=int, metavar="N", help="split: max images per tar")
    pack.add_argument("--follow-symlinks", action="store_true", help="pack symlink targets")
    pack.add_argument("--allow-empty", action="store_true", help="pack 0-byte files too")
    pack.set_defaults(handler=_run_pack)

    offsets = sub.add_parser(
        "offsets",
        help="write the _offsets.pkl of an existing blob tar",
        description="Scan BLOB.tar's headers and write <stem>_offsets.pkl (SDK format) for "
        "its image members (others are counted and named). An existing file is kept unless "
        "--replace.",
    )
    offsets.add_argument("blob", metavar="BLOB.tar")
    offsets.add_argument("--out-dir", metavar="DIR", help="default: beside BLOB.tar")
    offsets.add_argument("--replace", action="store_true", help="rewrite an existing .pkl")
    add_selection_arguments(offsets)
    offsets.add_argument(
        "--skip-special", action="store_true", help="skip links/devices instead of failing"
    )
    offsets.set_defaults(handler=_run_offsets)

    ls = sub.add_parser(
        "ls",
        help="list the images of a blob tar with their byte ranges",
        description="Print one line per image: offset_start, offset_end (exclusive), size, "
        "name (tab-separated), in tar order.",
    )
    ls.add_argument("blob", metavar="BLOB.tar")
    ls.add_argument(
        "--skip-special", action="store_true", help="skip links/devices instead of failing"
    )
    ls.set_defaults(handler=_run_ls)


# --- end blob format commands ------------------------------------------------------------

# --- server command (serve) --------------------------------------------------------------


def _run_serve(args: argparse.Namespace) -> int:
    from blobflow.server import run_serve

    return run_serve(args)


def _add_serve(sub: Any) -> None:
    from blobflow.server import add_serve_arguments

    parser = sub.add_parser(
        "serve",
        help="run the reference server (Supervisely API subset, SQLite + files)",
        description="Run the blobflow reference server until Ctrl-C or SIGTERM. On an empty "
        "data dir it creates a user, a team and a workspace and registers the token.",
    )
    add_serve_arguments(parser)
    parser.set_defaults(handler=_run_serve)


# --- end server command ------------------------------------------------------------------

# --- transfer commands (upload, download, import-blob) -----------------------------------
def _add_transfer(sub: Any) -> None:
    from blobflow.cli._transfer import add_transfer_commands

    add_transfer_commands(sub)


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
    from blobflow.bench import ORDER

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
    if args.full:
        parts.append("--full")
    if args.server:
        parts.append(f"--server {args.server}")
    if args.work_dir:
        parts.append(f"--work-dir {args.work_dir}")
    parts.append(f"--out {args.out}")
    return " ".join(parts)


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from blobflow.bench import (
        HEADLINE,
        ORDER,
        BenchOptions,
        format_sweep,
        format_table,
        run_bench,
        run_sweep,
        write_outputs,
    )

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
        # By default the runs after the first repeat only the headline strategies, and the
        # floors are measured once, at one concurrency: a trustworthy answer in a few minutes.
        # --full, an explicit --strategies or a single run times everything in every run.
        repeat=None if args.full or args.strategies or args.runs == 1 else HEADLINE,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        work_dir=Path(args.work_dir) if args.work_dir else None,
        verify_sample=args.verify_sample,
        timeout=args.timeout,
        floor_concurrency=args.floor_concurrency,
        floors=not args.no_floor,
        command=_bench_command(args),
        log=log,
        live=sys.stderr if sys.stderr.isatty() and not args.quiet else None,
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
    failed += sum(len(f["errors"]) for f in results.get("floors", {}).values())
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
    p.add_argument("--runs", type=int, default=3,
                   help="repetitions (default 3); the median is reported. The first run times "
                   "every strategy, the others only upload:quick and download:fast (see --full)")
    p.add_argument("--full", action="store_true",
                   help="time every strategy (and the floors) in every run: the full table, "
                   "about three times as long")
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
    p.add_argument(
        "--work-dir",
        help="scratch folder for tars, downloads and server data (default: /dev/shm when it "
        "has room, else the system temp folder)",
    )
    p.add_argument("--verify-sample", type=int, default=1000,
                   help="images whose bytes and annotation are re-downloaded to verify an "
                   "upload (0: all); names, count and sizes are always checked for all")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per strategy run")
    p.add_argument("--floor-concurrency", type=_parse_sizes, default=[4, 16, 32], metavar="N,N",
                   help="requests in flight tried by the floor's replay client (the fastest "
                   "counts; default 4,16,32)")
    p.add_argument("--no-floor", action="store_true",
                   help="skip the floors (the recorded replay of each direction)")
    p.set_defaults(handler=_bench, transfers=True)


# --- end benchmark command ---------------------------------------------------------------

# Each entry adds one sub-command's parser and returns its handler.
_COMMANDS: list[Callable[[Any], None]] = [_add_bench, _add_serve, _add_blob_commands, _add_transfer]


class _VersionAction(argparse.Action):
    """``--version``: the installed metadata is read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from blobflow._version import __version__

        print(f"blobflow {__version__}")  # stdout, as argparse's own "version" action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blobflow", description="Move very many small images as tar blobs."
    )
    parser.add_argument("--version", action=_VersionAction)
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
    if getattr(args, "transfers", False):
        from blobflow._malloc import limit_malloc_arenas

        limit_malloc_arenas()  # a long job's threads: see blobflow/_malloc.py
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("blobflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (BlobflowError, OSError) as exc:
        if args.debug or os.environ.get("BLOBFLOW_DEBUG"):
            raise
        message = exc.in_terms(CLI_SWITCHES) if isinstance(exc, BlobflowError) else str(exc)
        print(f"blobflow: error: {message}", file=sys.stderr)
        return EXIT_ERROR
