"""`upload_blob_images` of more than one SDK batch (10,000 offsets per images.bulk.add), then
again with every name conflicting (one NONUNIQUE reply listing 10,000 titles, renamed, retried).
"""

from __future__ import annotations

import os
from typing import Any

from _common import run, sha256_hex, sly


def make_files(src: str, count: int) -> dict[str, str]:
    """`count` small distinct files (the blob path never decodes them); name -> sha256."""
    os.makedirs(src)
    shas = {}
    for i in range(count):
        name, data = f"f_{i:05d}.png", f"blob item {i}\n".encode() * (1 + i % 7)
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)
        shas[name] = sha256_hex(data)
    return shas


def flow(api: sly.Api, args: dict[str, Any]) -> dict[str, Any]:
    work, team_id, tf_dir = args["work_dir"], args["team_id"], "/conformance/big"
    source = make_files(os.path.join(work, "src"), args["count"])
    tar = os.path.join(work, "big.tar")
    sly.fs.archive_directory(os.path.join(work, "src"), tar)
    pkl = sly.fs.save_blob_offsets_pkl(tar, work)
    api.file.upload_bulk(team_id, [tar, pkl], [f"{tf_dir}/big.tar", f"{tf_dir}/big_offsets.pkl"])
    project = api.project.create(
        args["workspace_id"], "conformance-big", change_name_if_conflict=True
    )
    dataset = api.dataset.create(project.id, "ds0")
    batches = []
    for _ in range(2):  # the second time every name conflicts: rename
        gen = api.image.upload_blob_images(
            dataset.id, f"{tf_dir}/big.tar", return_image_infos_generator=True
        )
        batches.append([[(i.id, i.name) for i in batch] for batch in gen])
    infos = api.image.get_list(dataset.id)
    # Bytes of a sample spread over both registrations, through images.bulk.download.
    sample = infos[:: max(1, len(infos) // 40)] + infos[-1:]
    data = api.image.download_bytes(dataset.id, [i.id for i in sample])
    return {
        "source": source,
        "batch_sizes": [[len(b) for b in run_batches] for run_batches in batches],
        "names": [[name for b in run_batches for _, name in b] for run_batches in batches],
        "listed": len(infos),
        "items_count": api.dataset.get_info_by_id(dataset.id).items_count,
        "sample": {i.name: sha256_hex(d) for i, d in zip(sample, data, strict=True)},
    }


if __name__ == "__main__":
    run(flow)
