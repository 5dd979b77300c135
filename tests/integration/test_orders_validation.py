"""Each rejection reason reaches the platform three ways: on order.rejected, on the dead-letter
topic beside the untouched original, and in the 422 body of POST /orders (R3)."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_orders_intake import new_id, order_data
from tests.support.world import World

pytestmark = pytest.mark.integration

GIFT_ONLY = [{"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "0.00", "gift": True}]


def without(field: str):
    def change(data: dict) -> dict:
        del data[field]
        return data
    return change


def replace(**fields):
    def change(data: dict) -> dict:
        data.update(fields)
        return data
    return change


def set_quantity(quantity: int):
    def change(data: dict) -> dict:
        data["lines"][0]["quantity"] = quantity
        return data
    return change


# case name -> (how the order is spoiled, a fragment the reason must contain)
CASES = {
    "missing_field": (without("customer_id"), "customer_id: Field required"),
    "malformed_time": (replace(paid_at="yesterday"), "paid_at: Input should be a valid datetime"),
    "amount_as_json_number": (replace(paid_amount=89.8), "paid_amount: Value error, amounts are decimal strings"),
    "amount_with_fractions_of_a_cent": (replace(paid_amount="89.805"), "more than two decimal places"),
    "non_positive_quantity": (set_quantity(0), "lines.0.quantity must be positive, got 0"),
    "negative_discount": (replace(discount="-10.00", paid_amount="109.80"), "discount must not be negative"),
    "paid_amount_not_lines_minus_discount": (
        replace(paid_amount="79.80"),
        "paid_amount 79.80 does not equal lines total 99.80 minus discount 10.00 = 89.80"),
    "unknown_order_type": (replace(order_type="flash_sale"), "unknown order_type 'flash_sale'"),
    "presale_without_presale_fields": (replace(order_type="presale"), "presale order without its presale fields"),
    "gift_lines_only": (replace(lines=GIFT_ONLY, discount="0.00", paid_amount="0.00"), "only gift lines"),
    "currency_not_accepted": (replace(currency="USD"), "currency 'USD' is not accepted here"),
}


@pytest.fixture(scope="module")
def orders(module_world: World):
    return module_world.start("orders")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_rejected_order_says_why_on_order_rejected_the_dead_letter_topic_and_http(
        case: str, module_world: World, orders) -> None:
    spoil, reason = CASES[case]
    order_id = new_id()
    rejected = module_world.reader("orders.events")
    dlq = module_world.reader("platform.orders.dlq")

    event_id = module_world.publish("platform.orders", "order.placed", spoil(order_data(order_id)), key=order_id)

    [answer] = rejected.wait_for(lambda m: m.type == "order.rejected" and m.data["order_id"] == order_id)
    assert reason in answer.data["reason"]
    assert answer.data["source_event_id"] == event_id
    [letter] = dlq.wait_for(lambda m: m.key == order_id)
    assert reason in letter.headers["dlq.reason"]
    assert json.loads(letter.value)["id"] == event_id  # the original is kept, not a copy of it
    assert not [m for m in rejected.seen if m.type == "order.accepted" and m.data["order_id"] == order_id]

    with orders.client() as http:
        response = http.post("/orders", json=spoil(order_data(new_id())))
        assert response.status_code == 422
        assert reason in response.json()["detail"]
        # A rejected order is kept with its reason, so support can answer "where is my order?".
        kept = http.get(f"/orders/{order_id}").json()
    assert kept["status"] == "rejected" and reason in kept["reason"]
