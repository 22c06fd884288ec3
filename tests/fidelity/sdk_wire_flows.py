"""Run ONLY by the official SDK's interpreter: one blob flow, as a user of the SDK writes it.

``python sdk_wire_flows.py '<json args>'`` with SERVER_ADDRESS and API_TOKEN set; prints one JSON
document (the ids a later step needs). SDK logging goes to stderr.
"""

import json
import os
import sys

_RESULT = os.dup(1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import supervisely as sly  # noqa: E402
from supervisely.project.project_type import ProjectType  # noqa: E402


def main() -> None:
    args = json.loads(sys.argv[1])
    api = sly.Api(os.environ["SERVER_ADDRESS"], os.environ["API_TOKEN"], retry_count=2)
    flow = args["flow"]
    out = {}
    if flow == "upload_project":
        project_id, _ = sly.upload_project(
            args["project_dir"], api, args["workspace_id"], project_name=args["project_name"]
        )
        out["project_id"] = project_id
    elif flow == "quick_import":
        api.dataset.quick_import(
            args["dataset_id"], args["tar"], args["pkl"], args["ann_paths"],
            project_type=ProjectType.IMAGES,  # None always raises NotImplementedError
        )
    elif flow == "download_fast":
        sly.download_fast(api, args["project_id"], args["dest_dir"], download_blob_files=True)
    else:
        raise ValueError(flow)
    os.write(_RESULT, json.dumps(out).encode() + b"\n")


if __name__ == "__main__":
    main()
