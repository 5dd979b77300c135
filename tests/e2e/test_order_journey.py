"""The whole platform, four real services on the real broker: an order's journey end to end."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from tests.support.world import World

pytestmark = pytest.mark.e2e


def eventually(check: Callable[[], object], timeout_s: float = 45.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except AssertionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout_s}s (last: {last!r})")


@pytest.fixture
def platform(world: World):
    services = {name: world.start(name) for name in ("orders", "inventory", "logistics", "aftersales")}
    clients = {
        "platform": services["orders"].client("platform", subject="checkout"),
        "admin": services["inventory"].client("admin", subject="ops"),
        "warehouse": services["logistics"].client("warehouse", subject="picker-7"),
        "support": services["aftersales"].client("support", subject="agent-3"),
        "reader": services["orders"].client("support", subject="agent-3"),
    }
    yield services, clients
    for client in clients.values():
        client.close()


def stock(admin, sku: str) -> dict:
    return admin.get(f"/stock/{sku}").json()


def order_status(reader, order_id: str) -> str | None:
    r = reader.get(f"/orders/{order_id}")
    return r.json()["status"] if r.status_code == 200 else None


def new_skus(admin, on_hand: int = 50) -> tuple[str, str]:
    tea, gift = f"SKU-TEA-{uuid.uuid4().hex[:6]}", f"SKU-GIFT-{uuid.uuid4().hex[:6]}"
    for sku in (tea, gift):
        r = admin.put(f"/skus/{sku}", json={"tier": "traffic_driver", "planned_stock": on_hand, "on_hand": on_hand})
        assert r.status_code == 200, r.text
    return tea, gift


def order_body(order_id: str, tea: str, gift: str, *, order_type: str = "standard") -> dict:
    body = {
        "order_id": order_id, "customer_id": "C-42", "order_type": order_type,
        "lines": [{"sku": tea, "quantity": 2, "unit_price": "49.90", "gift": False},
                  {"sku": gift, "quantity": 1, "unit_price": "0.00", "gift": True}],
        "discount": "10.00", "paid_amount": "89.80", "paid_at": "2026-11-11T00:00:03Z",
        "region": "Shanghai", "currency": "CNY",
    }
    if order_type == "presale":
        body["deposit"] = "20.00"
    return body


def test_an_order_goes_from_placement_through_dispatch_and_delivery_to_a_refund(platform) -> None:
    services, c = platform
    tea, gift = new_skus(c["admin"])
    order_id = f"O-{uuid.uuid4().hex[:8]}"

    assert c["platform"].post("/orders", json=order_body(order_id, tea, gift)).status_code == 202
    eventually(lambda: order_status(c["reader"], order_id) == "reserved", what="reserved")
    assert stock(c["admin"], tea)["available"] == 48 and stock(c["admin"], gift)["available"] == 49

    # Warehouse: the order is in the queue, comes out in a wave, is packed and handed over.
    wave = eventually(lambda: c["warehouse"].post("/waves", json={"size": 5, "picker_id": "picker-7"}).json()
                      .get("shipments"), what="a wave with the shipment")
    [shipment] = [s for s in wave if s["order_id"] == order_id]
    sid = shipment["shipment_id"]
    assert c["warehouse"].post(f"/shipments/{sid}/pack", json={"picker_id": "picker-7"}).status_code == 200
    shipped = c["warehouse"].post(f"/shipments/{sid}/ship", json={"tracking_number": "SF1234567890"})
    assert shipped.status_code == 200, shipped.text
    eventually(lambda: order_status(c["reader"], order_id) == "shipped", what="shipped")
    # The goods left: inventory takes them off the shelf and out of the reserved units.
    eventually(lambda: stock(c["admin"], tea)["on_hand"] == 48 and stock(c["admin"], tea)["reserved"] == 0,
               what="shipped units off hand")
    assert c["warehouse"].post(f"/shipments/{sid}/delivered").status_code == 200
    eventually(lambda: order_status(c["reader"], order_id) == "delivered", what="delivered")

    # Support: the customer returns both teas (the gift comes back with them), refund of what was paid.
    returnable = eventually(lambda: c["support"].get(f"/orders/{order_id}/returnable").json()
                            if c["support"].get(f"/orders/{order_id}/returnable").status_code == 200 else None,
                            what="aftersales knows the delivery")
    assert returnable
    opened = c["support"].post("/returns", json={"order_id": order_id, "lines": [{"sku": tea, "quantity": 2}]})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    assert {l["sku"] for l in opened.json()["lines"]} == {tea, gift}
    eventually(lambda: order_status(c["reader"], order_id) == "return_requested", what="return requested")
    for step, body in (("approve", {}), ("receive", {}), ("inspect", {"passed": True}), ("refund", {})):
        r = c["support"].post(f"/cases/{case_id}/{step}", json=body)
        assert r.status_code == 200, (step, r.text)
    assert r.json()["refund_amount"] == "89.80"

    eventually(lambda: order_status(c["reader"], order_id) == "refunded", what="refunded")
    timeline = [s["status"] for s in c["reader"].get(f"/orders/{order_id}").json()["timeline"]]
    for state in ("accepted", "reserved", "shipped", "delivered", "return_requested", "returned", "refunded"):
        assert state in timeline, (state, timeline)
    # Inventory put the inspected goods back on hand.
    eventually(lambda: stock(c["admin"], tea)["on_hand"] == 50 and stock(c["admin"], gift)["on_hand"] == 50,
               what="restocked")


def test_cancelling_before_dispatch_releases_the_stock_and_withdraws_the_shipment(platform) -> None:
    services, c = platform
    tea, gift = new_skus(c["admin"])
    order_id = f"O-{uuid.uuid4().hex[:8]}"

    assert c["platform"].post("/orders", json=order_body(order_id, tea, gift, order_type="presale")).status_code == 202
    eventually(lambda: order_status(c["reader"], order_id) == "reserved", what="reserved")
    eventually(lambda: any(s["order_id"] == order_id for s in c["warehouse"].get("/queue").json()["shipments"]),
               what="queued for dispatch")
    assert stock(c["admin"], tea)["available"] == 48

    r = c["platform"].post(f"/orders/{order_id}/cancel", json={"reason": "customer changed their mind"})
    assert r.status_code == 200, r.text
    eventually(lambda: stock(c["admin"], tea)["available"] == 50 and stock(c["admin"], gift)["available"] == 50,
               what="stock released")
    eventually(lambda: not any(s["order_id"] == order_id for s in c["warehouse"].get("/queue").json()["shipments"]),
               what="shipment withdrawn")
    assert order_status(c["reader"], order_id) == "cancelled"
    # The audit trail says who did what: the platform over HTTP, inventory over Kafka.
    actors = {(s["status"], s["actor"]) for s in c["reader"].get(f"/orders/{order_id}").json()["timeline"]}
    assert ("cancelled", "http:checkout(platform)") in actors
    assert ("reserved", "kafka:inventory.reservations (source: inventory)") in actors
    wave = c["warehouse"].post("/waves", json={"size": 10, "picker_id": "picker-7"}).json()
    assert all(s["order_id"] != order_id for s in wave["shipments"])
