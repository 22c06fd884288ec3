"""Unit tests of the bench harness parts that need no server: data, verification, report."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from blobflow.bench._data import DataSpec, ensure_data
from blobflow.bench._plot import plot_speedups
from blobflow.bench._report import FloorRecord, RunRecord, build_results, format_table
from blobflow.bench._verify import VerificationError, same_annotation, verify_download


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return ensure_data(DataSpec(60, 4.0, seed=3), tmp_path_factory.mktemp("cache"), workers=1)


def test_data_is_real_deterministic_and_cached(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    entries = list(data.manifest())
    assert len(entries) == 60
    assert sorted(p.name for p in data.img_dir.iterdir()) == [e.name for e in entries]
    formats = set()
    for entry in entries:
        raw = (data.img_dir / entry.name).read_bytes()
        assert len(raw) == entry.size
        with Image.open(io.BytesIO(raw)) as img:
            formats.add(img.format)
            width, height = img.size
        ann = json.loads((data.ann_dir / f"{entry.name}.json").read_text())
        assert ann["size"] == {"height": height, "width": width}
        assert 1 <= len(ann["objects"]) <= 3
        for obj in ann["objects"]:
            (left, top), (right, bottom) = obj["points"]["exterior"]
            assert 0 <= left < right < width and 0 <= top < bottom < height
    assert formats == {"PNG", "JPEG"}
    # sizes spread around the 4 KB target
    sizes = [e.size for e in entries]
    assert 2048 < sum(sizes) / len(sizes) < 6144 and min(sizes) < 4096 < max(sizes)
    titles = {c["title"] for c in json.loads(data.meta_path.read_text())["classes"]}
    assert {
        o["classTitle"]
        for e in entries
        for o in json.loads((data.ann_dir / f"{e.name}.json").read_text())["objects"]
    } <= titles
    # same spec, other cache: same bytes; same cache: reused, not regenerated
    other = ensure_data(data.spec, tmp_path, workers=2)
    assert other.manifest_path.read_text() == data.manifest_path.read_text()
    assert ensure_data(data.spec, data.root.parent).root == data.root


def _copy_as_download(data, dest: Path) -> Path:  # type: ignore[no-untyped-def]
    ds = dest / "ds0"
    shutil.copytree(data.img_dir, ds / "img")
    shutil.copytree(data.ann_dir, ds / "ann")
    shutil.copy(data.meta_path, dest / "meta.json")
    return ds


def test_verify_download_accepts_identical_and_rejects_differences(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ds = _copy_as_download(data, tmp_path / "ok")
    verify_download(tmp_path / "ok", data)

    victim = sorted((ds / "img").iterdir())[7]
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(VerificationError, match="bytes of"):
        verify_download(tmp_path / "ok", data)

    ds = _copy_as_download(data, tmp_path / "missing")
    sorted((ds / "ann").iterdir())[3].unlink()
    with pytest.raises(VerificationError, match="items, expected"):
        verify_download(tmp_path / "missing", data)

    ds = _copy_as_download(data, tmp_path / "ann")
    path = sorted((ds / "ann").iterdir())[5]
    ann = json.loads(path.read_text())
    ann["objects"][0]["points"]["exterior"][0][0] += 5
    path.write_text(json.dumps(ann))
    with pytest.raises(VerificationError, match="annotation of"):
        verify_download(tmp_path / "ann", data)


def test_verify_download_reads_blob_layout(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from blobflow import blob

    dest = tmp_path / "dl"
    (dest / "blob").mkdir(parents=True)
    shutil.copytree(data.ann_dir, dest / "ds0" / "ann")
    infos = blob.archive_directory(data.img_dir, dest / "blob" / "77.tar")
    blob.BlobImageInfo.dump_to_pickle(infos, dest / "ds0" / "77_offsets.pkl")
    verify_download(dest, data)
    (dest / "blob" / "77.tar").unlink()
    with pytest.raises(VerificationError, match="no image bytes"):
        verify_download(dest, data)


def test_same_annotation_tolerates_the_sdk_subpixel_shift_only() -> None:
    def ann(*rects: tuple[str, int, int, int, int]) -> dict[str, object]:
        return {"objects": [
            {"classTitle": c, "geometryType": "rectangle",
             "points": {"exterior": [[a, b], [r, d]], "interior": []}}
            for c, a, b, r, d in rects
        ]}  # fmt: skip

    base = ann(("car", 1, 2, 5, 6), ("sign", 0, 0, 3, 3))
    assert same_annotation(ann(("sign", 0, 0, 3, 3), ("car", 1, 2, 5, 6)), base)
    assert same_annotation(ann(("car", 1, 2, 6, 7), ("sign", 0, 0, 4, 4)), base)
    assert not same_annotation(ann(("car", 1, 2, 8, 6), ("sign", 0, 0, 3, 3)), base)
    assert not same_annotation(ann(("person", 1, 2, 5, 6), ("sign", 0, 0, 3, 3)), base)
    assert not same_annotation(ann(("car", 1, 2, 5, 6)), base)


def test_report_counts_failed_runs_without_time(tmp_path: Path) -> None:
    records = [
        RunRecord("upload", "standard", "blobflow", 0, True, 10.0, 100.0),
        RunRecord("upload", "standard", "blobflow", 1, True, 12.0, 110.0),
        RunRecord("upload", "quick", "blobflow", 0, True, 0.5, 90.0),
        RunRecord("upload", "quick", "blobflow", 1, False, None, 95.0, "not verified: x"),
        RunRecord("download", "fast", "blobflow", 0, False, None, None, "boom"),
        RunRecord("upload", "standard", "sdk", 0, True, 40.0, 300.0),
    ]
    limits = [{"tar_seconds": 0.1, "raw_upload_seconds": 0.2, "raw_download_seconds": 0.3,
               "tar_bytes": 1e6}]  # fmt: skip
    floors = [FloorRecord("upload", 0, {4: 0.6, 16: 0.4}), FloorRecord("upload", 1, {4: 0.44}),
              FloorRecord("download", 0, {}, "not verified: y")]  # fmt: skip
    res = build_results(records, images=1000, total_bytes=4_000_000, profile="loopback",
                        runs=2, limits=limits, floors=floors)  # fmt: skip
    rows = {(r["direction"], r["strategy"], r["client"]): r for r in res["results"]}
    std, quick = rows[("upload", "standard", "blobflow")], rows[("upload", "quick", "blobflow")]
    assert std["seconds"] == [10.0, 12.0] and std["seconds_median"] == 11.0
    assert std["images_per_s"] == pytest.approx(1000 / 11) and std["peak_rss_mb"] == 110.0
    assert quick["seconds"] == [0.5] and quick["runs_failed"] == 1
    assert quick["errors"] == ["not verified: x"]
    assert quick["speedup_vs_standard"] == pytest.approx(22.0)
    assert quick["ratio_to_limit"] == pytest.approx(0.5 / 0.3)
    assert quick["speedup_vs_sdk_best"] == pytest.approx(80.0)
    fast = rows[("download", "fast", "blobflow")]
    assert fast["seconds_median"] is None and fast["speedup_vs_standard"] is None
    # each run's floor is its fastest concurrency; a row's "x floor" is against their median
    assert res["floors"]["upload"]["seconds"] == [0.4, 0.44]
    assert res["floors"]["upload"]["seconds_median"] == pytest.approx(0.42)
    assert quick["ratio_to_floor"] == pytest.approx(0.5 / 0.42)
    assert std["ratio_to_floor"] == pytest.approx(11.0 / 0.42)
    assert res["floors"]["download"]["seconds_median"] is None
    assert res["targets"]["upload_quick_within_1.3x_of_floor"] is True
    assert res["targets"]["upload_quick_10x_vs_sdk_best"] is True
    assert res["targets"]["download_fast_within_1.3x_of_floor"] is None
    table = format_table(res)
    assert "FAILED download fast (blobflow): boom" in table
    assert "FAILED download floor: not verified: y" in table
    assert "floors (median): upload 0.42 s" in table
    plot_speedups(res, tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as img:
        assert img.format == "PNG" and img.size[0] > 400


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_childs_peak_rss_is_its_own() -> None:
    """ru_maxrss would report the parent's peak in a child; peak_rss_mb must not."""
    import subprocess
    import sys

    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # touch every page
    code = "from blobflow.bench._rss import peak_rss_mb; print(peak_rss_mb())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert float(out.stdout) < 200 < len(ballast) / 2**20


