"""blobflow's requests for each blob flow, against the official SDK's recorded ones.

The recordings (``tests/fixtures/wire/sdk-<flow>.json``) were made with the SDK by
``record_sdk_wire.py`` (kept beside this file) on the same inputs (``_wire.write_inputs``).
Here blobflow runs the same flow through the same recording proxy, and the two must agree on
the endpoint sequence, the JSON shape of each method, the batch sizes, the transport (content
type, chunked or not) and the annotation geometry sent for each image; every way they may
differ is listed in ACCEPTED below, with its reason.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from blobflow.api import Api
from blobflow.project import download_fast_async, upload_project_async
from blobflow.project._quick_import import quick_import_async

from ._wire import FIXTURES, FLOWS, Recorder, new_dataset, write_inputs

#: Every accepted difference, per flow, with its reason (docs/sdk-differences.md):
#: ``sdk_only`` / ``blobflow_only``: methods only one client calls; ``unordered``: methods
#: compared by presence, not position; ``replace``: an SDK method blobflow replaces by another;
#: ``transport``: methods sent with another content type / chunking; ``shapes``: methods sent
#: with other JSON keys; ``batches``: (method, list) whose batch sizes may differ.
ACCEPTED: dict[str, dict[str, Any]] = {
    "upload_project": {
        # The SDK lists projects twice (exists, then get_free_name); its images.info only
        # learns the dataset id blobflow already has. blobflow looks the blob up in Team Files
        # first (file-storage.list) to reuse one with the same content on a re-run.
        "sdk_only": {"images.info"},
        "blobflow_only": {"file-storage.list"},
        # The SDK marks the blob project after registration, blobflow after the annotations
        # (they go up while the next batch registers).
        "unordered": {"projects.info", "projects.editInfo"},
        # The blob goes up as one raw streamed body (file-storage.upload, as the SDK's
        # quick_import sends it) instead of a multipart file-storage.bulk.upload.
        "replace": {"file-storage.bulk.upload": "file-storage.upload"},
        "transport": {"file-storage.upload"},
        # blobflow asks projects.list for the whole project objects (no `fields` subset).
        "batches": {("projects.list", "fields")},
    },
    "quick_import": {
        # blobflow registers from the local offsets file (the SDK downloads the one it just
        # uploaded, spec §12) and takes the blob's id from file-storage.upload's answer (the
        # SDK looks it up with file-storage.list / info).
        "sdk_only": {"file-storage.list", "file-storage.info", "file-storage.download"},
        "blobflow_only": set(),
        # The SDK reads the project once more up front and marks the blob project twice.
        "unordered": {"projects.info", "projects.editInfo"},
        # The SDK's quick_import labels through figures.bulk.add (one figure per object, its
        # geometry as in the file); blobflow sends each image's annotation, geometry as in the
        # file too, with annotations.bulk.add, 50 a call: the same stored result
        # (test_client_fidelity), without the figure ids round trip.
        "replace": {"figures.bulk.add": "annotations.bulk.add"},
        # file-storage.upload: Content-Length instead of a chunked body (the size is known;
        # the platform accepts both, spec §16).
        "transport": {"file-storage.upload"},
        "batches": {("figures.bulk.add", "figures"), ("annotations.bulk.add", "annotations")},
    },
    "download_fast": {
        # The SDK reads the dataset info again when it writes the project; it also fetches
        # the blob with a GET first when progress is on (spec §16) and probes the first image
        # with a one-id images.list (fields id, pathOriginal).
        "sdk_only": {"datasets.info"},
        "blobflow_only": set(),
        # blobflow fetches annotations while the blob downloads.
        "unordered": {"images.data.download"},
        "transport": {"images.data.download"},
        # blobflow lists images as the SDK's get_list does (the first page without page fields,
        # `recursive` given), not with the async probe-then-pages form download_fast uses.
        "shapes": {"images.list"},
        # The SDK batches annotations.bulk.info by image bytes (48/50/22 here); blobflow sends
        # 50 ids a call, the SDK's batch for the method.
        "batches": {("annotations.bulk.info", "imageIds"), ("images.list", "fields")},
    },
}


def _order(calls: list[dict[str, Any]], drop: set[str], replace: dict[str, str]) -> list[str]:
    """Methods in the order of their first call (concurrent calls interleave differently
    from run to run; the order of the phases does not)."""
    out: list[str] = []
    for call in calls:
        method = replace.get(call["method"], call["method"])
        if call["method"] not in drop and method not in out:
            out.append(method)
    return out


def _transports(calls: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for call in calls:
        out[call["method"]].add(f"{call['http']} {call['contentType']} chunked={call['chunked']}"
                                f" query={call['query']}")
    return out


def _shapes(calls: list[dict[str, Any]]) -> dict[str, set[str]]:
    """method -> the JSON key sets (top level, and of list items) it was sent with."""
    out: dict[str, set[str]] = defaultdict(set)
    for call in calls:
        if "keys" in call:
            out[call["method"]].add(json.dumps(
                [call["keys"], {k: v["itemKeys"] for k, v in call["lists"].items()}],
                sort_keys=True))
    return out


def _batches(calls: list[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = defaultdict(list)
    for call in calls:
        for key, value in call.get("lists", {}).items():
            if value["len"] > 1:
                out[(call["method"], key)].append(value["len"])
    return {k: sorted(v) for k, v in out.items()}


async def _blobflow(flow: str, server: Any, tmp_path: Path) -> dict[str, Any]:
    inputs = await __import__("asyncio").to_thread(write_inputs, tmp_path / "in")
    recorder = Recorder(server.address)
    async with Api(server.address, server.token) as direct:
        if flow == "quick_import":
            ds = await new_dataset(server.address, server.token, server.workspace_id, "wire")
        elif flow == "download_fast":
            uploaded = await upload_project_async(inputs["project"], direct, server.workspace_id,
                                                  "wire", progress=False)
        async with recorder.running() as address, Api(address, server.token) as api:
            if flow == "upload_project":
                await upload_project_async(inputs["project"], api, server.workspace_id, "wire",
                                           progress=False)
            elif flow == "quick_import":
                paths = sorted(str(p) for p in inputs["anns"].iterdir())
                await quick_import_async(api, ds["id"], inputs["tar"], inputs["pkl"], paths,
                                         progress=False)
            else:
                await download_fast_async(api, uploaded.project_id, tmp_path / "down",
                                          progress=False)
    return recorder.recording(flow)


@pytest.mark.parametrize("flow", FLOWS)
async def test_blobflow_speaks_the_sdks_wire_contract(
    flow: str, server: Any, tmp_path: Path
) -> None:
    sdk = json.loads((FIXTURES / f"sdk-{flow}.json").read_text())
    ours = await _blobflow(flow, server, tmp_path)
    ok = ACCEPTED[flow]
    replace = ok.get("replace", {})
    assert {c["status"] for c in sdk["calls"]} == {c["status"] for c in ours["calls"]} == {200}
    # endpoint sequence
    skip_sdk = ok["sdk_only"] | ok["unordered"]
    skip_ours = ok["blobflow_only"] | ok["unordered"]
    assert _order(ours["calls"], skip_ours, {}) == _order(sdk["calls"], skip_sdk, replace)
    assert {c["method"] for c in ours["calls"]} & ok["unordered"] == {
        replace.get(c["method"], c["method"]) for c in sdk["calls"]} & ok["unordered"]
    # transport and JSON shape of every method both clients send
    sdk_transports, our_transports = _transports(sdk["calls"]), _transports(ours["calls"])
    for method in (sdk_transports.keys() & our_transports.keys()) - ok["transport"]:
        assert our_transports[method] == sdk_transports[method], method
    sdk_shapes, our_shapes = _shapes(sdk["calls"]), _shapes(ours["calls"])
    for method in (sdk_shapes.keys() & our_shapes.keys()) - ok.get("shapes", set()):
        assert our_shapes[method] == sdk_shapes[method], method
    # batch sizes
    sdk_batches, our_batches = _batches(sdk["calls"]), _batches(ours["calls"])
    for key in (sdk_batches.keys() | our_batches.keys()) - ok["batches"]:
        assert our_batches.get(key) == sdk_batches.get(key), key
    # annotation geometry sent for each image
    assert ours["geometry"] == sdk["geometry"]
