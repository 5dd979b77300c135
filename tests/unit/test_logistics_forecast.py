"""The capacity forecast (R18): projected share within 24h and pickers needed for 80%."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.logistics.forecast import ForecastInput, pickers_needed, projected_share, projected_within_24h, replay

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)


def backlog(hours_left: list[float], **kwargs) -> ForecastInput:
    defaults = dict(shipped_within_24h=0, shipped_late=0, arrivals_per_hour=0.0, horizon_h=24.0)
    defaults.update(kwargs)
    return ForecastInput(now=NOW, queue_deadlines=[NOW + timedelta(hours=h) for h in hours_left], **defaults)


def test_a_queue_of_100_due_in_10_hours_needs_10_orders_an_hour_to_ship_all_in_time() -> None:
    data = backlog([10.0] * 100)
    assert projected_within_24h(data, 10) == (100, 100)
    assert projected_within_24h(data, 5) == (50, 100)
    assert pickers_needed(data, picks_per_hour=2, target_pct=80, max_pickers=100) == 4  # 8/h ships 80


def test_orders_already_late_count_against_the_share_and_can_make_the_target_unreachable() -> None:
    data = backlog([5.0] * 10, shipped_within_24h=70, shipped_late=25)
    assert pickers_needed(data, picks_per_hour=10, target_pct=80, max_pickers=1000) is None
    # Even shipping the whole queue in time: (70 + 10) of 105 = 76.2%.
    assert str(projected_share(data, 1000)) == "76.2"


def test_arrivals_still_expected_are_projected_too() -> None:
    # 10 orders an hour for 24h, nothing queued: a warehouse shipping 10 an hour keeps up.
    data = backlog([], arrivals_per_hour=10.0, horizon_h=24.0)
    assert projected_within_24h(data, 10) == (240, 240)
    assert projected_within_24h(data, 0) == (0, 240)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-5, max_value=30), max_size=80), st.integers(0, 50),
       st.floats(min_value=0, max_value=40), st.integers(1, 30), st.integers(1, 30))
def test_more_pickers_never_project_a_lower_share(hours_left, done, rate, pickers, extra) -> None:
    data = backlog(sorted(hours_left), shipped_within_24h=done, arrivals_per_hour=rate, horizon_h=6.0)
    fewer, _ = projected_within_24h(data, pickers * 5)
    more, _ = projected_within_24h(data, (pickers + extra) * 5)
    assert more >= fewer


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.5, max_value=30), min_size=1, max_size=80),
       st.floats(min_value=0, max_value=20), st.integers(1, 20))
def test_pickers_needed_is_the_fewest_that_reach_the_target(hours_left, rate, per_picker) -> None:
    data = backlog(sorted(hours_left), arrivals_per_hour=rate, horizon_h=6.0)
    needed = pickers_needed(data, per_picker, 80, max_pickers=2000)
    if needed is None:
        return
    in_time, total = projected_within_24h(data, needed * per_picker)
    assert in_time * 100 >= 80 * total
    if needed > 0:
        in_time, total = projected_within_24h(data, (needed - 1) * per_picker)
        assert in_time * 100 < 80 * total


# -- the counted projection against the order-by-order replay it stands for ---------------------



@settings(max_examples=400, deadline=None)
@given(deadline_minutes=st.lists(st.integers(-600, 3000), max_size=60), shipped_in_time=st.integers(0, 5),
       shipped_late=st.integers(0, 5), arrivals_per_hour=st.sampled_from([0.0, 0.5, 3.0, 7.0, 12.0, 40.0, 61.0]),
       horizon_h=st.sampled_from([0.5, 1.0, 4.0, 24.0]), orders_per_hour=st.sampled_from([0.0, 1.0, 3.0, 7.0, 12.0,
                                                                                        40.0, 59.5, 600.0, 1e9]),
       within_h=st.sampled_from([24, 48, 1]))
def test_the_counted_projection_is_the_replay_order_by_order(deadline_minutes, shipped_in_time, shipped_late,
                                                             arrivals_per_hour, horizon_h, orders_per_hour, within_h):
    now = datetime(2026, 11, 11, 3, 0, tzinfo=UTC)
    data = ForecastInput(now=now, queue_deadlines=[now + timedelta(minutes=m) for m in deadline_minutes],
                         shipped_within_24h=shipped_in_time, shipped_late=shipped_late,
                         arrivals_per_hour=arrivals_per_hour, horizon_h=horizon_h, within=timedelta(hours=within_h))
    assert projected_within_24h(data, orders_per_hour) == replay(data, orders_per_hour)
    assert projected_within_24h(data, orders_per_hour) == replay(data, orders_per_hour)  # the cached thresholds


def test_arrivals_behind_a_long_queue_ship_in_time_once_the_pickers_have_caught_up() -> None:
    # 60 queued at 40/h leave a 1.5 h backlog; arrivals every 5 min against 1.5 min a pick: the
    # first ones wait out the backlog (late for a 1 h target), from the 9th on they are in time.
    now = datetime(2026, 11, 11, 3, 0, tzinfo=UTC)
    data = ForecastInput(now=now, queue_deadlines=[now + timedelta(hours=30)] * 60, shipped_within_24h=0,
                         shipped_late=0, arrivals_per_hour=12.0, horizon_h=4.0, within=timedelta(hours=1))
    assert replay(data, 40.0) == (60 + 40, 108)
    assert projected_within_24h(data, 40.0) == replay(data, 40.0)
