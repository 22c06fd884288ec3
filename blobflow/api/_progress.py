"""``progress_cb`` normalisation: a tqdm bar, a callable taking a count, or None."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Progress", "ProgressCallback"]

#: A tqdm-like object with ``update(n)`` or a callable ``f(n)``; counts items or bytes.
ProgressCallback = Callable[[int], Any] | Any | None


class Progress:
    """Counts done units and forwards increments to the user's callback.

    ``rewind(n)`` sends a negative increment: a retried upload or a restarted download re-sends
    bytes that were already counted, and the bar must not pass 100 %.
    """

    __slots__ = ("_cb", "done")

    def __init__(self, cb: ProgressCallback = None) -> None:
        if isinstance(cb, Progress):  # nested: count into the outer progress
            self._cb: Callable[[int], Any] | None = cb.advance
        elif cb is not None and hasattr(cb, "update") and callable(cb.update):
            self._cb = cb.update
        elif cb is None or callable(cb):
            self._cb = cb
        else:
            raise TypeError(f"progress_cb must be a tqdm-like object or a callable, not {cb!r}")
        self.done = 0

    def __bool__(self) -> bool:
        return self._cb is not None

    def advance(self, n: int) -> None:
        if n:
            self.done += n
            if self._cb is not None:
                self._cb(n)

    def rewind(self, n: int) -> None:
        self.advance(-n)
