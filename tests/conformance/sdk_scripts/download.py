"""`sly.download_fast` / `sly.download` (download_blob_files as asked), read back locally."""

from __future__ import annotations

from typing import Any

from _common import ErrorLog, describe_local_project, run, sly


def flow(api: sly.Api, args: dict[str, Any]) -> dict[str, Any]:
    download = {"fast": sly.download_fast, "sync": sly.download}[args["mode"]]
    with ErrorLog() as log:
        download(api, args["project_id"], args["dest_dir"], download_blob_files=args["blob"])
    return {
        # download_fast silently falls back to the sync path when the async one raises: the
        # test must see that, or a broken async path would pass unnoticed.
        "log": log.messages,
        "switched_to_sync": any("Switching to synchronous download" in m for m in log.messages),
        "local": describe_local_project(args["dest_dir"]),
    }


if __name__ == "__main__":
    run(flow)
