"""The client-side cost of platform fidelity, per 30,000 annotations, all figures in one run.

    python benchmarks/bench_coords.py [--count 30000] [--repeat 5]

Side by side, each the median of ``--repeat`` alternated runs, in ms:

* upload (``annotations.bulk.add`` bodies): encoding the bodies as before, vs checking every
  annotation + converting it to the subpixel system + encoding (what ``upload_jsons`` does
  now), vs the SDK's way of converting (a deep copy of each annotation, then the conversion);
* download (``annotations.bulk.info`` answers): parsing as before, vs parsing + converting to
  the pixel system in place;
* quick_import's pre-check: reading and checking every annotation file against the meta (in
  its worker thread, while the blob uploads);
* the server's header read at registration: size from 30,000 image headers + the tar member
  check (the bytes already in memory; the read itself is one pread each).

Annotations are the bench's (``blobflow.bench._data.render``: 1-3 rectangles) and, for
``--shape mixed``, a rectangle, a point and a 12-point polygon with a hole.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blobflow import _json
from blobflow._geometry import annotation_problem, meta_shapes, to_pixel, to_subpixel
from blobflow.bench._data import meta_json, render
from blobflow.project._check import check_annotations
from blobflow.server._imagesize import HEAD_BYTES, image_size
from blobflow.server._rules import member_problem


def _mixed(n: int) -> dict[str, Any]:
    ring = [[(n + 3 * k) % 60, (7 * k) % 40] for k in range(12)]
    return {"description": "", "size": {"height": 48, "width": 64}, "tags": [], "objects": [
        {"classTitle": "car", "geometryType": "rectangle", "tags": [], "description": "",
         "points": {"exterior": [[n % 30, 2], [n % 30 + 20, 30]], "interior": []}},
        {"classTitle": "person", "geometryType": "point", "tags": [], "description": "",
         "points": {"exterior": [[n % 64, 5]], "interior": []}},
        {"classTitle": "bus", "geometryType": "polygon", "tags": [], "description": "",
         "points": {"exterior": ring, "interior": [ring[:4]]}},
    ]}


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _bodies(anns: list[dict[str, Any]], convert: Callable[[dict[str, Any]], Any] | None,
            classes: dict[str, str] | None) -> None:
    for start in range(0, len(anns), 50):
        chunk = anns[start : start + 50]
        if classes is not None:
            for a in chunk:
                if annotation_problem(a, None) is not None:
                    raise AssertionError
        if convert is not None:
            chunk = [convert(a) for a in chunk]
        _json.dumps({"datasetId": 1, "skipBoundsValidation": False,
                     "annotations": [{"imageId": i, "annotation": a}
                                     for i, a in enumerate(chunk, start)]})


def _sdk_style(ann: dict[str, Any]) -> dict[str, Any]:
    return to_subpixel(copy.deepcopy(ann))  # the SDK deep-copies before converting


def _heads(count: int) -> list[bytes]:
    """512-byte tar header + the first HEAD_BYTES of each bench image."""
    out = []
    for n in range(count):
        data, _ = render(n % 300, 4096, 0)
        info = tarfile.TarInfo(f"img_{n:06d}.png")
        info.size = len(data)
        out.append(info.tobuf(tarfile.USTAR_FORMAT) + data[:HEAD_BYTES])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=30_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--shape", choices=("bench", "mixed"), default="bench")
    args = ap.parse_args()
    base = ([render(n, 4096, 0)[1] for n in range(300)] if args.shape == "bench"
            else [_mixed(n) for n in range(300)])
    anns = [copy.deepcopy(base[n % len(base)]) for n in range(args.count)]
    meta = meta_json() if args.shape == "bench" else {"classes": [
        {"title": t, "shape": s} for t, s in (("car", "rectangle"), ("person", "point"),
                                              ("bus", "polygon"))]}
    classes = meta_shapes(meta)
    answers = [_json.dumps([{"imageId": i, "annotation": a}
                            for i, a in enumerate(to_subpixel(x) for x in anns[s : s + 50])])
               for s in range(0, len(anns), 50)]
    rows: dict[str, list[float]] = {k: [] for k in (
        "upload: encode (before)", "upload: check + convert + encode (now)",
        "upload: deep copy + convert + encode (the SDK's way)",
        "download: parse (before)", "download: parse + convert in place (now)")}
    for _ in range(args.repeat):  # alternate, so drift on a shared machine hits all alike
        rows["upload: encode (before)"].append(_median_ms(lambda: _bodies(anns, None, None), 1))
        rows["upload: check + convert + encode (now)"].append(
            _median_ms(lambda: _bodies(anns, to_subpixel, classes), 1))
        rows["upload: deep copy + convert + encode (the SDK's way)"].append(
            _median_ms(lambda: _bodies(anns, _sdk_style, None), 1))
        rows["download: parse (before)"].append(
            _median_ms(lambda: [_json.loads(a) for a in answers], 1))
        rows["download: parse + convert in place (now)"].append(_median_ms(
            lambda: [to_pixel(r["annotation"]) for a in answers for r in _json.loads(a)], 1))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n, ann in enumerate(anns):
            path = os.path.join(tmp, f"{n}.json")
            with open(path, "wb") as f:
                f.write(_json.dumps(ann))
            paths.append(path)
        check = _median_ms(lambda: check_annotations(((p, p) for p in paths), meta), args.repeat)
    heads = _heads(min(args.count, 30_000))

    def server_side() -> None:
        for n, head in enumerate(heads):
            size = len(head) - 512  # only the header's size field is compared
            member_problem(head[:512], 512 * (n + 1), 512 * (n + 1) + size)
            image_size(head[512:])

    header = _median_ms(server_side, args.repeat)
    print(f"{args.count} annotations ({args.shape}), median of {args.repeat} alternated runs:")
    for name, values in rows.items():
        print(f"  {name:58s} {statistics.median(values):8.1f} ms")
    print(f"  {'quick_import pre-check: read + check every file':58s} {check:8.1f} ms")
    print(f"  {'server: member check + size from the header, per image':58s}"
          f" {header / len(heads) * 1000:8.2f} us")
    print(json.dumps({k: round(statistics.median(v), 1) for k, v in rows.items()}))


if __name__ == "__main__":
    main()
