"""The seed tutorial's eight Python blocks, run on ``blobflow.sly``.

The blocks are taken from ``tests/fixtures/seed/optimized-import-of-small-images.md`` at test
time; only ``supervisely`` -> ``blobflow.sly`` in the import lines changes, and the placeholders
get real paths and ids. They run in order, in one namespace, on one ``Api`` (the tutorial's),
against the reference server on its own thread. The results are then checked independently:
plain HTTP to the server, ``tarfile`` and ``hashlib`` on the local files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from blobflow.bench import DataSpec, ensure_data
from blobflow.bench._seed import prepare_seed, seed_script

SEED_TUTORIAL = Path(__file__).resolve().parents[1] / "fixtures" / "seed"
SEED_FILE = SEED_TUTORIAL / "optimized-import-of-small-images.md"
IMAGES = 24


def http(handle: Any, method: str, body: dict[str, Any]) -> Any:
    """One POST to the server's public API, with nothing of blobflow in between."""
    req = urllib.request.Request(
        f"{handle.address}/public/api/v3/{method}",
        data=json.dumps(body).encode(),
        headers={"x-api-key": handle.token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        data = resp.read()
    return json.loads(data) if resp.headers.get_content_type() == "application/json" else data


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class SeedRun:
    def __init__(self, handle: Any, work: Path, data: Any) -> None:
        self.handle = handle
        self.work = work
        self.data = data
        self.sources = {p.name: p.read_bytes() for p in data.img_dir.iterdir()}
        self.anns = {
            p.name[: -len(".json")]: json.loads(p.read_text()) for p in data.ann_dir.iterdir()
        }
        values = prepare_seed(
            data.img_dir, data.ann_dir, data.meta_path, work, handle.team_id, handle.workspace_id
        )
        self.blocks = seed_script(SEED_FILE.read_text(), "blobflow.sly", values)


@pytest.fixture
def seed(thread_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SeedRun:
    assert thread_server.team_id == thread_server.workspace_id  # the tutorial mixes them up
    data = ensure_data(DataSpec(IMAGES, 2.0, seed=7), tmp_path / "data")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("SERVER_ADDRESS", thread_server.address)
    monkeypatch.setenv("API_TOKEN", thread_server.token)
    monkeypatch.chdir(work)
    return SeedRun(thread_server, work, data)


def run_blocks(blocks: list[str]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__seed__"}
    for i, block in enumerate(blocks, 1):
        exec(compile(block, f"<seed block {i}>", "exec"), namespace)
    return namespace


def _project(run: SeedRun, name: str) -> tuple[int, dict[str, int]]:
    rows = http(run.handle, "projects.list", {"filter": [], "workspaceId": run.handle.workspace_id})
    found = [p for p in rows["entities"] if p["name"] == name]
    assert len(found) == 1, f"project {name!r}: {[p['name'] for p in rows['entities']]}"
    pid = found[0]["id"]
    datasets = http(run.handle, "datasets.list", {"projectId": pid, "filter": []})["entities"]
    return pid, {d["name"]: d["id"] for d in datasets}


def _check_dataset(run: SeedRun, dataset_id: int) -> None:
    """Every source image with its bytes and its annotation, nothing else."""
    images = http(run.handle, "images.list", {"datasetId": dataset_id, "filter": []})["entities"]
    assert sorted(i["name"] for i in images) == sorted(run.sources)
    for img in images:
        data = http(run.handle, "images.download", {"id": img["id"]})
        assert hashlib.sha256(data).digest() == hashlib.sha256(run.sources[img["name"]]).digest()
    ids = [i["id"] for i in images]
    got = http(
        run.handle, "annotations.bulk.info", {"datasetId": dataset_id, "imageIds": ids}
    )
    by_id = {a["imageId"]: a["annotation"] for a in got}
    for img in images:
        want = run.anns[img["name"]]["objects"]
        have = by_id[img["id"]]["objects"]
        assert [o["classTitle"] for o in have] == [o["classTitle"] for o in want], img["name"]
        for h, w in zip(have, want, strict=True):  # within a pixel: pixel/subpixel conventions
            pairs = zip(h["points"]["exterior"], w["points"]["exterior"], strict=True)
            assert all(abs(a - b) <= 1 for p, q in pairs for a, b in zip(p, q, strict=True))


def check_results(run: SeedRun, ns: dict[str, Any]) -> None:
    # block 1: the tar holds every image; the (single) offsets file indexes each one exactly
    tar_path = run.work / "blob_archive_dir" / "images.tar"
    tar_bytes = tar_path.read_bytes()
    with tarfile.open(tar_path) as tf:
        members = {
            os.path.basename(m.name): tf.extractfile(m).read()  # type: ignore[union-attr]
            for m in tf.getmembers()
            if m.isfile()
        }
    assert members == run.sources
    assert ns["images_count"] == IMAGES
    pkl = run.work / "blob_archive_dir" / "images_offsets.pkl"
    assert ns["offsets_path"] == ns["filtered_offsets_path"] == ns["pattern_offsets_path"]
    assert Path(ns["offsets_path"]).resolve() == pkl.resolve()
    ranges = _offsets(pkl)
    assert {n: tar_bytes[s:e] for n, (s, e) in ranges.items()} == run.sources

    # block 2: both files in Team Files, with the local bytes
    files = http(run.handle, "file-storage.list",
                 {"teamId": run.handle.team_id, "path": "/blob-files/", "recursive": True})
    rows = files["entities"] if isinstance(files, dict) else files
    hashes = {r["path"]: r.get("hash") for r in rows}
    assert hashes["/blob-files/images.tar"] == b64_sha256(tar_bytes)
    assert hashes["/blob-files/images_offsets.pkl"] == b64_sha256(pkl.read_bytes())

    # blocks 3-4, 5 and 8: three projects, each with every image, its bytes and annotation
    for project, dataset in [
        ("Blob Images Project", "dataset_1"),
        ("My Blob Project", "ds0"),
        ("Quick Import", "ds1"),
    ]:
        _, datasets = _project(run, project)
        assert list(datasets) == [dataset]
        _check_dataset(run, datasets[dataset])
    assert ns["project_name"] == "My Blob Project"

    # block 6: the blob project on disk; block 7: every image written out from it
    down = run.work / "downloaded_project"
    assert len(list((down / "blob").glob("*.tar"))) == 1
    assert len(list((down / "ds0").glob("*_offsets.pkl"))) == 1
    assert sorted(p.name for p in (down / "ds0" / "ann").iterdir()) == sorted(
        f"{n}.json" for n in run.sources
    )
    for name, data in run.sources.items():
        assert (down / name).read_bytes() == data


class _Unpickler(pickle.Unpickler):
    """The offsets file's classes by name only: its fields are all this check reads."""

    def find_class(self, module: str, name: str) -> Any:
        if name == "BlobImageInfo":
            return _Entry
        raise pickle.UnpicklingError(f"{module}.{name} is not expected in an offsets file")


class _Entry:
    name: str
    offset_start: int
    offset_end: int


def _offsets(path: Path) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    with path.open("rb") as f:
        while True:
            try:
                batch = _Unpickler(f).load()
            except EOFError:
                return out
            for e in batch:
                out[e.name] = (e.offset_start, e.offset_end)


def test_the_seed_tutorial_runs_on_blobflow_sly(seed: SeedRun) -> None:
    with pytest.warns(UserWarning, match="without filter_func"):
        ns = run_blocks(seed.blocks)
    check_results(seed, ns)


@pytest.mark.allow_blocking  # the SDK's calls are synchronous: they block a notebook's loop too
async def test_the_seed_tutorial_runs_inside_a_running_loop(seed: SeedRun) -> None:
    """As in Jupyter, where an event loop already runs in the thread that runs the cells."""
    with pytest.warns(UserWarning, match="without filter_func"):
        ns = run_blocks(seed.blocks)
    check_results(seed, ns)
    ns["api"].close()
