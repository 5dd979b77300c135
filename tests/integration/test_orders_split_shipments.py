"""A split order seen by the orders service, through the real broker (issue 34): the platform's
split policy travels with order.accepted; the first part's hand-over makes the order
`partly_shipped` (no longer cancellable), the last part's makes it `shipped`. The test plays
inventory and logistics by publishing their events."""

from __future__ import annotations

import pytest

from tests.integration.test_orders_intake import new_id, order_data
from tests.integration.test_orders_lifecycle import at, orders, status_is, steps, wait_for_order  # noqa: F401
from tests.support.world import World

pytestmark = pytest.mark.integration

LINES = [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False},
         {"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "0.00", "gift": True}]


def reserved_in_two_parts(world: World, order_id: str) -> None:
    world.publish("inventory.reservations", "stock.reserved", {
        "order_id": order_id, "priority_class": "standard", "priority_rank": "2-x", "lines": LINES,
        "region": "Shanghai", "paid_at": at(0), "reserved_at": at(2),
        "parts": [{"warehouse": "east", "lines": [{"sku": "SKU-TEA-01", "quantity": 2}]},
                  {"warehouse": "north", "lines": [{"sku": "SKU-CUP-GIFT", "quantity": 1}]}]}, key=order_id)


def part_dispatched(world: World, order_id: str, warehouse: str, sku: str, quantity: int, minute: float,
                    complete: bool) -> None:
    world.publish("logistics.shipments", "shipment.dispatched", {
        "order_id": order_id, "shipment_id": f"S-{order_id}-{warehouse}", "carrier": "SF",
        "tracking_number": f"SF-{order_id}-{warehouse}", "dispatched_at": at(minute), "warehouse": warehouse,
        "lines": [{"sku": sku, "quantity": quantity}], "order_complete": complete}, key=order_id)


def test_the_split_policy_travels_with_the_accepted_order(module_world: World, orders) -> None:
    order_id = new_id()
    events = module_world.reader("orders.events")
    module_world.publish("platform.orders", "order.placed", order_data(order_id, split_policy="own_region"),
                         key=order_id)
    [accepted] = events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == order_id)
    assert accepted.data["split_policy"] == "own_region"

    other = new_id()  # a sender that never heard of warehouses gets the default
    module_world.publish("platform.orders", "order.placed", order_data(other), key=other)
    [accepted] = events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == other)
    assert accepted.data["split_policy"] == "fewest_shipments"


def test_an_unknown_split_policy_is_refused_with_the_field_named(module_world: World, orders) -> None:
    order_id = new_id()
    events = module_world.reader("orders.events")
    module_world.publish("platform.orders", "order.placed", order_data(order_id, split_policy="cheapest"),
                         key=order_id)
    [rejected] = events.wait_for(lambda m: m.type == "order.rejected" and m.data["order_id"] == order_id)
    assert "split_policy" in rejected.data["reason"]


def test_a_split_order_is_partly_shipped_at_its_first_part_and_shipped_at_its_last(module_world: World,
                                                                                   orders) -> None:
    order_id = new_id()
    module_world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)
    reserved_in_two_parts(module_world, order_id)
    wait_for_order(orders, order_id, status_is("reserved"))

    part_dispatched(module_world, order_id, "east", "SKU-TEA-01", 2, minute=60, complete=False)
    body = wait_for_order(orders, order_id, status_is("partly_shipped"))
    [note] = [s["note"] for s in body["timeline"] if s["status"] == "partly_shipped"]
    assert note == f"SF SF-{order_id}-east from east: SKU-TEA-01 x2; other parts still to ship"
    with orders.client() as http:  # goods have left: the customer returns them instead (R4)
        response = http.post(f"/orders/{order_id}/cancel")
    assert response.status_code == 409 and "return it instead" in response.json()["detail"]

    part_dispatched(module_world, order_id, "north", "SKU-CUP-GIFT", 1, minute=300, complete=True)
    body = wait_for_order(orders, order_id, status_is("shipped"))
    assert steps(body, "advanced") == ["accepted", "reserved", "partly_shipped", "shipped"]
    assert steps(body, "refused") == ["cancelled"]  # the cancellation asked for after the first part left
    assert body["steps_reached"]["partly_shipped"] == at(60) and body["steps_reached"]["shipped"] == at(300)
