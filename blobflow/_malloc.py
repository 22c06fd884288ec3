"""Fewer C heap arenas in a transfer process: for the faces (the ``blobflow`` command's
transfers and the bench's children), never called by the library.

glibc gives each thread that allocates its own heap arena, up to eight per core. A transfer's
worker threads (file reads, packing, checks) each fill one, and what they free stays there in
pieces the next allocations of other threads cannot use, so the resident size grows with the
length of the job, not with what it holds. Measured, peak RSS of a ``quick_import`` of the
bench's images (``benchmarks`` sweep conditions, one run each; the same time either way):
100,000 images 236-263 MB with glibc's default, 174-193 MB with one or two arenas; 300,000
images 289-317 MB, 203 MB with two.

A library must not change its host's allocator: an application embedding blobflow sets
``MALLOC_ARENA_MAX=2`` in its environment for the same effect (docs: Client and engine).
"""

from __future__ import annotations

import os
import sys

__all__ = ["limit_malloc_arenas"]

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas(count: int = 2) -> bool:
    """Cap glibc's heap arenas at ``count`` for this process (before its threads start).

    True if set; False on another C library or platform, or when ``MALLOC_ARENA_MAX`` is
    already in the environment (the user's choice wins)."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    import ctypes  # only here: ~3 ms that the commands which do not transfer never pay

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, count))
