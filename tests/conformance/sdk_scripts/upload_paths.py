"""`api.image.upload_paths` (hash dedup + multipart upload), read back through the SDK's sync
and async image downloads; then annotation round trips on those images."""

from __future__ import annotations

import json
from typing import Any

from _common import image_info_dict, run, sha256_hex, sly


def flow(api: sly.Api, args: dict[str, Any]) -> dict[str, Any]:
    names, paths, ann_paths = args["names"], args["paths"], args["ann_paths"]
    project = api.project.create(
        args["workspace_id"], args["project_name"], change_name_if_conflict=True
    )
    with open(args["meta_path"]) as f:
        api.project.update_meta(project.id, json.load(f))
    ds_a = api.dataset.create(project.id, "first")
    ds_b = api.dataset.create(project.id, "second")
    first = api.image.upload_paths(ds_a.id, names, paths)
    # Same bytes again: every hash is now known to the server, so no bytes travel.
    second = api.image.upload_paths(ds_b.id, names, paths)
    ids = [i.id for i in first]
    # Half of the names conflict: the server must list exactly those and insert nothing else,
    # the SDK renames them and retries the batch.
    half = len(names) // 2
    mixed = names[:half] + [f"new_{n}" for n in names[half:]]
    partial = api.image.upload_paths(ds_a.id, mixed, paths, conflict_resolution="rename")

    bulk = api.image.download_bytes(ds_a.id, ids)  # images.bulk.download (multipart)
    single = [api.image.download_np(ids[0]).shape]  # images.download
    many = sly.run_coroutine(api.image.download_bytes_many_async(ids))  # async images.download

    # Annotations: upload_paths (with the SDK's sub-pixel shift), read back three ways.
    api.annotation.upload_paths(ids, ann_paths)
    batch = api.annotation.download_batch(ds_a.id, ids)
    one = api.annotation.download(ids[1])
    # Overwrite one annotation with upload_jsons and read it back.
    api.annotation.upload_jsons([ids[0]], [batch[1].annotation])
    replaced = api.annotation.download(ids[0])
    return {
        "first": [image_info_dict(i) for i in first],
        "second": [image_info_dict(i) for i in second],
        "partial": [image_info_dict(i) for i in partial],
        "bulk_sha256": [sha256_hex(b) for b in bulk],
        "async_sha256": [sha256_hex(b) for b in many],
        "np_shape": list(single[0]),
        "items_count": [api.dataset.get_info_by_id(d.id).items_count for d in (ds_a, ds_b)],
        "anns_batch": {a.image_name: a.annotation for a in batch},
        "ann_single": {"name": one.image_name, "ann": one.annotation},
        "ann_replaced": {"name": replaced.image_name, "ann": replaced.annotation},
    }


if __name__ == "__main__":
    run(flow)
