"""The floor: what no client can beat on this server and this machine, for one job.

A minimal replay client sends the requests a blobflow run of the same job made (recorded by
``_record`` in an untimed run), in the same order, with every body prepared beforehand:

* JSON bodies are encoded once into byte segments; the ids the server hands out (project,
  dataset, team file, image, download ids) are the only parts filled in at send time, from the
  answers of this replay (each answer is paired with the recorded one to learn the new ids);
* a request waits only for the requests whose answers gave it an id, and for the local work it
  needs (below); at most ``concurrency`` requests are in flight;
* the blob is streamed from the page cache (the recorded tar, read once beforehand); a
  downloaded blob is written to disk as it arrives; answers nobody needs are read, not parsed.

Plus the local file work every client must do, overlapped only where the protocol allows:

* upload: reading the images of each uploaded tar as ``tar cf`` does (``tar cf -`` of its
  members, drained), which must end before that tar's upload counts as done (no registration
  can name a blob not yet whole); and reading each annotation file before the request that
  carries it is sent;
* download: writing each annotation file (its bytes prepared beforehand) once the answer that
  carries it has arrived, plainly, in a child process (as blobflow's downloads write theirs:
  on the other core), plus ``meta.json``.

Timed from the first byte of work to the last answer and the last file written. Runs in a child
process of its own (``python -m blobflow.bench._floor``, the ``_runner`` protocol).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from blobflow import _json, _write_child
from blobflow._write_child import frame_head
from blobflow.bench._record import load_recording
from blobflow.bench._rss import cpu_seconds, peak_rss_mb
from blobflow.bench._runner import RESULT_PREFIX, Job
from blobflow.blob import OFFSETS_PKL_SUFFIX, BlobImageInfo

__all__ = ["SEEDS", "Replay", "prepare", "main"]

SEEDS = "seeds.json"  # the recording run's team, workspace and (download) project ids
_CHUNK = 1 << 20

# Body keys whose value is an id handed out by the server, and the kind of that id.
_KEY_KINDS = {
    "projectId": "project",
    "datasetId": "dataset",
    "parentId": "dataset",
    "workspaceId": "workspace",
    "teamId": "team",
    "teamFileId": "file",
    "relatedDataId": "file",
    "imageId": "image",
    "imageIds": "image",
    "ids": "image",
    "downloadId": "download",
}
_METHOD_KINDS = {
    "projects": "project",
    "datasets": "dataset",
    "images": "image",
    "file-storage": "file",
    "workspaces": "workspace",
    "teams": "team",
}
_MARK = re.compile(rb'"@@id(\d+)@@"')

Key = tuple[str, Any]  # (kind, recorded value)


def _kind(method: str, key: str) -> str | None:
    if key == "id":
        return _METHOD_KINDS.get(method.split(".", 1)[0])
    return _KEY_KINDS.get(key)


def _entities(answer: Any) -> list[dict[str, Any]]:
    """The entity-level objects of an answer: itself, a list's items, or a page's entities."""
    if isinstance(answer, list):
        return [e for e in answer if isinstance(e, dict)]
    if isinstance(answer, dict):
        if isinstance(answer.get("entities"), list):
            return [e for e in answer["entities"] if isinstance(e, dict)]
        return [answer]
    return []


def _produced(method: str, answer: Any) -> list[tuple[Key, tuple[int, str]]]:
    """(id key, where in the answer) for every id an answer hands out."""
    out = []
    for n, entity in enumerate(_entities(answer)):
        for key, value in entity.items():
            kind = _kind(method, key)
            if kind is not None and isinstance(value, (int, str)) and not isinstance(value, bool):
                out.append(((kind, value), (n, key)))
    return out


@dataclass
class Call:
    """One prepared request of the replay."""

    index: int
    kind: str  # json | upload | download
    method: str
    params: dict[str, Any]
    segments: list[bytes]  # the body around its ids
    refs: list[Key]  # the ids between the segments, in order
    param_refs: dict[str, Key]
    deps: set[int] = field(default_factory=set)
    learn: list[tuple[Key, tuple[int, str]]] = field(default_factory=list)
    file: Path | None = None  # upload: the file sent as the body
    dest: Path | None = None  # download: where the body goes
    size: int = 0  # download: the recorded byte count
    fd: int = -1  # the open file of ``file`` or ``dest``
    after: str | None = None  # a local-work gate the request waits for
    gate: str | None = None  # a local-work gate its completion also waits for
    writes: list[tuple[Path, bytes]] = field(default_factory=list)  # files its answer allows


def _template(method: str, body: Any, refs: list[Key]) -> Any:
    """The body with each id replaced by a marker (top level and one level into lists)."""

    def mark(kind: str, value: Any) -> Any:
        refs.append((kind, value))
        return f"@@id{len(refs) - 1}@@"

    def walk(obj: Any, depth: int) -> Any:
        if isinstance(obj, dict):
            out = {}
            for key, value in obj.items():
                kind = _kind(method, key) if (key != "id" or depth == 0) else None
                if (
                    kind is not None
                    and isinstance(value, (int, str))
                    and not isinstance(value, bool)
                ):
                    out[key] = mark(kind, value)
                elif kind is not None and isinstance(value, list):
                    out[key] = [mark(kind, v) for v in value]
                elif depth < 2 and isinstance(value, (list, dict)):
                    out[key] = walk(value, depth + 1)
                else:
                    out[key] = value
            return out
        if isinstance(obj, list):
            return [walk(v, depth) for v in obj]
        return obj

    return walk(body, 0)


def _segments(method: str, body: Any) -> tuple[list[bytes], list[Key]]:
    refs: list[Key] = []
    encoded = _json.dumps(_template(method, body, refs))
    parts = _MARK.split(encoded)  # text, index, text, index, ..., text
    return parts[0::2], refs


def prepare(  # noqa: C901 - one step per recorded call kind, in order
    folder: Path, work: Path, seeds: dict[str, Any], img_dir: Path, ann_dir: Path
) -> list[Call]:
    """The recording in ``folder`` as prepared calls (dependencies, gates and writes)."""
    recorded = load_recording(folder)
    producer: dict[Key, int] = {(k, v): -1 for k, v in seeds.items() if v is not None}
    image_names: dict[Any, str] = {}
    calls: list[Call] = []
    ann_gates = 0
    last_tar: int | None = None
    for index, rec in enumerate(recorded):
        method = rec["method"]
        segments, refs = _segments(method, rec.get("body"))
        param_refs = {
            k: (kind, v) for k, v in rec.get("params", {}).items() if (kind := _kind(method, k))
        }
        call = Call(index, rec["kind"], method, dict(rec.get("params", {})), segments, refs,
                    param_refs)  # fmt: skip
        for key in [*refs, *param_refs.values()]:
            if key not in producer:
                raise ValueError(f"{method}: {key} was not handed out by an earlier answer")
            if producer[key] >= 0:
                call.deps.add(producer[key])
        answer = rec.get("response")
        for key, where in _produced(method, answer):
            if key not in producer:
                producer[key] = index
                call.learn.append((key, where))
        if method == "images.bulk.add":
            for entity in _entities(answer):
                image_names[entity["id"]] = entity["name"]
        if rec["kind"] == "upload":
            call.file = folder / rec["file"]
            if call.file.suffix == ".tar":
                call.gate = f"images:{call.file.name}"
                if last_tar is not None:  # parts go one after another, as the images are read
                    call.deps.add(last_tar)
                last_tar = index
        elif method == "annotations.bulk.add":
            names = [image_names[a["imageId"]] for a in rec["body"]["annotations"]]
            call.after = f"ann{ann_gates}"
            call.writes = [(ann_dir / f"{n}.json", b"") for n in names]  # read, not written
            ann_gates += 1
        elif rec["kind"] == "download":
            call.dest = work / "blob" / f"{index}.tar"
            call.size = int(rec.get("size") or 0)
        elif method == "annotations.bulk.info":
            call.writes = [
                (work / "ann" / f"{a['imageName']}.json", _json.dumps(a["annotation"]))
                for a in answer or ()
            ]
        elif method == "projects.meta":
            call.writes = [(work / "meta.json", json.dumps(answer).encode())]
        calls.append(call)
    return calls


class _Gates:
    """Local work the requests wait for, set from worker threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._events: dict[str, asyncio.Event] = {}

    def event(self, name: str) -> asyncio.Event:
        return self._events.setdefault(name, asyncio.Event())

    def all(self) -> list[asyncio.Event]:
        return list(self._events.values())

    def set_threadsafe(self, name: str) -> None:
        event = self.event(name)
        self._loop.call_soon_threadsafe(event.set)


