"""Turn run records into results.json / results.md and the table printed on stdout.

``results.json`` shape (shown in docs/benchmarks.md; extra keys may be added, none removed)::

    {"images": N, "avg_image_bytes": B, "profile": "...", "runs": R,
     "results": [{"direction", "strategy", "client", "seconds": [..], "seconds_median",
                  "images_per_s", "mb_per_s", "peak_rss_mb", "speedup_vs_standard",
                  # extras: "profile", "runs_ok", "runs_failed", "errors", "ratio_to_limit",
                  #         "seed_claim", "speedup_vs_sdk_best", "ratio_to_floor"}],
     "limits": {"tar_seconds", "raw_upload_seconds", "raw_download_seconds", "tar_bytes",
                "ann_write_seconds"},
     "floors": {"upload": {"seconds_median", "seconds", "concurrency", "tried"}, "download": ...},
     "seed_claims": {"upload_blob": 2, "upload_quick": 14, "download_blob": 4, "download_fast": 22},
     "targets": {...}, "command": "..."}

A failed run (error or not verified) contributes no time: it is counted in ``runs_failed`` and
its error is listed. A row whose every run failed has null figures.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ORDER",
    "SEED_CLAIMS",
    "FloorRecord",
    "RunRecord",
    "build_results",
    "format_table",
    "write_outputs",
]

SEED_CLAIMS: dict[str, float] = {
    "upload_blob": 2,
    "upload_quick": 14,
    "download_blob": 4,
    "download_fast": 22,
}
STRATEGIES = {"upload": ("standard", "blob", "quick"), "download": ("standard", "blob", "fast")}
ORDER = [(d, s) for d, names in STRATEGIES.items() for s in names]
CLIENTS = ("blobflow", "sdk")


@dataclass
class RunRecord:
    direction: str
    strategy: str
    client: str
    run: int
    ok: bool
    seconds: float | None
    peak_rss_mb: float | None
    error: str | None = None
    cpu_seconds: float | None = None  # the client's (its process and its children)
    server_cpu_seconds: float | None = None  # the embedded server's during the run


@dataclass
class FloorRecord:
    """One run's floor for one direction: the replay's time at each concurrency tried."""

    direction: str
    run: int
    tried: dict[int, float] = field(default_factory=dict)
    error: str | None = None
    #: concurrency -> (client CPU, server CPU) of that replay
    cpu: dict[int, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def best(self) -> tuple[int, float] | None:
        return min(self.tried.items(), key=lambda kv: kv[1]) if self.tried else None


def _floors(floors: Iterable[FloorRecord]) -> dict[str, dict[str, Any]]:
    """Per direction: each run's floor (its fastest concurrency) and their median."""
    out: dict[str, dict[str, Any]] = {}
    for direction in STRATEGIES:
        mine = [f for f in floors if f.direction == direction]
        if not mine:
            continue
        best = [(f, b) for f in mine if (b := f.best) is not None]
        seconds = [s for _f, (_c, s) in best]
        wins = [c for _f, (c, _s) in best]
        cpu = [f.cpu.get(c, (None, None)) for f, (c, _s) in best]
        out[direction] = {
            "seconds_median": _median(seconds),
            "seconds": seconds,
            "concurrency": max(set(wins), key=wins.count) if wins else None,
            "tried": [{str(c): s for c, s in f.tried.items()} for f in mine],
            "cpu_seconds_median": _median([c for c, _s in cpu if c is not None]),
            "server_cpu_seconds_median": _median([s for _c, s in cpu if s is not None]),
            "errors": sorted({f.error for f in mine if f.error}),
        }
    return out


_LIMIT_KEYS = (
    "tar_seconds",
    "raw_upload_seconds",
    "raw_download_seconds",
    "tar_bytes",
    "ann_write_seconds",
)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den


