"""The seed tutorial's Python code, ready to run: its blocks, with the package swapped and the
placeholders filled (the ``blobflow.sly`` tests and ``benchmarks/bench_seed.py``).

Only what a reader would edit changes: ``supervisely`` becomes the package under test in the
import lines, and the tutorial's placeholder values (``"your_local_images_dir"``,
``team_id = 123``...) become real paths and ids. A placeholder that is not found is an error, so
a changed tutorial cannot silently run with less code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SeedValues", "run_seed_subprocess", "seed_blocks", "seed_script"]

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_IMPORT = re.compile(r"^(\s*(?:import|from)\s+)supervisely\b", re.M)
RUNNER = Path(__file__).with_name("_seed_runner.py")
RESULT_PREFIX = "BLOBFLOW_SEED_RESULT "


@dataclass(frozen=True)
class SeedValues:
    """What the tutorial's placeholders stand for."""

    images_dir: str  # "your_local_images_dir"
    anns_dir: str  # "your_local_annotations_dir"
    meta_path: str  # "path_to_meta_json" and "/path/to/meta.json"
    team_id: int  # team_id = 123
    workspace_id: int  # workspace_id = 345 (twice) and the undefined WORKSPACE_ID
    local_project: str  # "/path/to/local/blob/project"


def seed_blocks(markdown: str) -> list[str]:
    """The ```python blocks of the tutorial, in order."""
    return [m.group(1) for m in _BLOCK.finditer(markdown)]


def _replace(block: str, old: str, new: str, where: str) -> str:
    if old not in block:
        raise ValueError(f"seed tutorial: placeholder {old!r} not found in {where}")
    return block.replace(old, new)


def seed_script(markdown: str, package: str, values: SeedValues) -> list[str]:
    """The tutorial's blocks with ``supervisely`` -> ``package`` and the placeholders filled.

    The tutorial uses ``WORKSPACE_ID`` without defining it; the first block is prefixed with
    its definition (the value a reader would have put there).
    """
    blocks = seed_blocks(markdown)
    if len(blocks) != 8:
        raise ValueError(f"seed tutorial: expected 8 Python blocks, found {len(blocks)}")
    subs: dict[int, list[tuple[str, str]]] = {
        0: [
            ('"your_local_images_dir"', repr(values.images_dir)),
            ('"your_local_annotations_dir"', repr(values.anns_dir)),
            ('"path_to_meta_json"', repr(values.meta_path)),
        ],
        1: [
            ("team_id = 123", f"team_id = {values.team_id}"),
            ("workspace_id = 345", f"workspace_id = {values.workspace_id}"),
        ],
        4: [
            ("workspace_id = 345", f"workspace_id = {values.workspace_id}"),
            ('"/path/to/local/blob/project"', repr(values.local_project)),
        ],
        7: [('"/path/to/meta.json"', repr(values.meta_path))],
    }
    out = []
    for i, block in enumerate(blocks):
        for old, new in subs.get(i, []):
            block = _replace(block, old, new, f"block {i + 1}")
        block = _IMPORT.sub(lambda m: m.group(1) + package, block)
        if "supervisely" in block.replace(package, ""):
            raise ValueError(f"seed tutorial: block {i + 1} names supervisely outside imports")
        out.append(block)
    out[0] = f"WORKSPACE_ID = {values.workspace_id}\n" + out[0]
    return out


def run_seed_subprocess(
    python: str,
    blocks: list[str],
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    timeout: float = 3600,
    block_limit: float | None = None,
) -> dict[str, Any]:
    """Run ``blocks`` in one namespace in a fresh ``python`` process (``_seed_runner.py``);
    returns ``{"times": [seconds per block], "cpu": [CPU seconds per block], "import": seconds,
    "stopped": [block numbers]}``
    (a block stopped at ``block_limit`` seconds has a lower-bound time)."""
    package = "supervisely" if "import supervisely" in blocks[0] else "blobflow.sly"
    proc = subprocess.run(
        [python, str(RUNNER)],
        input=json.dumps({"blocks": blocks, "package": package, "block_limit": block_limit}),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            if proc.returncode == 0:
                return result
    tail = (proc.stderr or proc.stdout)[-3000:]
    raise RuntimeError(f"seed run with {python} failed (exit {proc.returncode}):\n{tail}")


def prepare_seed(
    img_dir: Path,
    ann_dir: Path,
    meta_path: Path,
    work: Path,
    team_id: int,
    workspace_id: int,
) -> SeedValues:
    """Lay out what the tutorial expects beside the data, in ``work`` (the run's cwd):
    ``blob_archive_dir/dataset/ann/`` (the annotations, hard links) for its quick-import block,
    and ``local_project/`` (a blob project of the same images) for its upload block."""
    from blobflow.blob import archive_directory

    names = sorted(p.name for p in ann_dir.iterdir())
    quick = work / "blob_archive_dir" / "dataset" / "ann"
    project = work / "local_project"
    ds_ann = project / "ds0" / "ann"
    for folder in (quick, ds_ann, project / "blob"):
        folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        for dest in (quick, ds_ann):
            _link(ann_dir / name, dest / name)
    _link(meta_path, project / "meta.json")
    archive_directory(img_dir, project / "blob" / "project_images.tar", offsets_dir=project / "ds0")
    return SeedValues(
        str(img_dir), str(ann_dir), str(meta_path), team_id, workspace_id, str(project)
    )


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        dst.write_bytes(src.read_bytes())
