"""Check the state a strategy left behind; a run that does not verify is reported as failed.

Uploads are checked on the server through the raw client (independent of the client under
test): exactly one dataset, the same image names (no duplicate, none missing), each image's size,
and for a deterministic sample (every image when the sample covers the set) the downloaded bytes'
sha256 and the annotation. Downloads are checked on disk, fully: every name, every image's bytes
(from ``img/`` or sliced out of ``blob/<stem>.tar`` through ``<stem>_offsets.pkl``) and every
annotation.

Annotations are compared by their objects (class, geometry, points). Points may differ by one
pixel: the SDK shifts rectangles by +1 on the bottom-right corner on upload and back on download,
while ``figures.bulk.add`` (quick import) stores them unshifted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from blobflow._errors import BlobflowError
from blobflow.bench._data import BenchData, ManifestEntry
from blobflow.bench._raw import RawClient

__all__ = ["VerificationError", "verify_download", "verify_upload"]

_ANN_BATCH = 50


class VerificationError(BlobflowError):
    """The state after a strategy differs from the source data."""


def _sample(entries: list[ManifestEntry], size: int) -> list[ManifestEntry]:
    if size <= 0 or size >= len(entries):
        return entries
    step = len(entries) / size
    return [entries[int(i * step)] for i in range(size)]


def _objects(ann: dict[str, Any]) -> list[tuple[str, str, list[list[float]]]]:
    out = []
    for obj in ann.get("objects") or []:
        points = (obj.get("points") or {}).get("exterior") or []
        out.append((str(obj.get("classTitle")), str(obj.get("geometryType")), points))
    return sorted(out, key=lambda o: (o[0], o[1], o[2][:1]))


def same_annotation(got: dict[str, Any], want: dict[str, Any]) -> bool:
    a, b = _objects(got), _objects(want)
    if len(a) != len(b):
        return False
    for (cls_a, geo_a, pts_a), (cls_b, geo_b, pts_b) in zip(a, b, strict=True):
        if cls_a != cls_b or geo_a != geo_b or len(pts_a) != len(pts_b):
            return False
        for pa, pb in zip(pts_a, pts_b, strict=True):
            if len(pa) != len(pb) or any(
                abs(float(x) - float(y)) > 1 for x, y in zip(pa, pb, strict=True)
            ):
                return False
    return True


def _local_ann(data: BenchData, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((data.ann_dir / f"{name}.json").read_text("utf-8"))
    return loaded


def _listed_ids(
    client: RawClient, project_id: int, dataset_id: int, manifest: dict[str, ManifestEntry]
) -> dict[str, int]:
    """Name -> image id of every listed image, each checked against the manifest (streamed: a
    million images stay small)."""
    found: dict[str, int] = {}
    listed = 0
    for page in client.iter_pages(
        "images.list", {"datasetId": dataset_id, "filter": [], "sort": "id", "sort_order": "asc"}
    ):
        for img in page:
            listed += 1
            entry = manifest.get(img["name"])
            if entry is None:
                raise VerificationError(f"project {project_id}: unexpected image {img['name']}")
            if img.get("size") is not None and int(img["size"]) != entry.size:
                raise VerificationError(
                    f"project {project_id}: {entry.name} has {img['size']} bytes, "
                    f"expected {entry.size}"
                )
            found[entry.name] = int(img["id"])
    if listed != len(manifest) or len(found) != len(manifest):
        raise VerificationError(
            f"project {project_id}: {listed} images ({len(found)} distinct names), "
            f"expected {len(manifest)}"
        )
    return found


def _check_annotations(
    client: RawClient, project_id: int, dataset_id: int, data: BenchData,
    chosen: list[ManifestEntry], found: dict[str, int],
) -> None:  # fmt: skip
    for start in range(0, len(chosen), _ANN_BATCH):
        batch = chosen[start : start + _ANN_BATCH]
        ids = [found[e.name] for e in batch]
        answer = client.post_json(
            "annotations.bulk.info", {"datasetId": dataset_id, "imageIds": ids}
        )
        got = {int(a["imageId"]): a["annotation"] for a in answer}
        for entry, image_id in zip(batch, ids, strict=True):
            if image_id not in got:
                raise VerificationError(f"project {project_id}: no annotation for {entry.name}")
            if not same_annotation(got[image_id], _local_ann(data, entry.name)):
                raise VerificationError(f"project {project_id}: annotation of {entry.name} differs")


def verify_upload(client: RawClient, project_id: int, data: BenchData, sample: int) -> None:
    datasets = client.list_all(
        "datasets.list", {"projectId": project_id, "filter": [], "recursive": True}
    )
    if len(datasets) != 1:
        raise VerificationError(f"project {project_id}: {len(datasets)} datasets, expected 1")
    dataset_id = int(datasets[0]["id"])
    manifest = data.manifest_dict()
    found = _listed_ids(client, project_id, dataset_id, manifest)
    chosen = _sample(list(manifest.values()), sample)
    for entry in chosen:
        body = client.post_bytes("images.download", {"id": found[entry.name]})
        if hashlib.sha256(body).hexdigest() != entry.sha256:
            raise VerificationError(f"project {project_id}: bytes of {entry.name} differ")
    _check_annotations(client, project_id, dataset_id, data, chosen, found)


def _dataset_dirs(dest: Path) -> list[Path]:
    return sorted(p.parent for p in dest.rglob("ann") if p.is_dir())


def _blob_ranges(dataset_dir: Path, blob_dir: Path) -> dict[str, tuple[Path, int, int]]:
    """name -> (tar, start, end) from every ``<stem>_offsets.pkl`` of a downloaded dataset."""
    ranges: dict[str, tuple[Path, int, int]] = {}
    pkls = sorted(dataset_dir.glob("*_offsets.pkl"))
    if not pkls:
        return ranges
    from blobflow.blob import BlobImageInfo

    for pkl in pkls:
        tar = blob_dir / f"{pkl.name[: -len('_offsets.pkl')]}.tar"
        for batch in BlobImageInfo.load_from_pickle_generator(str(pkl)):
            for info in batch:
                ranges[info.name] = (tar, info.offset_start, info.offset_end)
    return ranges


def _read_range(tar: Path, start: int, end: int, handles: dict[Path, Any]) -> bytes:
    handle = handles.get(tar)
    if handle is None:
        handle = handles[tar] = tar.open("rb")
    handle.seek(start)
    data: bytes = handle.read(end - start)
    return data


def iter_downloaded(dest: Path) -> Iterator[tuple[str, bytes | None, Path]]:
    """(name, image bytes or None, annotation path) for every item of the one dataset in dest."""
    dirs = _dataset_dirs(dest)
    if len(dirs) != 1:
        raise VerificationError(f"{dest}: {len(dirs)} dataset folders, expected 1")
    ds = dirs[0]
    ranges = _blob_ranges(ds, dest / "blob")
    handles: dict[Path, Any] = {}
    try:
        for ann_path in sorted((ds / "ann").iterdir()):
            name = ann_path.name[: -len(".json")]
            img = ds / "img" / name
            if img.is_file():
                yield name, img.read_bytes(), ann_path
            elif name in ranges:
                tar, start, end = ranges[name]
                body = _read_range(tar, start, end, handles) if tar.is_file() else None
                yield name, body, ann_path
            else:
                yield name, None, ann_path
    finally:
        for handle in handles.values():
            handle.close()


def verify_download(dest: Path, data: BenchData) -> None:
    manifest = data.manifest_dict()
    seen = 0
    for name, body, ann_path in iter_downloaded(dest):
        entry = manifest.get(name)
        if entry is None:
            raise VerificationError(f"{dest}: unexpected item {name}")
        if body is None:
            raise VerificationError(f"{dest}: no image bytes for {name}")
        if hashlib.sha256(body).hexdigest() != entry.sha256:
            raise VerificationError(f"{dest}: bytes of {name} differ")
        ann = json.loads(ann_path.read_text("utf-8"))
        if not same_annotation(ann, _local_ann(data, name)):
            raise VerificationError(f"{dest}: annotation of {name} differs")
        seen += 1
    if seen != len(manifest):
        raise VerificationError(f"{dest}: {seen} items, expected {len(manifest)}")
