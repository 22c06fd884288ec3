"""Lazy re-exports for the public packages: ``import blobflow`` stays cheap.

A package lists what it re-exports as ``{module: (name, ...)}`` and installs the module-level
``__getattr__`` / ``__dir__`` that :func:`attach` returns. A name's module is imported the
first time the name is read (then cached in the package), so ``blobflow --help`` or
``blobflow pack`` never pays for aiohttp or numpy. Each package keeps a literal ``__all__``
and the same imports under ``if TYPE_CHECKING:``, so type checkers and the docs see ordinary
re-exports; a test checks the three lists agree.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping

__all__ = ["attach"]


def attach(
    package: str, exports: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package`` re-exporting ``exports`` lazily."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
            setattr(sys.modules[package], name, value)  # later reads are plain lookups
            return value
        if not name.startswith("__"):
            # A submodule (``blobflow.engine``) reads as an attribute, as it did when the
            # package imported everything eagerly.
            qualified = f"{package}.{name}"
            try:
                return importlib.import_module(qualified)
            except ModuleNotFoundError as exc:
                if exc.name != qualified:
                    raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
