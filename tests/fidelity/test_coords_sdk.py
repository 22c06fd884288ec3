"""The client's coordinate conversions against the SDK's own, over many random geometries.

The SDK runs as a subprocess (``BLOBFLOW_SDK_PYTHON``); each annotation is converted both ways
by both, and the results compared as canonical JSON (so an int and a float differ).
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blobflow._geometry import annotation_problem, to_pixel, to_subpixel

SCRIPT = Path(__file__).with_name("sdk_coords.py")


def _sdk_python() -> str:
    python = os.environ.get("BLOBFLOW_SDK_PYTHON")
    if not python or not os.access(python, os.X_OK):
        pytest.skip("BLOBFLOW_SDK_PYTHON is not set (the official SDK's python)")
    return python


def _coord(rng: random.Random, limit: int) -> Any:
    pick = rng.random()
    if pick < 0.15:
        return limit  # on the far edge: the download rule's special case
    if pick < 0.25:
        return float(limit)
    if pick < 0.3:
        return 0
    if pick < 0.65:
        return rng.randint(0, limit)
    # subpixel values, including .3/.7 boundaries the rectangle rounding tests
    return rng.choice([round(rng.uniform(0, limit), 2), rng.randint(0, limit) + rng.choice(
        [0.3, 0.7, 0.29, 0.71, 0.5, 0.0, 0.999])])


def _pt(rng: random.Random, w: int, h: int) -> list[Any]:
    return [_coord(rng, w), _coord(rng, h)]


def _label(rng: random.Random, w: int, h: int) -> dict[str, Any]:
    kind = rng.choice(["rectangle", "oriented_bbox", "point", "polygon", "line", "bitmap",
                       "graph", "multipolygon", "rectangle"])
    label: dict[str, Any] = {"id": rng.randint(1, 10**6), "classTitle": kind,
                             "geometryType": kind, "tags": [], "description": ""}
    if kind == "rectangle":
        label["points"] = {"exterior": [_pt(rng, w, h), _pt(rng, w, h)], "interior": []}
    elif kind == "oriented_bbox":
        label["points"] = [_pt(rng, w, h), _pt(rng, w, h)]
        label["angle"] = rng.uniform(-3, 3)
    elif kind in ("point", "polygon", "line"):
        n = {"point": 1, "polygon": rng.randint(3, 7), "line": rng.randint(2, 5)}[kind]
        holes = [[_pt(rng, w, h) for _ in range(3)] for _ in range(rng.randint(0, 2))]
        label["points"] = {"exterior": [_pt(rng, w, h) for _ in range(n)],
                           "interior": holes if kind == "polygon" else []}
    elif kind == "bitmap":
        label["bitmap"] = {"origin": _pt(rng, w, h), "data": "eJwDAAAAAAE="}
    elif kind == "graph":
        label["nodes"] = {f"n{i}": {"loc": _pt(rng, w, h)} for i in range(rng.randint(1, 4))}
    else:
        label["parts"] = [
            {"exterior": [_pt(rng, w, h) for _ in range(3)],
             **({"interior": [[_pt(rng, w, h) for _ in range(3)]]} if rng.random() < 0.5 else {})}
            for _ in range(rng.randint(1, 3))
        ]
    return label


def _annotations(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        w, h = rng.randint(1, 40), rng.randint(1, 40)
        size = {"height": h, "width": w} if rng.random() < 0.9 else {"height": None, "width": None}
        out.append({"description": "", "size": size, "tags": [],
                    "objects": [_label(rng, w, h) for _ in range(rng.randint(0, 4))]})
    return out


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _ours(fn: Any, ann: dict[str, Any]) -> Any:
    try:
        return fn(ann)
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conversions_equal_the_sdks(seed: int) -> None:
    python = _sdk_python()
    anns = _annotations(seed, 700)
    done = subprocess.run(
        [python, str(SCRIPT)], input=json.dumps(anns), capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout)
    assert len(theirs) == len(anns)
    checked = 0
    for ann, (sdk_up, sdk_down) in zip(anns, theirs, strict=True):
        before = _canon(ann)
        up = _ours(to_subpixel, ann)
        assert _canon(ann) == before, "to_subpixel changed the caller's annotation"
        assert _canon(up) == _canon(sdk_up), (ann, up, sdk_up)
        down = _ours(to_pixel, copy.deepcopy(ann))
        assert _canon(down) == _canon(sdk_down), (ann, down, sdk_down)
        checked += len(ann["objects"])
    assert checked > 1000


def test_the_issue_box() -> None:
    """The box from the issue: ``[[1,1],[6,5]]`` in a local file is ``[[1,1],[7,6]]`` on the
    platform, and comes back as it was."""
    ann = {"size": {"height": 10, "width": 10}, "tags": [], "objects": [
        {"classTitle": "c", "geometryType": "rectangle",
         "points": {"exterior": [[1, 1], [6, 5]], "interior": []}}]}
    up = to_subpixel(ann)
    assert up["objects"][0]["points"]["exterior"] == [[1, 1], [7, 6]]
    assert to_pixel(up)["objects"][0]["points"]["exterior"] == [[1, 1], [6, 5]]


def test_points_on_the_far_edge_come_back_inside() -> None:
    ann = {"size": {"height": 5, "width": 8}, "objects": [
        {"classTitle": "p", "geometryType": "point",
         "points": {"exterior": [[8, 5]], "interior": []}}]}
    assert to_pixel(ann)["objects"][0]["points"]["exterior"] == [[7, 4]]


@pytest.mark.parametrize(("ann", "field"), [
    ({"objects": []}, "size"),
    ({"size": {"height": 1, "width": 1}}, "objects"),
    ({"size": {"height": 1, "width": 1}, "objects": [{"geometryType": "point"}]},
     "objects[0].classTitle"),
    ({"size": {"height": 1, "width": 1}, "objects": [
        {"classTitle": "nope", "geometryType": "point", "points": {"exterior": [[1, 1]]}}]},
     "objects[0].classTitle: class 'nope'"),
    ({"size": {"height": 1, "width": 1}, "objects": [
        {"classTitle": "box", "geometryType": "polygon", "points": {"exterior": [[1, 1]]}}]},
     "objects[0].geometryType"),
    ({"size": {"height": 1, "width": 1}, "objects": [
        {"classTitle": "box", "geometryType": "rectangle", "points": {"exterior": [[1, 1]]}}]},
     "objects[0].points.exterior"),
])
def test_annotation_problems_name_the_field(ann: dict[str, Any], field: str) -> None:
    problem = annotation_problem(ann, {"box": "rectangle", "any": "any"})
    assert problem is not None and problem.startswith(field), problem


def test_a_good_annotation_has_no_problem() -> None:
    ann = {"size": {"height": 1, "width": 1}, "tags": [], "objects": [
        {"classTitle": "box", "geometryType": "rectangle",
         "points": {"exterior": [[1, 1], [2, 2]], "interior": []}},
        {"classTitle": "any", "geometryType": "point",
         "points": {"exterior": [[1, 1]], "interior": []}}]}
    assert annotation_problem(ann, {"box": "rectangle", "any": "any"}) is None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
