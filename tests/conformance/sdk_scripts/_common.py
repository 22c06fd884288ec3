"""Helpers for the SDK scripts: run ONLY by the official SDK's interpreter, never by blobflow.

Protocol: a script is run as ``python <script>.py '<json args>'`` with SERVER_ADDRESS and
API_TOKEN in the environment. Everything the SDK prints (its logger writes to stdout) is sent to
stderr; the script's result is one JSON document written to the real stdout at the end. A failure
is a traceback on stderr and exit status 1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

# Keep fd 1 for the result and point everything else (SDK logs, tqdm, print) at stderr, before
# the SDK is imported so that its logging handlers bind to stderr too.
_RESULT_FD = os.dup(1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import supervisely as sly  # noqa: E402


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_b64(data: bytes) -> str:
    """The SDK's hash convention: base64(sha256(bytes))."""
    return base64.standard_b64encode(hashlib.sha256(data).digest()).decode()


def file_sha256_hex(path: str) -> str:
    with open(path, "rb") as f:
        return sha256_hex(f.read())


def make_api() -> sly.Api:
    return sly.Api(os.environ["SERVER_ADDRESS"], os.environ["API_TOKEN"], retry_count=2)


class ErrorLog(logging.Handler):
    """Collects ERROR/WARNING records of the SDK logger (e.g. a silent async->sync fallback)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname}: {record.getMessage()}")

    def __enter__(self) -> ErrorLog:
        sly.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        sly.logger.removeHandler(self)


def image_info_dict(info: Any) -> dict[str, Any]:
    """The ImageInfo fields the tests look at."""
    return {
        "id": info.id,
        "name": info.name,
        "hash": info.hash,
        "mime": info.mime,
        "size": info.size,
        "dataset_id": info.dataset_id,
        "related_data_id": info.related_data_id,
        "download_id": info.download_id,
        "offset_start": info.offset_start,
        "offset_end": info.offset_end,
    }


def describe_remote_dataset(api: sly.Api, dataset_id: int) -> dict[str, Any]:
    """Every image of a dataset as the SDK sees it: info, bytes (images.bulk.download) and
    annotation (annotations.bulk.info, with the SDK's pixel-coordinate conversion)."""
    infos = api.image.get_list(dataset_id)
    ids = [i.id for i in infos]
    data = api.image.download_bytes(dataset_id, ids) if ids else []
    anns = api.annotation.download_batch(dataset_id, ids) if ids else []
    ann_by_id = {a.image_id: a.annotation for a in anns}
    return {
        "dataset": api.dataset.get_info_by_id(dataset_id)._asdict(),
        "images": {
            info.name: {
                **image_info_dict(info),
                "sha256": sha256_hex(blob),
                "ann": ann_by_id[info.id],
            }
            for info, blob in zip(infos, data, strict=True)
        },
    }


def describe_local_project(dest_dir: str, *, by_index: bool = False) -> dict[str, Any]:
    """A downloaded project read back with the SDK's own reader (blob images via the pkl).

    ``get_blob_img_bytes`` rescans every pkl for each name (quadratic); with ``by_index`` the
    blob images are read through one SDK pkl load per dataset instead, for big datasets."""
    blob_dir = os.path.join(os.path.abspath(dest_dir), "blob")
    # Opened by a relative path: with an absolute one the SDK's reader cannot find the blob of
    # a nested dataset (its project_dir loses the leading "/", spec §13.1).
    cwd = os.getcwd()
    os.chdir(os.path.dirname(os.path.abspath(dest_dir)))
    try:
        project = sly.Project(os.path.basename(dest_dir), sly.OpenMode.READ)
        return _describe_local(project, blob_dir, by_index)
    finally:
        os.chdir(cwd)


def _blob_index(ds: Any, blob_dir: str) -> dict[str, tuple[str, int, int]]:
    """name -> (tar, start, end) from the dataset's offsets files, read by the SDK."""
    from supervisely.api.image_api import BlobImageInfo

    index = {}
    for pkl in sorted(os.listdir(ds.directory)):
        if pkl.endswith("_offsets.pkl"):
            tar = os.path.join(blob_dir, pkl[: -len("_offsets.pkl")] + ".tar")
            path = os.path.join(ds.directory, pkl)
            for batch in BlobImageInfo.load_from_pickle_generator(path):
                for b in batch:
                    index[b.name] = (tar, b.offset_start, b.offset_end)
    return index


def _read_range(tar: str, start: int, end: int) -> bytes:
    with open(tar, "rb") as f:
        f.seek(start)
        return f.read(end - start)


def _describe_local(project: sly.Project, blob_dir: str, by_index: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "meta": project.meta.to_json(),
        "blob_files": {
            name: file_sha256_hex(os.path.join(blob_dir, name))
            for name in sorted(os.listdir(blob_dir))
        }
        if os.path.isdir(blob_dir)
        else {},
        "datasets": {},
    }
    for ds in project.datasets:
        items: dict[str, Any] = {}
        index = _blob_index(ds, blob_dir) if by_index else {}
        for name in ds.get_items_names():
            blob = _read_range(*index[name]) if name in index else None
            if not by_index:
                blob = ds.get_blob_img_bytes(name)
            from_blob = blob is not None
            if blob is None:  # a regular image in img/
                with open(ds.get_img_path(name), "rb") as f:
                    blob = f.read()
            with open(ds.get_ann_path(name)) as f:
                ann = json.load(f)
            items[name] = {"sha256": sha256_hex(blob), "ann": ann, "from_blob": from_blob}
        pkls = sorted(p for p in os.listdir(ds.directory) if p.endswith("_offsets.pkl"))
        out["datasets"][ds.name] = {"items": items, "offsets_files": pkls}
    return out


def run(flow: Callable[[sly.Api, dict[str, Any]], dict[str, Any]]) -> None:
    args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    try:
        result = flow(make_api(), args)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    payload = memoryview(json.dumps(result, default=str).encode())
    while payload:
        payload = payload[os.write(_RESULT_FD, payload) :]
    sys.stderr.flush()
    # The SDK leaves non-daemon threads and event loops behind; do not wait for them.
    os._exit(0)
