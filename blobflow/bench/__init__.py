"""blobflow.bench: the ``blobflow bench`` harness (standard vs blob vs quick/fast, with limits).

See docs/benchmarks.md for what is measured and the ``results.json`` shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow.bench._data import (
        BenchData,
        DataSpec,
        ensure_data,
    )
    from blobflow.bench._report import (
        ORDER,
        format_table,
        write_outputs,
    )
    from blobflow.bench._run import (
        HEADLINE,
        PROFILES,
        BenchOptions,
        format_sweep,
        run_bench,
        run_sweep,
    )

__all__ = [
    "HEADLINE",
    "ORDER",
    "PROFILES",
    "BenchData",
    "BenchOptions",
    "DataSpec",
    "ensure_data",
    "format_sweep",
    "format_table",
    "run_bench",
    "run_sweep",
    "write_outputs",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow.bench._data": (
                "BenchData",
                "DataSpec",
                "ensure_data",
            ),
            "blobflow.bench._report": (
                "ORDER",
                "format_table",
                "write_outputs",
            ),
            "blobflow.bench._run": (
                "HEADLINE",
                "PROFILES",
                "BenchOptions",
                "format_sweep",
                "run_bench",
                "run_sweep",
            ),
        },
    )
