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
# --- end server command ------------------------------------------------------------------

# --- transfer commands (upload, download, import-blob) -----------------------------------
# --- end transfer commands ---------------------------------------------------------------

# --- benchmark command (bench) -----------------------------------------------------------
# --- end benchmark command ---------------------------------------------------------------

# Each entry adds one sub-command's parser and returns its handler.
_COMMANDS: list[Callable[[Any], None]] = []


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
