"""Orders carries the platform's split policy to inventory, and an order stored before the
contract had the field re-sends as the same order (issue 34)."""

from __future__ import annotations

import json

from services.orders.domain import ADDED_FIELD_DEFAULTS, content_differences
from services.orders.timeline_notes import describe, parts_left
from shared.events import OrderPlaced, ShipmentDispatched

PLACED = {"order_id": "O-1", "customer_id": "C-1", "order_type": "standard",
          "lines": [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90"}], "paid_amount": "99.80",
          "paid_at": "2026-11-11T00:00:00+00:00", "region": "Shanghai", "currency": "CNY"}


def stored_before_warehouses() -> dict:
    content = json.loads(OrderPlaced.model_validate(PLACED).model_dump_json())
    del content["split_policy"]
    return content


def test_an_order_stored_before_split_policy_resent_with_the_default_is_the_same_order() -> None:
    resent = OrderPlaced.model_validate(PLACED).model_dump(mode="json")
    assert content_differences(stored_before_warehouses(), resent) == []


def test_an_order_stored_before_split_policy_resent_with_another_policy_is_a_change() -> None:
    resent = OrderPlaced.model_validate({**PLACED, "split_policy": "fastest"}).model_dump(mode="json")
    assert content_differences(stored_before_warehouses(), resent) == ["split_policy: fewest_shipments -> fastest"]


def test_every_optional_field_has_its_default_for_older_rows() -> None:
    assert ADDED_FIELD_DEFAULTS["split_policy"] == "fewest_shipments"
    assert ADDED_FIELD_DEFAULTS["first_order"] is False and ADDED_FIELD_DEFAULTS["promotions"] == []
    assert "order_id" not in ADDED_FIELD_DEFAULTS  # a required field is never defaulted


def dispatched(**fields) -> ShipmentDispatched:
    return ShipmentDispatched.model_validate({
        "order_id": "O-1", "shipment_id": "S-O-1-east", "carrier": "SF", "tracking_number": "SF1",
        "dispatched_at": "2026-11-11T05:00:00+00:00", **fields})


def test_the_timeline_says_which_part_left_and_that_others_are_to_come() -> None:
    part = dispatched(warehouse="east", lines=[{"sku": "SKU-TEA-01", "quantity": 2}], order_complete=False)
    assert describe("shipment.dispatched", part) == "SF SF1 from east: SKU-TEA-01 x2; other parts still to ship"
    assert parts_left("shipment.dispatched", part)
    whole = dispatched()
    assert describe("shipment.dispatched", whole) == "SF SF1" and not parts_left("shipment.dispatched", whole)
    assert not parts_left("shipment.delivered", part)