def build_results(
    records: Iterable[RunRecord],
    *,
    images: int,
    total_bytes: int,
    profile: str,
    runs: int,
    limits: Sequence[dict[str, float]],
    command: str = "",
    floors: Iterable[FloorRecord] = (),
) -> dict[str, Any]:
    records = list(records)
    floor = _floors(floors)
    limit = {
        key: statistics.median(lim.get(key, 0.0) for lim in limits) if limits else None
        for key in _LIMIT_KEYS
    }
    limit_for = {
        "upload": _sum(limit["tar_seconds"], limit["raw_upload_seconds"]),
        "download": limit["raw_download_seconds"],
    }
    rows: list[dict[str, Any]] = []
    for client in CLIENTS:
        for direction, strategy in ORDER:
            mine = [
                r
                for r in records
                if (r.direction, r.strategy, r.client) == (direction, strategy, client)
            ]
            if mine:
                row = _row(mine, images, total_bytes, profile, limit_for[direction])
                row["ratio_to_floor"] = _ratio(
                    row["seconds_median"], floor.get(direction, {}).get("seconds_median")
                )
                rows.append(row)
    medians = {(r["direction"], r["strategy"], r["client"]): r["seconds_median"] for r in rows}
    for row in rows:
        key = (row["direction"], "standard", row["client"])
        row["speedup_vs_standard"] = _ratio(medians.get(key), row["seconds_median"])
        sdk = [
            m
            for (d, _s, c), m in medians.items()
            if d == row["direction"] and c == "sdk" and m is not None
        ]
        best_sdk = min(sdk) if sdk else None
        row["speedup_vs_sdk_best"] = (
            _ratio(best_sdk, row["seconds_median"]) if row["client"] == "blobflow" else None
        )
    return {
        "images": images,
        "avg_image_bytes": total_bytes / max(1, images),
        "profile": profile,
        "runs": runs,
        "results": rows,
        "limits": limit,
        "floors": floor,
        "seed_claims": SEED_CLAIMS,
        "targets": _targets(rows, profile),
        "command": command,
    }


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _row(
    records: list[RunRecord], images: int, total_bytes: int, profile: str, limit: float | None
) -> dict[str, Any]:
    first = records[0]
    ok = [r for r in records if r.ok and r.seconds is not None]
    seconds = [float(r.seconds) for r in ok if r.seconds is not None]
    median = _median(seconds)
    rss = [r.peak_rss_mb for r in ok if r.peak_rss_mb is not None]
    cpu = [r.cpu_seconds for r in ok if r.cpu_seconds is not None]
    server_cpu = [r.server_cpu_seconds for r in ok if r.server_cpu_seconds is not None]
    return {
        "direction": first.direction,
        "strategy": first.strategy,
        "client": first.client,
        "profile": profile,
        "seconds": seconds,
        "seconds_median": median,
        "images_per_s": _ratio(images, median),
        "mb_per_s": _ratio(total_bytes / 1e6, median),
        "peak_rss_mb": max(rss) if rss else None,
        "cpu_seconds_median": _median(cpu),
        "server_cpu_seconds_median": _median(server_cpu),
        "speedup_vs_standard": None,  # filled once every row's median is known
        "ratio_to_limit": _ratio(median, limit),
        "seed_claim": SEED_CLAIMS.get(f"{first.direction}_{first.strategy}"),
        "runs_ok": len(ok),
        "runs_failed": len(records) - len(ok),
        "errors": sorted({str(r.error) for r in records if not r.ok}),
    }


def _find(rows: list[dict[str, Any]], direction: str, strategy: str, client: str) -> Any:
    for row in rows:
        if (row["direction"], row["strategy"], row["client"]) == (direction, strategy, client):
            return row
    return None


#: the largest "x floor" allowed for quick / fast, per profile
FLOOR_TARGETS = {"loopback": 1.3, "wan": 1.15}
SDK_TARGET = 10  # quick / fast at least this many times faster than the SDK's best


def _targets(rows: list[dict[str, Any]], profile: str) -> dict[str, Any]:
    """The targets, each true / false, or null when a figure is missing."""
    out: dict[str, Any] = {}
    within = FLOOR_TARGETS.get(profile)
    for direction, strategy in (("upload", "quick"), ("download", "fast")):
        row = _find(rows, direction, strategy, "blobflow")
        ratio = row and row["ratio_to_floor"]
        vs_sdk = row and row["speedup_vs_sdk_best"]
        if within is not None:
            key = f"{direction}_{strategy}_within_{within:g}x_of_floor"
            out[key] = None if not ratio else ratio <= within
        if profile == "loopback":
            key = f"{direction}_{strategy}_{SDK_TARGET}x_vs_sdk_best"
            out[key] = None if not vs_sdk else vs_sdk >= SDK_TARGET
    return out


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


