"""Calls a lower layer offers under the SDK's names but a higher layer implements.

The SDK puts ``quick_import`` on ``api.dataset``; in blobflow it is a project flow, and the
client must not import the layer above it. So the flow's module registers it here
(:func:`provide`) and ``api.dataset.quick_import`` looks it up (:func:`provided`). Packages load
their modules lazily, so the lookup first imports the module known to provide the name: the
one place where a name of a higher layer is written down below it, as data.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["provide", "provided"]

_PROVIDED: dict[str, Callable[..., Any]] = {}
_PROVIDERS = {"dataset.quick_import": "blobflow.project._quick_import"}


def provide(name: str, fn: Callable[..., Any]) -> None:
    """Register ``fn`` as the implementation of ``name`` (e.g. ``"dataset.quick_import"``)."""
    _PROVIDED[name] = fn


def provided(name: str) -> Callable[..., Any]:
    if name not in _PROVIDED:
        importlib.import_module(_PROVIDERS[name])  # registers it (provide) on import
    return _PROVIDED[name]
