"""Reliability tests import their tools from ``benchmarks/reliability`` (shared with CI): the
tests are a package, so pytest puts the repository root (its parent) on ``sys.path``."""

from __future__ import annotations

import pytest


@pytest.fixture
def backend(each_backend: str) -> str:
    """The reliability suites run on each server backend (see tests/conftest.py)."""
    return each_backend
