# mypy: ignore-errors
"""One benchmark strategy run by the official Supervisely SDK (peer rows).

Run by the Python given with ``blobflow bench --sdk-python``, in its own process; blobflow never
imports this file (nor the SDK). It reads one job as JSON on stdin, runs the SDK's own methods
for that strategy, and prints one result line ``BLOBFLOW_BENCH_RESULT {json}`` on stdout: the
strategy's wall time (imports and SDK start-up excluded) and the process's peak RSS.
"""

import json
import os
import resource
import sys
import time
import traceback

RESULT_PREFIX = "BLOBFLOW_BENCH_RESULT "


def _create_project(sly, api, job, meta_json):
    project = api.project.create(
        job["workspace_id"], job["name"], type=sly.ProjectType.IMAGES, change_name_if_conflict=True
    )
    meta = api.project.update_meta(project.id, sly.ProjectMeta.from_json(meta_json))
    dataset = api.dataset.create(project.id, "ds0")
    return project, dataset, meta


def _pack(sly, job):
    blob_dir = os.path.join(job["work_dir"], "blob")
    sly.fs.mkdir(blob_dir)
    tar_path = os.path.join(blob_dir, f"{job['name']}.tar")
    sly.fs.archive_directory(job["img_dir"], tar_path)
    offsets_path = sly.fs.save_blob_offsets_pkl(blob_file_path=tar_path, output_dir=blob_dir)
    return tar_path, offsets_path


def upload_standard(sly, api, job, meta_json):
    project, dataset, _ = _create_project(sly, api, job, meta_json)
    names = sorted(os.listdir(job["img_dir"]))
    paths = [os.path.join(job["img_dir"], n) for n in names]
    infos = api.image.upload_paths(dataset.id, names, paths)
    ann_paths = [os.path.join(job["ann_dir"], f"{info.name}.json") for info in infos]
    api.annotation.upload_paths([info.id for info in infos], ann_paths)
    return project.id


def upload_blob(sly, api, job, meta_json):
    # The seed's "step after step" recipe: pack, offsets, Team Files, upload_blob_images, anns.
    tar_path, offsets_path = _pack(sly, job)
    team_id = job["team_id"]
    blob_info = api.file.upload(team_id, tar_path, f"/blob-files/{os.path.basename(tar_path)}")
    api.file.upload(team_id, offsets_path, f"/blob-files/{os.path.basename(offsets_path)}")
    project, dataset, _ = _create_project(sly, api, job, meta_json)
    batches = api.image.upload_blob_images(
        dataset=dataset, blob_file=blob_info, return_image_infos_generator=True
    )
    for batch in batches:
        ids = [info.id for info in batch]
        ann_paths = [os.path.join(job["ann_dir"], f"{info.name}.json") for info in batch]
        api.annotation.upload_paths(ids, ann_paths)
    return project.id


def upload_quick(sly, api, job, meta_json):
    tar_path, offsets_path = _pack(sly, job)
    project, dataset, meta = _create_project(sly, api, job, meta_json)
    anns = [os.path.join(job["ann_dir"], n) for n in sorted(os.listdir(job["ann_dir"]))]
    api.dataset.quick_import(
        dataset,
        tar_path,
        offsets_path,
        anns,
        project_meta=meta,
        project_type=sly.ProjectType.IMAGES,
    )
    return project.id


def download_standard(sly, api, job, meta_json):
    sly.download(api, job["project_id"], job["dest"], download_blob_files=False)


def download_blob(sly, api, job, meta_json):
    sly.download(api, job["project_id"], job["dest"], download_blob_files=True)


def download_fast(sly, api, job, meta_json):
    sly.download_fast(api, job["project_id"], job["dest"], download_blob_files=True)


STRATEGIES = {
    ("upload", "standard"): upload_standard,
    ("upload", "blob"): upload_blob,
    ("upload", "quick"): upload_quick,
    ("download", "standard"): download_standard,
    ("download", "blob"): download_blob,
    ("download", "fast"): download_fast,
}


def _peak_rss_mb():
    # blobflow.bench._rss.peak_rss_mb, repeated: this script runs under the SDK's Python,
    # where blobflow is not installed. ru_maxrss would include the parent's peak.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    job = json.load(sys.stdin)
    os.environ["SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK"] = "1"
    out = {"ok": False, "seconds": None, "project_id": None, "error": None}
    try:
        import supervisely as sly

        func = STRATEGIES[(job["direction"], job["strategy"])]
        with open(os.path.join(job["data_root"], "meta.json"), encoding="utf-8") as f:
            meta_json = json.load(f)
        api = sly.Api(job["server"], job["token"])
        start = time.perf_counter()
        project_id = func(sly, api, job, meta_json)
        out["seconds"] = time.perf_counter() - start
        out["project_id"] = project_id
        out["ok"] = True
    except BaseException as exc:  # reported to the orchestrator, which marks the run failed
        traceback.print_exc()
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    out["peak_rss_mb"] = _peak_rss_mb()
    sys.stdout.write(RESULT_PREFIX + json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
