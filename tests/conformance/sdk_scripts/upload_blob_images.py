"""`api.image.upload_blob_images` from a Team Files blob: first upload, a name conflict resolved by
rename (change_name_if_conflict=True), then by skip (change_name_if_conflict=False), and by
replace (upload_by_offsets_generator with conflict_resolution="replace")."""

from __future__ import annotations

import os
from typing import Any

from _common import describe_remote_dataset, image_info_dict, run, sly


def upload(api: sly.Api, dataset_id: int, tar_path: str, rename: bool) -> list[dict[str, Any]]:
    batches = api.image.upload_blob_images(
        dataset_id, tar_path, change_name_if_conflict=rename, return_image_infos_generator=True
    )
    return [image_info_dict(info) for batch in batches for info in batch]


def flow(api: sly.Api, args: dict[str, Any]) -> dict[str, Any]:
    team_id, tf_dir = args["team_id"], args["team_files_dir"]
    project = api.project.create(
        args["workspace_id"], args["project_name"], change_name_if_conflict=True
    )
    dataset = api.dataset.create(project.id, "ds0")
    # upload_blob_images reads the offsets from "<tar stem>_offsets.pkl" beside the tar.
    tar_dst = f"{tf_dir}/{os.path.basename(args['tar'])}"
    api.file.upload(team_id, args["tar"], tar_dst)
    api.file.upload(team_id, args["pkl"], f"{tf_dir}/{os.path.basename(args['pkl'])}")
    first = upload(api, dataset.id, tar_dst, rename=True)
    renamed = upload(api, dataset.id, tar_dst, rename=True)
    skipped = upload(api, dataset.id, tar_dst, rename=False)
    # replace: the SDK removes the conflicting images (images.bulk.remove) and adds them again.
    blob = api.file.get_info_by_path(team_id, tar_dst)
    replaced = [
        image_info_dict(info)
        for batch in api.image.upload_by_offsets_generator(
            dataset.id, blob.id, conflict_resolution="replace"
        )
        for info in batch
    ]
    return {
        "project_id": project.id,
        "custom_data": api.project.get_info_by_id(project.id).custom_data,
        "first": first,
        "renamed": renamed,
        "skipped": skipped,
        "replaced": replaced,
        "final": describe_remote_dataset(api, dataset.id),
    }


if __name__ == "__main__":
    run(flow)
