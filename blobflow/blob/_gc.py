"""Pause the cyclic garbage collector around bulk work that allocates many long-lived objects."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic GC inside the block.

    Packing or indexing tens of thousands of entries allocates as many long-lived objects
    (BlobImageInfo, lists, dict entries), which trigger full collections of the whole heap:
    measured at ~30% of pack CPU time for 30,000 files. Nothing created there forms cycles.
    Only for plain functions, never around a ``yield`` to a caller.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
