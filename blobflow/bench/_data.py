"""Deterministic benchmark data: N small PNG/JPEG images, a Supervisely annotation each, a meta.

Generated once per (images, image_kb, seed) and cached, so every strategy, every run and every
client (blobflow or the SDK) moves exactly the same bytes. Layout of a cached data set::

    <root>/img/img_0000000.png ...     the images (a flat folder, about 2/3 PNG, 1/3 JPEG)
    <root>/ann/img_0000000.png.json    one Supervisely annotation per image (1-3 rectangles)
    <root>/meta.json                   the project meta (the rectangle classes)
    <root>/manifest.tsv                name, size, sha256 of every image (for verification)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["BenchData", "DataSpec", "ManifestEntry", "default_cache_dir", "ensure_data"]

# Bump when the generator changes, so stale caches are not reused.
_GENERATOR_VERSION = 1
_CLASSES = ("car", "person", "sign")
_COLORS = ("#0F7B8A", "#8A0F3C", "#C7A21B")
_CHUNK = 2000


@dataclass(frozen=True)
class DataSpec:
    images: int
    image_kb: float = 4.0
    seed: int = 0

    @property
    def key(self) -> str:
        raw = f"v{_GENERATOR_VERSION}-{self.images}-{self.image_kb}-{self.seed}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BenchData:
    """A generated, cached data set (read-only: strategies copy or pack, never modify it)."""

    root: Path
    spec: DataSpec
    total_bytes: int

    @property
    def img_dir(self) -> Path:
        return self.root / "img"

    @property
    def ann_dir(self) -> Path:
        return self.root / "ann"

    @property
    def meta_path(self) -> Path:
        return self.root / "meta.json"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.tsv"

    @property
    def avg_image_bytes(self) -> float:
        return self.total_bytes / max(1, self.spec.images)

    def manifest(self) -> Iterator[ManifestEntry]:
        """Every image's name, size and sha256, in name order (streamed: fine for a million)."""
        with self.manifest_path.open(encoding="utf-8") as f:
            for line in f:
                name, size, digest = line.rstrip("\n").split("\t")
                yield ManifestEntry(name, int(size), digest)

    def manifest_dict(self) -> dict[str, ManifestEntry]:
        return {e.name: e for e in self.manifest()}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "blobflow" / "bench"


def image_name(index: int) -> str:
    return f"img_{index:07d}.{'jpg' if index % 3 == 2 else 'png'}"


def meta_json() -> dict[str, Any]:
    classes = [
        {
            "title": title,
            "description": "",
            "shape": "rectangle",
            "color": color,
            "geometry_config": {},
            "hotkey": "",
        }
        for title, color in zip(_CLASSES, _COLORS, strict=True)
    ]
    return {"classes": classes, "tags": []}


def _rect_object(cls: str, left: int, top: int, right: int, bottom: int) -> dict[str, Any]:
    return {
        "classTitle": cls,
        "description": "",
        "tags": [],
        "points": {"exterior": [[left, top], [right, bottom]], "interior": []},
        "geometryType": "rectangle",
        "shape": "rectangle",
        "nnCreated": False,
        "nnUpdated": False,
    }


def render(index: int, target_bytes: float, seed: int) -> tuple[bytes, dict[str, Any]]:
    """One image (noise plus 1-3 filled rectangles) and its annotation, deterministic by index."""
    rng = np.random.default_rng([seed, index])
    jpeg = index % 3 == 2
    target = target_bytes * rng.uniform(0.6, 1.4)
    # Bytes per pixel of this noise at these settings, measured; the rectangles compress away.
    pixels = target / (1.3 if jpeg else 3.0) / 0.75
    width = max(8, int(pixels**0.5 * rng.uniform(0.8, 1.25)))
    height = max(8, int(pixels / width))
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    draw = ImageDraw.Draw(image)
    objects = []
    for _ in range(int(rng.integers(1, 4))):
        left, top = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        right, bottom = int(rng.integers(left + 2, width)), int(rng.integers(top + 2, height))
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.rectangle((left, top, right, bottom), fill=color)
        cls = _CLASSES[int(rng.integers(0, len(_CLASSES)))]
        objects.append(_rect_object(cls, left, top, right, bottom))
    out = io.BytesIO()
    if jpeg:
        image.save(out, "JPEG", quality=90)
    else:
        image.save(out, "PNG", compress_level=1)
    ann = {
        "description": "",
        "size": {"height": height, "width": width},
        "tags": [],
        "objects": objects,
        "customBigData": {},
    }
    return out.getvalue(), ann


def _write_chunk(root: str, start: int, stop: int, target: float, seed: int) -> list[str]:
    """Worker: render images [start, stop) into root; return their manifest lines."""
    img_dir, ann_dir = Path(root) / "img", Path(root) / "ann"
    lines = []
    for index in range(start, stop):
        name = image_name(index)
        data, ann = render(index, target, seed)
        (img_dir / name).write_bytes(data)
        (ann_dir / f"{name}.json").write_text(json.dumps(ann), encoding="utf-8")
        lines.append(f"{name}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}\n")
    return lines


def _write_chunk_args(args: tuple[str, int, int, float, int]) -> list[str]:
    return _write_chunk(*args)


def ensure_data(
    spec: DataSpec,
    cache_dir: Path | None = None,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> BenchData:
    """The cached data set for spec, generated first if needed (atomic: temp + rename)."""
    if spec.images < 1:
        raise ValueError("the benchmark needs at least one image")
    cache = cache_dir or default_cache_dir()
    root = cache / spec.key
    if not (root / "manifest.tsv").is_file():
        _generate(spec, root, workers=workers, progress=progress)
    total = sum(e.size for e in BenchData(root, spec, 0).manifest())
    return BenchData(root, spec, total)


def _generate(
    spec: DataSpec,
    root: Path,
    *,
    workers: int | None,
    progress: Callable[[int], None] | None,
) -> None:
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "img").mkdir(parents=True)
    (tmp / "ann").mkdir()
    (tmp / "meta.json").write_text(json.dumps(meta_json(), indent=2), encoding="utf-8")
    target = spec.image_kb * 1024
    chunks = [(i, min(i + _CHUNK, spec.images)) for i in range(0, spec.images, _CHUNK)]
    workers = workers or min(4, os.cpu_count() or 1)
    with (
        ProcessPoolExecutor(max_workers=workers) as pool,
        (tmp / "manifest.tsv").open("w", encoding="utf-8") as manifest,
    ):
        # map keeps chunk order, so the manifest is in name order; results stream (bounded memory
        # per chunk is held by the pool, not the whole list).
        args = [(str(tmp), start, stop, target, spec.seed) for start, stop in chunks]
        for lines in pool.map(_write_chunk_args, args):
            manifest.writelines(lines)
            if progress is not None:
                progress(len(lines))
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
