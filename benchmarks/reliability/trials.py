"""Randomised transfer trials through the fault proxy, and server-crash trials.

An *upload trial* runs blobflow's blob upload (``blobflow.engine.upload_blob``: the packed tar and
its offsets to Team Files, registration by offsets, annotations) through a :class:`FaultProxy`
with a seeded fault schedule. A *download trial* runs ``blobflow.project.download_fast_async``
(blobs, offsets, annotations) the same way. Each trial must end either verified identical to the
source or with a ``BlobflowError`` after the retry budget; in both cases there must be no
duplicate image and no corrupt file under a final name. Then the same job is re-run without
faults and must complete, verified.

A *crash trial* SIGKILLs a ``ServerProcess`` at a random moment of an upload, checks the
database (``PRAGMA integrity_check``) and Team Files (nothing half-written visible), restarts
the server on the same data dir and re-runs the upload to completion without duplicates.

Verification never goes through the client under test: it reads the server with raw HTTP (or
the local files with the standard library) and compares with the source bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sqlite3
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.reliability.faultproxy import FaultProxy, FaultSchedule
from benchmarks.reliability.tenants import call

__all__ = [
    "Source",
    "TrialResult",
    "make_source",
    "fast_retry_config",
    "upload_trial",
    "download_trial",
    "crash_trial",
    "calibrate_upload",
    "Verifier",
]


@dataclass
class Source:
    """A packed blob: images, their annotations, the tar and its offsets pickle."""

    root: Path
    images: dict[str, bytes]
    anns: dict[str, dict[str, Any]]
    tar: Path
    pkl: Path

    @property
    def tar_sha(self) -> str:
        return hashlib.sha256(self.tar.read_bytes()).hexdigest()


@dataclass
class TrialResult:
    kind: str
    seed: int
    outcome: str  # "verified" | "clean_error" | "unclean_error"
    error: str = ""
    corrupt: int = 0
    duplicates: int = 0
    rerun_verified: bool = False
    rerun_error: str = ""
    faults: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.outcome in ("verified", "clean_error")
            and self.corrupt == 0
            and self.duplicates == 0
            and self.rerun_verified
        )


def make_source(
    root: Path, n: int, seed: int, *, min_size: int = 200, max_size: int = 6000
) -> Source:
    """``n`` random images (random sizes), packed by blobflow's own ``archive_directory``."""
    from blobflow import BlobImageInfo, archive_directory

    rng = random.Random(seed)
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    images: dict[str, bytes] = {}
    anns: dict[str, dict[str, Any]] = {}
    for i in range(n):
        name = f"s{seed}_{i:06d}.png"
        data = rng.randbytes(rng.randint(min_size, max_size))
        images[name] = data
        (img_dir / name).write_bytes(data)
        anns[name] = {
            "description": f"{name} seed {seed}",
            "size": {"height": 8, "width": 8},
            "tags": [],
            "objects": [],
            "customBigData": {},
        }
    tar = root / f"blob_{seed}.tar"
    infos = archive_directory(img_dir, tar)
    pkl = root / f"blob_{seed}_offsets.pkl"
    BlobImageInfo.dump_to_pickle(infos, pkl)
    return Source(root, images, anns, tar, pkl)


def fast_retry_config(**over: Any) -> Any:
    """A small, fast retry budget so a fault-heavy trial ends in seconds."""
    from blobflow.api import TransferConfig

    base: dict[str, Any] = dict(
        retry_attempts=4,
        backoff_base=0.02,
        backoff_cap=0.3,
        retry_max_total_backoff=5.0,
        sock_read_timeout=2.0,
        sock_connect_timeout=2.0,
    )
    base.update(over)
    return TransferConfig(**base)


def _trial_config(seed: int) -> Any:
    """The faulty run's budget: 2 to 4 attempts, so some trials must end in a clean error."""
    return fast_retry_config(retry_attempts=random.Random(f"budget{seed}").choice((2, 3, 4)))


