"""A split order through the whole platform, four real services on the real broker (issue 34):
inventory holds the tea only in the east and the gift only in the north, so an order from
Shanghai is reserved in two parts; logistics ships the parts at different times; the orders
service calls it partly shipped at the first and shipped at the second, which is when the SLA
counts it; a return of one line puts the goods back in the warehouse they left."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_order_journey import eventually, order_status
from tests.support.world import World

pytestmark = pytest.mark.e2e

PAID = datetime(2026, 11, 11, 0, 0, 3, tzinfo=UTC)
WAREHOUSES = [{"id": "north", "name": "North", "regions": ["Beijing"], "reaches": ["Shanghai"]},
              {"id": "east", "name": "East", "regions": ["Shanghai"]}]


@pytest.fixture
def platform(world: World, tmp_path: Path):
    file = tmp_path / "warehouses.json"
    file.write_text(json.dumps(WAREHOUSES))
    services = {"orders": world.start("orders"),
                "inventory": world.start("inventory", settings={"WAREHOUSES_PATH": str(file)}),
                # The hand-overs happen at chosen moments after payment; the return within its 7 days.
                "logistics": world.start_at("logistics", PAID),
                "aftersales": world.start_at("aftersales", PAID)}
    clients = {"platform": services["orders"].client("platform", subject="checkout"),
               "admin": services["inventory"].client("admin", subject="ops"),
               "warehouse": services["logistics"].client("warehouse", subject="picker-7"),
               "clock": services["logistics"].client(),
               "aftersales-clock": services["aftersales"].client(),
               "support": services["aftersales"].client("support", subject="agent-3"),
               "reader": services["orders"].client("support", subject="agent-3")}
    yield services, clients
    for client in clients.values():
        client.close()


def in_warehouse(admin, sku: str, warehouse: str) -> dict:
    figures = admin.get(f"/stock/{sku}").json()
    return next(w for w in figures["warehouses"] if w["warehouse"] == warehouse)


def ship(c, shipment_id: str, picker: str, warehouse: str, at: datetime, tracking: str) -> None:
    wave = eventually(lambda: c["warehouse"].post("/waves", json={"size": 5, "picker_id": picker,
                                                                   "warehouse": warehouse}).json()["shipments"],
                      what=f"a wave in {warehouse}")
    assert [s["shipment_id"] for s in wave] == [shipment_id]
    assert c["warehouse"].post(f"/shipments/{shipment_id}/pack", json={"picker_id": picker}).status_code == 200
    c["clock"].put("/clock", json={"now": at.isoformat()}).raise_for_status()
    shipped = c["warehouse"].post(f"/shipments/{shipment_id}/ship", json={"tracking_number": tracking})
    assert shipped.status_code == 200, shipped.text


def test_a_split_order_ships_from_two_warehouses_counts_at_its_last_part_and_a_return_restocks_its_own(
        platform) -> None:
    _services, c = platform
    tea, gift = f"SKU-TEA-{uuid.uuid4().hex[:6]}", f"SKU-GIFT-{uuid.uuid4().hex[:6]}"
    for sku, warehouse in ((tea, "east"), (gift, "north")):
        r = c["admin"].put(f"/skus/{sku}", json={"tier": "traffic_driver", "planned_stock": 10, "on_hand": 10,
                                                 "warehouse": warehouse})
        assert r.status_code == 200, r.text
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    body = {"order_id": order_id, "customer_id": "C-42", "order_type": "standard",
            "lines": [{"sku": tea, "quantity": 2, "unit_price": "49.90"},
                      {"sku": gift, "quantity": 1, "unit_price": "0.00", "gift": True}],
            "discount": "10.00", "paid_amount": "89.80", "paid_at": PAID.isoformat(), "region": "Shanghai",
            "currency": "CNY"}
    assert c["platform"].post("/orders", json=body).status_code == 202

    # Inventory: no warehouse holds both, so two parts, each reserved where its goods are.
    eventually(lambda: order_status(c["reader"], order_id) == "reserved", what="reserved")
    parts = {(p["warehouse"], p["sku"], p["quantity"], p["state"])
             for p in c["admin"].get(f"/reservations/{order_id}").json()["parts"]}
    assert parts == {("east", tea, 2, "reserved"), ("north", gift, 1, "reserved")}
    assert in_warehouse(c["admin"], tea, "east")["reserved"] == 2
    assert in_warehouse(c["admin"], gift, "north")["reserved"] == 1

    # Logistics: one shipment per part, each in its own warehouse's queue.
    queues = {w: eventually(lambda w=w: [s for s in c["warehouse"].get("/queue", params={"warehouse": w})
                                         .json()["shipments"] if s["order_id"] == order_id], what=f"{w} queue")
              for w in ("east", "north")}
    east_id, north_id = queues["east"][0]["shipment_id"], queues["north"][0]["shipment_id"]
    assert east_id != north_id

    # East hands over 2 h after payment: partly shipped, not yet counted shipped.
    ship(c, east_id, "picker-e", "east", PAID + timedelta(hours=2), "SFEAST1")
    eventually(lambda: order_status(c["reader"], order_id) == "partly_shipped", what="partly shipped")
    sla = c["warehouse"].get("/sla").json()
    assert sla["overall"]["shipped"] == 0 and sla["by_warehouse"]["east"]["shipped_within_24h"] == 1
    eventually(lambda: in_warehouse(c["admin"], tea, "east")["on_hand"] == 8, what="the tea off the east shelf")
    assert in_warehouse(c["admin"], gift, "north")["reserved"] == 1  # its part is still on the shelf

    # North hands over 30 h after payment: the order is shipped then, late for 24 h.
    ship(c, north_id, "picker-n", "north", PAID + timedelta(hours=30), "SFNORTH1")
    eventually(lambda: order_status(c["reader"], order_id) == "shipped", what="shipped")
    view = c["reader"].get(f"/orders/{order_id}").json()
    assert view["steps_reached"]["shipped"] == (PAID + timedelta(hours=30)).isoformat()
    overall = c["warehouse"].get("/sla").json()["overall"]
    assert (overall["shipped"], overall["shipped_within_24h"], overall["shipped_within_48h"]) == (1, 0, 1)
    eventually(lambda: in_warehouse(c["admin"], gift, "north")["on_hand"] == 9, what="the gift off the north shelf")

    # Both delivered; the customer returns one tea: it goes back on the east shelf, not the north.
    for shipment_id in (east_id, north_id):
        assert c["warehouse"].post(f"/shipments/{shipment_id}/delivered").status_code == 200
    c["aftersales-clock"].put("/clock", json={"now": (PAID + timedelta(hours=40)).isoformat()}).raise_for_status()
    eventually(lambda: c["support"].get(f"/orders/{order_id}/returnable").status_code == 200,
               what="aftersales knows the delivery")
    opened = c["support"].post("/returns", json={"order_id": order_id, "lines": [{"sku": tea, "quantity": 1}]})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    for step, step_body in (("approve", {}), ("receive", {}), ("inspect", {"passed": True})):
        r = c["support"].post(f"/cases/{case_id}/{step}", json=step_body)
        assert r.status_code == 200, (step, r.text)
    eventually(lambda: in_warehouse(c["admin"], tea, "east")["on_hand"] == 9, what="restocked in the east")
    assert in_warehouse(c["admin"], tea, "east")["available"] == 9
    assert all(w["on_hand"] == 0 for w in c["admin"].get(f"/stock/{tea}").json()["warehouses"]
               if w["warehouse"] != "east")
