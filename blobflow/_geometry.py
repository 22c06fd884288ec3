"""Annotation geometry as the platform and the SDK see it: coordinate systems and the checks.

The platform stores figures in a *subpixel* system (a pixel is the unit square from its
corner), the SDK's local ``ann/*.json`` files in a *pixel* system (a pixel is its index). The
SDK converts on every ``annotations.bulk.add`` and back after every ``annotations.info`` /
``annotations.bulk.info`` (``Annotation._to_subpixel_coordinate_system_json`` and
``_to_pixel_coordinate_system_json`` in supervisely 6.74.51); so does the client, with the same
rule for each geometry type:

===============  ==================================  =========================================
geometry         pixel -> subpixel (upload)          subpixel -> pixel (download)
===============  ==================================  =========================================
rectangle        corners sorted, right/bottom + 1    sorted, rounded (0.7 / 0.3), right/bottom
                                                     - 1 (never past left/top)
oriented_bbox    the same, on ``points`` (a list)    the same
points, parts    every x, y + 0.5                    floor; a value equal to the image width
(point, polygon,                                     (x) or height (y) becomes that - 1
line, multi-)
bitmap origin    floor                               floor
graph nodes      floor + 0.5                         as points
===============  ==================================  =========================================

The SDK deep-copies every annotation twice for this; here only the geometry containers of
each object are rebuilt (upload: a new annotation sharing everything else with the caller's;
download: in place, on JSON the client has just parsed).

Shared by the client (conversion, and refusing what the platform would refuse before anything
is registered) and the reference server (the same refusal as a 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from math import ceil, floor
from typing import Any

__all__ = ["to_subpixel", "to_pixel", "annotation_problem", "meta_shapes", "SHAPES"]

_RECTANGLE = "rectangle"
_ORIENTED_BBOX = "oriented_bbox"
_RIGHT_OVERLAP = 0.3
_LEFT_OVERLAP = 1 - _RIGHT_OVERLAP  # the SDK's expression (== 0.7 in binary floating point)

#: The geometry types a meta class may have as its ``shape`` (the SDK's geometry names).
SHAPES = frozenset({
    "alpha_mask", "any", "bitmap", "closed_surface_mesh", "cuboid", "cuboid_2d", "cuboid_3d",
    "graph", "line", "mask_3d", "mesh", "multichannelBitmap", "multipolygon", "oriented_bbox",
    "point", "point_3d", "point_cloud", "polygon", "polyline_3d", "rectangle",
})


# --- pixel -> subpixel (upload) -------------------------------------------------------------


def _sorted2(a: Any, b: Any) -> tuple[Any, Any]:
    """``sorted((a, b))`` (stable: equal values keep their order), without the list."""
    return (b, a) if b < a else (a, b)


def _box_up(pts: list[Any]) -> list[list[Any]]:
    (x0, y0), (x1, y1) = pts[0][:2], pts[1][:2]
    top, bottom = _sorted2(y0, y1)
    left, right = _sorted2(x0, x1)
    return [[left, top], [max(left, right + 1), max(top, bottom + 1)]]


def _half(points: list[Any]) -> list[Any]:
    return [[p[0] + 0.5, p[1] + 0.5, *p[2:]] for p in points]


def _ring_up(ring: Mapping[str, Any], default_interior: bool) -> dict[str, Any]:
    out = dict(ring)
    out["exterior"] = _half(ring["exterior"])
    interior = ring.get("interior")
    if interior is not None or default_interior:
        out["interior"] = [_half(hole) for hole in interior or ()]
    return out


def _is_parts(parts: Any) -> bool:
    """The SDK's ``Geometry._is_multipolygon_parts_json``."""
    return isinstance(parts, list) and all(
        isinstance(p, dict) and isinstance(p.get("exterior"), list)
        and (p.get("interior") is None or isinstance(p.get("interior"), list))
        for p in parts
    )


