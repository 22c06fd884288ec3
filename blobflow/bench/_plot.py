"""Charts drawn with Pillow's ImageDraw (matplotlib is not a dependency).

* ``plot_speedups``: one horizontal bar per row, its speedup over ``standard`` (same client,
  same direction), with the seed's claim marked as a red tick and its "x floor" beside it.
* ``plot_sweep``: time per image against the image count (log x), one line per strategy.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

__all__ = ["plot_speedups", "plot_sweep"]

_PALETTE = {
    ("standard", "blobflow"): (140, 140, 140),
    ("blob", "blobflow"): (52, 120, 198),
    ("quick", "blobflow"): (24, 160, 90),
    ("fast", "blobflow"): (24, 160, 90),
    ("standard", "sdk"): (200, 200, 200),
    ("blob", "sdk"): (150, 185, 225),
    ("quick", "sdk"): (150, 215, 180),
    ("fast", "sdk"): (150, 215, 180),
}
_CLAIM = (210, 40, 40)
_FONT = ImageFont.load_default()


def _color(strategy: str, client: str) -> tuple[int, int, int]:
    return _PALETTE.get((strategy, client), (100, 100, 100))


def plot_speedups(results: dict[str, Any], path: Path) -> None:
    rows = results["results"]
    label_w, bar_w, row_h, top = 250, 560, 26, 50
    height = top + row_h * (len(rows) + 1) + 30
    image = Image.new("RGB", (label_w + bar_w + 200, height), "white")
    draw = ImageDraw.Draw(image)
    title = (
        f"Speedup over standard - {results['images']:,} images x "
        f"{results['avg_image_bytes'] / 1024:.1f} KB, {results['profile']}"
    )
    draw.text((10, 10), title, fill="black", font=_FONT)
    note = "bar: measured;  red tick: the seed's claim;  (x floor): time / the direction's floor"
    draw.text((10, 26), note, fill=_CLAIM, font=_FONT)
    values = [r["speedup_vs_standard"] or 0 for r in rows]
    values += [r["seed_claim"] or 0 for r in rows]
    scale = bar_w / max(1.0, max(values) * 1.1)
    y = top
    for row in rows:
        label = f"{row['direction']} {row['strategy']} ({row['client']})"
        draw.text((10, y + 6), label, fill="black", font=_FONT)
        speedup = row["speedup_vs_standard"]
        x0 = label_w
        if speedup:
            x1 = x0 + max(2, int(speedup * scale))
            fill = _color(row["strategy"], row["client"])
            draw.rectangle((x0, y + 3, x1, y + row_h - 5), fill=fill)
            text = f"{speedup:.1f}x"
            if row.get("ratio_to_floor"):
                text += f"  ({row['ratio_to_floor']:.2f}x floor)"
            draw.text((x1 + 5, y + 6), text, fill="black", font=_FONT)
        else:
            draw.text((x0 + 5, y + 6), "failed / n.a.", fill=_CLAIM, font=_FONT)
        if row["seed_claim"]:
            xc = x0 + int(row["seed_claim"] * scale)
            draw.line((xc, y, xc, y + row_h - 2), fill=_CLAIM, width=3)
        y += row_h
    draw.line((label_w, top - 4, label_w, y), fill="black")
    image.save(path, "PNG")


def plot_sweep(sweep: list[dict[str, Any]], path: Path) -> None:
    """sweep: [{"images", "direction", "strategy", "client", "seconds_per_image"}]."""
    points = [p for p in sweep if p.get("seconds_per_image")]
    width, height, left, right, top, bottom = 900, 520, 90, 220, 40, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), "Time per image (us) against image count", fill="black", font=_FONT)
    if not points:
        draw.text((left, top + 20), "no successful sweep point", fill=_CLAIM, font=_FONT)
        image.save(path, "PNG")
        return
    xs = sorted({p["images"] for p in points})
    ys = [p["seconds_per_image"] * 1e6 for p in points]
    lx0, lx1 = math.log10(xs[0]), math.log10(xs[-1]) if xs[-1] > xs[0] else math.log10(xs[0]) + 1
    y_max = max(ys) * 1.1
    plot_w, plot_h = width - left - right, height - top - bottom

    def at(n: int, us: float) -> tuple[int, int]:
        x = left + int((math.log10(n) - lx0) / (lx1 - lx0) * plot_w)
        return x, top + plot_h - int(us / y_max * plot_h)

    draw.line((left, top, left, top + plot_h, left + plot_w, top + plot_h), fill="black")
    for n in xs:
        x, _ = at(n, 0)
        draw.text((x - 15, top + plot_h + 8), f"{n:,}", fill="black", font=_FONT)
    for i in range(5):
        us = y_max * i / 4
        _, y = at(xs[0], us)
        draw.text((10, y - 5), f"{us:,.0f}", fill="black", font=_FONT)
    series: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for p in points:
        key = (p["direction"], p["strategy"], p["client"])
        series.setdefault(key, []).append((p["images"], p["seconds_per_image"] * 1e6))
    for i, (key, pts) in enumerate(sorted(series.items())):
        color = _color(key[1], key[2])
        if key[0] == "download":
            color = tuple(max(0, c - 60) for c in color)  # type: ignore[assignment]
        coords = [at(n, us) for n, us in sorted(pts)]
        if len(coords) > 1:
            draw.line(coords, fill=color, width=2)
        for x, y in coords:
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=color)
        ly = top + 14 * i
        draw.line((width - right + 10, ly + 6, width - right + 30, ly + 6), fill=color, width=3)
        draw.text((width - right + 35, ly), " ".join(key), fill="black", font=_FONT)
    image.save(path, "PNG")
