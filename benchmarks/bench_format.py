"""Benchmark of the blob format layer (blobflow.blob), all figures measured in one run.

    python benchmarks/bench_format.py [--files 30000] [--size 4096] [--repeat 5]

* pack + offsets (``archive_directory`` with ``offsets_dir``) vs GNU ``tar cf`` on the same
  folder, run alternately; the ratio is of the medians (and of the best runs);
* the same job done the SDK way (``tarfile.add`` + ``tarfile.getmembers`` + ``pickle``), for
  reference;
* offsets scan of the packed tar (members/s), vs ``tarfile.getmembers``;
* writing and reading a 1,000,000-entry ``_offsets.pkl``, and the peak memory (VmHWM of
  a fresh child process) of (a) streaming 1,000,000 entries out and back in and (b) holding
  all of them in a BlobReader index.

The source folder (random bytes, sizes spread +-25% around --size) is cached under
--cache-dir and reused by later runs.
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from blobflow import (
    archive_directory,
    get_file_offsets_batch_generator,
)


def make_source(cache: Path, files: int, size: int) -> Path:
    src = cache / f"src-{files}x{size}"
    done = cache / f"src-{files}x{size}.complete"  # beside the folder: never packed
    if done.exists():
        return src
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    rnd = random.Random(1234)
    for i in range(files):
        n = rnd.randint(size * 3 // 4, size * 5 // 4)
        (src / f"img_{i:07d}.png").write_bytes(os.urandom(n))
    done.touch()
    return src


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + system) of this process and its children while fn
    runs: CPU time is the load-independent companion to wall time on a shared machine."""
    before, t = os.times(), time.perf_counter()
    fn()
    wall, after = time.perf_counter() - t, os.times()
    return wall, sum(after[:4]) - sum(before[:4])


def sdk_way(src: Path, tar: Path, out_dir: Path) -> None:
    """What ``sly.fs.archive_directory`` + ``save_blob_offsets_pkl`` do (minus logging)."""
    with tarfile.open(tar, "w", encoding="utf-8") as t:
        for p in sorted(src.iterdir()):
            t.add(p, arcname=p.name)
    with tarfile.open(tar, "r") as t:
        batch = [
            (os.path.basename(m.name), m.offset_data, m.offset_data + m.size)
            for m in t.getmembers()
            if m.isfile()
        ]
    with open(out_dir / "sdk_offsets.pkl", "wb") as f:
        for i in range(0, len(batch), 10_000):
            pickle.dump(batch[i : i + 10_000], f)


_CHILD = r"""
import os, sys, time
from blobflow import BlobImageInfo, BlobReader
from blobflow.bench._rss import peak_rss_mb as hwm_mb
mode, pkl, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = hwm_mb()
if mode == "stream":
    def batches():
        for s in range(0, n, 10_000):
            yield [BlobImageInfo(f"img_{i:07d}.png", 512 + i * 5120, 4608 + i * 5120)
                   for i in range(s, min(n, s + 10_000))]
    t, c = time.perf_counter(), time.process_time()
    BlobImageInfo.dump_to_pickle(batches(), pkl)  # (includes making the objects)
    w, wc = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    count = sum(len(b) for b in BlobImageInfo.load_from_pickle_generator(pkl))
    r, rc = time.perf_counter() - t, time.process_time() - c
    assert count == n, count
else:
    tar = pkl + ".sparse.tar"
    with open(tar, "wb") as f:
        f.truncate(512 + n * 5120)  # sparse: only the index is measured
    t, c = time.perf_counter(), time.process_time()
    with BlobReader(tar, pkl) as blob:
        assert len(blob) == n
        r, rc = time.perf_counter() - t, time.process_time() - c
    w = wc = 0.0
    os.remove(tar)
print(w, r, wc, rc, base, hwm_mb())
"""


