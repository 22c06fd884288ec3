"""Discovery and errors: instance version, teams, workspaces, current user, 404 -> None,
and a wrong token refused with 401."""

from __future__ import annotations

import os
from typing import Any

import requests
from _common import run, sly


def flow(api: sly.Api, args: dict[str, Any]) -> dict[str, Any]:
    teams = api.team.get_list()
    workspaces = api.workspace.get_list(args["team_id"])
    bad = sly.Api(os.environ["SERVER_ADDRESS"], "not-a-valid-token", retry_count=1)
    try:
        bad.project.get_info_by_id(1)
        bad_status = None
    except requests.exceptions.HTTPError as e:
        bad_status = e.response.status_code
    return {
        "server_address": api.server_address,
        "instance_version": api.instance_version,
        "teams": [{"id": t.id, "name": t.name} for t in teams],
        "workspaces": [{"id": w.id, "name": w.name, "team_id": w.team_id} for w in workspaces],
        "workspace_info": api.workspace.get_info_by_id(args["workspace_id"])._asdict(),
        "me": api.user.get_my_info()._asdict(),
        "missing_project": api.project.get_info_by_id(987654321),
        "missing_dataset": api.dataset.get_info_by_id(987654321),
        "missing_image": api.image.get_info_by_id(987654321),
        "bad_token_status": bad_status,
    }


if __name__ == "__main__":
    run(flow)
