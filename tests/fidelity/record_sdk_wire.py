"""Record the official SDK's requests for each blob flow into ``tests/fixtures/wire/``.

Run once, when the SDK or the flows change (the recordings are kept in the repo, so the tests
need no SDK)::

    BLOBFLOW_SDK_PYTHON=.sdk-venv/bin/python python tests/fidelity/record_sdk_wire.py

Each flow runs against a fresh reference server through :class:`_wire.Recorder`; set-up steps
(a project to import into or to download) go straight to the server and are not recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fidelity._wire import (
    FIXTURES,
    FLOWS,
    Recorder,
    new_dataset,
    run_sdk,
    write_inputs,
)


async def record(python: str, flow: str, work: Path) -> dict[str, object]:
    from blobflow.server import serve_in_process

    inputs = write_inputs(work / "in")
    async with serve_in_process(work / "server", token=secrets.token_hex(16)) as server:
        recorder = Recorder(server.address)
        args: dict[str, object] = {"flow": flow}
        if flow == "upload_project":
            args.update(project_dir=str(inputs["project"]), workspace_id=server.workspace_id,
                        project_name="wire")
        elif flow == "quick_import":
            ds = await new_dataset(server.address, server.token, server.workspace_id, "wire")
            args.update(dataset_id=ds["id"], tar=str(inputs["tar"]), pkl=str(inputs["pkl"]),
                        ann_paths=sorted(str(p) for p in inputs["anns"].iterdir()))
        else:  # download_fast of a project the SDK uploaded
            uploaded = await run_sdk(python, server.address, server.token, {
                "flow": "upload_project", "project_dir": str(inputs["project"]),
                "workspace_id": server.workspace_id, "project_name": "wire"})
            args.update(project_id=uploaded["project_id"], dest_dir=str(work / "down"))
        async with recorder.running() as address:
            await run_sdk(python, address, server.token, args)
        return recorder.recording(flow)


async def main() -> None:
    python = os.environ["BLOBFLOW_SDK_PYTHON"]
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for flow in FLOWS:
        with tempfile.TemporaryDirectory() as tmp:
            recording = await record(python, flow, Path(tmp))
        path = FIXTURES / f"sdk-{flow}.json"
        path.write_text(json.dumps(recording, indent=1, sort_keys=True) + "\n")
        print(f"{path}: {len(recording['calls'])} requests")  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(main())
