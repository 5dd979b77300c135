"""Aftersales rules without I/O: window, returnable quantities, gift rule, refunds, case queue, SLA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.aftersales import cases
from services.aftersales.cases import (
    CaseKind,
    CaseStatus,
    CaseView,
    TransitionRefused,
    case_deadline,
    check_transition,
    handling_queue,
    sla_report,
)
from services.aftersales.domain import (
    GiftPolicy,
    OrderHoldings,
    PurchasedLine,
    ReturnRefused,
    SpendThreshold,
    paid_for_units,
    paid_per_line,
    plan_request,
    refund_amount,
    with_paid_amounts,
    within_return_window,
)

D = Decimal
DELIVERED = datetime(2026, 11, 13, 10, 0, tzinfo=UTC)


def line(sku: str, quantity: int, price: str, *, gift: bool = False, gift_for: str | None = None) -> PurchasedLine:
    return PurchasedLine(sku=sku, quantity=quantity, unit_price=D(price), gift=gift, gift_for_sku=gift_for)


def tea_order(**kw):
    """2 x 49.90 tea, 1 x 30.00 honey, a cup given with the tea; 10.00 off: paid 119.80."""
    lines = [line("TEA", 2, "49.90"), line("HONEY", 1, "30.00"), line("CUP", 1, "0.00", gift=True, gift_for="TEA")]
    return with_paid_amounts("O-1", lines, D("119.80"), **kw)


# --- R19: seven days from delivery ------------------------------------------------------------

def test_a_return_at_167h59m_after_delivery_is_within_the_window() -> None:
    assert within_return_window(DELIVERED, DELIVERED + timedelta(hours=167, minutes=59))


def test_a_return_at_exactly_168h_is_still_within_the_window() -> None:
    assert within_return_window(DELIVERED, DELIVERED + timedelta(hours=168))


def test_a_return_at_168h01m_after_delivery_is_refused() -> None:
    assert not within_return_window(DELIVERED, DELIVERED + timedelta(hours=168, minutes=1))


# --- paid amount per line -----------------------------------------------------------------------

def test_a_discount_that_does_not_divide_evenly_is_split_to_the_cent_and_sums_to_what_was_paid() -> None:
    lines = [line("A", 1, "10.00"), line("B", 1, "10.00"), line("C", 1, "10.00")]
    assert paid_per_line(lines, D("20.00")) == [D("6.66"), D("6.67"), D("6.67")]


def test_gift_lines_were_not_paid_for_even_when_listed_with_a_value_offset_by_a_discount() -> None:
    lines = [line("TEA", 2, "49.90"), line("CUP", 1, "15.00", gift=True)]
    # 25.00 discount = 10.00 spend threshold + 15.00 gift-with-purchase
    assert paid_per_line(lines, D("89.80")) == [D("89.80"), D("0.00")]


def test_an_order_that_paid_more_than_its_list_value_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        paid_per_line([line("A", 1, "10.00")], D("10.01"))


prices = st.decimals(min_value=D("0.01"), max_value=D("999.99"), places=2)


@given(st.lists(st.tuples(prices, st.integers(1, 5)), min_size=1, max_size=6), st.integers(0, 100))
def test_paid_per_line_always_sums_exactly_to_the_paid_amount(items, discount_percent) -> None:
    lines = [line(f"S{i}", q, str(p)) for i, (p, q) in enumerate(items)]
    total = sum(p * q for p, q in items)
    paid = (total * (100 - discount_percent) / 100).quantize(D("0.01"))
    shares = paid_per_line(lines, paid)
    assert sum(shares) == paid
    assert all(s >= 0 for s in shares)
    assert all(s == s.quantize(D("0.01")) for s in shares)


@given(prices, st.integers(1, 9), st.lists(st.integers(1, 3), min_size=1, max_size=9))
def test_returning_a_line_in_parts_refunds_exactly_what_was_paid_for_it(price, quantity, parts) -> None:
    purchase = with_paid_amounts("O", [line("A", quantity, str(price))], (price * quantity - D("0.07")).max(D(0)))
    refunded: dict[str, int] = {"A": 0}
    total = D("0.00")
    for part in parts:
        take = min(part, quantity - refunded["A"])
        if take == 0:
            break
        total += refund_amount(purchase, OrderHoldings(refunded=dict(refunded)), total, {"A": take})
        refunded["A"] += take
    if refunded["A"] == quantity:
        assert total == purchase.paid_amount
    assert total <= purchase.paid_amount


def test_units_of_a_line_share_its_paid_amount_to_the_cent() -> None:
    tea = line("TEA", 3, "10.00")
    tea = PurchasedLine(**{**tea.__dict__, "paid": D("29.99")})
    assert [paid_for_units(tea, n) for n in range(4)] == [D("0"), D("9.99"), D("19.99"), D("29.99")]


# --- R20: gifts --------------------------------------------------------------------------------

def test_a_gift_cannot_be_returned_on_its_own() -> None:
    with pytest.raises(ReturnRefused, match="gift cannot be returned or exchanged on its own") as refused:
        plan_request(tea_order(), OrderHoldings(), "return", [("CUP", 1)], GiftPolicy.RETURN_WITH_ITEM)
    assert refused.value.kind == "gift_rule"


def test_a_gift_is_never_exchanged() -> None:
    with pytest.raises(ReturnRefused, match="gifts are not exchanged"):
        plan_request(tea_order(), OrderHoldings(), "exchange", [("TEA", 2), ("CUP", 1)], GiftPolicy.RETURN_WITH_ITEM)


def test_returning_every_unit_of_the_item_that_brought_a_gift_brings_the_gift_back() -> None:
    planned = plan_request(tea_order(), OrderHoldings(), "return", [("TEA", 2)], GiftPolicy.RETURN_WITH_ITEM)
    assert [(l.sku, q, by_rule) for l, q, by_rule in planned] == [("TEA", 2, False), ("CUP", 1, True)]


def test_returning_part_of_the_gift_item_leaves_the_gift_with_the_customer() -> None:
    planned = plan_request(tea_order(), OrderHoldings(), "return", [("TEA", 1)], GiftPolicy.RETURN_WITH_ITEM)
    assert [(l.sku, q) for l, q, _ in planned] == [("TEA", 1)]


def test_returning_another_item_does_not_touch_the_gift() -> None:
    planned = plan_request(tea_order(), OrderHoldings(), "return", [("HONEY", 1)], GiftPolicy.RETURN_WITH_ITEM)
    assert [(l.sku, q) for l, q, _ in planned] == [("HONEY", 1)]


def test_a_gift_can_only_come_back_together_with_all_units_of_its_item() -> None:
    with pytest.raises(ReturnRefused, match="came with TEA"):
        plan_request(tea_order(), OrderHoldings(), "return", [("TEA", 1), ("CUP", 1)], GiftPolicy.RETURN_WITH_ITEM)


def test_a_gift_of_the_whole_order_follows_only_when_every_paid_item_is_returned() -> None:
    lines = [line("TEA", 1, "50.00"), line("HONEY", 1, "30.00"), line("CUP", 1, "0.00", gift=True)]
    purchase = with_paid_amounts("O", lines, D("80.00"))
    partial = plan_request(purchase, OrderHoldings(), "return", [("TEA", 1)], GiftPolicy.RETURN_WITH_ITEM)
    assert [l.sku for l, _, _ in partial] == ["TEA"]
    after_honey = OrderHoldings(in_open_cases={"HONEY": 1})
    last = plan_request(purchase, after_honey, "return", [("TEA", 1)], GiftPolicy.RETURN_WITH_ITEM)
    assert [l.sku for l, _, _ in last] == ["TEA", "CUP"]


def test_with_deduct_value_the_customer_keeps_the_gift_and_its_stated_value_is_deducted() -> None:
    lines = [line("TEA", 2, "49.90"), line("CUP", 1, "15.00", gift=True, gift_for="TEA")]
    purchase = with_paid_amounts("O", lines, D("89.80"))
    planned = plan_request(purchase, OrderHoldings(), "return", [("TEA", 2)], GiftPolicy.DEDUCT_VALUE)
    assert [l.sku for l, _, _ in planned] == ["TEA"]
    assert refund_amount(purchase, OrderHoldings(), D("0"), {"TEA": 2}) == D("74.80")  # 89.80 - 15.00


def test_with_return_with_item_the_refund_is_not_reduced_by_the_returned_gift() -> None:
    lines = [line("TEA", 2, "49.90"), line("CUP", 1, "15.00", gift=True, gift_for="TEA")]
    purchase = with_paid_amounts("O", lines, D("89.80"))
    assert refund_amount(purchase, OrderHoldings(), D("0"), {"TEA": 2, "CUP": 1}) == D("89.80")


# --- quantities ----------------------------------------------------------------------------------

def test_quantities_cannot_exceed_what_was_delivered_minus_what_is_already_being_returned() -> None:
    holdings = OrderHoldings(in_open_cases={"TEA": 1})
    with pytest.raises(ReturnRefused, match="only 1 of TEA") as refused:
        plan_request(tea_order(), holdings, "return", [("TEA", 2)], GiftPolicy.RETURN_WITH_ITEM)
    assert refused.value.kind == "too_many"


def test_a_line_the_order_does_not_have_is_refused() -> None:
    with pytest.raises(ReturnRefused, match="no line NOPE") as refused:
        plan_request(tea_order(), OrderHoldings(), "return", [("NOPE", 1)], GiftPolicy.RETURN_WITH_ITEM)
    assert refused.value.kind == "unknown_line"


# --- R23: refunds --------------------------------------------------------------------------------

def test_the_refund_is_what_was_paid_for_the_returned_lines_after_the_discount() -> None:
    # 10.00 off 129.80 of list value: TEA carries 7.69 of it, HONEY 2.31
    purchase = tea_order()
    assert [l.paid for l in purchase.lines] == [D("92.11"), D("27.69"), D("0.00")]
    assert refund_amount(purchase, OrderHoldings(), D("0"), {"HONEY": 1}) == D("27.69")
    # 92.11 for two teas: the first returned unit carries the odd cent, the second the rest
    first = refund_amount(purchase, OrderHoldings(), D("0"), {"TEA": 1})
    second = refund_amount(purchase, OrderHoldings(refunded={"TEA": 1}), first, {"TEA": 1})
    assert (first, second) == (D("46.06"), D("46.05"))


def test_a_return_that_drops_below_a_spend_threshold_loses_that_discount_on_what_is_kept() -> None:
    # 200 off 30: A 100.00 + B 100.00, paid 170.00 (85.00 each)
    lines = [line("A", 1, "100.00"), line("B", 1, "100.00")]
    purchase = with_paid_amounts("O", lines, D("170.00"), [SpendThreshold(D("200.00"), D("30.00"))])
    first = refund_amount(purchase, OrderHoldings(), D("0"), {"A": 1})
    assert first == D("70.00")  # 85.00 paid for A minus the 15.00 discount B no longer earns
    second = refund_amount(purchase, OrderHoldings(refunded={"A": 1}), first, {"B": 1})
    assert second == D("100.00")
    assert first + second == purchase.paid_amount


def test_a_return_that_keeps_the_basket_above_the_threshold_loses_no_discount() -> None:
    lines = [line("A", 3, "100.00")]
    purchase = with_paid_amounts("O", lines, D("270.00"), [SpendThreshold(D("200.00"), D("30.00"))])
    assert refund_amount(purchase, OrderHoldings(), D("0"), {"A": 1}) == D("90.00")


def test_a_refund_is_never_negative() -> None:
    lines = [line("A", 1, "190.00"), line("B", 1, "15.00")]
    purchase = with_paid_amounts("O", lines, D("175.00"), [SpendThreshold(D("200.00"), D("30.00"))])
    assert refund_amount(purchase, OrderHoldings(), D("0"), {"B": 1}) == D("0.00")


# --- workflow, queue, SLA --------------------------------------------------------------------------

def test_a_return_is_refunded_only_after_its_goods_were_inspected() -> None:
    with pytest.raises(TransitionRefused, match="cannot become refunded"):
        check_transition(CaseKind.RETURN, CaseStatus.APPROVED, CaseStatus.REFUNDED)
    check_transition(CaseKind.RETURN, CaseStatus.INSPECTED, CaseStatus.REFUNDED)


def test_a_closed_case_takes_no_further_steps() -> None:
    with pytest.raises(TransitionRefused, match="closed"):
        check_transition(CaseKind.RETURN, CaseStatus.REFUNDED, CaseStatus.REJECTED)


def _case(case_id: str, opened_h: float, *, dispute: bool = False, kind: CaseKind = CaseKind.RETURN,
          handled_h: float | None = None) -> CaseView:
    opened = DELIVERED + timedelta(hours=opened_h)
    handled = DELIVERED + timedelta(hours=handled_h) if handled_h is not None else None
    return CaseView(case_id, kind, dispute, opened, case_deadline(opened), handled)


def test_disputes_come_first_then_shipment_exceptions_then_the_nearest_deadline() -> None:
    cases = [_case("late", 5), _case("early", 1), _case("dispute", 9, dispute=True),
             _case("exception", 7, kind=CaseKind.SHIPMENT_EXCEPTION)]
    assert [c.case_id for c in handling_queue(cases)] == ["dispute", "exception", "early", "late"]


def test_the_sla_counts_handled_and_overdue_cases_and_lists_those_at_risk() -> None:
    cases = [_case("fast", 0, handled_h=10), _case("slow", 0, handled_h=50), _case("overdue", 1),
             _case("soon", 40), _case("fresh", 59)]
    report = sla_report(cases, now=DELIVERED + timedelta(hours=80), at_risk_within=timedelta(hours=12))
    assert (report.handled, report.handled_in_time, report.overdue_unhandled) == (2, 1, 1)
    assert report.share_handled_in_time == D("0.3333")
    assert [c.case_id for c in report.at_risk] == ["overdue", "soon"]


# --- the case aggregate: what each step changes ------------------------------------------------------

def test_a_case_is_handled_at_its_first_decision_and_closed_by_its_last() -> None:
    opened = cases.open_case("C-1", "O", CaseKind.RETURN, DELIVERED, reason="too big", dispute=True)
    assert (opened.case.status, opened.case.deadline_at) == (CaseStatus.REQUESTED, DELIVERED + timedelta(hours=48))
    assert (opened.step.status, opened.step.note) == ("requested", "dispute; too big")
    approved = cases.approve(opened.case, DELIVERED + timedelta(hours=1)).case
    assert approved.handled_at == DELIVERED + timedelta(hours=1) and approved.closed_at is None
    received = cases.receive(approved, DELIVERED + timedelta(hours=5)).case
    inspected = cases.inspect(received, False, DELIVERED + timedelta(hours=6), "seal broken")
    assert inspected.case.inspection_passed is False and inspected.step.note == "failed: seal broken"
    refunded = cases.refund(inspected.case, D("6.66"), DELIVERED + timedelta(hours=7), "goodwill")
    assert refunded.case.handled_at == DELIVERED + timedelta(hours=1)  # the first decision counts
    assert (refunded.case.status, refunded.case.closed_at) == (CaseStatus.REFUNDED, DELIVERED + timedelta(hours=7))
    assert (refunded.case.refund_amount, refunded.step.note) == (D("6.66"), "refund 6.66; goodwill")
    with pytest.raises(TransitionRefused, match="next steps: none, the case is closed"):
        cases.reject(refunded.case, "late", DELIVERED + timedelta(hours=8))


def test_a_dispute_is_escalated_once_and_never_on_a_closed_case() -> None:
    case = cases.open_case("C-2", "O", CaseKind.EXCHANGE, DELIVERED).case
    escalated = cases.escalate(case, DELIVERED, "loud")
    assert escalated.case.dispute and escalated.step == cases.Step("disputed", DELIVERED, "loud")
    assert cases.escalate(escalated.case, DELIVERED, "again").step is None
    rejected = cases.reject(case, "no", DELIVERED).case
    with pytest.raises(ReturnRefused, match="is closed") as refused:
        cases.escalate(rejected, DELIVERED)
    assert refused.value.kind == "closed"


def test_holdings_count_refunds_and_open_returns_but_not_an_undecided_shipment_exception() -> None:
    def case(kind: CaseKind, status: CaseStatus, refund: str | None = None) -> cases.Case:
        return cases.Case(case_id="C", order_id="O", kind=kind, status=status, dispute=False, opened_at=DELIVERED,
                          deadline_at=DELIVERED, handled_at=None, refund_amount=D(refund) if refund else None)

    holdings, refunded = cases.holdings_of([
        (case(CaseKind.RETURN, CaseStatus.REFUNDED, "6.66"), [cases.CaseLine("A", 1)]),
        (case(CaseKind.RETURN, CaseStatus.APPROVED), [cases.CaseLine("B", 1)]),
        (case(CaseKind.EXCHANGE, CaseStatus.REJECTED), [cases.CaseLine("C", 1)]),
        (case(CaseKind.SHIPMENT_EXCEPTION, CaseStatus.REQUESTED), [cases.CaseLine("C", 1)]),
    ])
    assert (holdings.refunded, holdings.in_open_cases, refunded) == ({"A": 1}, {"B": 1}, D("6.66"))
    purchase = with_paid_amounts("O", [line("A", 1, "10.00"), line("B", 2, "10.00")], D("30.00"))
    assert cases.everything_kept(purchase, holdings) == [cases.CaseLine("B", 1)]
    with pytest.raises(ReturnRefused, match="nothing of order O is left"):
        cases.everything_kept(purchase, OrderHoldings(refunded={"A": 1, "B": 2}))
