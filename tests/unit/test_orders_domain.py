"""Pure order rules: validation reasons, priority class and rank, re-send comparison (R1-R3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.orders.domain import (
    OrderInvalid,
    OrderPolicy,
    content_differences,
    content_json,
    order_content,
    priority_class,
    priority_rank,
    validate_order,
)
from shared.events import OrderPlaced, describe_validation_error

POLICY = OrderPolicy(high_value_threshold=Decimal("1000.00"), accepted_currencies=frozenset({"CNY"}))


def order(**overrides) -> OrderPlaced:
    data = {
        "order_id": "O-1", "customer_id": "C-9", "order_type": "standard",
        "lines": [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False},
                  {"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "0.00", "gift": True}],
        "discount": "10.00", "paid_amount": "89.80", "paid_at": "2026-11-11T00:00:03Z",
        "region": "Shanghai", "currency": "CNY",
    }
    data.update(overrides)
    return OrderPlaced.model_validate(data)


def reason_for(o: OrderPlaced) -> str:
    with pytest.raises(OrderInvalid) as exc:
        validate_order(o, POLICY)
    return str(exc.value)


def test_a_consistent_order_is_valid() -> None:
    validate_order(order(), POLICY)


def test_paid_amount_must_equal_lines_minus_discount_to_the_cent() -> None:
    assert "does not equal lines total 99.80 minus discount 10.00 = 89.80" in reason_for(order(paid_amount="89.79"))


def contract_reason(**overrides) -> str:
    """Shape and bounds are the contract's (shared/events.py): refused before validate_order runs."""
    with pytest.raises(ValidationError) as exc:
        order(**overrides)
    return describe_validation_error(exc.value)


def test_non_positive_quantity_is_refused_naming_the_line() -> None:
    assert contract_reason(lines=[{"sku": "A", "quantity": 0, "unit_price": "1.00"}], paid_amount="0.00",
                           discount="0.00") == "lines.0.quantity must be positive, got 0"


def test_negative_discount_is_refused() -> None:
    assert contract_reason(discount="-1.00", paid_amount="100.80") == "discount must not be negative, got -1.00"


def test_negative_unit_price_is_refused() -> None:
    reason = contract_reason(lines=[{"sku": "A", "quantity": 1, "unit_price": "-5.00"}], discount="0.00",
                             paid_amount="-5.00")
    assert reason == ("lines.0.unit_price must not be negative, got -5.00; "
                      "paid_amount must not be negative, got -5.00")


def test_unknown_order_type_is_refused() -> None:
    assert "unknown order_type 'flash'" in reason_for(order(order_type="flash"))


def test_presale_needs_its_deposit() -> None:
    assert "presale order without its presale fields" in reason_for(order(order_type="presale"))


def test_presale_balance_cannot_be_paid_before_the_deposit() -> None:
    o = order(order_type="presale", deposit="20.00", balance_paid_at="2026-11-10T00:00:00Z")
    assert "balance_paid_at is before paid_at" in reason_for(o)


def test_an_order_of_gifts_only_is_refused() -> None:
    o = order(lines=[{"sku": "GIFT", "quantity": 1, "unit_price": "0.00", "gift": True}], discount="0.00",
              paid_amount="0.00")
    assert "only gift lines" in reason_for(o)


def test_a_currency_the_deployment_does_not_take_is_refused() -> None:
    assert "currency 'USD' is not accepted here (accepted: CNY)" in reason_for(order(currency="USD"))


def test_presale_comes_before_high_value_before_standard() -> None:
    assert priority_class(order(order_type="presale", deposit="20.00"), POLICY) == "presale"
    assert priority_class(order(lines=[{"sku": "TV", "quantity": 1, "unit_price": "1000.00"}], discount="0.00",
                                paid_amount="1000.00"), POLICY) == "high_value"
    assert priority_class(order(lines=[{"sku": "TV", "quantity": 1, "unit_price": "999.99"}], discount="0.00",
                                paid_amount="999.99"), POLICY) == "standard"


instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 1),
                        timezones=st.just(UTC))
classes = st.sampled_from(["presale", "high_value", "standard"])
order_ids = st.text(alphabet="ABCXYZ0123456789-", min_size=1, max_size=12)


@given(classes, instants, order_ids, classes, instants, order_ids)
def test_rank_sorts_by_class_then_payment_time_then_order_id(c1, t1, o1, c2, t2, o2) -> None:
    class_order = {"presale": 0, "high_value": 1, "standard": 2}
    r1, r2 = priority_rank(c1, t1, o1), priority_rank(c2, t2, o2)
    assert (r1 < r2) == ((class_order[c1], t1, o1) < (class_order[c2], t2, o2))


@given(instants, st.integers(min_value=1, max_value=10**6))
def test_an_earlier_payment_ranks_first_whatever_time_zone_the_later_one_is_written_in(moment, seconds) -> None:
    later = (moment + timedelta(seconds=seconds)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert priority_rank("standard", moment, "O-1") < priority_rank("standard", later, "O-1")


def test_a_resend_formatted_differently_is_the_same_order() -> None:
    first = order()
    resent = order(paid_amount="89.8", paid_at="2026-11-11T08:00:03+08:00")
    assert content_differences(order_content(first), order_content(resent)) == []


def test_the_stored_text_is_the_same_for_a_resend_formatted_differently_and_reads_back_as_the_content() -> None:
    first = order()
    resent = order(paid_amount="89.8", paid_at="2026-11-11T08:00:03+08:00")
    assert content_json(first) == content_json(resent)
    assert json.loads(content_json(first)) == order_content(first)
    assert content_json(order(discount="80.00", paid_amount="19.80")) != content_json(first)


def test_a_resend_with_other_amounts_names_what_it_would_change() -> None:
    changes = content_differences(order_content(order()), order_content(order(discount="80.00", paid_amount="19.80")))
    assert changes == ["discount: 10.00 -> 80.00", "paid_amount: 89.80 -> 19.80"]
