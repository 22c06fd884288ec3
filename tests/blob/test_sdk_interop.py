"""What blobflow writes loads in the official SDK (run in its own virtualenv)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from blobflow import BlobImageInfo, archive_directory, save_blob_offsets_pkl

pytestmark = pytest.mark.sdk

_SDK_READ = r"""
import json, sys
from supervisely.api.image_api import BlobImageInfo
out = []
for path in sys.argv[1:]:
    batches = list(BlobImageInfo.load_from_pickle_generator(path))
    out.append({
        "batches": [len(b) for b in batches],
        "items": [[i.name, i.offset_start, i.offset_end, type(i).__module__] for b in batches
                  for i in b],
    })
print(json.dumps(out))
"""


def _sdk_python() -> str:
    python = os.environ.get("BLOBFLOW_SDK_PYTHON")
    if not python:
        pytest.skip("BLOBFLOW_SDK_PYTHON is not set (path to a python with supervisely installed)")
    if not os.path.exists(python):
        pytest.skip(f"BLOBFLOW_SDK_PYTHON={python} does not exist")
    return python


def _sdk_load(*paths: Path) -> list[dict[str, object]]:
    proc = subprocess.run(
        [_sdk_python(), "-c", _SDK_READ, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    result: list[dict[str, object]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_sdk_loads_our_pickles(tmp_path: Path) -> None:
    many = [BlobImageInfo(f"img_{i:06d}.png", 512 + i * 5120, 512 + i * 5120 + 4000 + i % 97)
            for i in range(23_001)]  # fmt: skip
    edge = [
        BlobImageInfo("x" * 300 + ".jpg", 2**31 + 512, 2**31 + 4608),
        BlobImageInfo("ünïcødé_名前.png", 20 * 2**30, 20 * 2**30 + 100),
        BlobImageInfo("a", 0, 0),
    ]
    edge[0].add_team_file_id(42)
    BlobImageInfo.dump_to_pickle(many, tmp_path / "many.pkl")
    BlobImageInfo.dump_to_pickle(edge, tmp_path / "edge.pkl")
    got_many, got_edge = _sdk_load(tmp_path / "many.pkl", tmp_path / "edge.pkl")
    assert got_many["batches"] == [10_000, 10_000, 3_001]
    assert got_many["items"] == [
        [i.name, i.offset_start, i.offset_end, "supervisely.api.image_api"] for i in many
    ]
    assert got_edge["items"] == [
        [i.name, i.offset_start, i.offset_end, "supervisely.api.image_api"] for i in edge
    ]


def test_sdk_loads_pkl_of_a_blob_we_packed(tmp_path: Path, sdk_fixtures: Path) -> None:
    infos = archive_directory(sdk_fixtures / "source-images", tmp_path / "imgs.tar")
    pkl = save_blob_offsets_pkl(tmp_path / "imgs.tar", tmp_path / "off")
    (got,) = _sdk_load(Path(pkl))
    assert got["items"] == [
        [i.name, i.offset_start, i.offset_end, "supervisely.api.image_api"] for i in infos
    ]
