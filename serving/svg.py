"""Inline SVG charts: no JavaScript and nothing fetched, so the dashboard works offline.

Every mark carries its number in `data-value` (and a <title> tooltip), which is what the
browser test reads back and compares with the RPT tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f")
Format = Callable[[float], str]
LEGEND_COLUMNS, LEGEND_ROW = 5, 14


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def hbar(
    labels: Sequence[str], values: Sequence[float], fmt: Format = _number, color: str = PALETTE[0]
) -> str:
    """Horizontal bars, one per label, longest first as given."""
    if not labels:
        return ""
    row, label_width, width = 24, 150, 520
    bar_space = width - label_width - 90
    top = max((abs(float(v)) for v in values), default=0) or 1
    height = row * len(labels) + 6
    parts = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img">']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = i * row + 4
        length = max(1.0, bar_space * abs(float(value)) / top)
        shown = escape(fmt(float(value)))
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" class="label">'
            f"{escape(label)}</text>"
            f'<rect class="mark" x="{label_width}" y="{y}" width="{length:.1f}" height="{row - 6}"'
            f' fill="{color}" data-label="{escape(label)}" data-value="{float(value)}">'
            f"<title>{escape(label)}: {shown}</title></rect>"
            f'<text x="{label_width + length + 5:.1f}" y="{y + 15}" class="value">{shown}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line(
    x_labels: Sequence[str], series: dict[str, Sequence[float | None]], fmt: Format = _number
) -> str:
    """One line per series over shared x labels (dates), with a dot and tooltip per point."""
    if not x_labels or not series:
        return ""
    width, height, left, right, bottom = 520, 220, 60, 40, 40
    top_pad = 24 + LEGEND_ROW * ((len(series) - 1) // LEGEND_COLUMNS)
    values = [float(v) for points in series.values() for v in points if v is not None]
    if not values:
        return ""
    low, high = min(0.0, min(values)), max(values) or 1.0
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    step = plot_w / max(1, len(x_labels) - 1)

    def x(i: int) -> float:
        return left + (i * step if len(x_labels) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h - (v - low) / ((high - low) or 1) * plot_h

    parts = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img">']
    for tick in (low, (low + high) / 2, high):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'class="grid"/><text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'class="axis">{escape(fmt(tick))}</text>'
        )
    every = max(1, len(x_labels) // 6)
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'class="axis">{escape(label)}</text>'
            )
    for n, (name, points) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        coords = [(x(i), y(float(v))) for i, v in enumerate(points) if v is not None]
        if len(coords) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for i, v in enumerate(points):
            if v is None:
                continue
            parts.append(
                f'<circle class="mark" cx="{x(i):.1f}" cy="{y(float(v)):.1f}" r="3.5" '
                f'fill="{color}" data-series="{escape(name)}" data-label="{escape(x_labels[i])}" '
                f'data-value="{float(v)}"><title>{escape(name)} {escape(x_labels[i])}: '
                f"{escape(fmt(float(v)))}</title></circle>"
            )
        lx = left + (n % LEGEND_COLUMNS) * 90
        ly = 4 + (n // LEGEND_COLUMNS) * LEGEND_ROW
        parts.append(
            f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{ly + 9}" class="legend">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
