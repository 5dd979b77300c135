"""The plan, the forecast from it and the bookings made from that (issue 32): boundaries pinned,
and properties over random plans (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.logistics import bookings, plan_forecast as pf
from services.logistics.carriers import CarrierTable
from services.logistics.plan import (MAX_ORDERS_PER_HOUR, PlanInvalid, PlannedHour, plan_from_data, plan_from_json,
                                     planned_hours)

START = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)


def plan_data(**changes):
    data = {"name": "test", "start": "2026-11-11T00:00:00+08:00",
            "phases": [{"name": "warm-up", "hours": 2, "orders_per_hour": {"presale": 1, "high_value": 2, "standard": 3}},
                       {"name": "burst", "hours": 1, "orders_per_hour": {"standard": 100}}]}
    data.update(changes)
    return data


def hours_of(*totals: int) -> list[PlannedHour]:
    return [PlannedHour(START + timedelta(hours=i), {"presale": 0, "high_value": 0, "standard": t})
            for i, t in enumerate(totals)]


# -- the plan ------------------------------------------------------------------------------------


def test_a_plan_unrolls_hour_by_hour_from_its_start_in_utc() -> None:
    hours = planned_hours(plan_from_data(plan_data(), "test"))
    assert [h.start for h in hours] == [START, START + timedelta(hours=1), START + timedelta(hours=2)]
    assert [h.total for h in hours] == [6, 6, 100]
    assert hours[0].per_class == {"presale": 1, "high_value": 2, "standard": 3}


def test_a_previous_event_is_scaled_half_up_and_a_zero_hour_phase_is_skipped() -> None:
    previous = plan_from_data(plan_data(phases=None, previous={
        "hours": [{"standard": 10}, {"standard": 5}, {"presale": 3}], "factor": "1.5"}), "t")
    assert [h.total for h in planned_hours(previous)] == [15, 8, 5]  # 7.5 -> 8, 4.5 -> 5
    skipped = plan_from_data(plan_data(phases=[{"hours": 0, "orders_per_hour": {"standard": 9}},
                                               {"hours": 1, "orders_per_hour": {"standard": 1}}]), "t")
    assert [h.total for h in planned_hours(skipped)] == [1]


def test_a_start_off_the_hour_is_rounded_down() -> None:
    hours = planned_hours(plan_from_data(plan_data(start="2026-11-11T00:45:10+08:00"), "t"))
    assert hours[0].start == START


@pytest.mark.parametrize(("changes", "field"), [
    ({"start": "2026-11-11T00:00:00"}, "start"),  # no time zone
    ({"phases": [{"hours": -1, "orders_per_hour": {}}]}, "phases.0.hours"),
    ({"phases": [{"hours": 1, "orders_per_hour": {"standard": 1.5}}]}, "phases.0.orders_per_hour.standard"),
    ({"phases": [{"hours": 1, "orders_per_hour": {"standard": 10 ** 30}}]}, "phases.0.orders_per_hour.standard"),
    ({"phases": [{"hours": 1, "orders_per_hour": {"standard": MAX_ORDERS_PER_HOUR + 1}}]}, "standard"),
    ({"phases": [{"hours": 1, "orders_per_hour": {"standard": -1}}]}, "standard"),
    ({"phases": [{"hours": 1, "orders_per_hour": {"vip": 1}}]}, "orders_per_hour.vip"),  # unknown class
    ({"phases": [{"hours": 24 * 31 + 1, "orders_per_hour": {}}]}, "hours"),
    ({"phases": [{"hours": 24 * 31, "orders_per_hour": {}}, {"hours": 1, "orders_per_hour": {}}]}, "31 days"),
    ({"previous": {"hours": [], "factor": "-1"}}, "previous.factor"),
    ({"previous": {"hours": [{"standard": 1}]}}, "exactly one"),
    ({"phases": None, "previous": {"hours": [], "factor": "-1"}}, "previous.factor"),
    ({"phases": None, "previous": {"hours": [], "factor": "1.000000000000000000000000000001"}}, "previous.factor"),
    ({"phases": None, "previous": {"hours": [], "factor": "NaN"}}, "previous.factor"),
    ({"phases": None}, "exactly one"),
    ({"regions": {"Zhejiang": 0}}, "regions"),
    ({"surprise": 1}, "surprise"),
])
def test_a_bad_plan_is_refused_naming_the_field(changes, field) -> None:
    with pytest.raises(PlanInvalid, match="file.json") as caught:
        plan_from_data(plan_data(**changes), "file.json")
    assert field in str(caught.value)


def test_exactly_31_days_and_the_largest_count_are_accepted() -> None:
    plan = plan_from_data(plan_data(phases=[{"hours": 24 * 31, "orders_per_hour": {"standard": MAX_ORDERS_PER_HOUR}}]), "t")
    assert len(planned_hours(plan)) == 744


def test_json_that_is_not_a_plan_says_so() -> None:
    with pytest.raises(PlanInvalid, match="not a JSON plan"):
        plan_from_json(b"\xff\xfe{", "f")
    with pytest.raises(PlanInvalid, match="not a JSON plan"):
        plan_from_json("[" * 100_000 + "]" * 100_000, "f")


# -- the timeline and the blend ------------------------------------------------------------------


def test_before_any_order_the_timeline_is_the_plan_then_48_hours_of_tail() -> None:
    hours = pf.timeline(hours_of(5, 0, 7), {}, {}, START - timedelta(days=1), throughput=10)
    assert len(hours) == 3 + 48
    assert [h.arrivals for h in hours[:4]] == [5, 0, 7, 0]
    assert all(h.actual is None and not h.past and h.capacity == 10 for h in hours)


def test_an_empty_plan_forecasts_nothing() -> None:
    assert pf.timeline([], {START: 3}, {}, START, 10) == []
    result = pf.forecast([], 60)
    assert result.hours == []


def test_actual_hours_replace_planned_ones_the_current_takes_the_larger_later_keep_the_plan() -> None:
    now = START + timedelta(hours=2, minutes=30)
    actual = {START: 9, START + timedelta(hours=2): 3, START - timedelta(hours=5): 50}  # before the plan: ignored
    hours = pf.timeline(hours_of(5, 5, 5, 5), actual, {START: 4}, now, throughput=10)
    assert [(h.arrivals, h.actual, h.past) for h in hours[:4]] == [(9, 9, True), (0, 0, True), (5, 3, False),
                                                                   (5, None, False)]
    assert [h.capacity for h in hours[:3]] == [4, 0, 10]  # hours over: what actually shipped
    hours = pf.timeline(hours_of(5, 5, 2), {START + timedelta(hours=2): 8}, {}, now, throughput=10)
    assert hours[2].arrivals == 8 and hours[2].actual == 8


def test_scaling_multiplies_later_hours_by_actual_over_planned_so_far() -> None:
    now = START + timedelta(hours=2)
    actual = {START: 10, START + timedelta(hours=1): 20}
    assert pf.scale_factor(hours_of(10, 10, 10), actual, now) == Decimal("1.5")
    hours = pf.timeline(hours_of(10, 10, 10, 3), actual, {}, now, 10, scale=True)
    assert [h.arrivals for h in hours[:4]] == [10, 20, 15, 5]  # 4.5 rounds half up
    assert pf.timeline(hours_of(10, 10, 10, 3), actual, {}, now, 10)[2].arrivals == 10
    assert pf.scale_factor(hours_of(0, 10), {START: 4}, START + timedelta(hours=1)) == 1  # nothing planned yet
    assert pf.scale_factor(hours_of(10), {}, START) == 1


def test_orders_after_the_plan_and_now_extend_the_timeline() -> None:
    late = START + timedelta(hours=5)
    hours = pf.timeline(hours_of(1), {late: 2}, {}, START, 10)
    assert hours[-1].start == late + timedelta(hours=48)
    hours = pf.timeline(hours_of(1), {}, {}, late, 10)
    assert hours[-1].start == late + timedelta(hours=48)
    far = START + timedelta(days=400)  # a plan long over: not a year of hours
    assert len(pf.timeline(hours_of(1), {far: 1}, {}, far, 10)) == 1 + 48


# -- the dispatch model ------------------------------------------------------------------------------


def test_first_come_first_served_with_the_24h_boundary_exact() -> None:
    # 10 orders in hour 0, one ships an hour: the 24th (hour 23) is in time, the 25th hour is not.
    run = pf.simulate([30] + [0] * 49, [1] * 50)
    assert run.in_time_24h[0] == 24
    assert run.in_time_48h[0] == 30
    assert run.shipped[:3] == [1, 1, 1] and run.backlog[:2] == [29, 28]
    run = pf.simulate([50] + [0] * 59, [1] * 60)
    assert run.in_time_48h[0] == 48


def test_older_orders_ship_first_and_a_zero_hour_is_fine() -> None:
    run = pf.simulate([2, 0, 3], [1, 1, 10])
    assert run.shipped == [1, 1, 3]
    assert run.backlog == [1, 0, 0]
    assert run.in_time_24h == [2, 0, 3]
    assert pf.simulate([5], [-3]).shipped == [0]


def test_shares_are_cumulative_over_arrivals_with_one_decimal() -> None:
    assert pf.cumulative_shares([0, 3, 0], [0, 2, 0]) == [None, Decimal("66.7"), Decimal("66.7")]


@pytest.mark.parametrize(("count", "pct", "need"), [(10, 80, 8), (11, 80, 9), (0, 80, 0), (20, 95, 19), (21, 95, 20),
                                                     (1, 95, 1), (100, 100, 100)])
def test_the_target_share_of_an_hour_rounds_up(count, pct, need) -> None:
    assert pf.target_share(count, pct) == need


def test_80_percent_exactly_is_enough_just_under_is_not() -> None:
    # 10 orders, 1 picker at 1 an hour: 8 ship within 24h only when 8 can ship by hour 23.
    assert pf.pickers_needed([10] + [0] * 60, 0, 0, 1, 80, 24)[0] == 1
    # 200 orders need 160 in 24 hours: 160/24 = 6.67 -> 7 at 1 pick an hour.
    needed = pf.pickers_needed([200] + [0] * 60, 0, 0, 1, 80, 24)
    assert needed[0] == 7
    assert pf.pickers_needed([192] + [0] * 60, 0, 0, 1, 80, 24)[0] == 7  # 153.6 -> 154 -> 6.42 -> 7
    assert pf.pickers_needed([180] + [0] * 60, 0, 0, 1, 80, 24)[0] == 6  # exactly 144 = 6 x 24


def test_pickers_needed_count_orders_arriving_later_and_what_already_shipped() -> None:
    arrivals = [0] * 10 + [240] + [0] * 60  # nothing to do until hour 10
    needed = pf.pickers_needed(arrivals, 0, 0, 1, 80, 24)
    assert needed[0] == 8 and needed[10] == 8  # 192 within hours 10..33
    assert pf.pickers_needed([100] + [0] * 60, 100, 1, 1, 80, 24) == [0] * 60  # all out already
    assert pf.pickers_needed([100] + [0] * 60, 0, 1, 1, 80, 24)[0] == 4  # 80 in the 23 hours left


def test_the_required_steps_keep_earlier_orders_first() -> None:
    assert pf.required_by([10, 0, 10], 80, 24) == [(23, 8), (25, 18)]
    assert pf.required_by([10, 1], 50, 1) == [(0, 5), (1, 11)]
    assert pf.required_by([0, 0], 80, 24) == []


def _meets(arrivals: list[int], capacity: list[int], pct: int, window: int, from_hour: int) -> bool:
    run = pf.simulate(arrivals, capacity)
    per = run.in_time_24h if window == 24 else run.in_time_48h
    return all(per[a] >= pf.target_share(n, pct) for a, n in enumerate(arrivals)
               if n and a + window - 1 >= from_hour)


def test_n_pickers_from_an_hour_meet_every_deadline_and_n_minus_1_do_not() -> None:
    arrivals = [50, 300, 20, 0, 900, 10] + [0] * 60
    for window, pct in ((24, 80), (48, 95)):
        needed = pf.pickers_needed(arrivals, 0, 0, 3, pct, window)[0]
        assert _meets(arrivals, [needed * 3] * len(arrivals), pct, window, 0)
        assert not _meets(arrivals, [(needed - 1) * 3] * len(arrivals), pct, window, 0)


def test_the_forecast_hour_by_hour_from_the_plan_alone() -> None:
    hours = pf.timeline(hours_of(100, 0, 50), {}, {}, START - timedelta(hours=1), throughput=60)
    result = pf.forecast(hours, 30)
    first = result.hours[0]
    assert (first.planned, first.actual, first.shipped, first.backlog) == (100, None, 60, 40)
    assert result.hours[1].shipped == 40 and result.hours[1].backlog == 0
    assert first.share_24h == Decimal("100.0") and first.pickers_80_24h == 1 and first.pickers_95_48h == 1
    assert result.hours[-1].share_24h == Decimal("100.0")


def test_hours_that_are_over_have_no_pickers_needed() -> None:
    now = START + timedelta(hours=1, minutes=5)
    hours = pf.timeline(hours_of(10, 10), {START: 10}, {START: 10}, now, throughput=60)
    result = pf.forecast(hours, 60)
    assert result.hours[0].pickers_80_24h is None and result.hours[0].actual == 10
    assert result.hours[1].pickers_80_24h == 1


def test_parcels_per_warehouse_day_and_the_split_over_regions() -> None:
    hours = pf.timeline(hours_of(*([10] * 10)), {}, {}, START, throughput=100)
    per_day = pf.parcels_per_day(hours, [h.arrivals for h in hours], utc_offset_h=8)
    assert per_day == {date(2026, 11, 11): 100}  # 16:00-01:00 UTC is 00:00-09:00 at UTC+8
    assert pf.split(10, {"A": 1, "B": 1, "C": 1}) == {"A": 4, "B": 3, "C": 3}
    assert pf.split(10, {"A": 1, "B": 2}) == {"A": 3, "B": 7}
    assert pf.split(0, {"A": 1}) == {"A": 0} and pf.split(5, {"A": 0}) == {"A": 0}
    assert pf.capacity_needed({date(2026, 11, 12): 3, date(2026, 11, 11): 2}, {"X": 1, "Y": 1}) == [
        (date(2026, 11, 11), "X", 1), (date(2026, 11, 11), "Y", 1), (date(2026, 11, 12), "X", 2),
        (date(2026, 11, 12), "Y", 1)]


def test_hours_before_local_midnight_count_on_the_day_before() -> None:
    hours = pf.timeline(hours_of(1, 1), {}, {}, START, 10)  # 23:00 and 00:00 local at UTC+7
    assert pf.parcels_per_day(hours, [1, 1] + [0] * 48, 7) == {date(2026, 11, 10): 1, date(2026, 11, 11): 1}


# -- bookings and risks --------------------------------------------------------------------------------

TABLE = CarrierTable.from_dict({"carriers": [
    {"code": "SF", "daily_capacity": 30},
    {"code": "YTO", "daily_capacity": 10, "regions": ["Zhejiang"]},
]})
DAY = date(2026, 11, 11)


def test_proposals_split_each_region_over_the_carriers_serving_it_by_capacity() -> None:
    wanted = bookings.propose([(DAY, "Zhejiang", 8), (DAY, "Xinjiang", 5), (DAY + timedelta(days=1), "all regions", 4)],
                              TABLE)
    assert wanted == {(DAY, "SF"): 6 + 5, (DAY, "YTO"): 2, (DAY + timedelta(days=1), "SF"): 3,
                      (DAY + timedelta(days=1), "YTO"): 1}
    zero = CarrierTable.from_dict({"carriers": [{"code": "A", "daily_capacity": 0}, {"code": "B", "daily_capacity": 0}]})
    assert bookings.propose([(DAY, "X", 3)], zero) == {(DAY, "A"): 2, (DAY, "B"): 1}


def test_a_booking_replaces_the_tables_capacity_for_that_carrier_only() -> None:
    table = bookings.table_for_day(TABLE, {"SF": 1})
    assert table.carriers["SF"].daily_capacity == 1 and table.carriers["YTO"].daily_capacity == 10
    assert bookings.table_for_day(TABLE, {}) is TABLE


def test_a_day_needing_more_than_booked_is_a_risk_and_exactly_booked_is_not() -> None:
    needed = [(DAY, "Zhejiang", 25), (DAY, "Xinjiang", 15)]
    assert bookings.risks(needed, TABLE, {}, DAY) == []  # 40 needed, 30 + 10 booked
    found = bookings.risks(needed, TABLE, {DAY: {"SF": 20}}, DAY)
    assert [(r.kind, r.region, r.needed, r.booked) for r in found] == [("day_capacity", None, 40, 30)]
    found = bookings.risks([(DAY, "Xinjiang", 21)], TABLE, {DAY: {"SF": 20}}, DAY)
    assert [(r.kind, r.region) for r in found] == [("region_capacity", "Xinjiang")]  # the day has 30
    assert found[0].words == "Xinjiang, 11 Nov: 21 parcels forecast, 20 booked"
    assert bookings.risks([(DAY, "Xinjiang", 20)], TABLE, {DAY: {"SF": 20}}, DAY) == []
    found = bookings.risks([(DAY, "Xinjiang", 31)], TABLE, {DAY: {"SF": 20}}, DAY)
    assert [(r.kind, r.region) for r in found] == [("day_capacity", None), ("region_capacity", "Xinjiang")]
    assert found[0].as_dict()["words"] == "11 Nov: 31 parcels forecast, 30 booked (all carriers)"
    assert "region" not in found[0].as_dict() and found[1].as_dict()["region"] == "Xinjiang"
    assert bookings.risks([(DAY, "Xinjiang", 30), (DAY, "Zhejiang", 1)], TABLE, {DAY: {"SF": 30}}, DAY) == []
    assert bookings.risks([(DAY, "Xinjiang", 21)], TABLE, {DAY: {"SF": 20}}, DAY + timedelta(days=1)) == []
    assert bookings.risks([(DAY, "all regions", 50)], TABLE, {}, DAY)[0].kind == "day_capacity"
    assert len(bookings.risks([(DAY, "all regions", 50)], TABLE, {}, DAY)) == 1


# -- properties ------------------------------------------------------------------------------------

arrival_lists = st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(arrival_lists, st.integers(min_value=0, max_value=200))
def test_never_negative_and_never_more_shipped_than_arrived(arrivals, rate) -> None:
    padded = arrivals + [0] * 48
    run = pf.simulate(padded, [rate] * len(padded))
    assert all(x >= 0 for x in run.shipped + run.backlog + run.in_time_24h)
    for t in range(len(padded)):
        assert sum(run.shipped[:t + 1]) <= sum(padded[:t + 1])
        assert sum(run.shipped[:t + 1]) + run.backlog[t] == sum(padded[:t + 1])
    assert all(a >= b for a, b in zip(run.in_time_48h, run.in_time_24h, strict=True))


@settings(max_examples=150, deadline=None)
@given(arrival_lists, st.integers(min_value=0, max_value=100), st.integers(min_value=1, max_value=50))
def test_more_pickers_never_lower_the_share(arrivals, pickers, more) -> None:
    padded = arrivals + [0] * 48
    fewer = pf.simulate(padded, [pickers * 7] * len(padded))
    plenty = pf.simulate(padded, [(pickers + more) * 7] * len(padded))
    assert sum(plenty.in_time_24h) >= sum(fewer.in_time_24h)
    assert sum(plenty.in_time_48h) >= sum(fewer.in_time_48h)


@settings(max_examples=100, deadline=None)
@given(arrival_lists, st.integers(min_value=1, max_value=40), st.sampled_from([(80, 24), (95, 48)]))
def test_the_pickers_needed_are_the_fewest_that_meet_every_hours_target(arrivals, per_picker, target) -> None:
    pct, window = target
    padded = arrivals + [0] * 48
    needed = pf.pickers_needed(padded, 0, 0, per_picker, pct, window)
    assert all(n >= 0 for n in needed)
    assert _meets(padded, [needed[0] * per_picker] * len(padded), pct, window, 0)
    if needed[0] > 0:
        assert not _meets(padded, [(needed[0] - 1) * per_picker] * len(padded), pct, window, 0)
    schedule = [n * per_picker for n in needed]  # the rolling schedule, hour by hour, also meets them
    assert _meets(padded, schedule, pct, window, 0)
