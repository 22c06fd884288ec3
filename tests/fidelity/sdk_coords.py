"""Run by the SDK's interpreter: read annotations (JSON list) on stdin, print what the SDK's
own conversions make of them: ``[[subpixel, pixel-of-input], ...]`` (an error as a string)."""

import json
import sys

from supervisely.annotation.annotation import Annotation


def attempt(fn, ann):
    try:
        return fn(ann)
    except Exception as exc:
        return f"error: {type(exc).__name__}"


out = [
    [
        attempt(Annotation._to_subpixel_coordinate_system_json, ann),
        attempt(Annotation._to_pixel_coordinate_system_json, ann),
    ]
    for ann in json.load(sys.stdin)
]
json.dump(out, sys.stdout)
