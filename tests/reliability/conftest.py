"""Reliability tests import their tools from ``benchmarks/reliability`` (shared with CI)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # plain `pytest` (not `python -m pytest`) does not add the repo root
    sys.path.insert(0, _ROOT)


@pytest.fixture
def backend(each_backend: str) -> str:
    """The reliability suites run on each server backend (see tests/conftest.py)."""
    return each_backend
