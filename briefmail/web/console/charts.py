"""The console's charts as inline SVG: no script, no library, nothing fetched.

Each function returns markup for a template (`Markup`, every label escaped here) with a role
of img and a text alternative that says what the chart shows, so a screen reader hears the
figures a sighted operator sees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

__all__ = ["STATUS_COLOURS", "bars", "line_chart", "outcome_bar", "per_minute"]

#: A delivery status's colour, the same on every page (and its legend).
STATUS_COLOURS: Mapping[str, str] = {
    "delivered": "#1b7a43",
    "deferred": "#a86400",
    "failed": "#b3261e",
    "uncertain": "#6b46c1",
    "sending": "#0b5cad",
    "pending": "#8a94a3",
    "cancelled": "#4f5b6b",
}
_ACCENT = "#0b5cad"
_INK = "#4f5b6b"


def _svg(width: int, height: int, label: str, body: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>{body}</svg>'
    )


def outcome_bar(counts: Mapping[str, int], width: int = 300, height: int = 14) -> Markup:
    """One stacked bar of a run's deliveries by status (an empty run is one grey bar)."""
    total = sum(counts.values())
    parts = [(status, n) for status, n in counts.items() if n > 0]
    label = ", ".join(f"{n} {status}" for status, n in parts) or "no deliveries"
    if total == 0:
        return _svg(
            width, height, label, f'<rect width="{width}" height="{height}" fill="#d9dee5"/>'
        )
    x = 0.0
    rects = []
    for status, n in sorted(
        parts, key=lambda p: list(STATUS_COLOURS).index(p[0]) if p[0] in STATUS_COLOURS else 99
    ):
        w = width * n / total
        colour = STATUS_COLOURS.get(status, _INK)
        rects.append(
            f'<rect x="{x:.2f}" width="{w:.2f}" height="{height}" fill="{colour}">'
            f"<title>{n} {escape(status)}</title></rect>"
        )
        x += w
    return _svg(width, height, label, "".join(rects))


def line_chart(
    points: Sequence[tuple[dt.date, int]],
    *,
    label: str,
    width: int = 640,
    height: int = 180,
    bars_under: Sequence[tuple[int, int]] = (),
) -> Markup:
    """A line of values per day, with optional gained/lost bars per day beneath it."""
    if not points:
        return _svg(width, height, f"{label}: no data", "")
    left, right, top, bottom = 44, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    high = max(max(v for _, v in points), 1)
    if bars_under:
        high = max(high, max(max(a, b) for a, b in bars_under))
    step = plot_w / max(len(points) - 1, 1)

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / high

    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="#d9dee5"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11" '
        f'fill="{_INK}">{high}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11" '
        f'fill="{_INK}">0</text>',
    ]
    bar_w = max(step * 0.35, 1.0)
    for i, (gained, lost) in enumerate(bars_under):
        x = left + i * step
        if gained:
            body.append(
                f'<rect x="{x - bar_w:.1f}" y="{y(gained):.1f}" width="{bar_w:.1f}" '
                f'height="{top + plot_h - y(gained):.1f}" fill="#1b7a43" opacity=".55"/>'
            )
        if lost:
            body.append(
                f'<rect x="{x:.1f}" y="{y(lost):.1f}" width="{bar_w:.1f}" '
                f'height="{top + plot_h - y(lost):.1f}" fill="#b3261e" opacity=".55"/>'
            )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{left + i * step:.1f},{y(v):.1f}"
        for i, (_, v) in enumerate(points)
    )
    body.append(f'<path d="{path}" fill="none" stroke="{_ACCENT}" stroke-width="2"/>')
    first, last = points[0][0], points[-1][0]
    body.append(
        f'<text x="{left}" y="{height - 6}" font-size="11" fill="{_INK}">{first:%d %b}</text>'
        f'<text x="{width - right}" y="{height - 6}" font-size="11" text-anchor="end" '
        f'fill="{_INK}">{last:%d %b}</text>'
    )
    summary = f"{label}: {points[0][1]} on {first:%d %b}, {points[-1][1]} on {last:%d %b}"
    return _svg(width, height, summary, "".join(body))


def bars(items: Sequence[tuple[str, int]], *, label: str, width: int = 640) -> Markup:
    """Horizontal bars, one per labelled value (readers per topic)."""
    row, gap, name_w = 22, 6, 150
    height = max(len(items), 1) * (row + gap)
    high = max((v for _, v in items), default=0) or 1
    plot_w = width - name_w - 60
    body = []
    for i, (name, value) in enumerate(items):
        top = i * (row + gap)
        w = plot_w * value / high
        body.append(
            f'<text x="{name_w - 8}" y="{top + 15}" text-anchor="end" font-size="13" '
            f'fill="#1d2430">{escape(name)}</text>'
            f'<rect x="{name_w}" y="{top + 3}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{_ACCENT}" rx="2"/>'
            f'<text x="{name_w + w + 6:.1f}" y="{top + 15}" font-size="12" '
            f'fill="{_INK}">{value}</text>'
        )
    summary = f"{label}: " + (", ".join(f"{n} {v}" for n, v in items) or "none")
    return _svg(width, height, summary, "".join(body))


def per_minute(points: Sequence[tuple[dt.datetime, int]], width: int = 640) -> Markup:
    """Outcomes recorded per minute of a run, as columns."""
    height, bottom = 160, 22
    if not points:
        return _svg(width, height, "No outcomes recorded yet", "")
    high = max(n for _, n in points) or 1
    col = width / len(points)
    body = []
    for i, (_, n) in enumerate(points):
        h = (height - bottom - 8) * n / high
        body.append(
            f'<rect x="{i * col + 1:.1f}" y="{height - bottom - h:.1f}" '
            f'width="{max(col - 2, 1):.1f}" height="{h:.1f}" fill="{_ACCENT}"/>'
        )
    start, end = points[0][0], points[-1][0]
    body.append(
        f'<text x="0" y="{height - 6}" font-size="11" fill="{_INK}">{start:%H:%M}</text>'
        f'<text x="{width}" y="{height - 6}" font-size="11" text-anchor="end" '
        f'fill="{_INK}">{end:%H:%M} UTC</text>'
    )
    summary = f"Outcomes per minute from {start:%H:%M} to {end:%H:%M} UTC, at most {high} a minute"
    return _svg(width, height, summary, "".join(body))
