"""The book page's pictures, drawn on the server as inline SVG.

The geometry is here, the markup in ``templates/charts/``; the numbers come
from the caller. No script and no CDN: the admin page stays self-contained.
Each picture names itself for screen readers (``role="img"`` with ``<title>``
and ``<desc>``) and the page shows the same numbers as a table beside it.
"""

from __future__ import annotations

import dataclasses
from datetime import date

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

# Fill colours with at least 4.5:1 contrast against white (5.0 to 9.4), told
# apart by hue; colour is never the only carrier: each segment has a tooltip
# and the table beside the bar names every state with its count.
STATE_COLOURS = {
    "available": "#2e7d32",
    "assigned": "#1565c0",
    "locked": "#a15c00",
    "redeemed": "#6a1b9a",
    "void": "#5f6368",
}
STATES = tuple(STATE_COLOURS)
BAR_COLOUR = "#417690"  # the admin's own header blue


@dataclasses.dataclass(frozen=True)
class Segment:
    state: str
    count: int
    x: float
    width: float

    @property
    def colour(self) -> str:
        return STATE_COLOURS[self.state]


@dataclasses.dataclass(frozen=True)
class DayBar:
    day: date
    count: int
    x: float
    y: float
    height: float


def state_segments(counts: dict[str, int], *, width: float) -> list[Segment]:
    """One segment per state with coupons in it, left to right, filling ``width``."""
    total = sum(counts.get(state, 0) for state in STATES)
    if total == 0:
        return []
    segments, x = [], 0.0
    for state in STATES:
        count = counts.get(state, 0)
        if count:
            share = width * count / total
            segments.append(Segment(state=state, count=count, x=x, width=share))
            x += share
    return segments


def state_bar_svg(counts: dict[str, int], *, width: int = 600, height: int = 36) -> SafeString:
    """The book's coupons by state as one stacked bar."""
    total = sum(counts.get(state, 0) for state in STATES)
    segments = [
        {
            "x": _n(s.x),
            "width": _n(s.width),
            "colour": s.colour,
            "label": s.state.capitalize(),
            "count": f"{s.count:,}",
            "percent": _percent(s.count, total),
        }
        for s in state_segments(counts, width=width)
    ]
    context = {
        "width": width,
        "height": height,
        "middle_x": _n(width / 2),
        "middle_y": _n(height / 2),
        "total": f"{total:,}",
        "summary": ", ".join(f"{state} {counts.get(state, 0):,}" for state in STATES),
        "segments": segments,
    }
    return render_to_string("charts/state_bar.svg", context)


def day_bars(series: list[tuple[date, int]], *, width: float, height: float) -> list[DayBar]:
    peak = max((count for _, count in series), default=0)
    slot = width / max(len(series), 1)
    bars = []
    for i, (day, count) in enumerate(series):
        bar_height = height * count / peak if peak else 0.0
        bars.append(DayBar(day=day, count=count, x=i * slot + slot * 0.1, y=height - bar_height, height=bar_height))
    return bars


def redemptions_chart_svg(series: list[tuple[date, int]], *, width: int = 600, height: int = 160) -> SafeString:
    """Redemptions per day as columns, with the first, middle and last day and
    the peak labelled."""
    top, bottom, left = 12, 22, 36
    plot_width, plot_height = width - left, height - top - bottom
    bars = day_bars(series, width=plot_width, height=plot_height)
    slot = plot_width / max(len(series), 1)
    peak = max((count for _, count in series), default=0)
    columns = [
        {
            "x": _n(left + b.x),
            "y": _n(top + b.y),
            "width": _n(slot * 0.8),
            "height": _n(b.height),
            "day": b.day.isoformat(),
            "label": _plural(b.count, "redemption"),
        }
        for b in bars
        if b.count
    ]
    labels = []
    if bars:
        # First, middle and last day; the ends anchored inwards so that they stay inside.
        first_bar, middle_bar, last_bar = bars[0], bars[len(bars) // 2], bars[-1]
        ends = [
            (left + first_bar.x, "start", first_bar.day),
            (left + middle_bar.x + slot * 0.4, "middle", middle_bar.day),
            (left + last_bar.x + slot * 0.8, "end", last_bar.day),
        ]
        labels = [{"x": _n(x), "y": height - 6, "anchor": a, "text": day.strftime("%b %d")} for x, a, day in ends]
    context = {
        "width": width,
        "height": height,
        "left": left,
        "baseline": top + plot_height,
        "scale_x": left - 6,
        "peak_y": top + 4,
        "quiet_x": _n(left + plot_width / 2),
        "quiet_y": _n(top + plot_height / 2),
        "days": len(series),
        "total": _plural(sum(count for _, count in series), "redemption"),
        "first": series[0][0].isoformat() if series else None,
        "last": series[-1][0].isoformat() if series else None,
        "peak": f"{peak:,}",
        "peak_count": peak,
        "colour": BAR_COLOUR,
        "columns": columns,
        "labels": labels,
    }
    return render_to_string("charts/redemptions_chart.svg", context)


def state_rows(counts: dict[str, int]) -> list[dict[str, object]]:
    """The legend and text equivalent of the stacked bar."""
    total = sum(counts.get(state, 0) for state in STATES)
    return [
        {
            "state": state,
            "label": state.capitalize(),
            "count": counts.get(state, 0),
            "count_display": f"{counts.get(state, 0):,}",
            "percent": _percent(counts.get(state, 0), total),
            "colour": STATE_COLOURS[state],
        }
        for state in STATES
    ]


def _n(number: float) -> str:
    """A coordinate, rounded."""
    return f"{number:.2f}"


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.1f} %" if total else "0 %"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
