"""The transfer sub-commands of ``blobflow``: ``upload``, ``download``, ``import-blob``.

Exit codes (documented in docs/cli.md): 0 success, 1 a clear error, 2 bad usage, 3 the server
refused the token, 4 the server cannot be reached, 5 the disk is full (partial files removed),
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blobflow._errors import BlobflowError
from blobflow.project import ProjectError

# What the commands run (asyncio, the client, tqdm) is imported when they run: building the
# parser, for ``blobflow --help`` or any other sub-command, needs none of it.
if TYPE_CHECKING:
    from blobflow.api import Api

__all__ = ["add_transfer_commands"]

EXIT_ERROR = 1
EXIT_AUTH = 3
EXIT_UNREACHABLE = 4
EXIT_DISK_FULL = 5
_ENV_FILES = (Path(".env"), Path("~/supervisely.env"))


# --- connection -------------------------------------------------------------------------
def _connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", help="server address (default: $SERVER_ADDRESS, or from ./.env)"
    )
    parser.add_argument("--token", help="API token (default: $API_TOKEN, or from ./.env)")


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    """--server/--token, else the environment, else ``./.env`` then ``~/supervisely.env``."""
    from blobflow.api import read_env_file

    values = {k: os.environ[k] for k in ("SERVER_ADDRESS", "API_TOKEN") if os.environ.get(k)}
    for env_file in _ENV_FILES:
        path = env_file.expanduser()
        if len(values) == 2 or not path.is_file():
            continue
        for key, value in read_env_file(path).items():
            if key in ("SERVER_ADDRESS", "API_TOKEN") and value:
                values.setdefault(key, value)
    server = args.server or values.get("SERVER_ADDRESS")
    token = args.token or values.get("API_TOKEN")
    if not server:
        raise ProjectError("no server: pass --server or set SERVER_ADDRESS (env or .env)")
    if not token:
        raise ProjectError("no token: pass --token or set API_TOKEN (env or .env)")
    return server, token


class _Unreachable(BlobflowError):
    pass


async def _preflight(server: str, token: str) -> None:
    """One quick ``users.me`` with few retries: a wrong token or a dead server fails fast."""
    from blobflow.api import Api, ApiError, TransferConfig

    cfg = TransferConfig(retry_attempts=2, retry_max_total_backoff=1.0, sock_connect_timeout=10)
    async with Api(server, token, cfg) as api:
        try:
            await api.post("users.me", {})
        except ApiError as exc:
            if exc.status in (401, 403):
                raise
            if exc.status is None:
                raise _Unreachable(f"cannot reach the server at {api.server_address}") from exc
            raise


def _run(args: argparse.Namespace, work: Callable[[Api], Awaitable[dict[str, Any]]]) -> int:
    """Connect, run ``work``, print its summary; map failures to one line and an exit code."""
    from blobflow._loop import run_sync
    from blobflow.api import Api, AuthError
    from blobflow.project import DiskFullError

    server, token = _credentials(args)

    async def go() -> dict[str, Any]:
        await _preflight(server, token)
        async with Api(server, token) as api:
            return await work(api)

    try:
        summary = run_sync(go)
    except AuthError as exc:
        return _fail(
            args,
            exc,
            EXIT_AUTH,
            f"the server at {server} refused the token "
            f"(HTTP {exc.status}); check --token / API_TOKEN",
        )
    except _Unreachable as exc:
        return _fail(args, exc, EXIT_UNREACHABLE, str(exc))
    except DiskFullError as exc:
        return _fail(args, exc, EXIT_DISK_FULL, str(exc))
    except OSError as exc:
        if exc.errno == 28:  # ENOSPC outside the download flow (packing, temp files)
            return _fail(args, exc, EXIT_DISK_FULL, f"no space left on device ({exc})")
        raise
    text = summary.pop("_text", "")
    for warning in summary.pop("_warnings", []):
        print(f"blobflow: {warning}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps(summary, sort_keys=True))
    elif not args.quiet:
        print(text)
    return 0


def _bars(args: argparse.Namespace) -> bool:
    """Progress bars only for a person watching: not with --quiet/--json, not into a file."""
    return not args.quiet and not args.json and sys.stderr.isatty()


def _fail(args: argparse.Namespace, exc: BaseException, code: int, line: str) -> int:
    if args.debug or os.environ.get("BLOBFLOW_DEBUG"):
        raise exc
    print(f"blobflow: error: {line}", file=sys.stderr)
    return code


# --- upload -----------------------------------------------------------------------------
def _cmd_upload(args: argparse.Namespace) -> int:
    import asyncio
    import shutil
    import tempfile

    from blobflow._media import Skipped, selection_from_args
    from blobflow.project import is_project_folder, project_from_folder, upload_project_async

    select = selection_from_args(args)
    src = Path(args.src)
    if not src.is_dir():
        raise ProjectError(f"folder not found: {src}")
    name = args.project or src.resolve().name

    async def work(api: Api) -> dict[str, Any]:
        tmp: str | None = None
        try:
            root = src
            if not await asyncio.to_thread(is_project_folder, src):
                tmp = await asyncio.to_thread(tempfile.mkdtemp, prefix="blobflow-pack-")
                root = await asyncio.to_thread(project_from_folder, src, tmp, select)
            res = await upload_project_async(
                root, api, args.workspace, name,
                project_id=args.project_id, progress=_bars(args),
            )  # fmt: skip
        finally:
            if tmp is not None:
                await asyncio.to_thread(shutil.rmtree, tmp, True)
        summary = {
            "project_id": res.project_id,
            "project_name": res.project_name,
            "images": res.images,
            "blob_images": res.blob_images,
            "annotations": res.annotations,
            "datasets": res.datasets,
        }
        lines = [f"uploaded {res.images} images to project {res.project_id} ({res.project_name!r})"]
        skipped = select.skipped
        if tmp is None:  # a project: the files in img/ that are not images
            skipped = Skipped(verbose=args.verbose)
            skipped.update(res.skipped.names)
        skipped.report(summary, lines)
        summary["_text"] = "\n".join(lines)
        return summary

    return _run(args, work)


# --- download ---------------------------------------------------------------------------
def _cmd_download(args: argparse.Namespace) -> int:
    from blobflow.project import download_fast_async

    async def work(api: Api) -> dict[str, Any]:
        res = await download_fast_async(
            api, args.project_id, args.dest, extract=args.extract, progress=_bars(args),
            force=args.force,
        )  # fmt: skip
        return {
            "project_id": res.project_id,
            "directory": str(res.directory),
            "images": res.images,
            "blob_images": res.blob_images,
            "blobs_downloaded": res.blobs_downloaded,
            "blobs_skipped": res.blobs_skipped,
            "extracted": res.extracted,
            "datasets": res.datasets,
            "_text": f"downloaded {res.images} images of project {res.project_id} to "
            f"{res.directory} ({res.blobs_downloaded} blobs fetched, "
            f"{res.blobs_skipped} already there)",
        }

    return _run(args, work)


# --- import-blob ------------------------------------------------------------------------
def _cmd_import_blob(args: argparse.Namespace) -> int:
    import asyncio
    import shutil
    import tempfile

    from blobflow._media import Skipped, selection_from_args
    from blobflow.blob import offsets_pkl_path, save_blob_offsets_pkl
    from blobflow.project import quick_import_async, read_json

    tar = Path(args.tar)
    if args.images is not None:
        if args.offsets is not None:
            raise ProjectError("--images packs TAR and writes its offsets beside it: no --offsets")
    elif not tar.is_file():
        raise ProjectError(f"file not found: {tar}")
    if args.anns is not None and not Path(args.anns).is_dir():
        raise ProjectError(f"annotation folder not found: {args.anns}")
    meta = None
    if args.meta is not None:
        meta = read_json(args.meta)

    # --filter narrows the images (quick_import keeps images only, and names the rest)
    patterns = selection_from_args(args, images_only=False) if args.filter else None

    async def work(api: Api) -> dict[str, Any]:
        tmp: str | None = None
        try:
            offsets = Path(args.offsets) if args.offsets else None
            beside = offsets_pkl_path(tar)
            if args.images is None and offsets is None and not await asyncio.to_thread(
                beside.is_file
            ):
                tmp = await asyncio.to_thread(tempfile.mkdtemp, prefix="blobflow-offsets-")
                offsets = Path(await asyncio.to_thread(save_blob_offsets_pkl, str(tar), tmp))
            project_meta = None
            if meta is not None:  # the tutorial's update_meta step, asked for by --meta
                ds = await api.dataset.resolve(args.dataset)
                if ds.project_id is None:
                    raise ProjectError(f"cannot tell the project of dataset {args.dataset}")
                project_meta = await api.project.update_meta(ds.project_id, meta)
            res = await quick_import_async(
                api, args.dataset, tar, offsets, args.anns, project_meta, progress=_bars(args),
                images_dir=args.images, filter_func=patterns,
            )  # fmt: skip
        finally:
            if tmp is not None:
                await asyncio.to_thread(shutil.rmtree, tmp, True)
        summary: dict[str, Any] = {"dataset_id": args.dataset, "images": res.images}
        lines = [f"imported {res.images} images into dataset {args.dataset}"]
        skipped = Skipped(verbose=args.verbose, reason=res.skipped.reason)
        skipped.update(res.skipped.names)
        skipped.report(summary, lines)
        summary["_text"] = "\n".join(lines)
        return summary

    return _run(args, work)


def add_transfer_commands(sub: Any) -> None:
    """Add ``upload``, ``download`` and ``import-blob`` to the ``blobflow`` parser."""
    from blobflow._media import add_selection_arguments

    p = sub.add_parser(
        "upload",
        help="upload a local project or a plain image folder",
        description="Upload SRC: a Supervisely-format project (blob/ aware), or a plain folder "
        "of images, packed into one blob on the fly (annotations from SRC/ann/<name>.json "
        "or <name>.json beside the images).",
    )
    p.add_argument("src", metavar="SRC", help="project folder or image folder")
    add_selection_arguments(p, filters=False)
    p.add_argument("--workspace", type=int, required=True, metavar="ID", help="workspace id")
    p.add_argument("--project", metavar="NAME", help="project name (default: folder name)")
    p.add_argument(
        "--project-id", type=int, metavar="ID",
        help="upload into this existing project; images already there are skipped (re-runs)",
    )  # fmt: skip
    _connection_args(p)
    p.set_defaults(handler=_cmd_upload, transfers=True)

    p = sub.add_parser(
        "download",
        help="download a project (blobs as blob/<id>.tar + offsets)",
        description="Download a project in Supervisely format: blob images as blob/<id>.tar "
        "and <dataset>/<id>_offsets.pkl, other images to img/, annotations to ann/. A re-run "
        "into the same folder skips the blobs already verified; a folder holding another "
        "project is refused unless --force.",
    )
    p.add_argument("project_id", type=int, metavar="PROJECT_ID")
    p.add_argument("dest", metavar="DEST", help="destination folder")
    p.add_argument("--extract", action="store_true", help="also write every image to img/")
    p.add_argument(
        "--force", action="store_true",
        help="download even into a folder that holds another project (they mix)",
    )  # fmt: skip
    _connection_args(p)
    p.set_defaults(handler=_cmd_download, transfers=True)

    p = sub.add_parser(
        "import-blob",
        help="import an existing blob .tar (+ offsets, annotations) into a dataset",
        description="Upload TAR and its offsets to Team Files, register its images by offsets "
        "and upload their annotations, pipelined (the SDK's quick_import). With --images, TAR "
        "is first packed from that folder while it uploads. Only image files are registered "
        "(the rest is named); with --anns every image's annotation is checked before any "
        "image is registered.",
    )
    p.add_argument("tar", metavar="TAR")
    p.add_argument(
        "--images", metavar="DIR",
        help="pack this image folder into TAR (+ offsets beside it) while uploading it",
    )  # fmt: skip
    p.add_argument("--dataset", type=int, required=True, metavar="ID", help="dataset id")
    p.add_argument(
        "--offsets", metavar="PKL",
        help="offsets file (default: <tar stem>_offsets.pkl beside TAR, else computed)",
    )  # fmt: skip
    p.add_argument("--anns", metavar="DIR", help="folder of <image name>.json annotations")
    p.add_argument(
        "--meta", metavar="META_JSON",
        help="set this project meta first (it replaces the project's, as the tutorial's "
             "update_meta); without it the project's meta is only read",
    )  # fmt: skip
    add_selection_arguments(p)
    _connection_args(p)
    p.set_defaults(handler=_cmd_import_blob, transfers=True)