def test_sweep_table_shows_time_and_memory_per_size() -> None:
    from blobflow.bench import format_sweep

    def point(images: int, seconds: float, rss: float | None) -> dict[str, object]:
        return {
            "images": images, "direction": "download", "strategy": "fast",
            "client": "blobflow", "seconds_median": seconds,
            "seconds_per_image": seconds / images, "peak_rss_mb": rss,
        }  # fmt: skip

    text = format_sweep([point(10_000, 2.0, 90.4), point(100_000, 25.0, None)])
    head, row = text.splitlines()
    assert "10,000 img: us/img" in head and "100,000 img: RSS MB" in head
    assert row.split() == ["download", "fast", "blobflow", "200.0", "250.0", "90", "-"]


def test_recorded_bench_command_names_work_dir_and_out() -> None:
    from blobflow.cli import _bench_command, build_parser

    args = build_parser().parse_args(
        ["bench", "--images", "500", "--runs", "1", "--work-dir", "/dev/shm/w", "--out", "r1",
         "--strategies", "upload:quick", "--token", "secret"]
    )  # fmt: skip
    command = _bench_command(args)
    assert command == (
        "blobflow bench --images 500 --image-kb 4 --runs 1 --profile loopback "
        "--strategies upload:quick --work-dir /dev/shm/w --out r1"
    )
    assert "secret" not in command


