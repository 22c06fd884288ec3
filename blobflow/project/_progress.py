"""tqdm bars for the project flows: one place decides whether bars are shown."""

from __future__ import annotations

from typing import Any, TypeVar

from tqdm import tqdm

__all__ = ["bar"]

T = TypeVar("T")


class _NoBar:
    """Stands in for a hidden bar: building a tqdm at all touches locks and multiprocessing."""

    total: float | None = None

    def refresh(self) -> None:
        pass

    def update(self, n: float = 1) -> None:
        pass

    def close(self) -> None:
        pass


def bar(desc: str, total: int | None, *, enabled: bool, unit: str = "it") -> Any:
    """An items bar (``unit="it"``) or a bytes bar (``unit="B"``, scaled); a no-op if disabled.

    The bars draw on stderr from the event loop thread: a few short writes a second
    (tqdm's ``mininterval``), only in interactive runs.
    """
    if not enabled:
        return _NoBar()
    return tqdm(
        desc=desc,
        total=total,
        unit=unit,
        unit_scale=unit == "B",
        unit_divisor=1024 if unit == "B" else 1000,
        leave=False,
        dynamic_ncols=True,
    )
