"""Run the pickle and tar corpora against blobflow's format layer, in a child process.

The child (``python -m benchmarks.reliability.filecorpus MANIFEST``) runs one item at a time and
prints a JSON line before and after each: so a crash or a hang is pinned on its item, and the
parent restarts the child on the next one. Per item it records the outcome, the exception, the
time and the peak RSS (reset between items through ``/proc/self/clear_refs``).

An item is *clean* when the outcome matches its expectation (see ``corpora``): a refusal is a
``BlobflowError`` naming the file; an acceptance maps every title to the member's own bytes.
Anything else (another exception type, a silent acceptance, a canary file, a hang, a crash, more
than ``RSS_LIMIT_MB`` of memory) is *harm* and fails the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.reliability.corpora import (
    CANARY,
    Item,
    pickle_corpus,
    tar_corpus,
    write_tar_bomb,
)
from blobflow.bench._rss import peak_rss_mb

__all__ = ["Result", "run_file_corpus", "summarize"]

RSS_LIMIT_MB = 400.0  # an item taking more than this (beyond its input's size) is harm
_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    corpus: str
    name: str
    expect: str
    outcome: str  # "refused" | "accepted" | "crash" | "timeout"
    clean: bool
    detail: str
    seconds: float
    rss_mb: float


# -- child side -------------------------------------------------------------------------------


def _peak_reset() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _is_clean_refusal(exc: BaseException, path: Path) -> tuple[bool, str]:
    from blobflow import BlobflowError

    detail = f"{type(exc).__name__}: {exc}"[:300]
    if not isinstance(exc, BlobflowError):
        return False, "not a BlobflowError: " + detail
    if path.name not in str(exc):
        return False, "error does not name the file: " + detail
    return True, detail


def _safe_names(names: dict[str, tuple[int, int]], raw: bytes, want: dict[str, bytes]) -> str:
    """'' when ``names`` is a safe acceptance of a tar holding ``want``, else why not."""
    for n in names:
        if not n or "/" in n or "\\" in n or n in (".", "..") or "\0" in n:
            return f"unsafe title {n!r}"
    if set(names) != set(want):
        return f"titles {sorted(names)} != expected {sorted(want)}"
    for n, (start, end) in names.items():
        if raw[start:end] != want[n]:
            return f"range of {n!r} ({start}, {end}) does not hold its bytes"
    return ""


def _well_typed(got: dict[str, tuple[int, int]]) -> str:
    for name, (start, end) in got.items():
        if not isinstance(name, str) or not isinstance(start, int) or not isinstance(end, int):
            return f"ill-typed entry {name!r}: ({start!r}, {end!r})"
        if isinstance(start, bool) or isinstance(end, bool) or not 0 <= start <= end < 2**63:
            return f"impossible range for {name!r}: ({start!r}, {end!r})"
    return ""


def _run_pickle(path: Path) -> dict[str, tuple[int, int]]:
    from blobflow import BlobImageInfo

    out: dict[str, tuple[int, int]] = {}
    for batch in BlobImageInfo.load_from_pickle_generator(str(path)):
        for info in batch:
            out[info.name] = (info.offset_start, info.offset_end)
    return out


def _run_tar(path: Path) -> dict[str, tuple[int, int]]:
    """Both readers of an existing tar: the header scanner and BlobReader (+ verify)."""
    from blobflow import BlobReader, get_file_offsets_batch_generator

    scanned: dict[str, tuple[int, int]] = {}
    for batch in get_file_offsets_batch_generator(str(path), output_format="objects"):
        for info in batch:
            scanned[info.name] = (info.offset_start, info.offset_end)
    with BlobReader(str(path)) as reader:
        reader.verify()
        for name, (start, end) in scanned.items():
            if len(reader.get_bytes(name)) != end - start:
                raise AssertionError(f"BlobReader.get_bytes({name!r}) disagrees with the scanner")
    return scanned


def _run_bomb(path: Path, members: int) -> dict[str, tuple[int, int]]:
    from blobflow import get_file_offsets_batch_generator

    write_tar_bomb(path, members)
    count = 0
    for batch in get_file_offsets_batch_generator(str(path), output_format="objects"):
        count += len(batch)
    path.unlink()
    if count != members:
        raise AssertionError(f"tar bomb: scanner listed {count} of {members} members")
    return {}


def _child(manifest_path: str) -> None:
    manifest = json.loads(Path(manifest_path).read_text())
    canary_dir = Path(manifest["canary_dir"])
    for spec in manifest["items"]:
        path = Path(spec["path"])
        print(json.dumps({"start": spec["id"]}), flush=True)
        _peak_reset()
        base = peak_rss_mb()
        t0 = time.perf_counter()
        clean, outcome, detail = False, "accepted", ""
        try:
            if spec["corpus"] == "pickle":
                got = _run_pickle(path)
            elif spec["corpus"] == "tar_bomb":
                got = _run_bomb(path, spec["members_count"])
            else:
                got = _run_tar(path)
        except Exception as exc:
            outcome = "refused"
            clean, detail = _is_clean_refusal(exc, path)
            if spec["expect"] == "accept":
                clean, detail = False, "control item refused: " + detail
        else:
            detail = f"{len(got)} entries"
            if spec["corpus"] == "tar_bomb":
                clean = True
            elif spec["expect"] == "accept" and spec["corpus"] == "pickle":
                clean = len(got) > 0
            elif spec["expect"] == "safe" and spec["corpus"] == "pickle":
                why = _well_typed(got)
                clean, detail = (not why), (why or detail)
            elif spec["expect"] in ("safe", "accept") and spec["corpus"] == "tar":
                want = {k: bytes.fromhex(v) for k, v in spec["members"].items()}
                why = _safe_names(got, path.read_bytes(), want)
                clean, detail = (not why), (why or detail)
            else:
                detail = f"accepted a malicious input ({len(got)} entries)"
        seconds = time.perf_counter() - t0
        rss = max(0.0, peak_rss_mb() - base)
        canaries = sorted(p.name for p in canary_dir.glob(CANARY + "*"))
        if canaries:
            clean, detail = False, f"CODE RAN: {canaries}"
        # A reader may mmap its input: file-backed pages of the input count in RSS too, so
        # the budget is RSS_LIMIT_MB beyond the size of the file itself.
        size_mb = (
            path.stat().st_size / 2**20 if path.exists() else spec.get("members_count", 0) / 2048
        )
        if rss > RSS_LIMIT_MB + size_mb:
            clean, detail = False, f"used {rss:.0f} MB: {detail}"
        print(
            json.dumps(
                {
                    "id": spec["id"],
                    "outcome": outcome,
                    "clean": clean,
                    "detail": detail,
                    "seconds": seconds,
                    "rss_mb": rss,
                }
            ),
            flush=True,
        )


# -- parent side ------------------------------------------------------------------------------


def _write_items(workdir: Path, corpus: str, items: list[Item]) -> list[dict[str, Any]]:
    out = []
    suffix = ".pkl" if corpus == "pickle" else ".tar"
    for it in items:
        p = workdir / corpus / f"{it.name}{suffix}"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(it.data)
        out.append(
            {
                "id": f"{corpus}/{it.name}",
                "corpus": corpus,
                "name": it.name,
                "path": str(p),
                "expect": it.expect,
                "members": {k: v.hex() for k, v in it.members.items()},
            }
        )
    return out


def run_file_corpus(
    workdir: str | os.PathLike[str], *, bomb_members: int = 1_000_000, item_timeout: float = 60.0
) -> list[Result]:
    """Write every item under ``workdir`` and run them all in child processes."""
    work = Path(workdir)
    canary_dir = work / "canary"
    canary_dir.mkdir(parents=True, exist_ok=True)
    specs = _write_items(work, "pickle", pickle_corpus(canary_dir))
    specs += _write_items(work, "tar", tar_corpus())
    if bomb_members:
        specs.append(
            {
                "id": "tar_bomb",
                "corpus": "tar_bomb",
                "name": f"tar_bomb_{bomb_members}_members",
                "path": str(work / "bomb.tar"),
                "expect": "safe",
                "members": {},
                "members_count": bomb_members,
            }
        )
    by_id = {s["id"]: s for s in specs}
    results: list[Result] = []
    pending = list(specs)
    while pending:
        manifest = work / "manifest.json"
        manifest.write_text(json.dumps({"canary_dir": str(canary_dir), "items": pending}))
        done, crashed = _drive_child(manifest, by_id, item_timeout, results)
        pending = [s for s in pending if s["id"] not in done and s["id"] != crashed]
    return results


def _drive_child(
    manifest: Path, by_id: dict[str, dict[str, Any]], item_timeout: float, results: list[Result]
) -> tuple[set[str], str | None]:
    """Run one child over the manifest; returns the ids done and the one it died on."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])
    )
    errfile = manifest.with_suffix(".stderr")
    errf = open(errfile, "w")  # noqa: SIM115 - a file, so a chatty child never blocks on a pipe
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.reliability.filecorpus", str(manifest)],
        stdout=subprocess.PIPE,
        stderr=errf,
        text=True,
        cwd=_ROOT,
        env=env,
    )
    assert proc.stdout is not None
    done: set[str] = set()
    current: str | None = None
    started = time.monotonic()
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while True:
        remaining = item_timeout - (time.monotonic() - started)
        if remaining <= 0 or not sel.select(timeout=remaining):
            proc.kill()
            proc.wait()
            errf.close()
            if current is not None:
                spec = by_id[current]
                results.append(
                    Result(
                        spec["corpus"],
                        spec["name"],
                        spec["expect"],
                        "timeout",
                        False,
                        f"no answer within {item_timeout:.0f} s",
                        item_timeout,
                        0,
                    )
                )
            return done, current
        line = proc.stdout.readline()
        if not line:
            break
        msg = json.loads(line)
        if "start" in msg:
            current, started = msg["start"], time.monotonic()
            continue
        spec = by_id[msg["id"]]
        results.append(
            Result(
                spec["corpus"],
                spec["name"],
                spec["expect"],
                msg["outcome"],
                msg["clean"],
                msg["detail"],
                msg["seconds"],
                msg["rss_mb"],
            )
        )
        done.add(msg["id"])
        current = None
    rc = proc.wait()
    errf.close()
    err = errfile.read_text(errors="replace")
    if current is not None:  # died inside an item
        spec = by_id[current]
        results.append(
            Result(
                spec["corpus"],
                spec["name"],
                spec["expect"],
                "crash",
                False,
                f"child exited {rc}: {err[-300:]}",
                0,
                0,
            )
        )
    elif rc != 0:
        raise RuntimeError(f"corpus child failed outside any item (exit {rc}): {err[-2000:]}")
    return done, current


def summarize(results: list[Result]) -> dict[str, Any]:
    by: dict[str, dict[str, int]] = {}
    for r in results:
        d = by.setdefault(r.corpus, {"tried": 0, "clean": 0})
        d["tried"] += 1
        d["clean"] += r.clean
    return {
        "tried": len(results),
        "clean": sum(r.clean for r in results),
        "harm": [asdict(r) for r in results if not r.clean],
        "by_corpus": by,
    }


if __name__ == "__main__":
    _child(sys.argv[1])
