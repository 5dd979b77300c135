"""Cancellation before dispatch releases what was reserved (R4), with the real inventory service:
orders confirms the cancel on orders.events, inventory releases the stock and says so."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_orders_intake import new_id, order_data
from tests.support.world import World

pytestmark = pytest.mark.integration


def wait_until(read, condition, what: str, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = read()
        if condition(last):
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached; last seen: {last}")


def test_cancelling_a_reserved_order_gives_its_stock_back(world: World) -> None:
    inventory = world.start("inventory")
    orders = world.start("orders")
    with inventory.client() as stock:
        for sku in ("SKU-TEA-01", "SKU-CUP-GIFT"):
            stock.put(f"/skus/{sku}", json={"tier": "profit", "planned_stock": 100, "on_hand": 100}).raise_for_status()
    order_id = new_id()

    world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)

    with orders.client() as http, inventory.client() as stock:
        wait_until(lambda: http.get(f"/orders/{order_id}").json(), lambda b: b.get("status") == "reserved",
                   "order reserved by inventory")
        assert stock.get("/stock/SKU-TEA-01").json()["available"] == 98

        assert http.post(f"/orders/{order_id}/cancel", json={"reason": "changed mind"}).status_code == 200

        body = wait_until(lambda: http.get(f"/orders/{order_id}").json(),
                          lambda b: any(s["status"] == "stock_released" for s in b["timeline"]),
                          "stock.released from inventory")
        figures = stock.get("/stock/SKU-TEA-01").json()
    assert body["status"] == "cancelled"
    assert (figures["available"], figures["reserved"]) == (100, 0)