def _drain(stream: Any) -> None:
    buffer = bytearray(_CHUNK)
    while stream.readinto(buffer):
        pass


def _read_images(img_dir: Path, tars: list[Path], gates: _Gates) -> None:
    """Read the images of each uploaded tar (in upload order) as ``tar cf`` does, the archive
    to a pipe (GNU tar skips reading the files when the archive is /dev/null); a tar's upload
    is done only once its images are read."""
    for tar in tars:
        names = tar.with_name(tar.stem + "_members.txt")  # written by prepare
        cmd = ["tar", "cf", "-", "-C", str(img_dir), "--verbatim-files-from", "-T", str(names)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        _drain(proc.stdout)
        if proc.wait() != 0:
            raise RuntimeError(f"tar cf exited with {proc.returncode}")
        gates.set_threadsafe(f"images:{tar.name}")


def _member_lists(calls: list[Call], work: Path) -> list[Path]:
    """For each uploaded tar, its members (from the offsets beside it) as a ``tar -T`` list."""
    tars = []
    for call in calls:
        if call.file is None or call.gate is None:
            continue
        pkl = call.file.with_name(call.file.stem + OFFSETS_PKL_SUFFIX)
        names = [i.name for batch in BlobImageInfo.load_from_pickle_generator(pkl) for i in batch]
        work.mkdir(parents=True, exist_ok=True)
        (work / (call.file.stem + "_members.txt")).write_text("\n".join(names) + "\n")
        tars.append(work / call.file.name)
    return tars


def _read_annotations(calls: list[Call], gates: _Gates) -> None:
    for call in calls:
        if call.after is not None and call.after.startswith("ann"):
            for path, _ in call.writes:
                with open(path, "rb") as f:
                    f.read()
            gates.set_threadsafe(call.after)


def _write_files(jobs: queue.SimpleQueue[list[tuple[Path, bytes]] | None]) -> None:
    """Write each batch plainly in a child process (``_write_child.py``), as blobflow's own
    downloads write theirs: on the other core, not against the replay's GIL. Frames go without
    waiting for answers; a thread drains the answers, counted at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-I", _write_child.__file__], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    answers: list[bytes] = []
    drain = threading.Thread(target=answers.extend, args=(proc.stdout,), daemon=True)
    drain.start()
    frames = 0
    try:
        while (files := jobs.get()) is not None:
            for frame in _frames(files):
                proc.stdin.writelines(frame)
                proc.stdin.flush()
                frames += 1
    finally:
        proc.stdin.close()
        code = proc.wait()
        drain.join()
    failed = [a for a in answers if not a.startswith(b'{"ok"')]
    if code or failed or len(answers) != frames:
        raise RuntimeError(f"the writer child (exit {code}) answered {failed[:1] or answers[-1:]}")


def _frames(files: list[tuple[Path, bytes]]) -> list[list[bytes]]:
    """``files`` as ``_write_child`` frames, one per folder, written plainly."""
    by_dir: dict[Path, list[tuple[Path, bytes]]] = {}
    for path, data in files:
        by_dir.setdefault(path.parent, []).append((path, data))
    frames = []
    for folder, named in by_dir.items():
        plain = [(path.name, data) for path, data in named]
        frames.append([*frame_head(folder, plain, plain=True), *(d for _, d in plain)])
    return frames


def _set_all(events: list[asyncio.Event]) -> None:
    for event in events:
        event.set()


class Replay:
    """Send the prepared calls to ``server`` with at most ``concurrency`` in flight."""

    def __init__(
        self, calls: list[Call], server: str, token: str, seeds: dict[Key, Any], concurrency: int
    ) -> None:
        self.calls = calls
        self.base = server.rstrip("/") + "/public/api/v3/"
        if "://" not in self.base:
            self.base = "http://" + self.base
        self.headers = {"x-api-key": token}
        self.ids: dict[Key, Any] = dict(seeds)
        self.concurrency = concurrency
        self.tars: list[Path] = []  # uploaded tars, as named in the work dir (member lists)
        self.received = 0  # blob bytes downloaded

    def _body(self, call: Call) -> bytes:
        out = [call.segments[0]]
        for ref, seg in zip(call.refs, call.segments[1:], strict=True):
            out.append(_json.dumps(self.ids[ref]))
            out.append(seg)
        return b"".join(out)

    def _params(self, call: Call) -> dict[str, Any]:
        params = {k: v for k, v in call.params.items() if k not in call.param_refs}
        params.update({k: str(self.ids[ref]) for k, ref in call.param_refs.items()})
        return params

    async def _file_body(self, fd: int) -> AsyncIterator[bytes]:
        # from the page cache (opened and read once before the clock starts): a MiB is ~0.1 ms
        os.lseek(fd, 0, os.SEEK_SET)
        while data := os.read(fd, _CHUNK):
            yield data

    async def run(self, local: str, img_dir: Path, workers: list[threading.Thread]) -> float:  # noqa: C901 - one step per recorded call kind, in order
        loop = asyncio.get_running_loop()
        gates = _Gates(loop)
        writes: queue.SimpleQueue[list[tuple[Path, bytes]] | None] = queue.SimpleQueue()
        done = [asyncio.Event() for _ in self.calls]
        sem = asyncio.Semaphore(self.concurrency)
        connector = aiohttp.TCPConnector(limit=self.concurrency + 1)
        errors: list[BaseException] = []

        async def one(session: aiohttp.ClientSession, call: Call) -> None:
            for dep in call.deps:
                await done[dep].wait()
            if call.after is not None:
                await gates.event(call.after).wait()
            url = self.base + call.method
            async with sem:
                if call.kind == "upload":
                    headers = {**self.headers, "Content-Type": "application/octet-stream",
                               "Content-Length": str(os.fstat(call.fd).st_size)}  # fmt: skip
                    data: Any = self._file_body(call.fd)
                else:
                    headers = {**self.headers, "Content-Type": "application/json"}
                    data = self._body(call)
                async with session.post(
                    url, data=data, headers=headers, params=self._params(call)
                ) as resp:
                    if resp.status >= 300:
                        text = (await resp.read())[:300]
                        raise RuntimeError(f"{call.method}: HTTP {resp.status}: {text!r}")
                    if call.dest is not None:  # opened before the clock started
                        async for piece in resp.content.iter_chunked(_CHUNK):
                            os.write(call.fd, piece)  # tmpfs or page cache: a memcpy
                            self.received += len(piece)
                    else:
                        raw = await resp.read()
                        if call.learn:
                            self._learn(call, _json.loads(raw))
            if call.writes and call.after is None:
                writes.put(call.writes)
            if call.gate is not None:
                await gates.event(call.gate).wait()
            done[call.index].set()

        async def guarded(session: aiohttp.ClientSession, call: Call) -> None:
            try:
                await one(session, call)
            except BaseException as exc:
                errors.append(exc)
                for event in done:  # let the others finish quickly
                    event.set()
                raise

        def thread(target: Callable[..., None], *args: Any) -> threading.Thread:
            def body() -> None:
                try:
                    target(*args)
                except BaseException as exc:  # fail the replay, release what waits
                    errors.append(exc)
                    loop.call_soon_threadsafe(_set_all, [*done, *gates.all()])

            return threading.Thread(target=body, daemon=True)

        writer = thread(_write_files, writes)
        start = time.perf_counter()
        if local == "upload":
            workers.append(thread(_read_images, img_dir, self.tars, gates))
            workers.append(thread(_read_annotations, self.calls, gates))
        for worker in [*workers, writer]:
            worker.start()
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(guarded(session, c) for c in self.calls), return_exceptions=True)
        writes.put(None)
        await asyncio.to_thread(writer.join)
        for worker in workers:
            await asyncio.to_thread(worker.join)
        seconds = time.perf_counter() - start
        if errors:
            raise errors[0]
        return seconds

    def _learn(self, call: Call, answer: Any) -> None:
        entities = _entities(answer)
        for key, (n, name) in call.learn:
            self.ids[key] = entities[n][name]


def _seeds(folder: Path, job: Job) -> tuple[dict[str, Any], dict[Key, Any]]:
    """Recorded seeds (kind -> recorded id) and their values for this replay."""
    recorded = json.loads((folder / SEEDS).read_text())
    now = {"team": job.team_id, "workspace": job.workspace_id, "project": job.project_id}
    return recorded, {
        (kind, value): now[kind] for kind, value in recorded.items() if value is not None
    }


def run_floor(job: Job, concurrency: int) -> dict[str, Any]:
    """Prepare (untimed), then replay and time; the result line's fields."""
    assert job.record is not None
    folder = Path(job.record)
    work = Path(job.work_dir)
    recorded_seeds, seeds = _seeds(folder, job)
    calls = prepare(folder, work, recorded_seeds, Path(job.img_dir), Path(job.ann_dir))
    for call in calls:  # files opened (and the blob read into the page cache) untimed
        if call.file is not None:
            call.fd = os.open(call.file, os.O_RDONLY)
            _drain(open(call.fd, "rb", closefd=False))  # noqa: SIM115 - the fd is kept open
        elif call.dest is not None:
            call.dest.parent.mkdir(parents=True, exist_ok=True)
            call.fd = os.open(call.dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    replay = Replay(calls, job.server, job.token, seeds, concurrency)
    replay.tars = _member_lists(calls, work)
    from blobflow.engine import run

    try:
        cpu = cpu_seconds()
        seconds = run(replay.run(job.direction, Path(job.img_dir), []))
        cpu = cpu_seconds() - cpu  # the replay's and its tar cf's, not the preparation's
    finally:
        for call in calls:
            if call.fd >= 0:
                os.close(call.fd)
    project = replay.ids.get(("project", _first_project(calls, recorded_seeds)))
    return {
        "seconds": seconds,
        "project_id": project,
        "requests": len(calls),
        "concurrency": concurrency,
        "ann_files": len(os.listdir(work / "ann")) if (work / "ann").is_dir() else 0,
        "blob_bytes": replay.received,
        "blob_bytes_recorded": sum(c.size for c in calls),
        "cpu_seconds": cpu,
    }


def _first_project(calls: list[Call], seeds: dict[str, Any]) -> Any:
    for call in calls:
        for (kind, value), _where in call.learn:
            if kind == "project":
                return value
    return seeds.get("project")


def main() -> None:
    """Child side: one timed replay; prints the ``_runner`` result line."""
    job = Job(**json.load(sys.stdin))
    concurrency = job.concurrency or 8
    out: dict[str, Any] = {"ok": False, "seconds": None, "project_id": None, "error": None}
    try:
        out.update(run_floor(job, concurrency))
        out["ok"] = True
    except BaseException as exc:
        traceback.print_exc()
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        shutil.rmtree(Path(job.work_dir) / "blob", ignore_errors=True)
    out["peak_rss_mb"] = peak_rss_mb()
    sys.stdout.write(RESULT_PREFIX + json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
