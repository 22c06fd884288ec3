"""``sly.json``: JSON files as the SDK reads and writes them."""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["dump_json_file", "load_json_file"]


def load_json_file(filename: str | os.PathLike[str]) -> Any:
    """Decode a JSON file. A folder or a missing file is an ``OSError`` naming it; text that
    is not JSON a ``RuntimeError`` with the position (the SDK's errors)."""
    if os.path.isdir(filename):
        raise IsADirectoryError(f"The path {filename} is a directory, not a file.")
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"File with path {filename} was not found.")
    with open(filename, encoding="utf-8") as fin:
        try:
            return json.load(fin)
        except json.JSONDecodeError as e:
            raise RuntimeError(
                f"Can not decode json file with path {filename}: {e.msg} at line number: "
                f"{e.lineno}, column: {e.colno}, position: {e.pos}"
            ) from None


def dump_json_file(data: Any, filename: str | os.PathLike[str], indent: int | None = 4) -> None:
    """Write ``data`` as JSON (indented by 4 by default, as the SDK)."""
    with open(filename, "w") as fout:
        json.dump(data, fout, indent=indent)
