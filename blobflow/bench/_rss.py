"""Peak resident memory of a process, for the benchmarks.

``VmHWM`` from ``/proc/<pid>/status``: ``ru_maxrss`` is no use for a child process, because
Linux carries the parent's peak across fork and exec (a child of a 500 MB parent reports
500 MB while its own ``VmHWM`` is 14 MB).
"""

from __future__ import annotations

import resource

__all__ = ["peak_rss_mb"]


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak RSS in MiB of ``pid`` (default: this process); 0.0 if another process is gone.

    Without ``/proc`` (not Linux) this process falls back to ``ru_maxrss``.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if pid != "self":
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
