"""Inventory rules without I/O (R7-R12): reservation, rank order, replenishment, sell-out playbook."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.inventory.catalog import CatalogInvalid, parse_entry
from services.inventory.domain import (
    SELL_OUT_PLAYBOOK,
    Backorder,
    ChangeMode,
    InventoryPolicy,
    RequestReplenishment,
    SkuState,
    SkuView,
    StockLimitExceeded,
    back_in_stock,
    decide_reservation,
    is_low,
    needed_per_sku,
    on_hand_after,
    plan_fills,
    planned_stock_for,
    reconcile,
    stock_signals,
    threshold,
    within_stock_limit,
)
from shared.limits import MAX_STOCK_UNITS

NOW = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
POLICY = InventoryPolicy()
SKUS = ["A", "B", "C", "D"]


def state(**overrides) -> SkuState:
    base = dict(sku="A", tier="profit", planned_stock=100, available=100, mode="in_stock")
    base.update(overrides)
    return SkuState(**base)


# -- reservation: all or nothing ------------------------------------------------------------

def test_gift_lines_need_stock_like_any_other_line_and_repeated_skus_add_up() -> None:
    assert needed_per_sku([("TEA", 2), ("CUP", 1), ("TEA", 3)]) == {"TEA": 5, "CUP": 1}


def test_an_order_short_on_one_line_reserves_nothing_and_names_the_missing_line() -> None:
    decision = decide_reservation({"A": 2, "B": 5}, {"A": SkuView(10), "B": SkuView(4)})
    assert not decision.reserve
    assert decision.missing == {"B": 5}


def test_an_unknown_sku_is_missing_rather_than_an_error() -> None:
    assert decide_reservation({"A": 1, "Z": 1}, {"A": SkuView(10)}).missing == {"Z": 1}


def test_orders_for_a_presale_sku_become_presale_backorders_with_the_expected_date() -> None:
    expected = NOW + timedelta(days=7)
    decision = decide_reservation({"A": 1}, {"A": SkuView(50, mode="presale", expected_date=expected)})
    assert (decision.reserve, decision.presale, decision.expected_date) == (False, True, expected)


def test_a_newcomer_gets_only_the_surplus_beyond_what_waiting_orders_ranked_ahead_need() -> None:
    assert decide_reservation({"A": 3}, {"A": SkuView(10)}, protected={"A": 8}).missing == {"A": 3}
    assert decide_reservation({"A": 2}, {"A": SkuView(10)}, protected={"A": 8}).reserve


views = st.fixed_dictionaries({}, optional={sku: st.builds(
    SkuView, available=st.integers(0, 20), mode=st.sampled_from(["in_stock", "in_stock", "presale", "deposit_presale"]))
    for sku in SKUS})
needs_strategy = st.dictionaries(st.sampled_from(SKUS), st.integers(1, 10), min_size=1)


@given(needs=needs_strategy, stock=views, protected=st.dictionaries(st.sampled_from(SKUS), st.integers(0, 20)))
def test_reservation_is_all_lines_or_none(needs, stock, protected) -> None:
    decision = decide_reservation(needs, stock, protected)
    every_line_coverable = all(
        sku in stock and stock[sku].mode == "in_stock" and stock[sku].available - protected.get(sku, 0) >= q
        for sku, q in needs.items())
    assert decision.reserve == every_line_coverable
    assert decision.reserve == (not decision.missing)
    assert set(decision.missing) <= set(needs)
    assert all(decision.missing[s] == needs[s] for s in decision.missing)
    assert decision.presale == any(s in stock and stock[s].mode != "in_stock" for s in needs)


# -- backorders filled in rank --------------------------------------------------------------

def test_delivery_fills_waiting_orders_by_rank_not_by_arrival() -> None:
    waiting = [Backorder("late-standard", "2-0003", {"A": 4}), Backorder("presale", "0-0009", {"A": 4}),
               Backorder("high-value", "1-0001", {"A": 4})]
    assert plan_fills(waiting, {"A": 8}) == ["presale", "high-value"]


def test_a_waiting_order_too_big_to_fill_keeps_lower_ranks_from_jumping_ahead() -> None:
    waiting = [Backorder("first", "0", {"A": 10}), Backorder("second", "1", {"A": 1})]
    assert plan_fills(waiting, {"A": 5}) == []


def test_lower_ranks_get_the_surplus_beyond_what_a_stuck_higher_rank_needs() -> None:
    # "first" waits for B; the A it needs stays protected, the rest of A can go.
    waiting = [Backorder("first", "0", {"A": 4, "B": 1}), Backorder("second", "1", {"A": 6}),
               Backorder("third", "2", {"A": 1})]
    assert plan_fills(waiting, {"A": 10, "B": 0}) == ["second"]


def test_lower_ranks_needing_other_skus_still_get_filled() -> None:
    waiting = [Backorder("first", "0", {"A": 10}), Backorder("other-sku", "1", {"B": 1})]
    assert plan_fills(waiting, {"A": 5, "B": 1}) == ["other-sku"]


backorders = st.lists(
    st.builds(Backorder, order_id=st.uuids().map(str), priority_rank=st.text("0123", min_size=1, max_size=3),
              needs=needs_strategy), max_size=12, unique_by=lambda b: b.order_id)


@given(waiting=backorders, available=st.dictionaries(st.sampled_from(SKUS), st.integers(0, 30)))
def test_filling_never_overdraws_and_never_serves_a_sku_out_of_rank(waiting, available) -> None:
    filled = plan_fills(waiting, available)
    by_id = {b.order_id: b for b in waiting}
    for sku in SKUS:  # never more than was there
        assert sum(by_id[o].needs.get(sku, 0) for o in filled) <= available.get(sku, 0)
    ranked = sorted(waiting, key=lambda b: (b.priority_rank, b.order_id))
    for i, order in enumerate(ranked):  # an order only ever gets what is left after all ranked ahead
        if order.order_id in filled:
            for sku, quantity in order.needs.items():
                ahead = sum(earlier.needs.get(sku, 0) for earlier in ranked[:i])
                assert ahead + quantity <= available.get(sku, 0)
    if ranked and all(available.get(s, 0) >= q for s, q in ranked[0].needs.items()):
        assert filled[:1] == [ranked[0].order_id]  # the best-ranked order is served when it can be


@settings(max_examples=150)
@given(st.lists(st.one_of(
    st.tuples(st.just("order"), needs_strategy, st.text("0123", min_size=1, max_size=3)),
    st.tuples(st.just("delivery"), st.sampled_from(SKUS), st.integers(1, 15))), max_size=40),
    st.dictionaries(st.sampled_from(SKUS), st.integers(0, 15)))
def test_any_sequence_of_orders_and_deliveries_keeps_the_books_balanced(operations, opening) -> None:
    """The rules composed as the service composes them: available never below zero, reserved +
    available = on hand, every order reserved or waiting exactly once."""
    on_hand = {s: opening.get(s, 0) for s in SKUS}
    reserved = dict.fromkeys(SKUS, 0)
    waiting: dict[str, Backorder] = {}
    outcome: dict[str, str] = {}

    def available() -> dict[str, int]:
        return {s: on_hand[s] - reserved[s] for s in SKUS}

    def take(needs) -> None:
        for sku, q in needs.items():
            reserved[sku] += q

    for n, op in enumerate(operations):
        if op[0] == "order":
            _, needs, rank = op
            order_id = f"O{n}"
            ahead = Counter()
            for b in waiting.values():
                if b.priority_rank < rank:
                    ahead.update(b.needs)
            decision = decide_reservation(needs, {s: SkuView(a) for s, a in available().items()}, ahead)
            if decision.reserve:
                take(needs)
                outcome[order_id] = "reserved"
            else:
                waiting[order_id] = Backorder(order_id, rank, needs)
                outcome[order_id] = "backordered"
        else:
            _, sku, quantity = op
            on_hand[sku] += quantity
            for order_id in plan_fills(list(waiting.values()), available()):
                take(waiting.pop(order_id).needs)
                outcome[order_id] = "reserved"
        for sku in SKUS:
            assert available()[sku] >= 0
            assert reserved[sku] + available()[sku] == on_hand[sku]
    assert set(waiting) == {o for o, status in outcome.items() if status == "backordered"}


# -- replenishment (R9) -----------------------------------------------------------------------

def test_falling_below_twenty_percent_asks_for_what_restores_planned_stock() -> None:
    [signal] = stock_signals(state(available=19), NOW, POLICY, sold_out=False)
    assert signal == RequestReplenishment(81, urgent=False, reason=signal.reason)


def test_exactly_twenty_percent_is_not_yet_low() -> None:
    assert stock_signals(state(available=20), NOW, POLICY, sold_out=False) == []


def test_no_second_request_while_one_is_open_but_again_once_it_expired() -> None:
    open_until = NOW + timedelta(hours=1)
    low = state(available=5, open_request_urgent=False, open_request_expires_at=open_until)
    assert stock_signals(low, NOW, POLICY, sold_out=False) == []
    assert len(stock_signals(low, open_until, POLICY, sold_out=False)) == 1


def test_the_threshold_is_configurable_per_sku() -> None:
    assert stock_signals(state(available=40, threshold_percent=50), NOW, POLICY, sold_out=False)


@given(planned=st.integers(0, 10_000), available=st.integers(0, 10_000), percent=st.integers(0, 100))
def test_a_request_restores_planned_stock_and_only_comes_when_low(planned, available, percent) -> None:
    signals = stock_signals(state(planned_stock=planned, available=available, threshold_percent=percent),
                            NOW, POLICY, sold_out=False)
    requests = [s for s in signals if isinstance(s, RequestReplenishment)]
    assert len(requests) <= 1
    for request in requests:
        assert available + request.quantity == planned
        assert available * 100 < planned * percent


# -- sell-out playbook (R10) ------------------------------------------------------------------

def test_the_playbook_is_one_rule_per_tier() -> None:
    assert set(SELL_OUT_PLAYBOOK) == {"traffic_driver", "profit", "hot"}


def test_a_sold_out_traffic_driver_switches_to_presale_with_a_time_limited_discount() -> None:
    signals = stock_signals(state(tier="traffic_driver", available=0), NOW, POLICY, sold_out=True)
    [change] = [s for s in signals if isinstance(s, ChangeMode)]
    assert change.mode == "presale"
    assert change.expected_date == NOW + POLICY.presale_lead
    assert change.discount_percent and change.discount_until and change.discount_until > NOW


def test_a_sold_out_profit_item_sends_an_urgent_request_even_with_an_ordinary_one_open() -> None:
    sold_out = state(available=0, open_request_urgent=False, open_request_expires_at=NOW + timedelta(days=1))
    [signal] = stock_signals(sold_out, NOW, POLICY, sold_out=True)
    assert signal == RequestReplenishment(100, urgent=True, reason=signal.reason)
    urgent_open = state(available=0, open_request_urgent=True, open_request_expires_at=NOW + timedelta(days=1))
    assert stock_signals(urgent_open, NOW, POLICY, sold_out=True) == []


def test_a_sold_out_hot_item_opens_deposit_presale() -> None:
    signals = stock_signals(state(tier="hot", available=0), NOW, POLICY, sold_out=True)
    assert [s.mode for s in signals if isinstance(s, ChangeMode)] == ["deposit_presale"]


def test_a_sku_already_in_presale_does_not_switch_again() -> None:
    signals = stock_signals(state(tier="traffic_driver", available=0, mode="presale"), NOW, POLICY, sold_out=True)
    assert not [s for s in signals if isinstance(s, ChangeMode)]


def test_presale_ends_when_a_delivery_leaves_stock_to_sell() -> None:
    assert back_in_stock(state(mode="presale", available=3)).mode == "in_stock"
    assert back_in_stock(state(mode="presale", available=0)) is None


# -- catalog and counts (R8, R12) -------------------------------------------------------------

def test_profit_items_are_planned_at_120_percent_of_forecast() -> None:
    assert planned_stock_for("profit", 1000) == 1200
    assert parse_entry({"sku": "K", "tier": "profit", "forecast": "1000", "on_hand": "5"}).planned_stock == 1200


@pytest.mark.parametrize("record, reason", [
    ({"sku": "K", "tier": "luxury", "planned_stock": 1}, "tier"),
    ({"sku": "K", "tier": "hot"}, "planned_stock or forecast"),
    ({"sku": "K", "tier": "hot", "planned_stock": "-3"}, "negative"),
    ({"sku": "K", "tier": "hot", "planned_stock": "2.5"}, "whole number"),
    ({"sku": "", "tier": "hot", "planned_stock": 1}, "sku is required"),
])
def test_a_bad_catalog_entry_is_refused_with_the_reason(record, reason) -> None:
    with pytest.raises(CatalogInvalid, match=reason):
        parse_entry(record)


def test_a_count_below_reserved_stock_is_refused_not_booked() -> None:
    with pytest.raises(ValueError, match="reserved"):
        reconcile(recorded_on_hand=10, counted=3, reserved=5, sku="A")
    assert reconcile(recorded_on_hand=10, counted=7, reserved=5, sku="A").difference == -3


# -- the stock limit (issue 27, finding 4) ----------------------------------------------------

LIMIT = MAX_STOCK_UNITS


@given(on_hand=st.integers(0, LIMIT))
def test_on_hand_may_reach_the_limit_exactly_and_not_one_unit_past(on_hand: int) -> None:
    room = LIMIT - on_hand
    assert on_hand_after("A", on_hand, room, "delivery D-1") == LIMIT  # exactly at the limit: accepted
    with pytest.raises(StockLimitExceeded, match=f"on hand of A after delivery D-1.*limit of {LIMIT}"):
        on_hand_after("A", on_hand, room + 1, "delivery D-1")  # one past: refused


@given(units=st.one_of(st.integers(-2**70, 2**70), st.integers(LIMIT - 3, LIMIT + 3)))
def test_a_figure_is_within_the_limit_exactly_when_it_is_at_most_the_limit(units: int) -> None:
    if units <= LIMIT:
        assert within_stock_limit(units, "x") == units
    else:
        with pytest.raises(StockLimitExceeded, match=str(LIMIT)):
            within_stock_limit(units, "x")


@given(st.lists(st.one_of(st.integers(1, 2**64), st.integers(1, 3), st.just(2**62)), max_size=30),
       st.integers(0, LIMIT))
def test_no_sequence_of_deliveries_takes_on_hand_past_the_limit_or_off_whole_numbers(
        deliveries: list[int], start: int) -> None:
    on_hand, booked = start, start
    for quantity in deliveries:
        try:
            on_hand = on_hand_after("A", on_hand, quantity, "a delivery")
            booked += quantity
        except StockLimitExceeded:
            assert on_hand + quantity > LIMIT  # refused only past the limit
    assert type(on_hand) is int and on_hand == booked <= LIMIT


def test_counts_orders_and_planned_stock_stop_at_the_limit_too() -> None:
    assert reconcile(recorded_on_hand=5, counted=LIMIT, reserved=0, sku="A").difference == LIMIT - 5
    with pytest.raises(StockLimitExceeded, match=str(LIMIT)):
        reconcile(recorded_on_hand=5, counted=LIMIT + 1, reserved=0, sku="A")
    assert needed_per_sku([("A", LIMIT - 1), ("A", 1)]) == {"A": LIMIT}
    with pytest.raises(StockLimitExceeded, match="units of A the order needs"):
        needed_per_sku([("A", LIMIT), ("A", 1)])
    # Planned stock from a forecast in whole units (no float rounding), up to the limit exactly.
    assert planned_stock_for("profit", 1) == 2 and planned_stock_for("profit", 833_333_333) == LIMIT
    assert parse_entry({"sku": "K", "tier": "profit", "forecast": 833_333_333}).planned_stock == LIMIT
    with pytest.raises(CatalogInvalid, match=f"planned_stock from forecast.*limit of {LIMIT}"):
        parse_entry({"sku": "K", "tier": "profit", "forecast": 833_333_334})
    assert parse_entry({"sku": "K", "tier": "hot", "planned_stock": LIMIT, "on_hand": LIMIT}).on_hand == LIMIT
    for field in ("planned_stock", "on_hand", "forecast"):
        record = {"sku": "K", "tier": "hot", **({} if field == "forecast" else {"planned_stock": 1})}
        with pytest.raises(CatalogInvalid, match=f"{field} must be at most {LIMIT}"):
            parse_entry({**record, field: LIMIT + 1})
    assert threshold(state(planned_stock=LIMIT, available=0), POLICY) == LIMIT // 5


@pytest.mark.parametrize(("tier", "forecast", "planned"), [
    ("traffic_driver", 999, 999), ("hot", 999, 999),  # stocked at the forecast
    ("profit", 999, 1199),  # 120%: 1,198.8 rounded up
])
def test_planned_stock_from_a_forecast_per_tier_in_whole_units(tier, forecast, planned) -> None:
    assert planned_stock_for(tier, forecast) == planned


def test_the_low_stock_threshold_is_rounded_up_to_a_whole_unit() -> None:
    # 20% of 7 is 1.4 units: low below 2, and a whole number, never a float.
    low = threshold(state(planned_stock=7, available=1), POLICY)
    assert low == 2 and isinstance(low, int)
    assert is_low(state(planned_stock=7, available=1), POLICY) and not is_low(state(planned_stock=7, available=2), POLICY)


def test_a_refused_stock_figure_says_which_figure_and_what_it_would_be() -> None:
    with pytest.raises(StockLimitExceeded) as refused:
        on_hand_after("A", LIMIT, 1, "delivery D-1")
    assert str(refused.value) == (f"on hand of A after delivery D-1 ({LIMIT} + 1) would be {LIMIT + 1} units, "
                                  f"above the limit of {LIMIT} units per sku")


# -- an order's reservation: the statuses it moves through (services/inventory/reservation.py) --


def test_a_cancellation_releases_a_reservation_once_and_takes_a_waiting_order_out_of_line() -> None:
    from services.inventory.reservation import release

    assert release(None) == release(None) and (release(None).status, release(None).remember) == ("cancelled", True)
    assert (release("reserved").status, release("reserved").give_back, release("reserved").outcome) == (
        "released", True, "released")
    assert (release("backordered").status, release("backordered").leave_queue) == ("cancelled", True)
    for done in ("released", "cancelled", "shipped"):  # nothing to do twice
        move = release(done)
        assert (move.outcome, move.status, move.give_back, move.leave_queue, move.remember) == (
            done, None, False, False, False)


def test_a_dispatch_ships_a_reserved_order_once_and_follows_the_goods_after_a_crossed_release() -> None:
    from services.inventory.reservation import dispatch

    assert (dispatch("reserved", replacement=False).status, dispatch("reserved", replacement=False).take_reserved) == (
        "shipped", True)
    crossed = dispatch("released", replacement=False)
    assert (crossed.status, crossed.take_released, crossed.take_reserved) == ("shipped", True, False)
    assert dispatch("reserved", replacement=True).status is None  # an exchange was never reserved here
    assert dispatch(None, replacement=False).outcome == "ignored"
    assert [(dispatch(s, replacement=False).outcome, dispatch(s, replacement=False).status)
            for s in ("shipped", "backordered", "cancelled")] == [
        ("shipped", None), ("backordered", None), ("cancelled", None)]


def test_only_a_waiting_order_is_filled() -> None:
    from services.inventory.reservation import fill

    assert fill("backordered") == "reserved"
    assert [fill(s) for s in ("reserved", "released", "cancelled", "shipped")] == [None] * 4


def test_a_refused_reservation_is_decided_again_and_never_reserves() -> None:
    from services.inventory.domain import decide_after_refusal

    # The figures read again still look sufficient (the update was refused a moment ago): all missing.
    assert decide_after_refusal({"A": 2, "B": 1}, {"A": SkuView(5), "B": SkuView(5)}).missing == {"A": 2, "B": 1}
    short = decide_after_refusal({"A": 2, "B": 1}, {"A": SkuView(1), "B": SkuView(5)})
    assert (short.reserve, short.missing, short.status) == (False, {"A": 2}, "backordered")


def test_only_a_short_shelf_counts_as_sold_out() -> None:
    from services.inventory.domain import shelf_short

    stock = {"A": SkuView(1), "B": SkuView(9), "C": SkuView(0, mode="presale")}
    # A: the shelf is short; B: waiting orders ahead hold it; C: presale; D: unknown.
    assert shelf_short({"A": 2, "B": 2, "C": 1, "D": 1}, {"A": 2, "B": 2, "C": 1, "D": 1}, stock) == {"A"}


def test_a_mode_set_by_an_operator_changes_from_the_current_one() -> None:
    from services.inventory.domain import set_by_operator

    assert set_by_operator("in_stock", None) is None and set_by_operator("presale", "presale") is None
    change = set_by_operator("presale", "in_stock")
    assert (change.mode, change.from_mode, change.reason) == ("in_stock", "presale", "set by an operator")
    assert back_in_stock(state(mode="deposit_presale", available=1)).from_mode == "deposit_presale"
