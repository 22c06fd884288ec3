"""What ``blobflow bench`` is doing, and about how long is left, printed as it goes.

The harness plans its steps up front (per run: start-up and limits, each timed strategy, the
clean-up); :class:`Progress` prints a line when a step starts and when it ends, with an
estimate of the time left. A step already timed in an earlier run is expected to take as long
again; one not timed yet is expected to take its prior (seconds per 1,000 images, measured on a
2-core machine) scaled by how the steps so far compared with their priors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Progress", "Step", "format_duration", "prior_seconds"]

# Seconds per 1,000 images of each step, its child process and verification included, on the
# 2-core development machine at a load average of ~5 (corrected by the steps timed so far).
_PRIOR_PER_1000: dict[tuple[str, str, str], float] = {
    ("setup", "", ""): 0.1,  # the server's start and the limits
    ("cleanup", "", ""): 0.15,  # the server's stop, its data removed, partial results written
    ("upload", "standard", "blobflow"): 1.2,
    ("upload", "blob", "blobflow"): 0.17,
    ("upload", "quick", "blobflow"): 0.13,
    ("download", "standard", "blobflow"): 0.3,
    ("download", "blob", "blobflow"): 0.25,
    ("download", "fast", "blobflow"): 0.25,
    ("upload", "standard", "sdk"): 1.3,
    ("upload", "blob", "sdk"): 0.45,
    ("upload", "quick", "sdk"): 0.42,
    ("download", "standard", "sdk"): 0.66,
    ("download", "blob", "sdk"): 0.66,
    ("download", "fast", "sdk"): 2.0,
    ("recording", "upload", ""): 0.15,
    ("recording", "download", ""): 0.3,
    ("floor", "upload", ""): 0.1,
    ("floor", "download", ""): 0.3,
}
_PRIOR_FIXED = 2.0  # seconds every step costs whatever its size (a child process, a server)


def prior_seconds(key: tuple[str, str, str], images: int) -> float:
    """The expected seconds of a step never timed on this machine."""
    kind, a, _b = key
    per_1000 = _PRIOR_PER_1000.get(key) or _PRIOR_PER_1000.get((kind, a, ""), 0.5)
    return _PRIOR_FIXED + per_1000 * images / 1000


def format_duration(seconds: float) -> str:
    """``"2 min 05 s"``, ``"45 s"``: what a person reads at a glance."""
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


@dataclass(frozen=True)
class Step:
    """One step: ``key`` is (direction, strategy, client) for a timed strategy, else
    ("setup" | "cleanup", "", ""), ("source", strategy, client), ("recording", direction, "")
    or ("floor", direction, requests in flight)."""

    run: int
    key: tuple[str, str, str]

    @property
    def label(self) -> str:
        kind, a, b = self.key
        if kind == "setup":
            return "starting the server, measuring the limits"
        if kind == "cleanup":
            return "stopping the server, cleaning up"
        if kind == "source":
            return f"a {b} {a} upload for the downloads (untimed)"
        if kind == "recording":
            return f"recording a blobflow {a} for its floor (untimed)"
        if kind == "floor":
            return f"{a} floor ({b} in flight)"
        return f"{kind} {a} ({b})"


class Progress:
    """Prints each step's start and end with the time elapsed and an estimate of what is left.

    With ``live`` (a terminal), a step's start line is rewritten in place by its end line;
    otherwise both are separate lines for ``log`` (a log file shows what hangs, if anything).
    """

    def __init__(
        self,
        plan: Sequence[Step],
        images: int,
        runs: int,
        log: Callable[[str], None],
        *,
        live: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pending = list(plan)
        self._images, self._runs, self._log, self._clock = images, runs, log, clock
        self._live = live
        self._started = clock()
        self._current: tuple[Step, float] | None = None
        self._taken: dict[tuple[str, str, str], list[float]] = {}
        self._actual = 0.0  # seconds of finished steps that had only a prior before
        self._expected = 0.0  # and what their priors said

    def announce(self, what: str) -> None:
        """The plan in one line, with the first estimate of the whole."""
        self._log(f"{what}: about {format_duration(self.remaining())} on this machine")

    def begin(self, step: Step) -> None:
        self._current = (step, self._clock())
        line = f"{self._stamp()} run {step.run + 1}/{self._runs}: {step.label} ..."
        if self._live is not None:
            self._live.write(f"\r\033[K{line}")
            self._live.flush()
        else:
            self._log(line)

    def end(self, step: Step, outcome: str = "") -> float:
        """Record a finished step (planned or not); return its seconds."""
        started = self._current[1] if self._current and self._current[0] == step else None
        seconds = self._clock() - (self._started if started is None else started)
        self._current = None
        if step in self._pending:
            self._pending.remove(step)
        if step.key not in self._taken:
            self._actual += seconds
            self._expected += prior_seconds(step.key, self._images)
        self._taken.setdefault(step.key, []).append(seconds)
        left = f" · about {format_duration(self.remaining())} left" if self._pending else ""
        detail = f": {outcome}" if outcome else ""
        line = f"{self._stamp()} run {step.run + 1}/{self._runs}: {step.label}{detail}{left}"
        if self._live is not None:
            self._live.write(f"\r\033[K{line}\n")
            self._live.flush()
        else:
            self._log(line)
        return seconds

    def remaining(self) -> float:
        """Seconds the pending steps are expected to take."""
        speed = min(5.0, max(0.3, self._actual / self._expected)) if self._expected else 1.0
        total = 0.0
        for step in self._pending:
            taken = self._taken.get(step.key)
            if taken:
                total += sum(taken) / len(taken)
            else:
                total += prior_seconds(step.key, self._images) * speed
        return total

    def _stamp(self) -> str:
        minutes, secs = divmod(int(self._clock() - self._started), 60)
        return f"[{minutes}:{secs:02d}]"
