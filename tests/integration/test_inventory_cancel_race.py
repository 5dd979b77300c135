"""A cancellation that crosses the hand-over: the parcel left although its units were released.
Inventory follows the goods, and refuses to hide a shelf that is now short."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.integration.test_inventory_stock import (  # noqa: F401 (fixtures)
    accepted_order, catalog_path, inventory, new_id, new_skus, outcome_of, publish_order, stock, world,
)
from tests.support.world import World

pytestmark = pytest.mark.integration


def cancel(world: World, order_id: str) -> None:
    world.publish("orders.events", "order.cancelled",
                  {"order_id": order_id, "reason": "customer", "cancelled_at": datetime.now(UTC).isoformat()},
                  key=order_id)


def dispatch(world: World, order_id: str) -> None:
    world.publish("logistics.shipments", "shipment.dispatched",
                  {"order_id": order_id, "shipment_id": f"S-{order_id}", "carrier": "SF",
                   "tracking_number": f"T-{order_id}", "dispatched_at": datetime.now(UTC).isoformat()}, key=order_id)


def until(check, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("not reached in time")


def test_goods_shipped_after_their_release_leave_the_shelf(world: World, inventory) -> None:
    [tea] = new_skus(inventory, ("RACE-TEA", "traffic_driver", 10, 10))
    reservations = world.reader("inventory.reservations")
    order_id = new_id()
    publish_order(world, accepted_order(order_id, [(tea, 3)]))
    reservations.wait_for(outcome_of(order_id))
    cancel(world, order_id)
    reservations.wait_for(lambda m: m.type == "stock.released" and m.data["order_id"] == order_id)
    assert stock(inventory, tea)["available"] == 10

    dispatch(world, order_id)  # the parcel had already been handed over

    until(lambda: stock(inventory, tea)["on_hand"] == 7)
    figures = stock(inventory, tea)
    assert (figures["on_hand"], figures["reserved"], figures["available"]) == (7, 0, 7)


def test_a_shelf_made_short_by_a_crossed_cancellation_is_reported_not_hidden(world: World, inventory) -> None:
    [kettle] = new_skus(inventory, ("RACE-KETTLE", "profit", 4, 4))
    reservations = world.reader("inventory.reservations")
    dead = world.reader("logistics.shipments.dlq")
    first, second = new_id(), new_id()
    publish_order(world, accepted_order(first, [(kettle, 4)]))
    reservations.wait_for(outcome_of(first))
    cancel(world, first)
    reservations.wait_for(lambda m: m.type == "stock.released" and m.data["order_id"] == first)
    publish_order(world, accepted_order(second, [(kettle, 4)]))  # the released units are promised again
    reservations.wait_for(lambda m: m.type == "stock.reserved" and m.data["order_id"] == second)

    dispatch(world, first)

    [letter] = dead.wait_for(lambda m: m.key == first)
    assert "promised again" in letter.headers["dlq.reason"] and kettle in letter.headers["dlq.reason"]
    figures = stock(inventory, kettle)
    assert (figures["on_hand"], figures["reserved"], figures["available"]) == (4, 4, 0)  # unchanged, for a count
