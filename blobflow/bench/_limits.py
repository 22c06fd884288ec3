"""What the machine can do, measured in the same run as the strategies.

* ``tar_seconds``: GNU ``tar cf`` of the same image folder (packing limit);
* ``raw_upload_seconds``: one raw HTTP upload of that tar's bytes to the same server;
* ``raw_download_seconds``: one raw HTTP download of the same bytes back to a local file.

An upload strategy's limit is ``tar + raw upload`` (it starts from the same loose files); a
download strategy's limit is ``raw download``.

Also measured, for information (not part of any ratio): ``ann_write_seconds``, plainly writing
the N annotation files (``ann/<name>.json``) that every download must leave on disk: on a
slow or busy disk this small-file floor, not the network, bounds the downloads.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from blobflow.bench._data import BenchData
from blobflow.bench._raw import RawClient

__all__ = ["Limits", "measure_limits"]


@dataclass(frozen=True)
class Limits:
    tar_seconds: float
    raw_upload_seconds: float
    raw_download_seconds: float
    tar_bytes: int
    ann_write_seconds: float = 0.0

    @property
    def upload_seconds(self) -> float:
        return self.tar_seconds + self.raw_upload_seconds

    @property
    def download_seconds(self) -> float:
        return self.raw_download_seconds

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def measure_limits(client: RawClient, team_id: int, data: BenchData, work: Path) -> Limits:
    tar_exe = shutil.which("tar")
    if tar_exe is None:
        raise FileNotFoundError("GNU tar is needed to measure the packing limit")
    work.mkdir(parents=True, exist_ok=True)
    tar_path = work / "limit.tar"
    back_path = work / "limit-back.tar"
    try:
        start = time.perf_counter()
        subprocess.run([tar_exe, "cf", str(tar_path), "-C", str(data.img_dir), "."], check=True)
        tar_seconds = time.perf_counter() - start

        remote = f"/bench-limits/{work.name}.tar"
        start = time.perf_counter()
        client.upload_file(team_id, tar_path, remote)
        upload_seconds = time.perf_counter() - start

        start = time.perf_counter()
        count = client.download_file(team_id, remote, back_path)
        download_seconds = time.perf_counter() - start
        size = tar_path.stat().st_size
        if count != size:
            raise OSError(f"raw download returned {count} bytes, expected {size}")
        ann_seconds = _ann_write_seconds(data, work / "ann-floor")
        return Limits(tar_seconds, upload_seconds, download_seconds, size, ann_seconds)
    finally:
        tar_path.unlink(missing_ok=True)
        back_path.unlink(missing_ok=True)


def _ann_write_seconds(data: BenchData, dest: Path) -> float:
    """Time to write every annotation file once (bytes read beforehand, untimed)."""
    files = [(p.name, p.read_bytes()) for p in sorted(data.ann_dir.iterdir())]
    dest.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        for name, body in files:
            (dest / name).write_bytes(body)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(dest, ignore_errors=True)
