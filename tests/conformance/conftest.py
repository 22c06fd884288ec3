"""SDK conformance: the official Supervisely SDK, run unchanged in its own interpreter, against a
blobflow reference server started for the session.

blobflow never imports the SDK: each flow is a script under ``sdk_scripts/`` run by the SDK's
interpreter (``BLOBFLOW_SDK_PYTHON``) as a subprocess, which prints one JSON result on stdout.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SDK_PYTHON_ENV = "BLOBFLOW_SDK_PYTHON"
SCRIPTS = Path(__file__).resolve().parent / "sdk_scripts"
SCRIPT_TIMEOUT_S = 150
HOW_TO_RUN = (
    "bash tests/conformance/setup-sdk-venv.sh .sdk-venv && "
    "BLOBFLOW_SDK_PYTHON=.sdk-venv/bin/python python -m pytest tests/conformance"
)

RunSdk = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def sdk_python() -> str:
    python = os.environ.get(SDK_PYTHON_ENV)
    if not python:
        pytest.skip(f"{SDK_PYTHON_ENV} is not set (the official SDK's python); run: {HOW_TO_RUN}")
    if not os.access(python, os.X_OK):
        pytest.fail(f"{SDK_PYTHON_ENV}={python} is not an executable; run: {HOW_TO_RUN}")
    return python


@pytest.fixture(autouse=True)
def _requires_sdk(sdk_python: str) -> None:
    """Every test in this directory needs the SDK: skip them all, with the reason, without it."""


@pytest.fixture(scope="session")
def sdk_server(
    sdk_python: str, tmp_path_factory: pytest.TempPathFactory, session_backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[Any]:
    """One blobflow server (child process) for the whole suite, on each backend; tests use
    fresh projects."""
    from blobflow.server import ServerProcess

    data_dir = tmp_path_factory.mktemp("sdk-server-data")
    if session_backend == "embedded":
        with ServerProcess(data_dir=data_dir, token=secrets.token_hex(64)) as server:
            yield server
        return
    scale_backend_sync = request.getfixturevalue("scale_backend_sync")
    with scale_backend_sync() as urls, ServerProcess(
        data_dir=data_dir, token=secrets.token_hex(64), **urls
    ) as server:
        yield server


@pytest.fixture(scope="session")
def run_sdk(sdk_python: str, sdk_server: Any, tmp_path_factory: pytest.TempPathFactory) -> RunSdk:
    """``run_sdk("script", **args)`` runs ``sdk_scripts/script.py`` and returns its JSON result.

    The SDK is told to skip its HTTPS probe (spec §2.3) unless a test asks otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPERVISELY_", "PYTHON"))}
    env.update(
        SERVER_ADDRESS=sdk_server.address,
        API_TOKEN=sdk_server.token,
        SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK="1",
        PYTHONUNBUFFERED="1",
    )
    cwd = tmp_path_factory.mktemp("sdk-cwd")

    def run(script: str, *, sdk_env: dict[str, str | None] | None = None, **args: Any) -> Any:
        """``sdk_env`` overrides the SDK's environment (None removes a variable)."""
        run_env = dict(env)
        for key, value in (sdk_env or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        try:
            proc = subprocess.run(
                [sdk_python, str(SCRIPTS / f"{script}.py"), json.dumps(args, default=str)],
                env=run_env,
                cwd=cwd,
                capture_output=True,
                timeout=SCRIPT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as e:
            tail = (e.stderr or b"").decode(errors="replace")[-6000:]
            pytest.fail(f"SDK script {script} timed out after {SCRIPT_TIMEOUT_S}s:\n{tail}")
        stderr = proc.stderr.decode(errors="replace")
        if proc.returncode != 0:
            pytest.fail(f"SDK script {script} failed (exit {proc.returncode}):\n{stderr[-8000:]}")
        try:
            result: dict[str, Any] = json.loads(proc.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"SDK script {script} printed no JSON result:\n{stderr[-4000:]}")
        return result

    return run


# --- ground truth from the SDK-written fixtures ------------------------------------------------


@pytest.fixture(scope="session")
def source_images(sdk_fixtures: Path) -> dict[str, Path]:
    """Image name (flattened, as the SDK names blob members) -> original file."""
    files = sorted(p for p in (sdk_fixtures / "source-images").rglob("*") if p.is_file())
    return {p.name: p for p in files}


@pytest.fixture(scope="session")
def source_sha256(source_images: dict[str, Path]) -> dict[str, str]:
    import hashlib

    return {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in source_images.items()}


@pytest.fixture(scope="session")
def fixture_project(sdk_fixtures: Path) -> Path:
    return sdk_fixtures / "project-blob"


@pytest.fixture(scope="session")
def fixture_anns(fixture_project: Path) -> dict[str, dict[str, Any]]:
    """Image name -> the annotation JSON the SDK wrote locally (pixel coordinates)."""
    ann_dir = fixture_project / "ds0" / "ann"
    return {p.name[: -len(".json")]: json.loads(p.read_text()) for p in ann_dir.glob("*.json")}


@pytest.fixture(scope="session")
def fixture_tar(fixture_project: Path) -> Path:
    return fixture_project / "blob" / "small_images.tar"


@pytest.fixture(scope="session")
def tar_offsets(fixture_tar: Path) -> dict[str, tuple[int, int]]:
    """Image name -> (offset_start, offset_end exclusive) read with the stdlib tar reader."""
    with tarfile.open(fixture_tar) as tf:
        return {
            Path(m.name).name: (m.offset_data, m.offset_data + m.size)
            for m in tf.getmembers()
            if m.isfile()
        }


# --- shared SDK flows (session scope: later tests read what earlier flows made) -----------------


@pytest.fixture(scope="session")
def uploaded_blob_project(
    run_sdk: RunSdk,
    sdk_server: Any,
    fixture_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """``sly.upload_project`` of the SDK-written blob project (copied: fixtures stay read-only),
    plus a nested dataset ``ds0/datasets/nested`` holding the JPEGs of the same blob (the SDK's
    JPEG-only offsets fixture)."""
    local = tmp_path_factory.mktemp("upload-project") / "project-blob"
    shutil.copytree(fixture_project, local)
    nested = local / "ds0" / "datasets" / "nested"
    (nested / "ann").mkdir(parents=True)
    shutil.copy(fixture_project.parent / "blob_jpg_only" / "small_images_offsets.pkl", nested)
    for ann in (local / "ds0" / "ann").glob("*.jpg.json"):
        shutil.copy(ann, nested / "ann")
    return run_sdk(
        "upload_project",
        project_dir=str(local),
        workspace_id=sdk_server.workspace_id,
        project_name="conformance-upload-project",
    )


@pytest.fixture(scope="session")
def quick_imported(
    run_sdk: RunSdk,
    sdk_server: Any,
    uploaded_blob_project: dict[str, Any],
    source_images: dict[str, Path],
    fixture_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """``api.dataset.quick_import`` of a new JPEG-only blob, also named small_images.tar: it
    overwrites the Team Files path that ``uploaded_blob_project`` registered its images from."""
    src = tmp_path_factory.mktemp("quick-import-src")
    work = tmp_path_factory.mktemp("quick-import-work")
    jpgs = sorted(n for n in source_images if n.endswith(".jpg"))
    for name in jpgs:
        shutil.copy(source_images[name], src / name)
    return run_sdk(
        "quick_import",
        workspace_id=sdk_server.workspace_id,
        project_name="conformance-quick-import",
        meta_path=str(fixture_project / "meta.json"),
        src_dir=str(src),
        work_dir=str(work),
        ann_paths=[str(fixture_project / "ds0" / "ann" / f"{n}.json") for n in jpgs],
    )
