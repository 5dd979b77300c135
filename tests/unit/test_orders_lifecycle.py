"""The order lifecycle under events arriving in any order across topics (pure rules)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.orders.domain import CANCELLABLE, STATES, apply_event, decide_cancellation, refund_refusal

# Each producer reports one order's steps in sequence on its own topic (keyed by order id);
# the orders service may see the three sequences interleaved in any way.
INVENTORY = ["stock.backordered", "stock.reserved"]
LOGISTICS = ["shipment.dispatched", "shipment.exception", "shipment.delivered"]
AFTERSALES = ["return.requested", "return.received", "refund.issued"]


def run(events: list[str], state: str = "accepted") -> tuple[str, list[str]]:
    outcomes = []
    for event in events:
        transition = apply_event(state, event)
        outcomes.append(transition.outcome)
        state = transition.state
    return state, outcomes


@st.composite
def interleavings(draw, *sequences: list[str]) -> list[str]:
    queues = [list(s) for s in sequences]
    merged = []
    while any(queues):
        live = [q for q in queues if q]
        merged.append(draw(st.sampled_from(live)).pop(0))
    return merged


def test_a_journey_in_order_visits_every_state() -> None:
    state, seen = "accepted", ["accepted"]
    for event in INVENTORY + LOGISTICS + AFTERSALES:
        state = apply_event(state, event).state
        if seen[-1] != state:
            seen.append(state)
    assert seen == ["accepted", "backordered", "reserved", "shipped", "delivered", "return_requested",
                    "returned", "refunded"]


@given(interleavings(INVENTORY, LOGISTICS, AFTERSALES))
def test_no_interleaving_across_topics_leaves_an_order_stuck_or_refused(events) -> None:
    state, outcomes = run(events)
    assert state == "refunded"
    assert "refused" not in outcomes


@given(interleavings(INVENTORY, LOGISTICS))
def test_dispatch_seen_before_the_reservation_still_ends_delivered(events) -> None:
    assert run(events)[0] == "delivered"


def test_a_reservation_arriving_after_dispatch_is_recorded_as_late_not_applied() -> None:
    transition = apply_event("shipped", "stock.reserved")
    assert (transition.outcome, transition.state) == ("late", "shipped")


def test_a_backorder_filled_later_becomes_reserved() -> None:
    assert apply_event("backordered", "stock.reserved").state == "reserved"


def test_a_backorder_after_full_reservation_is_refused() -> None:
    assert apply_event("reserved", "stock.backordered").outcome == "refused"


@pytest.mark.parametrize("event", ["return.requested", "refund.issued", "shipment.exception"])
def test_nothing_is_returned_or_refunded_after_a_cancellation(event) -> None:
    transition = apply_event("cancelled", event)
    assert (transition.outcome, transition.state) == ("refused", "cancelled")
    assert "cancelled" in transition.reason


@pytest.mark.parametrize("event, state", [("shipment.dispatched", "shipped"), ("shipment.delivered", "delivered")])
def test_a_hand_over_that_crossed_the_cancellation_wins_because_the_goods_left(event, state) -> None:
    transition = apply_event("cancelled", event)
    assert (transition.outcome, transition.state) == ("advanced", state)
    assert apply_event("cancelled", "shipment.dispatched", replacement=True).outcome == "refused"


@pytest.mark.parametrize("event", ["stock.reserved", "stock.backordered", "stock.released"])
def test_stock_news_after_a_cancellation_is_only_noted(event) -> None:
    assert apply_event("cancelled", event) == apply_event("cancelled", event)
    assert apply_event("cancelled", event).outcome == "noted"


def test_stock_released_without_a_cancellation_is_refused() -> None:
    assert apply_event("reserved", "stock.released").outcome == "refused"


def test_a_rejected_return_puts_the_order_back_to_delivered() -> None:
    assert apply_event("return_requested", "return.rejected").state == "delivered"


def test_an_exchange_shipment_does_not_reship_the_order() -> None:
    assert apply_event("returned", "shipment.dispatched", replacement=True).outcome == "noted"


@pytest.mark.parametrize("state", STATES)
def test_cancellation_is_allowed_only_before_dispatch(state) -> None:
    decision = decide_cancellation(state)
    if state == "cancelled":
        assert decision.allowed and decision.already_cancelled
    elif state in CANCELLABLE:
        assert decision.allowed and not decision.already_cancelled
    else:
        assert not decision.allowed
        assert "can no longer be cancelled" in decision.reason and "return it instead" in decision.reason


# ---------------------------------------------------------------------------------------------
# Refunds are not taken on trust (issue 27, finding 10)

PAID = 8980  # cents


def refusal(state: str, amount: int = PAID, refunded: int = 0, exception: bool = False) -> str:
    return refund_refusal(state, amount_cents=amount, paid_cents=PAID, refunded_cents=refunded,
                          exception_reported=exception)


@given(interleavings(INVENTORY, LOGISTICS, AFTERSALES))
def test_in_every_interleaving_the_refund_finds_an_order_it_may_refund(events) -> None:
    # return.requested comes before refund.issued on aftersales' topic, so whatever logistics
    # has reported by then, the order is past `shipped` when its refund arrives.
    state = "accepted"
    for event in events:
        if event == "refund.issued":
            assert refusal(state) == "", state
        state = apply_event(state, event).state


@pytest.mark.parametrize("state", ["accepted", "backordered", "reserved", "cancelled"])
def test_a_refund_for_an_order_never_shipped_is_refused(state) -> None:
    assert refusal(state) == (f"the order was never shipped (it is {state}) and no shipment exception was reported")
    assert refusal(state, exception=True) == ""  # e.g. damaged in the warehouse: aftersales may refund


@pytest.mark.parametrize("state", ["shipped", "delivered", "return_requested", "returned", "refunded"])
def test_a_refund_after_dispatch_is_allowed_up_to_what_was_paid(state) -> None:
    assert refusal(state, amount=PAID) == ""
    assert refusal(state, amount=PAID + 1) == "refunds would total 89.81, more than the 89.80 paid"


def test_all_refunds_of_an_order_together_stay_within_what_was_paid() -> None:
    assert refusal("returned", amount=PAID - 4990, refunded=4990) == ""
    assert refusal("returned", amount=PAID - 4989, refunded=4990) == (
        "refunds would total 89.81, more than the 89.80 paid (49.90 refunded before)")
    assert refusal("returned", amount=0, refunded=PAID) == ""
    assert refusal("shipped", amount=5) == ""


def _refund(paid: int, before: int, amount: int, state: str = "returned"):
    from types import SimpleNamespace

    from services.orders.domain import RefundFacts, decide_event
    return decide_event("O-1", state, "refund.issued", SimpleNamespace(amount=Decimal(amount) / 100),
                        RefundFacts(paid_cents=paid, refunded_cents=before, exception_reported=False), strict=True)


def test_a_refund_short_of_what_was_paid_is_partial_and_the_one_completing_it_is_full() -> None:
    partial = _refund(8980, 0, 3000)
    assert (partial.outcome, partial.state, partial.evidence) == ("advanced", "partially_refunded", "partially_refunded")
    assert _refund(8980, 0, 8979).state == "partially_refunded"  # one cent short
    full = _refund(8980, 0, 8980)
    assert (full.state, full.evidence) == ("refunded", "")
    assert _refund(8980, 3000, 5980, "partially_refunded").state == "refunded"
    again = _refund(8980, 3000, 1000, "partially_refunded")
    assert (again.outcome, again.state) == ("noted", "partially_refunded")
    late = _refund(8980, 3000, 1000, "refunded")  # cannot be: refunds would pass what was paid
    assert late.state == "refunded"


# ---------------------------------------------------------------------------------------------
# A split order ships with its last part (issue 34)


def test_a_part_leaving_with_others_still_to_ship_makes_the_order_partly_shipped() -> None:
    first = apply_event("reserved", "shipment.dispatched", parts_left=True)
    assert (first.outcome, first.state, first.evidence) == ("advanced", "partly_shipped", "partly_shipped")
    last = apply_event(first.state, "shipment.dispatched")
    assert (last.outcome, last.state) == ("advanced", "shipped")
    # A part's news arriving after the last part's is late, and never moves the order back.
    assert apply_event("shipped", "shipment.dispatched", parts_left=True).outcome == "late"
    assert apply_event("partly_shipped", "shipment.dispatched", parts_left=True).outcome == "noted"


def test_parts_left_only_matters_for_a_dispatch() -> None:
    assert apply_event("shipped", "shipment.delivered", parts_left=True).state == "delivered"
    assert apply_event("reserved", "stock.reserved", parts_left=True).outcome == "noted"


def test_a_part_that_left_before_the_cancellation_arrived_makes_the_order_partly_shipped() -> None:
    crossed = apply_event("cancelled", "shipment.dispatched", parts_left=True)
    assert (crossed.outcome, crossed.state) == ("advanced", "partly_shipped")


def test_a_partly_shipped_order_is_no_longer_cancellable() -> None:
    assert "partly_shipped" not in CANCELLABLE
    assert not decide_cancellation("partly_shipped").allowed
