"""Run the seed tutorial's blocks in one namespace, timing each (stdlib only).

Run by path with any Python (blobflow's, or the official SDK's virtualenv): reads
``{"blocks": [...], "package": "..."}`` on stdin, imports the package first (timed apart, as a
user's interpreter start-up), executes the blocks in order and prints one line
``BLOBFLOW_SEED_RESULT {"import": s, "times": [s, ...]}``.
"""

import importlib
import json
import sys
import time

RESULT_PREFIX = "BLOBFLOW_SEED_RESULT "


def main() -> None:
    job = json.load(sys.stdin)
    t0 = time.perf_counter()
    importlib.import_module(job["package"])
    import_s = time.perf_counter() - t0
    namespace: dict[str, object] = {"__name__": "__seed__"}
    times = []
    for i, block in enumerate(job["blocks"], 1):
        t0 = time.perf_counter()
        exec(compile(block, f"<seed block {i}>", "exec"), namespace)
        times.append(time.perf_counter() - t0)
    print(RESULT_PREFIX + json.dumps({"import": import_s, "times": times}), flush=True)


if __name__ == "__main__":
    main()
