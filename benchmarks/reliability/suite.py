"""The reliability suite's parts, each returning its figures (for ``__main__`` and the tests)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.reliability.faultproxy import FaultProxy
from benchmarks.reliability.filecorpus import run_file_corpus, summarize
from benchmarks.reliability.httpcorpus import healthy, http_corpus, run_http_corpus
from benchmarks.reliability.isolation import run_isolation
from benchmarks.reliability.tenants import Team, populate
from benchmarks.reliability.trials import (
    Source,
    TrialResult,
    Verifier,
    _new_dataset,
    _run_upload,
    calibrate_upload,
    crash_trial,
    download_trial,
    fast_retry_config,
    integrity_check,
    make_source,
    upload_trial,
)

__all__ = [
    "TrialFigures",
    "run_transfer_trials",
    "run_crash_trials",
    "run_security",
    "run_corpora",
]


@dataclass
class TrialFigures:
    results: list[TrialResult] = field(default_factory=list)

    def add(self, r: TrialResult) -> None:
        self.results.append(r)

    def figures(self) -> dict[str, Any]:
        rs = self.results
        faults: Counter[str] = Counter()
        for r in rs:
            faults.update(r.faults)
        return {
            "run": len(rs),
            "by_kind": dict(Counter(r.kind for r in rs)),
            "verified": sum(r.outcome == "verified" for r in rs),
            "clean_errors": sum(r.outcome == "clean_error" for r in rs),
            "unclean_errors": sum(r.outcome == "unclean_error" for r in rs),
            "corrupt": sum(r.corrupt for r in rs),
            "duplicates": sum(r.duplicates for r in rs),
            "reruns_completed": sum(r.rerun_verified for r in rs),
            "faults_injected": dict(sorted(faults.items())),
            "failed": [
                {
                    "kind": r.kind,
                    "seed": r.seed,
                    "outcome": r.outcome,
                    "error": r.error,
                    "rerun_error": r.rerun_error,
                    "problems": r.problems[:5],
                }
                for r in rs
                if not r.ok
            ],
        }


async def _sources(work: Path, count: int, images: int, seed: int) -> list[Source]:
    rng = random.Random(seed)
    out = []
    for k in range(count):
        n = rng.randint(max(1, images // 2), images)
        out.append(await asyncio.to_thread(make_source, work / f"src{k}", n, seed * 1000 + k))
    return out


async def run_transfer_trials(
    work: Path,
    *,
    uploads: int,
    downloads: int,
    images: int,
    seed: int = 1,
    sources: int = 4,
    figures: TrialFigures | None = None,
    log: Any = None,
) -> TrialFigures:
    """Upload and download trials through one fault proxy in front of an in-process server."""
    from blobflow.server import serve_in_process

    figs = figures or TrialFigures()
    pool = await _sources(work, sources, images, seed)
    async with serve_in_process(work / "data") as h:
        port = int(h.address.rsplit(":", 1)[1])
        async with FaultProxy(port) as proxy, aiohttp.ClientSession() as s:
            v = Verifier(s, h.address, h.token, h.team_id)
            projects = []
            for src in pool:  # the download trials' projects, uploaded without faults
                pid, did = await _new_dataset(v, h.workspace_id, f"dl-src-{src.tar.stem}")
                await _run_upload(h.address, h.token, did, src, fast_retry_config())
                projects.append(pid)
            for i in range(max(uploads, downloads)):
                if i < uploads:
                    r = await upload_trial(
                        proxy, v, h.workspace_id, pool[i % len(pool)], seed * 100_000 + i
                    )
                    figs.add(r)
                    if log:
                        log(r)
                if i < downloads:
                    k = i % len(pool)
                    r = await download_trial(
                        proxy, v, projects[k], pool[k], work / "dest" / f"t{i}", seed * 100_000 + i
                    )
                    figs.add(r)
                    if log:
                        log(r)
    return figs


async def run_crash_trials(
    work: Path,
    *,
    trials: int,
    images: int,
    seed: int = 1,
    figures: TrialFigures | None = None,
    log: Any = None,
    **server_kw: Any,
) -> TrialFigures:
    """Kill -9 a ServerProcess during uploads; one data dir (or ``server_kw``'s database and
    bucket) across all trials."""
    figs = figures or TrialFigures()
    src = await asyncio.to_thread(make_source, work / "crash-src", images, seed + 77)
    span = await calibrate_upload(work / "calibrate", src, **server_kw)
    for i in range(trials):
        r = await crash_trial(work / "crash-data", src, seed * 1000 + i, max_delay=span * 1.2,
                              **server_kw)
        figs.add(r)
        if log:
            log(r)
    return figs


async def run_security(work: Path) -> dict[str, Any]:
    """Two tenants on an in-process server: the isolation matrix both ways, then the HTTP
    corpus against every registered method."""
    from blobflow.server import serve_in_process
    from blobflow.server._context import JSON_METHODS, RAW_METHODS

    token_b = "team-b-token-" + "b" * 20
    async with serve_in_process(work / "sec-data") as h:
        tid, wid = await h.add_tenant(token_b)
        a = Team(h.token, h.team_id, h.workspace_id, "SECRETaaa")
        b = Team(token_b, tid, wid, "SECRETbbb")
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            await populate(s, h.address, a)
            await populate(s, h.address, b)
            checks = await run_isolation(s, h.address, a, b, "B->A")
            checks += await run_isolation(s, h.address, b, a, "A->B")
            methods = sorted(set(JSON_METHODS) | set(RAW_METHODS))
            results = await run_http_corpus(s, h.address, a, http_corpus(a, methods))
            alive = await healthy(s, h.address)
        db_check = await asyncio.to_thread(integrity_check, work / "sec-data" / "blobflow.sqlite3")
    return {
        "isolation": {
            "checks": len(checks),
            "passed": sum(c.passed for c in checks),
            "failed": [f"{c.attacker} {c.name}: {c.detail}" for c in checks if not c.passed],
        },
        "http": {
            "methods": len(methods),
            "tried": len(results),
            "clean": sum(r.ok for r in results),
            "status_5xx": sum(r.status >= 500 for r in results),
            "refused_4xx": sum(400 <= r.status < 500 for r in results),
            "failed": [f"{r.name}: {r.detail}" for r in results if not r.ok],
            "server_healthy_after": alive,
            "integrity_check": db_check,
        },
    }


async def run_corpora(work: Path, *, bomb_members: int) -> dict[str, Any]:
    results = await asyncio.to_thread(run_file_corpus, work / "corpus", bomb_members=bomb_members)
    out = summarize(results)
    bomb = [r for r in results if r.corpus == "tar_bomb"]
    out["bomb"] = (
        {
            "members": bomb_members,
            "seconds": round(bomb[0].seconds, 2),
            "rss_mb": round(bomb[0].rss_mb, 1),
            "outcome": bomb[0].outcome,
        }
        if bomb
        else None
    )
    return out
