"""The repository's fixture copies stay byte-identical to ``../shared`` (checked when present)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
COPIES = {"sdk": SHARED / "fixtures" / "sdk", "seed": SHARED / "seed"}


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", sorted(COPIES))
def test_copy_matches_shared(name: str) -> None:
    original = COPIES[name]
    if not original.is_dir():
        pytest.skip(f"{original} is not beside the repository (a fresh clone): nothing to compare")
    assert _digests(FIXTURES / name) == _digests(original)


def test_copies_are_present() -> None:
    assert (FIXTURES / "sdk" / "blob" / "small_images.tar").is_file()
    assert (FIXTURES / "seed" / "optimized-import-of-small-images.md").is_file()
