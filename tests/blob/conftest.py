"""Helpers for the blob format tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def make_tree(tmp_path: Path) -> Callable[[dict[str, bytes]], Path]:
    """Write {relative path: bytes} under a fresh folder and return it."""

    def make(files: dict[str, bytes]) -> Path:
        root = tmp_path / f"src{len(list(tmp_path.iterdir()))}"
        root.mkdir()
        for rel, data in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        return root

    return make
