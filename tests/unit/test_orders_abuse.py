"""The abuse guard's rules (R6, services/orders/abuse.py) at their boundaries: what is allowed is
allowed up to its figure and no further, every flag says why in words with its figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.orders import abuse
from services.orders.abuse import (AbuseRules, EarlierReturn, History, OrderBurst, PurchaseLimit, SharedAddress,
                                   ThresholdReturns)
from services.orders.attention import attention_step
from services.orders.domain import apply_event, decide_cancellation, refund_refusal
from shared.events import OrderPlaced

NOW = datetime(2026, 11, 11, 0, 30, tzinfo=UTC)
D = Decimal


def order(*lines: tuple[str, int, str] | tuple[str, int, str, bool], customer: str = "C-1",
          address: str | None = None) -> OrderPlaced:
    built = [{"sku": line[0], "quantity": line[1], "unit_price": line[2], "gift": line[3] if len(line) > 3 else False}
             for line in lines]
    total = sum(D(line["unit_price"]) * line["quantity"] for line in built)
    return OrderPlaced.model_validate({
        "order_id": "O-1", "customer_id": customer, "order_type": "standard", "lines": built, "discount": "0.00",
        "paid_amount": f"{total:.2f}", "paid_at": "2026-11-11T00:00:00Z", "region": "Shanghai", "currency": "CNY",
        "delivery_address": address})


PHONE = PurchaseLimit(sku="SKU-PHONE", limit=2)
RETURNS = ThresholdReturns(thresholds=[D("100.00"), D("200.00")], margin=D("5.00"), returned_within_hours=48)


# ---------------------------------------------------------------------------------------------
# Purchase limit


def test_buying_up_to_the_limit_is_allowed_and_one_more_unit_is_flagged() -> None:
    assert abuse.check_purchase_limit(PHONE, "C-1", bought_before=1, this_order=1) is None
    assert abuse.check_purchase_limit(PHONE, "C-1", bought_before=0, this_order=2) is None
    flag = abuse.check_purchase_limit(PHONE, "C-1", bought_before=2, this_order=1)
    assert flag is not None and flag.rule == "purchase_limit"
    assert flag.figures == {"sku": "SKU-PHONE", "bought_before": "2", "this_order": "1", "total": "3", "limit": "2"}
    assert flag.reason == ("customer C-1 would have 3 of flash-sale sku SKU-PHONE (2 in earlier orders, 1 in this "
                           "one): the limit is 2 per customer")


def test_a_single_order_over_the_limit_is_flagged_without_history() -> None:
    flag = abuse.check_purchase_limit(PHONE, "C-1", bought_before=0, this_order=3)
    assert flag is not None and flag.figures["total"] == "3"


def test_the_limits_start_is_named_in_the_reason() -> None:
    since = datetime(2026, 11, 11, tzinfo=UTC)
    flag = abuse.check_purchase_limit(PurchaseLimit(sku="S", limit=1, since=since), "C-1", 1, 1)
    assert flag is not None and "since 2026-11-11T00:00:00+00:00" in flag.reason


def test_purchased_units_add_up_repeated_lines_of_a_limited_sku_and_leave_gifts_and_other_skus_out() -> None:
    rules = AbuseRules(purchase_limits=[PHONE])
    placed = order(("SKU-PHONE", 1, "999.00"), ("SKU-PHONE", 2, "999.00"), ("SKU-PHONE", 5, "0.00", True),
                   ("SKU-TEA", 9, "1.00"))
    assert abuse.purchased_units(placed, rules) == {"SKU-PHONE": 3}
    assert abuse.purchased_units(placed, AbuseRules()) == {}


def test_a_limit_is_found_by_its_sku_in_a_copy_with_other_limits_too() -> None:
    rules = AbuseRules(purchase_limits=[PHONE])
    assert rules.limit_of("SKU-PHONE") == PHONE and rules.limit_of("SKU-TEA") is None
    watch = PurchaseLimit(sku="SKU-WATCH", limit=1)
    copied = rules.model_copy(update={"purchase_limits": [watch]})
    assert copied.limit_of("SKU-WATCH") == watch and copied.limit_of("SKU-PHONE") is None
    assert AbuseRules.model_validate_json(rules.model_dump_json()).limit_of("SKU-PHONE") == PHONE


def test_rules_are_on_when_any_rule_is_given() -> None:
    assert not AbuseRules().any
    for on in (AbuseRules(purchase_limits=[PHONE]), AbuseRules(customer_orders=OrderBurst(max_orders=1, minutes=1)),
               AbuseRules(address_orders=OrderBurst(max_orders=1, minutes=1)),
               AbuseRules(address_customers=SharedAddress(max_customers=1, minutes=1)),
               AbuseRules(threshold_returns=RETURNS)):
        assert on.any


def test_screen_applies_each_limit_to_the_units_bought_before() -> None:
    rules = AbuseRules(purchase_limits=[PHONE, PurchaseLimit(sku="SKU-WATCH", limit=1)])
    placed = order(("SKU-PHONE", 1, "999.00"), ("SKU-WATCH", 1, "500.00"))
    assert abuse.screen(rules, placed, History(units_before={"SKU-PHONE": 1})) == []
    [flag] = abuse.screen(rules, placed, History(units_before={"SKU-PHONE": 1, "SKU-WATCH": 1}))
    assert flag.figures["sku"] == "SKU-WATCH"
    flags = abuse.screen(rules, placed, History(units_before={"SKU-PHONE": 2, "SKU-WATCH": 1}))
    assert [f.figures["sku"] for f in flags] == ["SKU-PHONE", "SKU-WATCH"]  # sorted by sku


# ---------------------------------------------------------------------------------------------
# Brushing: many orders from one customer, to one address; many customers at one address


def test_a_customer_may_place_max_orders_in_the_window_and_the_next_is_flagged() -> None:
    rule = OrderBurst(max_orders=3, minutes=10)
    assert abuse.check_customer_orders(rule, "C-1", earlier=2) is None
    flag = abuse.check_customer_orders(rule, "C-1", earlier=3)
    assert flag is not None and flag.rule == "customer_orders"
    assert flag.figures == {"orders": "4", "max_orders": "3", "minutes": "10"}
    assert flag.reason == "customer C-1 placed 4 orders within 10 minutes (this one included): more than the 3 allowed"


def test_one_address_may_receive_max_orders_in_the_window_and_the_next_is_flagged() -> None:
    rule = OrderBurst(max_orders=5, minutes=30)
    assert abuse.check_address_orders(rule, earlier=4) is None
    flag = abuse.check_address_orders(rule, earlier=5)
    assert flag is not None and flag.rule == "address_orders"
    assert flag.figures == {"orders": "6", "max_orders": "5", "minutes": "30"}
    assert flag.reason.startswith("6 orders to one delivery address within 30 minutes")


def test_one_address_may_serve_max_customers_and_the_next_customer_is_flagged() -> None:
    rule = SharedAddress(max_customers=2, minutes=60)
    assert abuse.check_address_customers(rule, other_customers=1) is None
    flag = abuse.check_address_customers(rule, other_customers=2)
    assert flag is not None and flag.rule == "address_customers"
    assert flag.figures == {"customers": "3", "max_customers": "2", "minutes": "60"}
    assert "3 different customers ordered to one delivery address within 60 minutes" in flag.reason


def test_the_window_holds_what_was_placed_at_or_after_now_minus_its_minutes() -> None:
    assert abuse.window_start(NOW, 10) == NOW - timedelta(minutes=10)


def test_address_rules_need_an_address_and_the_customer_rule_does_not() -> None:
    rules = AbuseRules(customer_orders=OrderBurst(max_orders=1, minutes=5),
                       address_orders=OrderBurst(max_orders=1, minutes=5),
                       address_customers=SharedAddress(max_customers=1, minutes=5))
    busy = History(customer_orders=1, address_orders=1, address_customers=1)
    assert [f.rule for f in abuse.screen(rules, order(("T", 1, "1.00")), busy)] == ["customer_orders"]
    assert [f.rule for f in abuse.screen(rules, order(("T", 1, "1.00"), address="addr-1"), busy)] == [
        "customer_orders", "address_orders", "address_customers"]
    assert abuse.screen(rules, order(("T", 1, "1.00"), address="addr-1"), History()) == []


def test_questions_ask_only_what_the_rules_and_the_order_need() -> None:
    plain = order(("T", 1, "1.00"))
    assert abuse.questions(AbuseRules(), plain, NOW) == abuse.Questions()
    rules = AbuseRules(purchase_limits=[PHONE], customer_orders=OrderBurst(max_orders=3, minutes=10),
                       address_orders=OrderBurst(max_orders=3, minutes=20),
                       address_customers=SharedAddress(max_customers=3, minutes=30), threshold_returns=RETURNS)
    asked = abuse.questions(rules, plain, NOW)
    assert asked.limited_since == {} and asked.customer_orders_since == NOW - timedelta(minutes=10)
    assert asked.address_orders_since is None and asked.address_customers_since is None
    assert not asked.returns  # 1.00 is just over no threshold
    asked = abuse.questions(rules, order(("SKU-PHONE", 1, "101.00"), address="a"), NOW)
    assert asked.limited_since == {"SKU-PHONE": None}
    assert asked.address_orders_since == NOW - timedelta(minutes=20)
    assert asked.address_customers_since == NOW - timedelta(minutes=30)
    assert asked.returns


def test_look_alike_spellings_of_an_address_are_one_address() -> None:
    assert abuse.address_key("Ｒｏｏｍ ５, Ｂｌｄｇ ２") == abuse.address_key("room 5,  bldg 2") == "room 5, bldg 2"
    assert abuse.address_key("上海市 徐汇区\u30001号") == "上海市 徐汇区 1号"  # the ideographic space too
    assert abuse.address_key("Room 5") != abuse.address_key("Room 6")


# ---------------------------------------------------------------------------------------------
# Just over a threshold, and returned soon after


@pytest.mark.parametrize("value,expected", [
    ("99.99", None), ("100.00", "100.00"), ("105.00", "100.00"), ("105.01", None),
    ("199.99", None), ("200.00", "200.00"), ("204.99", "200.00"), ("205.00", "200.00"), ("205.01", None),
])
def test_just_over_means_at_the_threshold_or_above_it_by_at_most_the_margin(value, expected) -> None:
    found = abuse.threshold_just_over(D(value), RETURNS)
    assert found == (D(expected) if expected else None)


def test_with_overlapping_margins_the_highest_threshold_passed_is_named() -> None:
    rule = ThresholdReturns(thresholds=[D("100.00"), D("102.00")], margin=D("5.00"), returned_within_hours=1)
    assert abuse.threshold_just_over(D("103.00"), rule) == D("102.00")
    assert abuse.threshold_just_over(D("101.00"), rule) == D("100.00")


def test_the_goods_value_counts_what_was_bought_not_the_gifts() -> None:
    assert abuse.goods_value([(D("49.90"), 2, False), (D("10.00"), 1, True)]) == D("99.80")
    assert abuse.order_goods_value(order(("A", 2, "50.00"), ("G", 1, "3.00", True))) == D("100.00")
    assert abuse.goods_value([]) == D("0.00")


def earlier(value: str, returned_after: timedelta, order_id: str = "O-0") -> EarlierReturn:
    placed = NOW - timedelta(days=5)
    return EarlierReturn(order_id=order_id, value=D(value), placed_at=placed, returned_at=placed + returned_after)


def test_an_earlier_order_counts_when_it_was_just_over_and_returned_within_the_hours() -> None:
    assert abuse.returned_soon(earlier("101.00", timedelta(hours=48)), RETURNS)
    assert not abuse.returned_soon(earlier("101.00", timedelta(hours=48, seconds=1)), RETURNS)
    assert not abuse.returned_soon(earlier("150.00", timedelta(hours=1)), RETURNS)  # not just over anything


def test_a_just_over_order_after_a_just_over_order_returned_soon_is_flagged_with_its_figures() -> None:
    flag = abuse.check_threshold_return(RETURNS, "C-1", D("102.50"), [earlier("100.00", timedelta(hours=3),
                                                                              "O-EARLY")])
    assert flag is not None and flag.rule == "threshold_return"
    assert flag.figures == {"value": "102.50", "threshold": "100.00", "margin": "5.00", "returned_orders": "1",
                            "min_returned": "1", "earlier_order": "O-EARLY", "returned_after_hours": "3.0",
                            "within_hours": "48"}
    assert "this order's goods value 102.50 is just over the 100.00 spend threshold (within 5.00)" in flag.reason
    assert "latest: O-EARLY (100.00), returned after 3.0 hours" in flag.reason


def test_no_flag_when_this_order_is_not_just_over_or_nothing_was_returned_soon() -> None:
    returned = [earlier("100.00", timedelta(hours=3))]
    assert abuse.check_threshold_return(RETURNS, "C-1", D("99.99"), returned) is None
    assert abuse.check_threshold_return(RETURNS, "C-1", D("102.00"), []) is None
    assert abuse.check_threshold_return(RETURNS, "C-1", D("102.00"), [earlier("100.00", timedelta(hours=49))]) is None


def test_min_returned_earlier_orders_make_the_hold_and_one_fewer_does_not() -> None:
    rule = RETURNS.model_copy(update={"min_returned": 2})
    one = [earlier("100.00", timedelta(hours=1), "O-A")]
    two = [*one, earlier("201.00", timedelta(hours=2), "O-B")]
    assert abuse.check_threshold_return(rule, "C-1", D("101.00"), one) is None
    flag = abuse.check_threshold_return(rule, "C-1", D("101.00"), two)
    assert flag is not None and flag.figures["returned_orders"] == "2" and flag.figures["earlier_order"] == "O-B"


def test_the_latest_return_is_named_and_hours_are_never_negative() -> None:
    late = EarlierReturn(order_id="O-Z", value=D("100.00"), placed_at=NOW, returned_at=NOW - timedelta(minutes=5))
    flag = abuse.check_threshold_return(RETURNS, "C-1", D("100.00"), [late, earlier("100.00", timedelta(minutes=90))])
    assert flag is not None and flag.figures["earlier_order"] == "O-Z"
    assert flag.figures["returned_after_hours"] == "0.0"
    assert abuse._hours(timedelta(minutes=90)) == "1.5"


def test_screen_checks_the_threshold_rule_on_the_goods_value() -> None:
    rules = AbuseRules(threshold_returns=RETURNS)
    returned = History(returned=[earlier("100.00", timedelta(hours=1))])
    assert [f.rule for f in abuse.screen(rules, order(("A", 1, "103.00")), returned)] == ["threshold_return"]
    assert abuse.screen(rules, order(("A", 1, "110.00")), returned) == []
    assert abuse.screen(rules, order(("A", 1, "103.00")), History()) == []


# ---------------------------------------------------------------------------------------------
# One hold for several flags; the rules document


def test_one_flag_is_the_hold_and_several_are_named_together() -> None:
    first = abuse.Flag("purchase_limit", "too many phones", {"sku": "S"})
    second = abuse.Flag("customer_orders", "too many orders", {"orders": "9"})
    assert abuse.hold_of([first]) == first
    held = abuse.hold_of([first, second])
    assert held.rule == "purchase_limit"
    assert held.reason == "too many phones; also too many orders"
    assert held.figures == {"sku": "S", "rules": "purchase_limit,customer_orders"}


def test_a_hold_keeps_within_twenty_figures() -> None:
    many = abuse.Flag("purchase_limit", "r", {f"f{i}": str(i) for i in range(20)})
    held = abuse.hold_of([many, many])
    assert len(held.figures) == abuse.MAX_FIGURES and held.figures["rules"] == "purchase_limit,purchase_limit"


def test_no_rules_flag_nothing() -> None:
    busy = History(units_before={"S": 99}, customer_orders=99, address_orders=99, address_customers=99,
                   returned=[earlier("100.00", timedelta(hours=1))])
    assert abuse.screen(AbuseRules(), order(("S", 5, "100.00"), address="a"), busy) == []


@pytest.mark.parametrize("bad,words", [
    ({"purchase_limits": [{"sku": "S", "limit": 1}, {"sku": "S", "limit": 2}]}, "S more than once"),
    ({"purchase_limits": [{"sku": "S", "limit": 0}]}, "greater than or equal to 1"),
    ({"purchase_limits": [{"sku": "S\u200b", "limit": 1}]}, "pattern"),
    ({"customer_orders": {"max_orders": 5, "minutes": 0}}, "greater than or equal to 1"),
    ({"customer_orders": {"max_orders": 5, "minutes": 10, "extra": 1}}, "Extra inputs"),
    ({"threshold_returns": {"thresholds": [100.0], "margin": "5.00", "returned_within_hours": 1}}, "decimal strings"),
    ({"threshold_returns": {"thresholds": ["100.001"], "margin": "5.00", "returned_within_hours": 1}}, "two decimal"),
    ({"unknown_rule": {}}, "Extra inputs"),
])
def test_the_rules_document_refuses_what_it_cannot_mean(bad, words) -> None:
    with pytest.raises(ValidationError, match=words):
        AbuseRules.model_validate(bad)


def test_the_shipped_rules_file_is_valid_and_round_trips() -> None:
    path = Path(abuse.__file__).with_name("abuse_rules.json")
    rules = AbuseRules.model_validate_json(path.read_bytes())
    assert rules.customer_orders is not None and rules.threshold_returns is not None
    assert AbuseRules.model_validate(json.loads(json.dumps(abuse.rules_document(rules)))) == rules


# ---------------------------------------------------------------------------------------------
# The held and needs-attention states in the order's lifecycle


def test_an_unknown_sku_moves_an_accepted_order_to_needs_attention_once() -> None:
    assert attention_step("accepted", "stock.sku_unknown") == ("advanced", "needs_attention", "")
    assert attention_step("needs_attention", "stock.sku_unknown")[:2] == ("noted", "needs_attention")
    assert attention_step("cancelled", "stock.sku_unknown") == ("noted", "cancelled", "")
    outcome, state, reason = attention_step("reserved", "stock.sku_unknown")
    assert (outcome, state) == ("refused", "reserved") and "already reserved" in reason


def test_stock_and_shipment_events_for_a_held_or_stranded_order_are_refused() -> None:
    for event in ("stock.reserved", "stock.backordered", "shipment.dispatched", "stock.sku_unknown"):
        transition = apply_event("held", event)
        assert (transition.outcome, transition.state) == ("refused", "held")
        assert "held order: nothing was asked to reserve or ship it" in transition.reason
    transition = apply_event("needs_attention", "stock.reserved")
    assert (transition.outcome, transition.state) == ("refused", "needs_attention")
    assert "a sku it does not know" in transition.reason
    assert apply_event("accepted", "stock.sku_unknown").state == "needs_attention"
    assert apply_event("cancelled", "stock.sku_unknown").outcome == "noted"


def test_held_and_stranded_orders_may_be_cancelled_and_are_never_refunded() -> None:
    for state in ("held", "needs_attention"):
        decision = decide_cancellation(state)
        assert decision.allowed and decision.new_state == "cancelled"
        assert refund_refusal(state, amount_cents=1, paid_cents=100, refunded_cents=0,
                              exception_reported=False).startswith("the order was never shipped")
