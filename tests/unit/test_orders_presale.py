"""Deposit presale rules (services/orders/presale.py and their hooks in domain.py): what a deposit
is worth, the balance it leaves to the cent, the window's edges, what a balance does in each
state, and how the lifecycle treats an order awaiting its balance (R1, R23)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.orders import presale
from services.orders.domain import (ALL_STATES, CANCELLABLE, STATES, OrderInvalid, OrderPolicy, apply_event,
                                    decide_cancellation, deposit_due, priority_rank, refund_refusal,
                                    state_after_balance, validate_order)
from services.orders.presale import (AWAITING_BALANCE, BALANCE_UNPAID, DepositFacts, PresaleTerms, balance_due,
                                     check_expansion, decide_balance, deposit_value, expansion_for, is_overdue)
from services.orders.settings import OrdersSettings
from shared.events import OrderPlaced

PAID_AT = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
TERMS = PresaleTerms()
POLICY = OrderPolicy(high_value_threshold=Decimal("1000.00"), accepted_currencies=frozenset({"CNY"}))
D = Decimal


def deposit_order(deposit: str = "20.00", paid: str | None = None, **overrides) -> OrderPlaced:
    """Lines 99.80, discount 10.00: the price is 89.80."""
    data = {
        "order_id": "O-1", "customer_id": "C-9", "order_type": "presale",
        "lines": [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False},
                  {"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "0.00", "gift": True}],
        "discount": "10.00", "paid_amount": paid or deposit, "paid_at": PAID_AT.isoformat(),
        "region": "Shanghai", "currency": "CNY", "deposit": deposit,
    }
    data.update(overrides)
    return OrderPlaced.model_validate(data)


def refusal(order: OrderPlaced, policy: OrderPolicy = POLICY) -> str:
    with pytest.raises(OrderInvalid) as exc:
        validate_order(order, policy)
    return str(exc.value)


def policy_with(**terms) -> OrderPolicy:
    return OrderPolicy(high_value_threshold=D("1000.00"), accepted_currencies=frozenset({"CNY"}),
                       presale=PresaleTerms(**terms))


# ---------------------------------------------------------------------------------------------
# The deposit


def test_a_deposit_order_is_valid_and_leaves_the_price_less_twice_the_deposit() -> None:
    order = deposit_order("20.00")
    validate_order(order, POLICY)
    due = deposit_due(order, POLICY)
    assert due == presale.BalanceDue(price=D("89.80"), expansion=D("2"), deposit_value=D("40.00"),
                                     balance=D("49.80"), due_by=PAID_AT + timedelta(hours=72),
                                     closes_at=PAID_AT + timedelta(hours=72, minutes=5))


def test_the_deposit_may_cover_the_price_exactly_and_not_a_cent_more() -> None:
    due = deposit_due(deposit_order("44.90"), POLICY)  # 44.90 x 2 = 89.80, the price
    assert due is not None and due.balance == D("0.00")
    assert refusal(deposit_order("44.91")) == (
        "deposit 44.91 x expansion 2 = 89.82 is worth more than the price 89.80 (lines total 99.80 minus "
        "discount 10.00): the deposit may cover the price at most")


def test_a_deposit_must_be_positive() -> None:
    assert refusal(deposit_order("0.00")) == "presale deposit must be positive, got 0.00"
    assert deposit_due(deposit_order("0.01"), POLICY).balance == D("89.78")  # type: ignore[union-attr]


def test_a_deposit_order_pays_exactly_its_deposit() -> None:
    for paid in ("19.99", "20.01", "89.79"):
        assert refusal(deposit_order("20.00", paid=paid)) == (
            f"paid_amount {paid} is neither the full price 89.80 (lines total 99.80 minus discount 10.00) nor the "
            "deposit 20.00: a deposit order pays exactly its deposit")


def test_a_presale_paid_in_full_is_todays_one_phase_presale_with_or_without_balance_paid_at() -> None:
    in_full = deposit_order("20.00", paid="89.80")
    validate_order(in_full, POLICY)
    assert deposit_due(in_full, POLICY) is None
    with_balance = deposit_order("20.00", paid="89.80", balance_paid_at="2026-11-11T00:00:00Z")
    validate_order(with_balance, POLICY)
    assert deposit_due(with_balance, POLICY) is None
    # A final payment named but not paid in full is what it was before: a wrong paid_amount.
    assert "does not equal lines total 99.80 minus discount 10.00 = 89.80" in refusal(
        deposit_order("20.00", balance_paid_at="2026-11-11T00:00:00Z"))


def test_standard_orders_and_presales_without_a_deposit_are_no_deposit_orders() -> None:
    assert deposit_due(deposit_order("20.00", order_type="standard", paid="89.80"), POLICY) is None
    assert not presale.pays_deposit(deposit_order("20.00", order_type="standard"))
    assert "presale order without its presale fields" in refusal(deposit_order(None, paid="89.80"))  # type: ignore[arg-type]
    # Without a deposit nothing says what was paid for: the full price is expected.
    assert "does not equal lines total" in refusal(deposit_order(None, paid="20.00"))  # type: ignore[arg-type]


def test_the_expansion_per_sku_overrides_the_events_own() -> None:
    policy = policy_with(expansion_by_sku={"SKU-TEA-01": D("3")})
    due = deposit_due(deposit_order("20.00"), policy)
    assert (due.expansion, due.deposit_value, due.balance) == (D("3"), D("60.00"), D("29.80"))  # type: ignore[union-attr]
    assert refusal(deposit_order("29.94"), policy).startswith("deposit 29.94 x expansion 3 = 89.82 is worth more")
    assert deposit_due(deposit_order("29.93"), policy).balance == D("0.01")  # type: ignore[union-attr]


def test_a_gift_lines_sku_does_not_count_but_two_paid_skus_expanded_differently_are_refused() -> None:
    terms = PresaleTerms(expansion_by_sku={"SKU-TEA-01": D("3"), "SKU-CUP-GIFT": D("5")})
    order = deposit_order("20.00")
    assert expansion_for(order.lines, terms) == D("3")
    mixed = deposit_order("20.00", lines=[
        {"sku": "SKU-TEA-01", "quantity": 1, "unit_price": "49.90"},
        {"sku": "SKU-POT-02", "quantity": 1, "unit_price": "49.90"}])
    assert refusal(mixed, policy_with(expansion_by_sku={"SKU-TEA-01": D("3")})) == (
        "the order's lines have different deposit expansions (SKU-POT-02 x2, SKU-TEA-01 x3): a deposit presale's "
        "paid lines must share one")
    # Expanded alike (one by its override, one by the default): one expansion.
    assert expansion_for(mixed.lines, PresaleTerms(expansion_by_sku={"SKU-TEA-01": D("2")})) == D("2")
    only_gifts = deposit_order("20.00").lines[1:]
    assert expansion_for(only_gifts, PresaleTerms(expansion=D("4"))) == D("4")


def test_a_fractional_expansion_rounds_half_a_cent_up() -> None:
    assert deposit_value(D("33.33"), D("1.5")) == D("50.00")  # 49.995
    assert deposit_value(D("0.01"), D("1.5")) == D("0.02")  # 0.015
    assert deposit_value(D("0.03"), D("1.5")) == D("0.05")  # 0.045
    assert deposit_value(D("0.02"), D("1.25")) == D("0.03")  # 0.025
    assert deposit_value(D("0.01"), D("1.25")) == D("0.01")  # 0.0125


@given(deposit_cents=st.integers(1, 10_000_000), expansion_hundredths=st.integers(100, 10_000))
def test_the_deposit_value_is_whole_cents_within_half_a_cent_of_the_exact_product(
        deposit_cents: int, expansion_hundredths: int) -> None:
    deposit, expansion = D(deposit_cents) / 100, D(expansion_hundredths) / 100
    value = deposit_value(deposit, expansion)
    assert value == value.quantize(D("0.01"))
    assert abs(value - deposit * expansion) <= D("0.005")


def test_the_window_ends_at_the_configured_time_or_after_the_window_length() -> None:
    assert deposit_due(deposit_order(), policy_with(balance_window=timedelta(hours=1))).due_by == (  # type: ignore[union-attr]
        PAID_AT + timedelta(hours=1))
    end = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    due = deposit_due(deposit_order(), policy_with(balance_due_by=end, grace=timedelta(0)))
    assert (due.due_by, due.closes_at) == (end, end)  # type: ignore[union-attr]


def test_a_deposit_paid_after_the_window_closed_is_refused_one_paid_at_its_end_is_not() -> None:
    policy = policy_with(balance_due_by=PAID_AT)
    assert deposit_due(deposit_order(), policy).due_by == PAID_AT  # type: ignore[union-attr]
    late = deposit_order(paid_at=(PAID_AT + timedelta(microseconds=1)).isoformat())
    assert refusal(late, policy) == ("deposit paid at 2026-10-24T20:00:00.000001+00:00, after the balance window "
                                     "closed at 2026-10-24T20:00:00+00:00")


def test_an_expansion_is_one_to_a_hundred_to_the_hundredth() -> None:
    for fine in ("1", "1.5", "2", "2.25", "100"):
        check_expansion(D(fine))
    for wrong in ("0.99", "0", "-2", "100.01", "2.005", "NaN", "Infinity"):
        with pytest.raises(ValueError, match="must be 1 to 100 with at most two decimals"):
            check_expansion(D(wrong), "SKU-X")


def test_presale_terms_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="for SKU-X must be 1 to 100"):
        PresaleTerms(expansion_by_sku={"SKU-X": D("0.5")})
    with pytest.raises(ValueError, match="UTC offset"):
        PresaleTerms(balance_due_by=datetime(2026, 11, 1))
    with pytest.raises(ValueError, match="window must be positive"):
        PresaleTerms(balance_window=timedelta(0))
    with pytest.raises(ValueError, match="grace not negative"):
        PresaleTerms(grace=timedelta(seconds=-1))
    PresaleTerms(grace=timedelta(0), balance_window=timedelta(microseconds=1))


def test_settings_read_the_per_sku_expansions_as_json_and_the_window_end_in_utc(monkeypatch) -> None:
    monkeypatch.setenv("ORDERS_PRESALE_EXPANSION_BY_SKU", '{"SKU-PHONE-01": "3", "SKU-TV-02": "1.5"}')
    monkeypatch.setenv("ORDERS_PRESALE_BALANCE_DUE_BY", "2026-11-11T01:00:00+08:00")
    monkeypatch.setenv("ORDERS_PRESALE_BALANCE_GRACE_S", "0")
    terms = OrdersSettings().presale_terms()
    assert terms.expansion_by_sku == {"SKU-PHONE-01": D("3"), "SKU-TV-02": D("1.5")}
    assert terms.balance_due_by == datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
    assert terms.balance_due_by.tzinfo is UTC  # type: ignore[union-attr]
    assert (terms.expansion, terms.grace, terms.balance_window) == (D("2"), timedelta(0), timedelta(hours=72))
    monkeypatch.setenv("ORDERS_PRESALE_EXPANSION_BY_SKU", '{"SKU-PHONE-01": "0.5"}')
    with pytest.raises(ValueError, match="SKU-PHONE-01 must be 1 to 100"):
        OrdersSettings()
    monkeypatch.delenv("ORDERS_PRESALE_EXPANSION_BY_SKU")
    monkeypatch.setenv("ORDERS_PRESALE_EXPANSION", "101")
    with pytest.raises(ValueError, match="default must be 1 to 100"):
        OrdersSettings()


# ---------------------------------------------------------------------------------------------
# The balance

DUE_BY = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
FACTS = DepositFacts(deposit=D("20.00"), deposit_paid_at=PAID_AT, price=D("89.80"), expansion=D("2"),
                     deposit_value=D("40.00"), balance_due=D("49.80"), due_by=DUE_BY,
                     closes_at=DUE_BY + timedelta(minutes=5))
ON_TIME = DUE_BY - timedelta(hours=1)


def decide(amount: str = "49.80", paid_at: datetime = ON_TIME, now: datetime | None = None,
           status: str = AWAITING_BALANCE, facts: DepositFacts | None = FACTS, order_type: str = "presale"):
    return decide_balance("O-1", status, facts, amount=D(amount), paid_at=paid_at, now=now or paid_at,
                          order_type=order_type)


def test_the_balance_due_to_the_cent_is_received() -> None:
    decision = decide("49.80")
    assert (decision.outcome, decision.refusal, decision.reason, decision.closes_order) == ("receive", "", "", False)
    assert decide("49.8").outcome == "receive"


@pytest.mark.parametrize("amount", ["49.79", "49.81", "0.00", "89.80", "29.80", "100000000.00"])
def test_any_other_balance_is_refused_with_the_expected_figure(amount: str) -> None:
    decision = decide(amount)
    assert (decision.outcome, decision.refusal, decision.closes_order) == ("refuse", "amount", False)
    assert decision.reason == (f"balance_amount {amount} is not the balance due for order O-1: price 89.80 minus "
                               "deposit 20.00 x expansion 2 (40.00) = 49.80")


def test_a_balance_paid_exactly_at_the_windows_end_is_taken_a_microsecond_later_is_not() -> None:
    assert decide(paid_at=DUE_BY).outcome == "receive"
    late = decide(paid_at=DUE_BY + timedelta(microseconds=1))
    assert (late.outcome, late.refusal, late.closes_order) == ("refuse", "late", True)
    assert late.reason == ("balance of order O-1 paid at 2026-11-01T00:00:00.000001+00:00, after its window closed at "
                           "2026-11-01T00:00:00+00:00: the order is closed balance_unpaid")


def test_a_balance_paid_in_time_is_taken_until_the_grace_ends_and_not_after() -> None:
    closes_at = FACTS.closes_at
    assert decide(paid_at=DUE_BY, now=closes_at).outcome == "receive"
    late = decide(paid_at=DUE_BY, now=closes_at + timedelta(microseconds=1))
    assert (late.refusal, late.closes_order) == ("late", True)
    assert "received at 2026-11-01T00:05:00.000001+00:00, after its window closed at 2026-11-01T00:00:00+00:00 " \
           "(payments in flight taken until 2026-11-01T00:05:00+00:00)" in late.reason


def test_a_late_balance_is_late_whatever_its_amount() -> None:
    assert decide("1.00", paid_at=DUE_BY + timedelta(seconds=1)).refusal == "late"


def test_a_balance_cannot_be_paid_before_its_deposit() -> None:
    assert decide(paid_at=PAID_AT).outcome == "receive"
    early = decide(paid_at=PAID_AT - timedelta(microseconds=1))
    assert (early.refusal, early.closes_order) == ("invalid", False)
    assert early.reason == ("balance of order O-1 paid at 2026-10-24T19:59:59.999999+00:00, before its deposit "
                            "(2026-10-24T20:00:00+00:00)")


def test_the_same_balance_again_is_a_harmless_duplicate_another_one_is_refused() -> None:
    paid = DepositFacts(**{**FACTS.__dict__, "balance_amount": D("49.80"), "balance_paid_at": ON_TIME})
    for status in ("accepted", "reserved", "shipped", "cancelled"):
        assert decide(status=status, facts=paid).outcome == "duplicate"
        # Late by now, but it is the payment already taken: still a duplicate, not a refusal.
        assert decide(status=status, facts=paid, now=DUE_BY + timedelta(days=3)).outcome == "duplicate"
    other_amount = decide("49.81", status="accepted", facts=paid)
    assert (other_amount.refusal, other_amount.reason) == ("state", (
        "the balance of order O-1 was already received (49.80 paid at 2026-10-31T23:00:00+00:00): this one (49.81 "
        "paid at 2026-10-31T23:00:00+00:00) is refused"))
    assert decide(paid_at=ON_TIME + timedelta(seconds=1), status="accepted", facts=paid).refusal == "state"


def test_a_balance_for_an_order_not_awaiting_one_is_refused_with_its_state() -> None:
    closed = decide(status=BALANCE_UNPAID)
    assert (closed.refusal, closed.closes_order) == ("state", False)
    assert closed.reason == "order O-1 is closed balance_unpaid: its balance window closed at 2026-11-01T00:00:00+00:00"
    cancelled = decide(status="cancelled")
    assert (cancelled.refusal, cancelled.reason) == ("state", "order O-1 is cancelled, not awaiting its balance")
    assert decide(status="cancelled", paid_at=DUE_BY + timedelta(days=1)).closes_order is False


def test_a_balance_for_a_standard_order_or_a_presale_paid_in_full_is_refused() -> None:
    standard = decide(facts=None, order_type="standard", status="accepted")
    assert (standard.refusal, standard.reason) == (
        "not_deposit", "order O-1 is a standard order, not a deposit presale: it has no balance to pay")
    assert decide(facts=None, status="reserved").reason == (
        "order O-1 is a presale paid in full, not a deposit presale: it has no balance to pay")


def test_the_window_job_closes_only_orders_awaiting_their_balance_strictly_after_the_grace() -> None:
    closes_at = FACTS.closes_at
    assert not is_overdue(AWAITING_BALANCE, closes_at, closes_at)
    assert is_overdue(AWAITING_BALANCE, closes_at, closes_at + timedelta(microseconds=1))
    for status in ("accepted", "reserved", "cancelled", BALANCE_UNPAID):
        assert not is_overdue(status, closes_at, closes_at + timedelta(days=1))
    assert presale.forfeit_reason(DUE_BY) == "balance not paid by 2026-11-01T00:00:00+00:00"


def test_the_rank_by_the_balance_time_puts_an_earlier_balance_first_whatever_the_deposits_time() -> None:
    early_deposit_late_balance = priority_rank("presale", DUE_BY - timedelta(minutes=1), "O-A")
    late_deposit_early_balance = priority_rank("presale", DUE_BY - timedelta(hours=5), "O-Z")
    assert late_deposit_early_balance < early_deposit_late_balance
    assert early_deposit_late_balance < priority_rank("high_value", PAID_AT, "O-0")


# ---------------------------------------------------------------------------------------------
# The lifecycle around it


def test_the_presale_states_come_beside_the_others() -> None:
    assert ALL_STATES == (*STATES, AWAITING_BALANCE, BALANCE_UNPAID)
    assert AWAITING_BALANCE in CANCELLABLE and BALANCE_UNPAID not in CANCELLABLE


def test_while_awaiting_its_balance_stock_is_noted_and_nothing_ships() -> None:
    for event in ("stock.reserved", "stock.backordered"):
        t = apply_event(AWAITING_BALANCE, event)
        assert (t.outcome, t.state, t.reason) == ("noted", AWAITING_BALANCE,
                                                  "held as presale quota until the balance is paid")
    for event in ("shipment.dispatched", "shipment.delivered", "return.requested", "return.received",
                  "refund.issued"):
        t = apply_event(AWAITING_BALANCE, event)
        assert (t.outcome, t.state) == ("refused", AWAITING_BALANCE)
        assert t.reason == f"{event} for a deposit presale whose balance is not paid"
    released = apply_event(AWAITING_BALANCE, "stock.released")
    assert (released.outcome, released.reason) == ("refused", "stock.released for an order that was not cancelled")
    assert apply_event(AWAITING_BALANCE, "shipment.exception").outcome == "noted"
    assert apply_event(AWAITING_BALANCE, "return.rejected").outcome == "noted"


def test_a_closed_unpaid_order_is_like_a_cancelled_one() -> None:
    for event in ("stock.reserved", "stock.backordered", "stock.released"):
        t = apply_event(BALANCE_UNPAID, event)
        assert (t.outcome, t.state, t.reason) == ("noted", BALANCE_UNPAID, "")
    for event in ("return.requested", "return.received", "refund.issued"):
        assert apply_event(BALANCE_UNPAID, event).reason == f"{event} for an order that was closed with its balance unpaid"
        assert apply_event("cancelled", event).reason == f"{event} for an order that was cancelled before dispatch"
    assert apply_event(BALANCE_UNPAID, "shipment.dispatched").state == "shipped"  # the goods did leave
    with pytest.raises(ValueError, match="unknown order state"):
        apply_event("awaiting", "stock.reserved")


def test_cancelling_an_order_awaiting_its_balance_is_allowed_a_closed_one_is_already_done() -> None:
    waiting = decide_cancellation(AWAITING_BALANCE)
    assert (waiting.allowed, waiting.already_cancelled, waiting.new_state) == (True, False, "cancelled")
    closed = decide_cancellation(BALANCE_UNPAID)
    assert (closed.allowed, closed.already_cancelled, closed.new_state) == (True, True, None)


@pytest.mark.parametrize("events, state", [
    ([], "accepted"),
    (["stock.reserved"], "reserved"),
    (["stock.backordered"], "backordered"),
    (["stock.backordered", "stock.reserved"], "reserved"),
    (["stock.reserved", "stock.backordered"], "reserved"),
    (["stock.released"], "accepted"),
])
def test_after_its_balance_the_order_stands_where_inventory_left_it(events: list[str], state: str) -> None:
    assert state_after_balance(events) == state


def test_refunds_are_bounded_by_what_was_paid_the_deposit_and_then_the_balance_too() -> None:
    deposit, balance = 2000, 4980
    for state in (AWAITING_BALANCE, BALANCE_UNPAID):
        assert refund_refusal(state, amount_cents=100, paid_cents=deposit, refunded_cents=0,
                              exception_reported=False).startswith("the order was never shipped")
        assert refund_refusal(state, amount_cents=deposit, paid_cents=deposit, refunded_cents=0,
                              exception_reported=True) == ""
        assert refund_refusal(state, amount_cents=deposit + 1, paid_cents=deposit, refunded_cents=0,
                              exception_reported=True) == "refunds would total 20.01, more than the 20.00 paid"
    assert refund_refusal("returned", amount_cents=deposit + balance, paid_cents=deposit + balance, refunded_cents=0,
                          exception_reported=False) == ""


def test_window_times_in_another_zone_compare_as_instants() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    due = DUE_BY.astimezone(shanghai)
    facts = DepositFacts(**{**FACTS.__dict__, "due_by": due})
    assert decide(paid_at=DUE_BY, facts=facts).outcome == "receive"
    assert decide(paid_at=DUE_BY + timedelta(seconds=1), facts=facts).refusal == "late"
