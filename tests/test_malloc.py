"""The C heap arena cap the transfer commands set (``blobflow/_malloc.py``)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest

from blobflow import _malloc
from blobflow.cli import main


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert _malloc.limit_malloc_arenas() is False


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's mallopt",
)
def test_glibc_takes_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert _malloc.limit_malloc_arenas() is True


@pytest.mark.parametrize(
    ("argv", "capped"),
    [
        (["upload", "missing-folder", "--workspace", "1", "--quiet"], True),
        (["download", "1", "out", "--quiet"], True),
        (["ls", "missing.tar"], False),
        (["pack", "missing-folder", "out.tar"], False),
    ],
)
def test_only_the_transfers_cap_the_arenas(
    argv: list[str], capped: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(_malloc, "limit_malloc_arenas", lambda count=2: calls.append(count))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SERVER_ADDRESS", "http://127.0.0.1:9")  # nothing listens: fails fast
    monkeypatch.setenv("API_TOKEN", "t")
    main(argv)  # each fails (missing input or no server); what counts is the cap before it
    assert calls == ([2] if capped else [])
