"""The gauges' projection (R14 with R18): on track, at risk or missed, and its words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.logistics.forecast import ForecastInput
from services.logistics.projection import (AT_RISK, MISSED, ON_TRACK, Projection, Staffing, first_late_deadline,
                                           for_48h, project, still_reachable)

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)  # 20:00 in the warehouse (UTC+8)


def backlog(hours_left: list[float], **kwargs) -> ForecastInput:
    defaults = dict(shipped_within_24h=0, shipped_late=0, arrivals_per_hour=0.0, horizon_h=24.0)
    defaults.update(kwargs)
    return ForecastInput(now=NOW, queue_deadlines=[NOW + timedelta(hours=h) for h in hours_left], **defaults)


def gauge(data: ForecastInput, *, paid: int, missed: int = 0, pickers: int = 20, picks: int = 60,
          max_pickers: int = 5000, target: int = 80, hours: int = 24) -> Projection:
    return project(data, paid=paid, missed=missed, target_pct=target, hours=hours,
                   staffing=Staffing(pickers, picks, max_pickers), utc_offset_h=8)


def test_the_target_is_reachable_exactly_at_its_share_and_not_one_order_below() -> None:
    assert still_reachable(10, 2, 80)       # 8 of 10 = 80% exactly
    assert not still_reachable(10, 3, 80)   # 7 of 10
    assert still_reachable(100, 20, 80)
    assert not still_reachable(100, 21, 80)
    assert still_reachable(5, 1, 80)
    assert still_reachable(0, 0, 80)        # nothing paid: nothing missed
    assert still_reachable(20, 1, 95)       # 19 of 20 = 95% exactly
    assert not still_reachable(20, 2, 95)


def test_no_orders_is_on_track() -> None:
    assert gauge(backlog([]), paid=0) == Projection(ON_TRACK, "on track: no orders paid yet")


def test_a_spike_of_fresh_orders_with_nobody_late_is_on_track() -> None:
    # 500 orders paid in the last minutes, none shipped yet: the share shipped is 0%, but 20
    # pickers clear them (and the 500 an hour still expected) well within 24 hours.
    data = backlog([23.9] * 500, arrivals_per_hour=500.0)
    result = gauge(data, paid=500)
    assert result.state == ON_TRACK
    assert result.words == "on track: 100% projected within 24 h with 20 pickers (target 80%)"


def test_missed_when_too_many_are_already_late_whatever_the_pickers() -> None:
    result = gauge(backlog([10.0] * 7), paid=10, missed=3)
    assert result == Projection(MISSED, "missed: 3 of 10 orders are past the 24 h deadline, so at most 70% can "
                                        "make it (target 80%)")
    # One fewer late order: 80% exactly can still be reached, so it is not missed.
    assert gauge(backlog([10.0] * 8), paid=10, missed=2).state == ON_TRACK


def test_at_risk_says_how_many_more_pickers_and_by_when_in_local_time() -> None:
    # 100 due in 10 h (22:00 UTC = 06:00 local); one picker at 2 an hour ships 20 in time;
    # 4 pickers (8 an hour) ship 80 in time.
    result = gauge(backlog([10.0] * 100), paid=100, pickers=1, picks=2)
    assert result == Projection(AT_RISK, "need 3 more pickers by 06:00 to reach 80% (projected 20% with 1)")


def test_one_picker_short_is_singular() -> None:
    result = gauge(backlog([10.0] * 100), paid=100, pickers=3, picks=2)
    assert result == Projection(AT_RISK, "need 1 more picker by 06:00 to reach 80% (projected 60% with 3)")


def test_exactly_at_the_target_is_on_track_and_one_order_more_is_at_risk() -> None:
    # 8 an hour: the 80th of 100 is done at 10 h, its deadline exactly.
    exactly = gauge(backlog([10.0] * 100), paid=100, pickers=4, picks=2)
    assert exactly == Projection(ON_TRACK, "on track: 80% projected within 24 h with 4 pickers (target 80%)")
    short = gauge(backlog([10.0] * 101), paid=101, pickers=4, picks=2)
    assert short.state == AT_RISK
    assert short.words == "need 1 more picker by 06:00 to reach 80% (projected 79.2% with 4)"


def test_at_risk_when_no_staffing_reaches_the_target_though_it_is_not_missed_yet() -> None:
    result = gauge(backlog([10.0] * 100), paid=100, pickers=1, picks=2, max_pickers=2)
    assert result == Projection(AT_RISK, "at risk: even 2 pickers would not reach 80% within 24 h")


def test_the_first_late_deadline_is_the_earliest_missed_not_the_first_in_line() -> None:
    assert first_late_deadline(backlog([1.0]), 1) is None                 # done at its deadline: in time
    assert first_late_deadline(backlog([0.99]), 1) == NOW + timedelta(hours=0.99)
    assert first_late_deadline(backlog([10.0, 1.0]), 1) == NOW + timedelta(hours=1)
    assert first_late_deadline(backlog([0.5, 0.25, 3.0]), 1) == NOW + timedelta(hours=0.25)
    assert first_late_deadline(backlog([5.0, 2.0]), 0) == NOW + timedelta(hours=2)  # nobody picking
    assert first_late_deadline(backlog([]), 0) is None


def test_the_48h_input_moves_deadlines_a_day_and_counts_shipments_against_48h() -> None:
    data = for_48h(backlog([24.0]), shipped=3, shipped_within_48h=2)
    assert data.queue_deadlines == [NOW + timedelta(hours=48)]
    assert (data.shipped_within_24h, data.shipped_late) == (2, 1)
    assert data.within == timedelta(hours=48)


def test_the_48h_gauge_reads_its_own_target_and_hours() -> None:
    result = gauge(backlog([40.0] * 19), paid=20, missed=1, target=95, hours=48)
    assert result.state == ON_TRACK
    assert "within 48 h" in result.words and "target 95%" in result.words
    missed = gauge(backlog([40.0] * 18), paid=20, missed=2, target=95, hours=48)
    assert missed.words.startswith("missed: 2 of 20 orders are past the 48 h deadline, so at most 90%")
