"""Helpers for the project tests: small image folders and the SDK's own Python."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

SDK_PYTHON = Path(os.environ.get("BLOBFLOW_SDK_PYTHON", "/tmp/sdkvenv/bin/python"))


def png_bytes(seed: int, size: tuple[int, int] = (20, 16)) -> bytes:
    """A small, distinct PNG (width x height = size)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def make_image_folder(folder: Path, count: int, prefix: str = "img") -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i in range(count):
        name = f"{prefix}_{i:04d}.png"
        data = png_bytes(i)
        (folder / name).write_bytes(data)
        out[name] = data
    return out


def run_sdk(script: str, *args: str, cwd: str = "/") -> Any:
    """Run a snippet in the official SDK's virtualenv; it prints one JSON document.

    cwd is "/" because the SDK drops the leading "/" of nested dataset paths (spec §13.1).
    """
    if not SDK_PYTHON.is_file():
        pytest.skip(f"official SDK python not found at {SDK_PYTHON} (set BLOBFLOW_SDK_PYTHON)")
    proc = subprocess.run(
        [str(SDK_PYTHON), "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


SDK_READ_ALL = r"""
import hashlib, json, os, sys
import supervisely as sly
project = sly.Project(sys.argv[1], sly.OpenMode.READ)
out = {}
for ds in project.datasets:
    items = {}
    for name in ds.get_items_names():
        img_path = ds.get_img_path(name)
        if os.path.isfile(img_path):
            data = open(img_path, "rb").read()
        else:
            data = ds.get_blob_img_bytes(name)
        items[name] = hashlib.sha256(data).hexdigest() if data is not None else None
        ds.get_ann(name, project.meta)
    out[ds.name] = items
print(json.dumps(out))
"""
