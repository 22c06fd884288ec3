"""The ``live`` server for CLI tests: a reference server on a thread, with the CLI's
environment (``SERVER_ADDRESS``, ``API_TOKEN``) pointing at it and the test's folder as cwd."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def live(thread_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("SERVER_ADDRESS", thread_server.address)
    monkeypatch.setenv("API_TOKEN", thread_server.token)
    monkeypatch.chdir(tmp_path)
    yield thread_server
