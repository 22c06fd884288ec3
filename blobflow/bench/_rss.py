"""Peak resident memory and CPU time of a process, for the benchmarks.

``VmHWM`` from ``/proc/<pid>/status``: ``ru_maxrss`` is no use for a child process, because
Linux carries the parent's peak across fork and exec (a child of a 500 MB parent reports
500 MB while its own ``VmHWM`` is 14 MB).
"""

from __future__ import annotations

import resource

__all__ = ["cpu_seconds", "peak_rss_mb", "process_cpu_seconds"]


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


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children (writer child, tar)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU so far of another process (``/proc/<pid>/stat``); None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
