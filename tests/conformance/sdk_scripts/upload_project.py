"""`sly.upload_project` of a local blob project, then read everything back through the SDK."""

from __future__ import annotations

from typing import Any

from _common import describe_remote_dataset, run, sly


def flow(api: sly.Api, args: dict[str, Any]) -> dict[str, Any]:
    project_id, project_name = sly.upload_project(
        args["project_dir"], api, args["workspace_id"], project_name=args["project_name"]
    )
    info = api.project.get_info_by_id(project_id)
    datasets = api.dataset.get_list(project_id, recursive=True)
    return {
        "project_id": project_id,
        "project_name": project_name,
        "custom_data": info.custom_data,
        "team_id": info.team_id,
        "meta": api.project.get_meta(project_id),
        "datasets": {ds.name: describe_remote_dataset(api, ds.id) for ds in datasets},
    }


if __name__ == "__main__":
    run(flow)
