"""``blobflow bench``'s plan (what each run times) and its progress lines (time left)."""

from __future__ import annotations

from typing import Any

import pytest

from blobflow.bench._progress import Progress, Step, format_duration, prior_seconds
from blobflow.bench._report import ORDER
from blobflow.bench._run import HEADLINE, BenchOptions, plan
from blobflow.cli import main


def keys(steps: list[Step], run: int) -> list[tuple[str, str, str]]:
    return [s.key for s in steps if s.run == run]


def test_default_plan_times_everything_once_then_the_headline() -> None:
    steps = plan(BenchOptions(runs=3, repeat=HEADLINE, floor_concurrency=(4, 16, 32)))
    first = keys(steps, 0)
    assert first[0] == ("setup", "", "") and first[-1] == ("cleanup", "", "")
    assert [k for k in first if k[2] == "blobflow"] == [(d, s, "blobflow") for d, s in ORDER]
    # the floors once, at the middle concurrency (--full tries every one, in every run)
    assert [k for k in first if k[0] == "floor"] == [("floor", "upload", "16"),
                                                     ("floor", "download", "16")]  # fmt: skip
    assert ("recording", "upload", "") in first and ("recording", "download", "") in first
    for run in (1, 2):
        assert keys(steps, run) == [
            ("setup", "", ""),
            ("upload", "quick", "blobflow"),
            ("download", "fast", "blobflow"),
            ("cleanup", "", ""),
        ]


def test_full_plan_times_everything_in_every_run() -> None:
    opts = BenchOptions(runs=2, repeat=None, sdk_python="/sdk/python", floor_concurrency=(4, 8))
    steps = plan(opts)
    for run in (0, 1):
        timed = [k for k in keys(steps, run) if k[0] in ("upload", "download")]
        assert timed == [(d, s, c) for d, s in ORDER for c in ("blobflow", "sdk")]
        floors = [k for k in keys(steps, run) if k[0] == "floor"]
        assert floors == [("floor", d, c) for d in ("upload", "download") for c in ("4", "8")]


def test_plan_without_an_upload_makes_a_source_for_the_downloads() -> None:
    opts = BenchOptions(runs=1, strategies=[("download", "fast")], floors=False)
    assert keys(plan(opts), 0) == [
        ("setup", "", ""),
        ("source", "quick", "blobflow"),
        ("download", "fast", "blobflow"),
        ("cleanup", "", ""),
    ]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_estimates_from_what_it_has_timed() -> None:
    lines: list[str] = []
    clock = Clock()
    quick = ("upload", "quick", "blobflow")
    steps = [Step(0, quick), Step(0, ("upload", "standard", "blobflow")), Step(1, quick)]
    progress = Progress(steps, 30_000, 2, lines.append, clock=clock)
    prior_quick = prior_seconds(quick, 30_000)
    prior_standard = prior_seconds(("upload", "standard", "blobflow"), 30_000)
    assert progress.remaining() == pytest.approx(2 * prior_quick + prior_standard)

    progress.begin(steps[0])
    clock.now += 2 * prior_quick  # this machine is twice as slow as the prior says
    progress.end(steps[0], "8.00 s, verified")
    # the same step again is expected to take what it took; one never timed, its prior x 2
    assert progress.remaining() == pytest.approx(2 * prior_quick + 2 * prior_standard)
    assert lines[0].startswith("[0:00] run 1/2: upload quick (blobflow) ...")
    minutes, secs = divmod(int(2 * prior_quick), 60)
    assert lines[1].startswith(f"[{minutes}:{secs:02d}] run 1/2:")
    assert "upload quick (blobflow): 8.00 s, verified · about " in lines[1]
    assert lines[1].endswith(f"about {format_duration(2 * prior_quick + 2 * prior_standard)} left")

    for step in steps[1:]:
        progress.begin(step)
        clock.now += 1
        progress.end(step)
    assert progress.remaining() == 0 and not lines[-1].endswith("left")


def test_progress_live_rewrites_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    step = Step(0, ("download", "fast", "blobflow"))
    progress = Progress([step], 1000, 1, lambda line: None, live=sys.stderr, clock=Clock())
    progress.begin(step)
    progress.end(step, "1.00 s, verified")
    err = capsys.readouterr().err
    assert err.count("\r\033[K") == 2
    assert err.endswith("download fast (blobflow): 1.00 s, verified\n")


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 44.6, 60, 185)] == ["0 s", "45 s", "1 min 00 s",
                                                                   "3 min 05 s"]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "repeat"),
    [
        ([], HEADLINE),
        (["--full"], None),
        (["--strategies", "upload:quick,download:fast"], None),
        (["--runs", "1"], None),
    ],
    ids=["default", "full", "strategies", "one-run"],
)
def test_cli_repeats_the_headline_unless_told(
    argv: list[str], repeat: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import blobflow.bench

    seen: list[BenchOptions] = []

    def fake_run_bench(opts: BenchOptions) -> dict[str, Any]:
        seen.append(opts)
        return {"results": [], "images": opts.images, "runs": opts.runs}

    monkeypatch.setattr(blobflow.bench, "run_bench", fake_run_bench)
    monkeypatch.setattr(blobflow.bench, "write_outputs", lambda results, out: [])
    assert main(["bench", "--quiet", "--out", str(tmp_path), *argv]) == 0
    assert seen[0].repeat == repeat
    assert ("--full" in seen[0].command) == ("--full" in argv)
