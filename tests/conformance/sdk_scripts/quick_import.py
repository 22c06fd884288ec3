"""`api.dataset.quick_import` of a local blob + offsets + annotation files into a new dataset."""

from __future__ import annotations

import json
import os
from typing import Any

from _common import describe_remote_dataset, file_sha256_hex, run, sly
from supervisely.project.project_type import ProjectType


def flow(api: sly.Api, args: dict[str, Any]) -> dict[str, Any]:
    project = api.project.create(
        args["workspace_id"], args["project_name"], change_name_if_conflict=True
    )
    with open(args["meta_path"]) as f:
        api.project.update_meta(project.id, json.load(f))
    dataset = api.dataset.create(project.id, "ds0")
    # A new blob packed by the SDK itself. Its name is the one upload_project used, so the
    # import overwrites /blob-files/small_images.tar with other bytes (see the download tests).
    tar = os.path.join(args["work_dir"], "small_images.tar")
    sly.fs.archive_directory(args["src_dir"], tar)
    pkl = sly.fs.save_blob_offsets_pkl(tar, args["work_dir"])
    api.dataset.quick_import(
        dataset.id,
        tar,
        pkl,
        args["ann_paths"],
        project_type=ProjectType.IMAGES,  # None always raises NotImplementedError (SDK defect)
    )
    # What a server storing figures verbatim gives back: quick_import sends pixel geometry to
    # figures.bulk.add (no sub-pixel shift) and the download applies the inverse shift anyway.
    quirk = {}
    for path in args["ann_paths"]:
        with open(path) as f:
            quirk[path] = sly.Annotation._to_pixel_coordinate_system_json(json.load(f))
    return {
        "project_id": project.id,
        "tar_sha256": file_sha256_hex(tar),
        "custom_data": api.project.get_info_by_id(project.id).custom_data,
        "final": describe_remote_dataset(api, dataset.id),
        "verbatim_figure_anns": quirk,
    }


if __name__ == "__main__":
    run(flow)