def _label_up(label: dict[str, Any]) -> dict[str, Any]:
    kind = label.get("geometryType")
    out = dict(label)
    if kind == _RECTANGLE:
        points = label["points"]
        out["points"] = {**points, "exterior": _box_up(points["exterior"])}
    elif kind == _ORIENTED_BBOX:
        out["points"] = _box_up(label["points"])
    else:
        if label.get("points") is not None:
            out["points"] = _ring_up(label["points"], False)
        if label.get("parts") is not None and _is_parts(label["parts"]):
            out["parts"] = [_ring_up(part, True) for part in label["parts"]]
        if label.get("bitmap") is not None:
            origin = label["bitmap"]["origin"]
            out["bitmap"] = {**label["bitmap"], "origin": [floor(origin[0]), floor(origin[1])]}
        if label.get("nodes") is not None:
            out["nodes"] = {
                key: {**node, "loc": [floor(node["loc"][0]) + 0.5, floor(node["loc"][1]) + 0.5]}
                for key, node in label["nodes"].items()
            }
    return out


def to_subpixel(ann: Mapping[str, Any]) -> dict[str, Any]:
    """``ann`` (pixel system, as in ``ann/*.json``) in the platform's subpixel system.

    The caller's annotation is not changed; the result shares everything but the objects'
    geometry with it.
    """
    out = dict(ann)
    out["objects"] = [_label_up(label) for label in ann["objects"]]
    return out


# --- subpixel -> pixel (download) -----------------------------------------------------------


def _round_box(top: Any, left: Any, bottom: Any, right: Any) -> tuple[int, int, int, int]:
    """The SDK's ``Rectangle._round_subpixel_coordinates``."""
    if int(top) == int(bottom) and int(left) == int(right):
        return int(top), int(left), int(bottom), int(right)
    return (
        ceil(top) if top % 1 >= _LEFT_OVERLAP else floor(top),
        ceil(left) if left % 1 >= _LEFT_OVERLAP else floor(left),
        ceil(bottom) if bottom % 1 >= _RIGHT_OVERLAP else floor(bottom),
        ceil(right) if right % 1 >= _RIGHT_OVERLAP else floor(right),
    )


def _box_down(pts: list[Any]) -> list[list[int]]:
    (x0, y0), (x1, y1) = pts[0][:2], pts[1][:2]
    top, bottom = _sorted2(y0, y1)
    left, right = _sorted2(x0, x1)
    # Whole numbers, what the platform returns for boxes drawn in pixels, round to themselves:
    # the check is a quarter of the rounding's cost over a 30,000-image download.
    if not (type(top) is type(left) is type(bottom) is type(right) is int):
        top, left, bottom, right = _round_box(top, left, bottom, right)
    return [[left, top], [max(left, right - 1), max(top, bottom - 1)]]


def _pixel(value: Any, limit: Any) -> int:
    down: int = floor(value)
    return down - 1 if value == limit else down


def _points_down(points: list[Any], width: Any, height: Any) -> None:
    for p in points:
        p[0] = _pixel(p[0], width)
        p[1] = _pixel(p[1], height)


def _ring_down(ring: dict[str, Any], width: Any, height: Any, default_interior: bool) -> None:
    _points_down(ring["exterior"], width, height)
    interior = ring.get("interior")
    if interior is None and default_interior:
        interior = ring["interior"] = []
    for hole in interior or ():
        _points_down(hole, width, height)


def _label_down(label: dict[str, Any], width: Any, height: Any) -> None:
    kind = label.get("geometryType")
    if kind == _RECTANGLE:
        label["points"]["exterior"] = _box_down(label["points"]["exterior"])
    elif kind == _ORIENTED_BBOX:
        label["points"] = _box_down(label["points"])
    else:
        if label.get("points") is not None:
            _ring_down(label["points"], width, height, False)
        if label.get("parts") is not None and _is_parts(label["parts"]):
            for part in label["parts"]:
                _ring_down(part, width, height, True)
        if label.get("bitmap") is not None:
            origin = label["bitmap"]["origin"]
            label["bitmap"]["origin"] = [floor(origin[0]), floor(origin[1])]
        if label.get("nodes") is not None:
            for node in label["nodes"].values():
                loc = node["loc"]
                node["loc"] = [_pixel(loc[0], width), _pixel(loc[1], height)]


def to_pixel(ann: dict[str, Any]) -> dict[str, Any]:
    """``ann`` (subpixel, as the platform returns it) converted IN PLACE to the pixel system,
    with the image size in its ``size`` (a width or height of ``null`` matches no coordinate,
    as in the SDK). Returns ``ann``."""
    size = ann.get("size") or {}
    width, height = size.get("width"), size.get("height")
    for label in ann.get("objects") or ():
        _label_down(label, width, height)
    return ann


