"""``python -m blobflow.server``: the same server as ``blobflow serve``."""

from __future__ import annotations

import argparse
import sys

from blobflow.server import add_serve_arguments, run_serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blobflow.server")
    add_serve_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON line when ready")
    parser.add_argument("--quiet", "-q", action="store_true")
    return run_serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
