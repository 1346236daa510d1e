import re
from datetime import date, timedelta

import pytest

from books import charts


def test_state_segments_fill_the_width_in_state_order_and_skip_empty_states():
    segments = charts.state_segments({"available": 6, "assigned": 0, "redeemed": 2, "void": 2}, width=100)

    assert [(s.state, s.count) for s in segments] == [("available", 6), ("redeemed", 2), ("void", 2)]
    assert [round(s.x, 2) for s in segments] == [0, 60, 80]
    assert sum(s.width for s in segments) == pytest.approx(100)


def test_state_bar_names_itself_for_screen_readers():
    svg = charts.state_bar_svg({"available": 1500, "locked": 500, "total": 2000})

    assert 'role="img"' in svg
    assert 'aria-labelledby="state-bar-title state-bar-desc"' in svg
    assert '<title id="state-bar-title">Coupons by state</title>' in svg
    assert "2,000 coupons: available 1,500, assigned 0, locked 500, redeemed 0, void 0." in svg
    assert "<title>Available: 1,500 (75.0 %)</title>" in svg
    assert svg.count("<rect") == 2


def test_an_empty_book_draws_an_outline_that_says_so():
    svg = charts.state_bar_svg({})

    assert "No coupons yet" in svg
    assert "0 coupons" in svg


def test_a_quiet_month_says_so_instead_of_drawing_an_empty_scale():
    svg = charts.redemptions_chart_svg([(date(2030, 1, 1) + timedelta(days=i), 0) for i in range(30)])

    assert "No redemptions in these 30 days" in svg
    assert "<rect" not in svg


def test_daily_bars_scale_to_the_busiest_day():
    series = [(date(2030, 1, 1), 0), (date(2030, 1, 2), 5), (date(2030, 1, 3), 10)]

    bars = charts.day_bars(series, width=300, height=100)

    assert [b.height for b in bars] == [0, 50, 100]
    assert [b.y for b in bars] == [100, 50, 0]


def test_redemptions_chart_describes_the_period_and_draws_one_column_per_busy_day():
    series = [(date(2030, 1, 1) + timedelta(days=i), i % 3) for i in range(30)]

    svg = charts.redemptions_chart_svg(series)

    assert '<desc id="redemptions-chart-desc">30 redemptions from 2030-01-01 to 2030-01-30' in svg
    assert "the busiest day had 2." in svg
    assert len(re.findall(r"<rect [^>]*><title>", svg)) == 20  # the days with 1 or 2
    assert "<title>2030-01-02: 1 redemption</title>" in svg