# --- what the platform refuses --------------------------------------------------------------


def meta_shapes(meta: Mapping[str, Any]) -> dict[str, str]:
    """class title -> shape of a project meta (JSON)."""
    return {
        c["title"]: c.get("shape", "")
        for c in meta.get("classes") or ()
        if isinstance(c, Mapping) and isinstance(c.get("title"), str)
    }


_NUMBERS = frozenset({int, float})  # JSON numbers (a bool is neither)


#: ``isinstance(x, MAPS)``: parsed JSON objects are dicts, found at once; ``Mapping`` alone goes
#: through the ABC machinery and was a fifth of the time of checking 100,000 annotations.
MAPS = (dict, Mapping)


def _pair(p: Any) -> bool:
    return type(p) is list and len(p) >= 2 and type(p[0]) in _NUMBERS and type(p[1]) in _NUMBERS


def _number_pairs(points: Any, least: int = 0) -> bool:
    return type(points) is list and len(points) >= least and all(map(_pair, points))


def _ring_ok(ring: Any, least: int) -> bool:
    return isinstance(ring, MAPS) and _number_pairs(ring.get("exterior"), least) and (
        ring.get("interior") is None or (
            isinstance(ring.get("interior"), list)
            and all(_number_pairs(hole) for hole in ring["interior"])
        )
    )


def _geometry_problem(label: Mapping[str, Any], kind: str) -> str | None:
    """What is wrong with the geometry fields the coordinate conversion reads, or None."""
    if kind == _RECTANGLE:
        if not _ring_ok(label.get("points"), 2):
            return "points.exterior must hold two [x, y] corners"
    elif kind == _ORIENTED_BBOX:
        if not _number_pairs(label.get("points"), 2):
            return "points must hold two [x, y] corners"
    elif label.get("points") is not None and not _ring_ok(label["points"], 0):
        return "points must be {exterior: [[x, y], ...], interior: [[[x, y], ...], ...]}"
    elif label.get("bitmap") is not None and not (
        isinstance(label["bitmap"], MAPS) and _number_pairs([label["bitmap"].get("origin")])
    ):
        return "bitmap.origin must be [x, y]"
    elif label.get("nodes") is not None and not (
        isinstance(label["nodes"], MAPS) and all(
            isinstance(n, MAPS) and _number_pairs([n.get("loc")])
            for n in label["nodes"].values()
        )
    ):
        return "nodes must map each key to {loc: [x, y]}"
    return None


def annotation_problem(ann: Any, classes: Mapping[str, str] | None) -> str | None:  # noqa: C901 - one check per field, in order
    """Why the platform would refuse this annotation (``"field: reason"``), or None.

    ``classes`` (title -> shape, see :func:`meta_shapes`): each object's class must be in it
    and its ``geometryType`` match the class shape (or the shape be ``any``); ``None`` skips
    the meta checks.
    """
    if not isinstance(ann, MAPS):
        return "annotation: must be a JSON object"
    size = ann.get("size")
    if not isinstance(size, MAPS) or "height" not in size or "width" not in size:
        return "size: must be {height, width}"
    objects = ann.get("objects")
    if not isinstance(objects, list):
        return "objects: must be an array"
    if not isinstance(ann.get("tags", []), list):
        return "tags: must be an array"
    for n, label in enumerate(objects):
        if not isinstance(label, MAPS):
            return f"objects[{n}]: must be an object"
        kind, title = label.get("geometryType"), label.get("classTitle")
        if not isinstance(kind, str):
            return f"objects[{n}].geometryType: must be a string"
        if not isinstance(title, str):
            return f"objects[{n}].classTitle: must be a string"
        if classes is not None:
            if title not in classes:
                return f"objects[{n}].classTitle: class {title!r} is not in the project meta"
            shape = classes[title]
            if shape not in ("any", kind):
                return (f"objects[{n}].geometryType: {kind!r} does not match the shape"
                        f" {shape!r} of class {title!r}")
        if (problem := _geometry_problem(label, kind)) is not None:
            return f"objects[{n}].{problem}"
    return None