def test_floor_replay_patches_only_the_ids_the_server_handed_out(tmp_path: Path) -> None:
    """Recorded ids of different kinds may be equal (project 1, dataset 1): each is patched
    by its kind; an id inside an annotation is data, not a reference; answers give new ids."""
    from blobflow import _json
    from blobflow.bench._floor import Replay, prepare

    ann = {"objects": [{"id": 1, "classTitle": "car"}]}
    calls = [
        {"kind": "json", "method": "projects.add", "body": {"name": "p", "workspaceId": 7},
         "response": {"id": 1, "workspaceId": 7}},
        {"kind": "json", "method": "datasets.add", "body": {"projectId": 1, "name": "ds0"},
         "response": {"id": 1, "projectId": 1}},
        {"kind": "upload", "method": "file-storage.upload", "file": "b.tar",
         "params": {"teamId": 3, "path": "/x/b.tar"}, "response": {"id": 5, "teamId": 3}},
        {"kind": "json", "method": "images.bulk.add", "body": {"datasetId": 1, "images": [
            {"title": "a.png", "teamFileId": 5, "sourceBlob": {"offsetStart": 0, "offsetEnd": 1}}]},
         "response": [{"id": 1, "name": "a.png", "datasetId": 1}]},
        {"kind": "json", "method": "annotations.bulk.add", "body": {"datasetId": 1,
         "annotations": [{"imageId": 1, "annotation": ann}]}, "response": {"success": True}},
    ]  # fmt: skip
    (tmp_path / "requests.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls))
    prepared = prepare(tmp_path, tmp_path / "w", {"team": 3, "workspace": 7}, tmp_path, tmp_path)
    assert [sorted(c.deps) for c in prepared] == [[], [0], [], [1, 2], [1, 3]]
    assert prepared[2].gate == "images:b.tar" and prepared[4].after == "ann0"
    assert prepared[4].writes == [(tmp_path / "a.png.json", b"")]  # read before it is sent
    replay = Replay(prepared, "127.0.0.1:1", "t", {("team", 3): 30, ("workspace", 7): 70}, 4)
    assert _json.loads(replay._body(prepared[0])) == {"name": "p", "workspaceId": 70}
    replay._learn(prepared[0], {"id": 41, "workspaceId": 70})
    replay._learn(prepared[1], {"id": 42, "projectId": 41})
    assert replay._params(prepared[2]) == {"teamId": "30", "path": "/x/b.tar"}
    replay._learn(prepared[2], {"id": 43, "teamId": 30})
    body = _json.loads(replay._body(prepared[3]))
    assert body["datasetId"] == 42 and body["images"][0]["teamFileId"] == 43
    replay._learn(prepared[3], [{"id": 44, "name": "a.png", "datasetId": 42}])
    assert _json.loads(replay._body(prepared[4])) == {
        "datasetId": 42, "annotations": [{"imageId": 44, "annotation": ann}]
    }  # fmt: skip


@pytest.mark.parametrize(("free_gb", "on_shm"), [(100.0, True), (0.5, False)])
def test_default_work_dir_is_tmpfs_when_it_has_room(
    free_gb: float, on_shm: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import tempfile
    from types import SimpleNamespace

    from blobflow.bench import _run

    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(_run, "SHM", shm)
    monkeypatch.setattr(_run.os, "statvfs", lambda _p: SimpleNamespace(
        f_bavail=int(free_gb * 2**30 / 4096), f_frsize=4096))  # fmt: skip
    expected = shm if on_shm else Path(tempfile.gettempdir())
    assert _run.default_work_dir(30_000, 4.0) == expected  # 30,000 x 4 KB needs ~1.2 GB
    monkeypatch.setattr(_run.os, "statvfs", lambda _p: (_ for _ in ()).throw(OSError("no")))
    assert _run.default_work_dir(30_000, 4.0) == Path(tempfile.gettempdir())
    assert os.path.isdir(expected)