_HEADER = (
    "direction",
    "strategy",
    "client",
    "median s",
    "images/s",
    "MB/s",
    "speedup",
    "seed claim",
    "x limit",
    "x floor",
    "vs SDK best",
    "peak RSS MB",
    "CPU s client/server",
    "runs ok",
)


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        row["direction"],
        row["strategy"],
        row["client"],
        _fmt(row["seconds_median"], ".2f"),
        _fmt(row["images_per_s"], ",.0f"),
        _fmt(row["mb_per_s"], ".1f"),
        _fmt(row["speedup_vs_standard"], ".1f") + ("x" if row["speedup_vs_standard"] else ""),
        _fmt(row["seed_claim"], "g") + ("x" if row["seed_claim"] else ""),
        _fmt(row["ratio_to_limit"], ".2f"),
        _fmt(row.get("ratio_to_floor"), ".2f"),
        _fmt(row["speedup_vs_sdk_best"], ".1f") + ("x" if row["speedup_vs_sdk_best"] else ""),
        _fmt(row["peak_rss_mb"], ".0f"),
        f"{_fmt(row.get('cpu_seconds_median'), '.2f')}/"
        f"{_fmt(row.get('server_cpu_seconds_median'), '.2f')}",
        f"{row['runs_ok']}/{row['runs_ok'] + row['runs_failed']}",
    ]


def _limits_line(results: dict[str, Any]) -> str:
    lim = results["limits"]
    return (
        f"limits (median): tar cf {_fmt(lim['tar_seconds'], '.2f')} s, "
        f"raw upload {_fmt(lim['raw_upload_seconds'], '.2f')} s, "
        f"raw download {_fmt(lim['raw_download_seconds'], '.2f')} s "
        f"of {_fmt((lim['tar_bytes'] or 0) / 1e6, '.1f')} MB; "
        f"writing the annotation files {_fmt(lim.get('ann_write_seconds'), '.2f')} s"
    )


def _floors_line(results: dict[str, Any]) -> str:
    parts = []
    for direction, floor in results.get("floors", {}).items():
        text = f"{direction} {_fmt(floor['seconds_median'], '.2f')} s"
        if floor.get("concurrency"):
            text += f" ({floor['concurrency']} in flight"
            text += f", CPU s client/server {_fmt(floor.get('cpu_seconds_median'), '.2f')}/"
            text += f"{_fmt(floor.get('server_cpu_seconds_median'), '.2f')})"
        parts.append(text)
    return "floors (median): " + ("; ".join(parts) if parts else "not measured")


def _title(results: dict[str, Any]) -> str:
    return (
        f"{results['images']:,} images x {results['avg_image_bytes'] / 1024:.1f} KB avg, "
        f"profile {results['profile']}, {results['runs']} run(s)"
    )


def format_table(results: dict[str, Any]) -> str:
    """The plain-text table printed on stdout."""
    table = [list(_HEADER)] + [_cells(r) for r in results["results"]]
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEADER))]
    lines = [_title(results)]
    for n, row in enumerate(table):
        lines.append(
            "  ".join(
                cell.rjust(w) if i > 2 else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(_limits_line(results))
    lines.append(_floors_line(results))
    lines.extend(_failures(results))
    return "\n".join(lines)


def _failures(results: dict[str, Any]) -> list[str]:
    rows = [
        f"FAILED {r['direction']} {r['strategy']} ({r['client']}): {err}"
        for r in results["results"]
        for err in r["errors"]
    ]
    floors = results.get("floors", {}).items()
    return rows + [f"FAILED {d} floor: {err}" for d, f in floors for err in f["errors"]]


def format_markdown(results: dict[str, Any]) -> str:
    lines = [f"# blobflow bench: {_title(results)}", ""]
    if results.get("command"):
        lines += [f"`{results['command']}`", ""]
    lines.append("| " + " | ".join(_HEADER) + " |")
    lines.append("|" + "---|" * len(_HEADER))
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in results["results"]]
    lines += ["", _limits_line(results), "", _floors_line(results), "", "Targets:", ""]
    lines += [f"- {k}: {v}" for k, v in results["targets"].items()]
    failures = _failures(results)
    if failures:
        lines += ["", *[f"- {f}" for f in failures]]
    return "\n".join(lines) + "\n"


def write_outputs(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """results.json, results.md and results.png (plus sweep.png after a sweep) in out_dir."""
    from blobflow.bench._plot import plot_speedups, plot_sweep

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "results.json", out_dir / "results.md", out_dir / "results.png"]
    paths[0].write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    paths[1].write_text(format_markdown(results), encoding="utf-8")
    plot_speedups(results, paths[2])
    if results.get("sweep"):
        paths.append(out_dir / "sweep.png")
        plot_sweep(results["sweep"], paths[-1])
    return paths
