"""Run the seed tutorial's blocks in one namespace, timing each (stdlib only).

Run by path with any Python (blobflow's, or the official SDK's virtualenv): reads
``{"blocks": [...], "package": "...", "block_limit": seconds or null}`` on stdin, imports the
package first (timed apart, as a user's interpreter start-up), executes the blocks in order and
prints one line ``BLOBFLOW_SEED_RESULT {"import": s, "times": [s, ...], "cpu": [s, ...],
"stopped": [i, ...], "peak_rss_mb": n}``: per block the wall time and the process's CPU time
(all its threads; less sensitive than wall time to other work on a shared machine), and the
process's peak resident memory.

A block still running after ``block_limit`` seconds is stopped (its time is then a lower bound,
listed in ``stopped``) and the next block runs: the tutorial's blocks 7 and 8 do not depend on
the one before. This keeps a benchmark finite where a client is quadratic in the image count.
"""

import importlib
import json
import resource
import signal
import sys
import time

RESULT_PREFIX = "BLOBFLOW_SEED_RESULT "


class _Stopped(BaseException):
    """Raised in the block by the alarm (a BaseException: no ``except Exception`` eats it)."""


def _alarm(signum, frame):  # type: ignore[no-untyped-def]
    raise _Stopped


def main() -> None:
    job = json.load(sys.stdin)
    limit = job.get("block_limit")
    t0 = time.perf_counter()
    importlib.import_module(job["package"])
    import_s = time.perf_counter() - t0
    namespace: dict[str, object] = {"__name__": "__seed__"}
    times, cpu, stopped = [], [], []
    signal.signal(signal.SIGALRM, _alarm)
    for i, block in enumerate(job["blocks"], 1):
        t0, c0 = time.perf_counter(), time.process_time()
        if limit:
            signal.setitimer(signal.ITIMER_REAL, float(limit))
        try:
            exec(compile(block, f"<seed block {i}>", "exec"), namespace)
        except _Stopped:
            stopped.append(i)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        print(f"block {i}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {"import": import_s, "times": times, "cpu": cpu, "stopped": stopped,
              "peak_rss_mb": round(peak_mb)}  # fmt: skip
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
