"""The harness end to end on a few hundred images: report shape and verification.

No timed assertions: the figures are whatever this machine gives; only their presence, their
consistency and the verification are checked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from blobflow.bench._data import DataSpec, ensure_data
from blobflow.bench._raw import RawClient
from blobflow.bench._report import ORDER
from blobflow.bench._runner import Job, run_job
from blobflow.bench._verify import VerificationError, verify_upload
from blobflow.cli import main

ROW_KEYS = {
    "direction", "strategy", "client", "seconds", "seconds_median", "images_per_s", "mb_per_s",
    "peak_rss_mb", "speedup_vs_standard",
}  # fmt: skip


@pytest.mark.slow
def test_bench_cli_runs_every_strategy_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SERVER_ADDRESS", "API_TOKEN"):  # the embedded server, whatever the shell has
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "out"
    code = main([
        "bench", "--images", "240", "--runs", "1", "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"), "--work-dir", str(tmp_path / "work"),
        "--verify-sample", "0", "--timeout", "600", "--json", "--quiet",
    ])  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    results = json.loads((out / "results.json").read_text())
    assert printed == results
    failures = [(r["strategy"], r["direction"], r["errors"]) for r in results["results"]
                if r["runs_failed"]]  # fmt: skip
    assert code == 0, failures
    assert results["images"] == 240 and results["runs"] == 1
    assert results["profile"] == "loopback"
    assert 2048 < results["avg_image_bytes"] < 6144
    assert results["seed_claims"] == {
        "upload_blob": 2, "upload_quick": 14, "download_blob": 4, "download_fast": 22,
    }  # fmt: skip
    assert set(results["limits"]) >= {"tar_seconds", "raw_upload_seconds", "raw_download_seconds"}
    assert all(
        results["limits"][k] > 0 for k in ("tar_seconds", "raw_upload_seconds", "ann_write_seconds")
    )
    assert [(r["direction"], r["strategy"]) for r in results["results"]] == ORDER
    for row in results["results"]:
        assert set(row) >= ROW_KEYS
        assert row["client"] == "blobflow" and row["runs_ok"] == 1 and not row["errors"]
        assert len(row["seconds"]) == 1 and row["seconds_median"] == row["seconds"][0] > 0
        assert row["images_per_s"] == pytest.approx(240 / row["seconds_median"])
        assert row["peak_rss_mb"] > 0 and row["ratio_to_limit"] > 0
        if row["strategy"] == "standard":
            assert row["speedup_vs_standard"] == pytest.approx(1.0)
    assert set(results["targets"]) == {
        f"{d}_{s}_{t}" for d, s in (("upload", "quick"), ("download", "fast"))
        for t in ("within_1.3x_of_floor", "10x_vs_sdk_best")
    }  # fmt: skip
    # the floor: a verified replay of each direction at each concurrency tried, every run
    for direction in ("upload", "download"):
        floor = results["floors"][direction]
        assert not floor["errors"] and len(floor["seconds"]) == 1 and floor["seconds_median"] > 0
        assert [set(t) for t in floor["tried"]] == [{"4", "16", "32"}]
        assert floor["seconds_median"] == min(floor["tried"][0].values())
    for row in results["results"]:
        floor = results["floors"][row["direction"]]["seconds_median"]
        assert row["ratio_to_floor"] == pytest.approx(row["seconds_median"] / floor)
    markdown = (out / "results.md").read_text()
    assert "| upload | quick | blobflow |" in markdown and "| x floor |" in markdown
    assert "floors (median): upload " in markdown
    with Image.open(out / "results.png") as img:
        assert img.format == "PNG"


def test_upload_verification_catches_a_missing_image(tmp_path: Path) -> None:
    from blobflow.server import ServerProcess

    data = ensure_data(DataSpec(80, 4.0, seed=5), tmp_path / "cache", workers=1)
    with ServerProcess(data_dir=tmp_path / "srv", startup_timeout=120) as srv:
        job = Job(
            direction="upload", strategy="standard", client="blobflow", server=srv.address,
            token=srv.token, team_id=srv.team_id, workspace_id=srv.workspace_id,
            data_root=str(data.root), img_dir=str(data.img_dir), ann_dir=str(data.ann_dir),
            work_dir=str(tmp_path / "w"), name="verify-me",
        )  # fmt: skip
        (tmp_path / "w").mkdir()
        result = run_job(job, sys.executable, timeout=600, log_path=tmp_path / "log")
        assert result.ok, (result.error, (tmp_path / "log").read_text())
        assert result.project_id is not None and result.peak_rss_mb
        with RawClient(srv.address, srv.token) as raw:
            verify_upload(raw, result.project_id, data, sample=0)
            (ds,) = raw.list_all("datasets.list", {"projectId": result.project_id, "filter": []})
            images = raw.list_all("images.list", {"datasetId": ds["id"], "filter": []})
            raw.post_json("images.bulk.remove", {"imageIds": [images[10]["id"]]})
            with pytest.raises(VerificationError, match="79 images"):
                verify_upload(raw, result.project_id, data, sample=0)


def test_each_upload_gets_a_user_of_its_own(tmp_path: Path) -> None:
    """The server skips bytes a user already uploaded: a standard upload timed after another
    one on the same user would not send its images (the SDK rows ran 3x faster that way)."""
    from blobflow.bench._run import BenchOptions, _embedded_server

    data = ensure_data(DataSpec(5, 4.0, seed=5), tmp_path / "cache", workers=1)
    files = sorted(data.img_dir.iterdir())
    hashes = [base64.b64encode(hashlib.sha256(p.read_bytes()).digest()).decode() for p in files]
    with _embedded_server(BenchOptions(), tmp_path / "srv") as target:
        first, second = target.fresh(), target.fresh()
        assert len({target.token, first.token, second.token}) == 3
        assert len({target.team_id, first.team_id, second.team_id}) == 3
        job = Job(
            direction="upload", strategy="standard", client="blobflow", server=first.address,
            token=first.token, team_id=first.team_id, workspace_id=first.workspace_id,
            data_root=str(data.root), img_dir=str(data.img_dir), ann_dir=str(data.ann_dir),
            work_dir=str(tmp_path / "w"), name="mine",
        )  # fmt: skip
        (tmp_path / "w").mkdir()
        result = run_job(job, sys.executable, timeout=300, log_path=tmp_path / "log")
        assert result.ok, result.error
        with RawClient(first.address, first.token) as raw:
            assert sorted(raw.post_json("images.internal.hashes.list", hashes)) == sorted(hashes)
        with RawClient(second.address, second.token) as raw:
            assert raw.post_json("images.internal.hashes.list", hashes) == []
