"""The book page's pictures, drawn on the server as inline SVG.

No script and no CDN: the admin page stays self-contained. Each picture names
itself for screen readers (``role="img"`` with ``<title>`` and ``<desc>``) and
the template shows the same numbers as a table beside it.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from books.models import Book
from redemptions.models import Redemption

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

DAYS = 30


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
    summary = ", ".join(f"{state} {counts.get(state, 0):,}" for state in STATES)
    segments = state_segments(counts, width=width)
    if segments:
        shapes = format_html_join(
            "",
            '<rect x="{}" y="0" width="{}" height="{}" fill="{}" stroke="#fff" stroke-width="1">'
            "<title>{}: {} ({})</title></rect>",
            (
                (_n(s.x), _n(s.width), height, s.colour, s.state.capitalize(), f"{s.count:,}", _percent(s.count, total))
                for s in segments
            ),
        )
    else:
        shapes = format_html(
            '<rect x="0" y="0" width="{}" height="{}" fill="none" stroke="currentColor" stroke-dasharray="4 4"/>'
            '<text x="{}" y="{}" text-anchor="middle" dominant-baseline="middle" fill="currentColor">'
            "No coupons yet</text>",
            width,
            height,
            _n(width / 2),
            _n(height / 2),
        )
    return format_html(
        '<svg class="book-chart state-bar" role="img" aria-labelledby="state-bar-title state-bar-desc" '
        'viewBox="0 0 {w} {h}" width="100%" xmlns="http://www.w3.org/2000/svg">'
        '<title id="state-bar-title">Coupons by state</title>'
        '<desc id="state-bar-desc">{total} coupons: {summary}.</desc>{shapes}</svg>',
        w=width,
        h=height,
        total=f"{total:,}",
        summary=summary,
        shapes=shapes,
    )


def redemptions_per_day(*, book: Book, today: date | None = None, days: int = DAYS) -> list[tuple[date, int]]:
    """Redemptions of the book's coupons on each of the last ``days`` days (UTC),
    oldest first, days without any included. Rolled-back redemptions do not count:
    their use was given back."""
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=timezone.get_current_timezone())
    rows = (
        Redemption.objects.filter(coupon__book=book, created_at__gte=start, rolled_back_at__isnull=True)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("id"))
        .values_list("day", "count")
    )
    by_day = dict(rows)
    return [(first + timedelta(days=i), by_day.get(first + timedelta(days=i), 0)) for i in range(days)]


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
    total = sum(count for _, count in series)
    peak = max((count for _, count in series), default=0)
    columns = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
        (
            (
                _n(left + b.x),
                _n(top + b.y),
                _n(slot * 0.8),
                _n(b.height),
                BAR_COLOUR,
                b.day.isoformat(),
                _plural(b.count, "redemption"),
            )
            for b in bars
            if b.count
        ),
    )
    # First, middle and last day; the ends anchored inwards so that they stay inside.
    labels = []
    if bars:
        first_bar, middle_bar, last_bar = bars[0], bars[len(bars) // 2], bars[-1]
        labels = [
            (_n(left + first_bar.x), "start", first_bar.day),
            (_n(left + middle_bar.x + slot * 0.4), "middle", middle_bar.day),
            (_n(left + last_bar.x + slot * 0.8), "end", last_bar.day),
        ]
    x_labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="{}" font-size="11" fill="currentColor">{}</text>',
        ((x, height - 6, anchor, day.strftime("%b %d")) for x, anchor, day in labels),
    )
    axis = format_html(
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="currentColor" stroke-width="1"/>'
        '<text x="{tx}" y="{b}" text-anchor="end" font-size="11" fill="currentColor">0</text>',
        l=left,
        r=width,
        b=top + plot_height,
        tx=left - 6,
    )
    if peak:
        scale = format_html(
            '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="currentColor">{}</text>',
            left - 6,
            top + 4,
            f"{peak:,}",
        )
    else:
        scale = format_html(
            '<text x="{}" y="{}" text-anchor="middle" fill="currentColor">No redemptions in these {} days</text>',
            _n(left + plot_width / 2),
            _n(top + plot_height / 2),
            len(series),
        )
    first, last = (series[0][0], series[-1][0]) if series else (None, None)
    return format_html(
        '<svg class="book-chart redemptions-chart" role="img" '
        'aria-labelledby="redemptions-chart-title redemptions-chart-desc" '
        'viewBox="0 0 {w} {h}" width="100%" xmlns="http://www.w3.org/2000/svg">'
        '<title id="redemptions-chart-title">Redemptions per day</title>'
        '<desc id="redemptions-chart-desc">{total} from {first} to {last}; the busiest day had {peak}.</desc>'
        "{axis}{scale}{columns}{x_labels}</svg>",
        w=width,
        h=height,
        total=_plural(total, "redemption"),
        first=first,
        last=last,
        peak=f"{peak:,}",
        axis=axis,
        scale=scale,
        columns=columns,
        x_labels=x_labels,
    )


def _n(number: float) -> str:
    """A coordinate, rounded (format_html escapes its arguments before formatting)."""
    return f"{number:.2f}"


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.1f} %" if total else "0 %"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


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
