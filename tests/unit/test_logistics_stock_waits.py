"""The plan's stock waits in the forecast (issue 32 point 4): orders expected to wait for a supplier
delivery join the dispatch queue later, their 24h/48h clocks still running from payment.
Boundaries pinned, and properties over random plans (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import accumulate
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.logistics import plan_forecast as pf
from services.logistics.plan import PlanInvalid, PlannedHour, plan_from_data

START = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)
D = Decimal


def plan_with(waits):
    return {"name": "t", "start": "2026-11-11T00:00:00+08:00",
            "phases": [{"hours": 2, "orders_per_hour": {"standard": 10}}], "stock_waits": waits}


# -- the plan's field ----------------------------------------------------------------------------


def test_stock_waits_are_read_with_their_defaults() -> None:
    plan = plan_from_data(plan_with([{"share_pct": "12.5", "hours": 30}, {"share_pct": 87.5, "hours": 1,
                                                                           "from_hour": 3}]), "t")
    first, second = plan.stock_waits
    assert (first.share_pct, first.hours, first.from_hour) == (D("12.5"), 30, 0)
    assert (second.share_pct, second.from_hour) == (D("87.5"), 3)


@pytest.mark.parametrize(("waits", "words"), [
    ([{"share_pct": "0", "hours": 5}], "stock_waits.0.share_pct"),
    ([{"share_pct": "100.01", "hours": 5}], "stock_waits.0.share_pct"),
    ([{"share_pct": "1.005", "hours": 5}], "stock_waits.0.share_pct"),  # three decimals
    ([{"share_pct": "1" + "0" * 30, "hours": 5}], "stock_waits.0.share_pct"),
    ([{"share_pct": "5", "hours": 0}], "stock_waits.0.hours"),
    ([{"share_pct": "5", "hours": 745}], "stock_waits.0.hours"),
    ([{"share_pct": "5", "hours": 1.5}], "stock_waits.0.hours"),
    ([{"share_pct": "5", "hours": 5, "from_hour": -1}], "stock_waits.0.from_hour"),
    ([{"share_pct": "5", "hours": 5, "why": "x"}], "stock_waits.0.why"),
    ([{"share_pct": "60", "hours": 5}, {"share_pct": "40.01", "hours": 9}], "100%"),
    ([{"share_pct": "60", "hours": 5, "from_hour": 2}, {"share_pct": "40.01", "hours": 9}], "from hour 2"),
    ([{"share_pct": "1", "hours": 1}] * 51, "stock_waits"),
])
def test_a_bad_stock_wait_is_refused_naming_the_field(waits, words) -> None:
    with pytest.raises(PlanInvalid, match=words.replace(".", r"\.")):
        plan_from_data(plan_with(waits), "t")


def test_waits_that_add_up_to_100_percent_only_from_a_later_hour_are_fine() -> None:
    plan_from_data(plan_with([{"share_pct": "60", "hours": 5}, {"share_pct": "40", "hours": 9}]), "t")
    plan_from_data(plan_with([{"share_pct": "60", "hours": 5, "from_hour": 2},
                              {"share_pct": "60", "hours": 9, "from_hour": 1}][:1] +
                             [{"share_pct": "40", "hours": 9, "from_hour": 1}]), "t")


# -- who joins the queue when --------------------------------------------------------------------


def test_an_hours_orders_split_over_the_waits_in_whole_orders() -> None:
    joining = pf.releases([100, 0, 0, 0], [(0, D("25"), 2)])
    assert joining == [[(0, 75)], [], [(0, 25)], []]
    assert pf.releases([3], [(0, D("50"), 1)]) == [[(0, 2)]]  # 1.5 each way: the rest (no wait) gets it; 1 falls off
    assert pf.simulate([100, 0, 0, 0], [0] * 4, [(0, D("25"), 2)]).joined == [75, 0, 25, 0]


def test_a_wait_applies_from_its_hour_on() -> None:
    joining = pf.releases([10, 10, 10, 0, 0, 0], [(1, D("50"), 2)])
    assert joining[0] == [(0, 10)] and joining[1] == [(1, 5)] and joining[3] == [(1, 5)] and joining[4] == [(2, 5)]
    assert pf.releases([10, 10], [(1, D("100"), 1)]) == [[(0, 10)], []]  # hour 1's all wait past the end


def test_a_wait_of_23_hours_can_still_ship_in_24_and_of_24_cannot() -> None:
    arrivals = [10] + [0] * 60
    run = pf.simulate(arrivals, [100] * 61, [(0, D("100"), 23)])
    assert run.shipped[23] == 10 and run.in_time_24h[0] == 10 and run.in_time_48h[0] == 10
    run = pf.simulate(arrivals, [100] * 61, [(0, D("100"), 24)])
    assert run.in_time_24h[0] == 0 and run.in_time_48h[0] == 10
    run = pf.simulate(arrivals, [100] * 61, [(0, D("100"), 48)])
    assert run.in_time_48h[0] == 0 and sum(run.shipped) == 10


def test_orders_back_from_a_stock_wait_ship_before_newer_ones() -> None:
    # One pick an hour; half of each hour's orders wait 20 hours. Hour 0's second order is back at
    # hour 20 (20 hours old) while hour 10's first 15 are still queued: it goes first and is in
    # time; behind the queue, in arrival order, it would ship at hour 25, late.
    arrivals = [2] + [0] * 9 + [30] + [0] * 69
    run = pf.simulate(arrivals, [1] * 80, [(0, D("50"), 20)])
    assert run.in_time_24h[0] == 2
    # hour 10: its first 15 ship in hours 10-19 and 21-25; the 15 back at hour 30 are 20 hours
    # old, 4 of them (hours 30-33) still in time
    assert run.in_time_24h[10] == 19 and run.in_time_48h[10] == 30
    assert run.backlog[19] == 5 and run.backlog[20] == 5 and run.backlog[25] == 0 and run.backlog[30] == 14


def test_the_forecast_says_how_many_wait_for_stock_each_hour() -> None:
    hours = [pf.Hour(START + timedelta(hours=i), a, None, a, 1, False) for i, a in enumerate([2] + [0] * 9 + [30]
                                                                                             + [0] * 69)]
    rows = pf.forecast(hours, 1, waits=[(0, D("50"), 20)]).hours
    assert [rows[t].waiting_for_stock for t in (0, 9, 10, 19, 20, 29, 30)] == [1, 1, 16, 16, 15, 15, 0]
    assert rows[20].shipped == 1 and rows[-1].share_24h == Decimal("65.6")  # (2 + 19) of 32


def test_without_waits_the_forecast_is_what_it_was() -> None:
    hours = pf.timeline([PlannedHour(START, {"standard": 100}), PlannedHour(START + timedelta(hours=1),
                                                                             {"standard": 50})], {}, {}, START, 30)
    plain, none = pf.forecast(hours, 30), pf.forecast(hours, 30, waits=())
    assert plain == none and all(h.waiting_for_stock == 0 for h in plain.hours)


def test_the_pickers_needed_count_from_when_the_stock_is_there() -> None:
    hours = [pf.Hour(START + timedelta(hours=i), a, None, a, 60, False) for i, a in enumerate([200] + [0] * 60)]
    plain = pf.forecast(hours, 1)
    waiting = pf.forecast(hours, 1, waits=[(0, D("50"), 10)])
    # half of them wait 10 hours: 160 must go in 24 hours, the 100 back at hour 10 within 14 of theirs
    assert plain.hours[0].pickers_80_24h == 7
    assert waiting.hours[0].pickers_80_24h == pf.pickers_needed(pf.simulate([200] + [0] * 60, [0] * 61, [(0, D("50"), 10)]).joined,
                                                                0, 0, 1, 80, 24)[0]


# -- properties ------------------------------------------------------------------------------------

arrival_lists = st.lists(st.integers(0, 300), min_size=1, max_size=60)
wait_lists = st.lists(st.tuples(st.integers(0, 40), st.integers(1, 5000).map(lambda n: D(n) / 100),
                                st.integers(1, 60)), max_size=4).filter(lambda ws: sum(w[1] for w in ws) <= 100)


@settings(max_examples=150, deadline=None)
@given(arrival_lists, wait_lists)
def test_every_order_joins_once_and_never_before_it_arrives(arrivals, waits) -> None:
    joining = pf.releases(arrivals, waits)
    per_arrival = [0] * len(arrivals)
    for t, hour in enumerate(joining):
        for a, orders in hour:
            assert a <= t and orders > 0
            per_arrival[a] += orders
    for a, count in enumerate(arrivals):
        waits_here = [w for w in waits if w[0] <= a]
        assert per_arrival[a] <= count
        if all(a + hours < len(arrivals) for _, _, hours in waits_here):
            assert per_arrival[a] == count  # nothing runs past the end: all of them join


@settings(max_examples=150, deadline=None)
@given(arrival_lists, wait_lists, st.integers(0, 400))
def test_waiting_for_stock_never_ships_more_by_any_hour(arrivals, waits, room) -> None:
    # Not "never raises a share": an order held back past its deadline frees a picker for a
    # younger one, which may then make its 24 hours (hypothesis found 150 orders in hour 0 at 6 an
    # hour, one in hour 1). What holds: orders join later, so no more have shipped by any hour.
    arrivals = arrivals + [0] * 100
    plain = pf.simulate(arrivals, [room] * len(arrivals))
    waiting = pf.simulate(arrivals, [room] * len(arrivals), waits)
    assert all(w <= p for w, p in zip(accumulate(waiting.shipped), accumulate(plain.shipped), strict=True))
    assert all(w <= p for w, p in zip(accumulate(waiting.joined), accumulate(plain.joined), strict=True))
    assert sum(waiting.shipped) <= sum(arrivals)
