"""Past one page: a blob of `count` small PNGs (more than the server's page size) and a second
blob, registered in one dataset with `upload_blob_images` (no annotations), then
`sly.download_fast(..., download_blob_files=True)`.
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np
from _common import ErrorLog, describe_local_project, file_sha256_hex, run, sha256_hex, sly


def make_images(src: str, count: int) -> dict[str, str]:
    """`count` distinct tiny PNGs; name -> sha256 of the bytes written."""
    os.makedirs(src)
    shas = {}
    for i in range(count):
        pixels = np.full((4, 5, 3), (i % 256, (i // 256) % 256, 7), dtype=np.uint8)
        data = cv2.imencode(".png", pixels)[1].tobytes()
        name = f"img_{i:05d}.png"
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)
        shas[name] = sha256_hex(data)
    return shas


def flow(api: sly.Api, args: dict[str, Any]) -> dict[str, Any]:
    work, team_id = args["work_dir"], args["team_id"]
    source = make_images(os.path.join(work, "src"), args["count"])
    tar = os.path.join(work, "many.tar")
    sly.fs.archive_directory(os.path.join(work, "src"), tar)
    pkl = sly.fs.save_blob_offsets_pkl(tar, work)
    tf_dir = "/conformance/many"
    api.file.upload_bulk(team_id, [tar, pkl], [f"{tf_dir}/many.tar", f"{tf_dir}/many_offsets.pkl"])
    project = api.project.create(
        args["workspace_id"], "conformance-many", change_name_if_conflict=True
    )
    dataset = api.dataset.create(project.id, "ds0")
    api.image.upload_blob_images(dataset.id, f"{tf_dir}/many.tar")
    # A second blob in the same dataset: download_fast fetches both and writes one pkl each.
    extra = [f"{tf_dir}/{os.path.basename(p)}" for p in (args["extra_tar"], args["extra_pkl"])]
    api.file.upload_bulk(team_id, [args["extra_tar"], args["extra_pkl"]], extra)
    api.image.upload_blob_images(dataset.id, extra[0])
    with ErrorLog() as log:
        sly.download_fast(api, project.id, args["dest_dir"], download_blob_files=True)
    return {
        "source": source,
        "tar_sha256": file_sha256_hex(tar),
        "listed": len(api.image.get_list(dataset.id)),
        "per_page": api.post("images.list", {"datasetId": dataset.id}).json()["perPage"],
        "items_count": api.dataset.get_info_by_id(dataset.id).items_count,
        "log": log.messages,
        "switched_to_sync": any("Switching to synchronous download" in m for m in log.messages),
        "local": describe_local_project(args["dest_dir"], by_index=True),
    }


if __name__ == "__main__":
    run(flow)
