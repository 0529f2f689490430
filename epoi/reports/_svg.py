"""Small inline SVG charts: vertical stacked bars and horizontal bars.

Drawn here rather than by a charting library so that the HTML report needs nothing from the
network and stays one file.  Pure functions: numbers in, an SVG string out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# Colour-blind-safe (Okabe-Ito), in series order.
PALETTE = ("#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442")


TICKS = 4


def axis_top(value: float) -> float:
    """The top of a count axis with ``TICKS`` equal steps, each a whole 1, 2, 2.5 or 5 times
    a power of ten, at or above ``value``: 3 → 4 (0 1 2 3 4), 87 336 → 100 000."""
    raw = max(value, 0) / TICKS
    if raw <= 1:
        return float(TICKS)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * magnitude
        if step >= raw and float(step).is_integer():
            return float(step * TICKS)
    return float(10 * magnitude * TICKS)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _legend(series: Sequence[str], x: float, y: float) -> list[str]:
    out = []
    for i, name in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<rect x="{x:.0f}" y="{y + i * 16:.0f}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:.0f}" y="{y + i * 16 + 9:.0f}">{escape(name)}</text>'
        )
    return out


def stacked_bars(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, width: int = 760
) -> str:
    """Vertical bars, one per label, each stacked from the series in order."""
    height, left, right, top, bottom = 240, 56, 130, 12, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[i] or 0 for s in series.values()) for i in range(len(labels))]
    top_value = axis_top(max(totals, default=0))
    slot = plot_w / max(len(labels), 1)
    bar_w = max(min(slot * 0.7, 48), 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
    ]
    for frac in (i / TICKS for i in range(TICKS + 1)):  # grid lines and axis values
        y = top + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(top_value * frac)}</text>"
        )
    label_every = max(1, round(len(labels) / 16))  # keep axis labels legible
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        base: float = top + plot_h  # bars stack upwards from the axis
        for j, (name, values) in enumerate(series.items()):
            value = values[i] or 0
            if value <= 0:
                continue
            h = plot_h * value / top_value
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(str(label))} {escape(name)}: '
                f"{_fmt(value)}</title></rect>"
            )
        if i % label_every == 0:
            cx, cy = left + i * slot + slot / 2, top + plot_h + 12
            parts.append(
                f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="end" '
                f'transform="rotate(-40 {cx:.1f} {cy:.1f})">{escape(str(label))}</text>'
            )
    parts.extend(_legend(list(series), left + plot_w + 14, top + 4))
    parts.append("</svg>")
    return "".join(parts)


def hbars(labels: Sequence[str], values: Sequence[float], *, title: str, width: int = 760) -> str:
    """Horizontal bars, one per label, value written at the bar's end."""
    row_h, left, right, top = 20, 190, 80, 6
    height = top * 2 + row_h * max(len(labels), 1)
    plot_w = width - left - right
    top_value = max(max(values, default=0), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row_h
        w = plot_w * (value or 0) / top_value
        parts.append(
            f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(str(label))}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{PALETTE[0]}"><title>{escape(str(label))}: {_fmt(value or 0)}</title></rect>'
            f'<text x="{left + w + 6:.1f}" y="{y + 14}">{_fmt(value or 0)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