def child(mode: str, pkl: Path, n: int) -> list[float]:
    """(write s, read s, write CPU s, read CPU s, MB after imports, peak MB) of a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(pkl), str(n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [float(x) for x in out]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=30_000)
    ap.add_argument("--size", type=int, default=4096, help="mean file size in bytes")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--entries", type=int, default=1_000_000, help="entries in the big .pkl")
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "blobflow-bench"))
    ap.add_argument("--no-sdk-way", action="store_true", help="skip the tarfile reference")
    args = ap.parse_args()
    if shutil.which("tar") is None:
        print("GNU tar is required for the comparison", file=sys.stderr)
        return 2

    cache = Path(args.cache_dir)
    src = make_source(cache, args.files, args.size)
    work = Path(tempfile.mkdtemp(prefix="bench-format-", dir=cache))
    try:
        gnu_tar = work / "gnu.tar"
        our_tar = work / "blob.tar"
        tar_cmd = ["tar", "cf", str(gnu_tar), "-C", str(src), "."]
        t_gnu: list[float] = []
        t_ours: list[float] = []
        c_gnu: list[float] = []
        c_ours: list[float] = []

        def run_tar() -> None:
            subprocess.run(tar_cmd, check=True)

        def pack() -> None:
            archive_directory(src, our_tar, offsets_dir=work)

        # warm the page cache and both code paths once, then alternate
        subprocess.run(tar_cmd, check=True)
        archive_directory(src, our_tar, offsets_dir=work)
        for _ in range(args.repeat):
            for walls, cpus, fn in ((t_gnu, c_gnu, run_tar), (t_ours, c_ours, pack)):
                wall, cpu = measure(fn)
                walls.append(wall)
                cpus.append(cpu)
        t_sdk = None if args.no_sdk_way else timed(lambda: sdk_way(src, work / "sdk.tar", work))

        # scan speed
        def scan() -> int:  # what save_blob_offsets_pkl consumes
            batches = get_file_offsets_batch_generator(our_tar, output_format="objects")
            return sum(len(b) for b in batches)

        def scan_dicts() -> int:  # the bulk.add payload shape
            return sum(len(b) for b in get_file_offsets_batch_generator(our_tar))

        members = scan()
        t_scan_dicts = [timed(scan_dicts) for _ in range(args.repeat)]
        scans = [measure(scan) for _ in range(args.repeat)]
        t_scan = [w for w, _ in scans]
        c_scan = [c for _, c in scans]

        def tarfile_scan() -> None:
            with tarfile.open(our_tar) as t:
                t.getmembers()

        t_tarfile_scan = min(timed(tarfile_scan) for _ in range(2))

        # the 1,000,000-entry pkl, each measurement in a fresh process
        pkl = work / "million_offsets.pkl"
        w, r, wc, rc, base, peak_stream = child("stream", pkl, args.entries)
        _, r_index, _, rc_index, _, peak_index = child("index", pkl, args.entries)
        pkl_mb = pkl.stat().st_size / 2**20
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med_gnu, med_ours = statistics.median(t_gnu), statistics.median(t_ours)
    rows = [
        ("files packed", f"{args.files} x ~{args.size} B", ""),
        ("GNU tar cf (median / best)", f"{med_gnu:.3f} s / {min(t_gnu):.3f} s", ""),
        (
            "blobflow pack+offsets (median / best)",
            f"{med_ours:.3f} s / {min(t_ours):.3f} s",
            "target <= 1.3x tar",
        ),
        (
            "  ratio vs GNU tar (medians / bests)",
            f"{med_ours / med_gnu:.2f}x / {min(t_ours) / min(t_gnu):.2f}x",
            "",
        ),
    ]
    if t_sdk is not None:
        rows.append(
            (
                "SDK way (tarfile add + getmembers + pickle)",
                f"{t_sdk:.3f} s",
                f"{t_sdk / med_ours:.1f}x slower than blobflow",
            )
        )
    rows += [
        (
            "  CPU time, tar vs pack (medians)",
            f"{statistics.median(c_gnu):.3f} s / {statistics.median(c_ours):.3f} s",
            f"ratio {statistics.median(c_ours) / statistics.median(c_gnu):.2f}x; best runs "
            f"{min(c_gnu):.3f} s / {min(c_ours):.3f} s = {min(c_ours) / min(c_gnu):.2f}x",
        ),
        (
            "offsets scan, objects (median)",
            f"{members / statistics.median(t_scan):,.0f} members/s",
            f"best {members / min(t_scan):,.0f}/s; per CPU second "
            f"{members / statistics.median(c_scan):,.0f}/s; target >= 250,000/s",
        ),
        (
            "offsets scan, dicts (median)",
            f"{members / statistics.median(t_scan_dicts):,.0f} members/s",
            "",
        ),
        ("  tarfile.getmembers", f"{members / t_tarfile_scan:,.0f} members/s", ""),
        (
            f"write {args.entries:,}-entry .pkl",
            f"{w:.2f} s",
            f"CPU {wc:.2f} s; {pkl_mb:.1f} MiB file; incl. creating the objects",
        ),
        (
            f"read {args.entries:,}-entry .pkl (batches)",
            f"{r:.2f} s",
            f"CPU {rc:.2f} s; allow-list unpickler",
        ),
        (
            "  peak RSS, stream write+read",
            f"{peak_stream:.0f} MB",
            f"interpreter+imports {base:.0f} MB; target < 200 MB",
        ),
        (
            f"BlobReader index of {args.entries:,}",
            f"{r_index:.2f} s",
            f"CPU {rc_index:.2f} s; peak RSS {peak_index:.0f} MB (pkl load + name dict)",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"blobflow format benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>{vwidth}}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