def _classify(exc: BaseException) -> tuple[str, str]:
    from blobflow import BlobflowError

    text = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, BlobflowError):
        return "clean_error", text
    return "unclean_error", text + "\n" + "".join(traceback.format_exception(exc))[-1500:]


class Verifier:
    """Reads the server directly (raw HTTP, no proxy, not blobflow's client)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str, team_id: int):
        self.s, self.base, self.token, self.team_id = session, base, token, team_id

    async def _json(self, method: str, body: Any) -> Any:
        r = await call(self.s, self.base, self.token, method, body)
        if r.status != 200:
            raise RuntimeError(f"verifier: {method} -> HTTP {r.status} {r.body[:200]!r}")
        return r.json()

    async def images(self, dataset_id: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            res = await self._json(
                "images.list",
                {"datasetId": dataset_id, "filter": [], "page": page, "per_page": 5000},
            )
            out += res["entities"]
            if page >= res["pagesCount"]:
                return out
            page += 1

    async def check_dataset(
        self, project_id: int, dataset_id: int, src: Source, *, complete: bool
    ) -> tuple[int, int, list[str]]:
        """(corrupt, duplicates, problems) of what the server holds for ``src``."""
        imgs = await self.images(dataset_id)
        names = [i["name"] for i in imgs]
        dups = len(names) - len(set(names))
        problems = []
        corrupt = 0
        if complete and set(names) != set(src.images):
            problems.append(
                f"server has {len(set(names))} of {len(src.images)} images"
                f" (+{len(set(names) - set(src.images))} unknown)"
            )
        blobs: dict[int, bytes] = {}
        for img in imgs:
            rid = img.get("relatedDataId")
            if rid is None or rid in blobs:
                continue
            r = await call(
                self.s,
                self.base,
                self.token,
                "images.data.download",
                {"projectId": project_id, "downloadId": img["downloadId"]},
            )
            blobs[rid] = r.body if r.status == 200 else b""
        for img in imgs:
            want = src.images.get(img["name"])
            got = blobs.get(img.get("relatedDataId") or 0, b"")[
                img.get("offsetStart") or 0 : img.get("offsetEnd") or 0
            ]
            if want is None or got != want:
                corrupt += 1
                if len(problems) < 5:
                    problems.append(f"image {img['name']!r} does not hold its source bytes")
        ids = [i["id"] for i in imgs]
        got_anns: dict[int, Any] = {}
        for k in range(0, len(ids), 50):
            for a in await self._json(
                "annotations.bulk.info", {"datasetId": dataset_id, "imageIds": ids[k : k + 50]}
            ):
                got_anns[a["imageId"]] = a.get("annotation")
        by_id = {i["id"]: i["name"] for i in imgs}
        missing_anns = 0
        for iid, name in by_id.items():
            ann = got_anns.get(iid)
            want_ann = src.anns.get(name)
            if ann is None or not ann.get("objects") and ann.get("description") in (None, ""):
                missing_anns += 1
            elif want_ann is not None and ann.get("description") != want_ann["description"]:
                corrupt += 1
                problems.append(f"annotation of {name!r} differs")
        if complete and missing_anns:
            problems.append(f"{missing_anns} images without their annotation")
        return corrupt, dups, problems

    async def check_team_files(self, src: Source) -> tuple[int, list[str]]:
        """Files of this source listed in Team Files must hold exactly the source bytes."""
        entries = await self._json(
            "file-storage.list", {"teamId": self.team_id, "path": "/blob-files/", "recursive": True}
        )
        want = {src.tar.name: src.tar.read_bytes(), src.pkl.name: src.pkl.read_bytes()}
        corrupt, problems = 0, []
        for e in entries:
            name = e.get("name") or str(e.get("path", "")).rsplit("/", 1)[-1]
            if name not in want:
                continue
            r = await call(
                self.s,
                self.base,
                self.token,
                "file-storage.download",
                {"teamId": self.team_id, "path": e["path"]},
            )
            if r.status != 200 or r.body != want[name]:
                corrupt += 1
                problems.append(
                    f"Team Files {e['path']} is visible but does not hold the source"
                    f" ({len(r.body)} of {len(want[name])} bytes)"
                )
        return corrupt, problems


async def _new_dataset(v: Verifier, workspace_id: int, tag: str) -> tuple[int, int]:
    p = await v._json(
        "projects.add",
        {"name": f"rel-{tag}", "workspaceId": workspace_id, "type": "images", "description": ""},
    )
    d = await v._json("datasets.add", {"projectId": p["id"], "name": "ds0", "parentId": None})
    return p["id"], d["id"]


async def _run_upload(address: str, token: str, dataset_id: int, src: Source, cfg: Any) -> None:
    from blobflow.api import Api
    from blobflow.engine import upload_blob

    async with Api(address, token, config=cfg) as api:
        async for _ in upload_blob(api, dataset_id, src.tar, src.pkl, annotations=src.anns):
            pass


def _schedule(seed: int, big: int, *, upload: bool) -> FaultSchedule:
    """Faults land anywhere in the big body (the blob) or in the small JSON exchanges."""
    rng = random.Random(seed)
    small = 64 * 1024
    up, down = (big * 5 // 4, small) if upload else (small, big * 5 // 4)
    return FaultSchedule(
        seed=seed,
        rate=rng.uniform(0.3, 0.9),
        max_at_byte=up,
        max_at_byte_down=down,
        max_stall=3.0,
    )


async def upload_trial(
    proxy: FaultProxy, v: Verifier, workspace_id: int, src: Source, seed: int
) -> TrialResult:
    t0 = time.monotonic()
    res = TrialResult("upload", seed, "verified")
    project_id, dataset_id = await _new_dataset(v, workspace_id, f"up-{seed}")
    before = dict(proxy.stats)
    proxy.schedule = _schedule(seed, src.tar.stat().st_size, upload=True)
    proxy.enabled = True
    try:
        await asyncio.wait_for(
            _run_upload(proxy.address, v.token, dataset_id, src, _trial_config(seed)), 300
        )
    except Exception as exc:
        res.outcome, res.error = _classify(exc)
    finally:
        proxy.enabled = False
    res.faults = {
        k: v_ - before.get(k, 0)
        for k, v_ in proxy.stats.items()
        if k.startswith("fault.") and v_ - before.get(k, 0)
    }
    corrupt, dups, problems = await v.check_dataset(
        project_id, dataset_id, src, complete=res.outcome == "verified"
    )
    tf_corrupt, tf_problems = await v.check_team_files(src)
    res.corrupt, res.duplicates = corrupt + tf_corrupt, dups
    res.problems += problems + tf_problems
    if res.outcome == "verified" and problems:
        res.outcome = "unclean_error"
        res.error = "the job reported success but the data is not complete"
    # the re-run, without faults, must complete the job
    try:
        await asyncio.wait_for(
            _run_upload(proxy.address, v.token, dataset_id, src, fast_retry_config()), 300
        )
        c2, d2, p2 = await v.check_dataset(project_id, dataset_id, src, complete=True)
        t2, tp2 = await v.check_team_files(src)
        res.rerun_verified = not (c2 or d2 or p2 or t2 or tp2)
        res.corrupt += c2 + t2
        res.duplicates += d2
        res.problems += [f"re-run: {p}" for p in p2 + tp2]
    except Exception as exc:
        res.rerun_error = _classify(exc)[1]
    res.seconds = time.monotonic() - t0
    return res


def check_local_download(dest: Path, src: Source, *, complete: bool) -> tuple[int, int, list[str]]:
    """(corrupt, duplicates, problems) of a download_fast destination, read with the stdlib
    (tars compared whole; offsets through blobflow's allow-list loader)."""
    from blobflow import BlobImageInfo

    tar_bytes = src.tar.read_bytes()
    corrupt, dups, problems = 0, 0, []
    tars = sorted((dest / "blob").glob("*.tar")) if (dest / "blob").is_dir() else []
    for t in tars:
        if t.read_bytes() != tar_bytes:
            corrupt += 1
            problems.append(f"{t} is under its final name but differs from the source blob")
    names: list[str] = []
    for pkl in dest.glob("*/*_offsets.pkl"):
        try:
            for batch in BlobImageInfo.load_from_pickle_generator(str(pkl)):
                for info in batch:
                    names.append(info.name)
                    want = src.images.get(info.name)
                    if want is None or tar_bytes[info.offset_start : info.offset_end] != want:
                        corrupt += 1
        except Exception as exc:
            corrupt += 1
            problems.append(f"{pkl} unreadable: {exc}")
    dups = len(names) - len(set(names))
    ann_names = []
    for ann in dest.glob("*/ann/*.json"):
        name = ann.name[: -len(".json")]
        ann_names.append(name)
        try:
            got = json.loads(ann.read_bytes())
        except ValueError:
            corrupt += 1
            problems.append(f"{ann} is not valid JSON")
            continue
        want_ann = src.anns.get(name)
        if want_ann is None or got.get("description") != want_ann["description"]:
            corrupt += 1
            problems.append(f"{ann} differs from the source annotation")
    if complete:
        if len(tars) != 1:
            problems.append(f"{len(tars)} blob tars, expected 1")
        if set(names) != set(src.images):
            problems.append(f"offsets list {len(set(names))} of {len(src.images)} images")
        if set(ann_names) != set(src.images):
            problems.append(f"{len(set(ann_names))} of {len(src.images)} annotations")
    return corrupt, dups, problems


async def _run_download(address: str, token: str, project_id: int, dest: Path, cfg: Any) -> None:
    from blobflow.api import Api
    from blobflow.project import download_fast_async

    async with Api(address, token, config=cfg) as api:
        await download_fast_async(api, project_id, dest, progress=False, readme=False)


async def download_trial(
    proxy: FaultProxy, v: Verifier, project_id: int, src: Source, dest: Path, seed: int
) -> TrialResult:
    t0 = time.monotonic()
    res = TrialResult("download", seed, "verified")
    before = dict(proxy.stats)
    proxy.schedule = _schedule(seed, src.tar.stat().st_size, upload=False)
    proxy.enabled = True
    try:
        await asyncio.wait_for(
            _run_download(proxy.address, v.token, project_id, dest, _trial_config(seed)), 300
        )
    except Exception as exc:
        res.outcome, res.error = _classify(exc)
    finally:
        proxy.enabled = False
    res.faults = {
        k: v_ - before.get(k, 0)
        for k, v_ in proxy.stats.items()
        if k.startswith("fault.") and v_ - before.get(k, 0)
    }
    corrupt, dups, problems = await asyncio.to_thread(
        check_local_download, dest, src, complete=res.outcome == "verified"
    )
    res.corrupt, res.duplicates, res.problems = corrupt, dups, problems
    if res.outcome == "verified" and problems:
        res.outcome = "unclean_error"
        res.error = "the job reported success but the data is not complete"
    try:
        await asyncio.wait_for(
            _run_download(proxy.address, v.token, project_id, dest, fast_retry_config()), 300
        )
        c2, d2, p2 = await asyncio.to_thread(check_local_download, dest, src, complete=True)
        res.rerun_verified = not (c2 or d2 or p2)
        res.corrupt += c2
        res.duplicates += d2
        res.problems += [f"re-run: {p}" for p in p2]
    except Exception as exc:
        res.rerun_error = _classify(exc)[1]
    res.seconds = time.monotonic() - t0
    return res


def integrity_check(db_path: Path) -> str:
    with sqlite3.connect(db_path) as conn:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
    return ok if not fk else f"{ok}; foreign key violations: {fk[:5]}"


async def calibrate_upload(data_dir: Path, src: Source, **server_kw: Any) -> float:
    """Seconds a clean upload of ``src`` takes against a ServerProcess (crash delays span it).
    ``server_kw``: ``db_url``/``storage_url`` of ServerProcess (the scale-out backends)."""
    from blobflow.server import ServerProcess

    token = "calibrate-token-" + "k" * 20
    srv = ServerProcess(data_dir, token=token, **server_kw)
    async with srv, aiohttp.ClientSession() as s:
        v = Verifier(s, srv.address, token, srv.team_id)
        _, dataset_id = await _new_dataset(v, srv.workspace_id, "calibrate")
        t0 = time.monotonic()
        await _run_upload(srv.address, token, dataset_id, src, _crash_config(src))
        return time.monotonic() - t0


def _crash_config(src: Source) -> Any:
    # Small registration batches: the import has many steps for the kill to land between.
    return fast_retry_config(retry_attempts=3, bulk_add_batch=max(50, len(src.images) // 8))


async def crash_trial(
    data_dir: Path, src: Source, seed: int, *, max_delay: float, **server_kw: Any
) -> TrialResult:
    """Kill -9 the server during an upload at a random moment; restart; check; re-run.
    ``server_kw``: ``db_url``/``storage_url`` of ServerProcess (the scale-out backends)."""
    from blobflow.server import ServerProcess

    rng = random.Random(seed)
    res = TrialResult("crash", seed, "verified")
    t0 = time.monotonic()
    token = "crash-token-" + "c" * 24
    cfg = _crash_config(src)
    srv = ServerProcess(data_dir, token=token, **server_kw)
    await srv.__aenter__()
    try:
        async with aiohttp.ClientSession() as s:
            v = Verifier(s, srv.address, token, srv.team_id)
            project_id, dataset_id = await _new_dataset(v, srv.workspace_id, f"crash-{seed}")
        delay = rng.uniform(0.0, max_delay)
        job = asyncio.ensure_future(_run_upload(srv.address, token, dataset_id, src, cfg))
        done, _ = await asyncio.wait({job}, timeout=delay)
        srv.kill()
        res.faults = {"killed_before_end": int(not done)}
        try:
            await asyncio.wait_for(job, 120)
        except Exception as exc:
            res.outcome, res.error = _classify(exc)
    finally:
        await srv.__aexit__(None, None, None)
    if not server_kw.get("db_url"):  # PostgreSQL checks its own constraints per transaction
        check = await asyncio.to_thread(integrity_check, data_dir / "blobflow.sqlite3")
        if check != "ok":
            res.corrupt += 1
            res.problems.append(f"PRAGMA integrity_check after the crash: {check}")
    srv = ServerProcess(data_dir, token=token, **server_kw)
    await srv.__aenter__()
    try:
        async with aiohttp.ClientSession() as s:
            v = Verifier(s, srv.address, token, srv.team_id)
            c1, d1, p1 = await v.check_dataset(project_id, dataset_id, src, complete=False)
            t1, tp1 = await v.check_team_files(src)
            res.corrupt += c1 + t1
            res.duplicates += d1
            res.problems += p1 + tp1
            try:
                await asyncio.wait_for(
                    _run_upload(srv.address, token, dataset_id, src, fast_retry_config()), 300
                )
                c2, d2, p2 = await v.check_dataset(project_id, dataset_id, src, complete=True)
                t2, tp2 = await v.check_team_files(src)
                res.rerun_verified = not (c2 or d2 or p2 or t2 or tp2)
                res.corrupt += c2 + t2
                res.duplicates += d2
                res.problems += [f"re-run: {p}" for p in p2 + tp2]
            except Exception as exc:
                res.rerun_error = _classify(exc)[1]
    finally:
        await srv.__aexit__(None, None, None)
    res.seconds = time.monotonic() - t0
    return res
