"""Team Files through the SDK: sync multipart upload, async chunked upload (no fallback),
get_info_by_path / exists / get_info_by_id, sync and async download, overwrite of a path."""

from __future__ import annotations

import os
from typing import Any

from _common import file_sha256_hex, run, sly


def file_info(info: Any) -> dict[str, Any] | None:
    if info is None:
        return None
    return {k: info._asdict()[k] for k in ("id", "name", "path", "hash", "sizeb", "team_id")}


def flow(api: sly.Api, args: dict[str, Any]) -> dict[str, Any]:
    team_id, tf_dir, out = args["team_id"], args["team_files_dir"], args["dest_dir"]
    tar, pkl = args["tar"], args["pkl"]
    dst = f"{tf_dir}/sync/{os.path.basename(tar)}"
    uploaded = api.file.upload(team_id, tar, dst)  # file-storage.bulk.upload
    by_path = api.file.get_info_by_path(team_id, dst)  # file-storage.list
    api.file.download(team_id, dst, os.path.join(out, "sync.tar"))
    # The async path: file-storage.upload with a chunked body; no silent fallback to multipart.
    fast_dsts = [f"{tf_dir}/fast/{os.path.basename(p)}" for p in (tar, pkl)]
    api.file.upload_bulk_fast(team_id, [tar, pkl], fast_dsts, enable_fallback=False)
    fast_infos = [api.file.get_info_by_path(team_id, p) for p in fast_dsts]
    sly.run_coroutine(api.file.download_async(team_id, fast_dsts[0], os.path.join(out, "a.tar")))
    # Overwrite the first path with other bytes: the path must now serve the new content.
    api.file.upload(team_id, pkl, dst)
    api.file.download(team_id, dst, os.path.join(out, "overwritten"))
    return {
        "uploaded": file_info(uploaded),
        "by_path": file_info(by_path),
        "by_id": file_info(api.file.get_info_by_id(uploaded.id)),
        "missing": file_info(api.file.get_info_by_path(team_id, f"{tf_dir}/sync/missing.tar")),
        "exists": api.file.exists(team_id, dst),
        "exists_missing": api.file.exists(team_id, f"{tf_dir}/sync/missing.tar"),
        "fast": [file_info(i) for i in fast_infos],
        "overwritten_info": file_info(api.file.get_info_by_path(team_id, dst)),
        "sha256": {
            name: file_sha256_hex(os.path.join(out, name))
            for name in ("sync.tar", "a.tar", "overwritten")
        },
    }


if __name__ == "__main__":
    run(flow)
