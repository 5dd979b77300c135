"""Issue 30 through the real broker: a shipment exception asks the platform to tell the customer
(customer.notification_requested on logistics.notifications, through the outbox) and the shipment
says so only once it was published; GET /sla projects the gauges (on track / at risk / missed);
inventory keeps each sku's bin."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_logistics_flow import queue_order, reserved
from tests.support.world import World

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)  # 20:00 in the warehouse (UTC+8)


def new_order_id() -> str:
    return f"O-{uuid.uuid4().hex[:8]}"


def wait_for(check, what: str, timeout_s: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return result


def test_an_exception_publishes_a_customer_notification_and_the_shipment_says_when_it_left(
        module_world: World) -> None:
    service = module_world.start_at("logistics", BASE)
    notifications = module_world.reader("logistics.notifications")
    order_id = new_order_id()
    with service.client() as http:
        shipment_id = queue_order(module_world, http, order_id, paid_at=BASE - timedelta(hours=1))
        answer = http.post(f"/shipments/{shipment_id}/exception",
                           json={"kind": "delayed", "note": "truck broke down", "reported_by": "P-1"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["exceptions"][-1]["customer_notification"] in ("queued", "published")

        [told] = notifications.wait_for(lambda m: m.type == "customer.notification_requested"
                                        and m.data["order_id"] == order_id)
        assert told.key == order_id
        assert told.data["shipment_id"] == shipment_id and told.data["reason"] == "shipment_delayed"
        assert order_id in told.data["message"] and "delayed" in told.data["message"]
        assert "truck" not in told.data["message"], "staff notes are not the customer's message"
        assert told.data["note"] == "truck broke down"
        published = wait_for(lambda: http.get(f"/shipments/{shipment_id}").json()["exceptions"][-1]
                             ["customer_notification"] == "published", "the notification marked published")
        assert published

        # A second exception (damaged) is a second notification of its own.
        http.post(f"/shipments/{shipment_id}/exception", json={"kind": "damaged"}).raise_for_status()
        [damaged] = notifications.wait_for(lambda m: m.type == "customer.notification_requested"
                                           and m.data["order_id"] == order_id
                                           and m.data["reason"] == "shipment_damaged")
        assert damaged.json["id"] != told.json["id"]
        # Refused steps ask for nothing: a lost report on a parcel never handed over is a 409.
        refused = http.post(f"/shipments/{shipment_id}/exception", json={"kind": "lost"})
        assert refused.status_code == 409
        wait_for(lambda: all(x["customer_notification"] == "published"
                             for x in http.get(f"/shipments/{shipment_id}").json()["exceptions"]), "both published")
        assert len(http.get(f"/shipments/{shipment_id}").json()["exceptions"]) == 2


def test_the_sla_projection_of_a_fresh_spike_with_nobody_late_is_on_track(world: World) -> None:
    # A spike: 30 orders paid in the last minutes, nothing shipped, nobody late. (Its own world:
    # logistics services on one set of topics share the consumer group and its events.)
    spike = world.start_at("logistics", BASE)
    with spike.client() as http:
        ids = [new_order_id() for _ in range(30)]
        for n, order_id in enumerate(ids):
            world.publish("inventory.reservations", "stock.reserved",
                          reserved(order_id, paid_at=BASE - timedelta(minutes=n % 5)), key=order_id)
        wait_for(lambda: http.get("/sla").json()["overall"]["orders_paid"] == 30, "30 orders queued")
        sla = http.get("/sla").json()
        assert sla["overall"]["within_24h_pct"] == 0 and sla["overall"]["missed_24h"] == 0
        assert sla["projection"]["within_24h"]["state"] == "on_track", sla["projection"]
        assert sla["projection"]["within_24h"]["words"].startswith("on track: 100% projected within 24 h")
        assert sla["projection"]["within_48h"]["state"] == "on_track"


def test_the_sla_projection_is_at_risk_when_the_forecast_says_so_then_missed(world: World) -> None:
    # One picker at one order an hour, 10 orders due in 4 hours: the forecast says at risk.
    slow = world.start_at("logistics", BASE, settings={"DEFAULT_PICKERS": "1", "DEFAULT_PICKS_PER_HOUR": "1"})
    with slow.client() as http:
        for _ in range(10):
            order_id = new_order_id()
            world.publish("inventory.reservations", "stock.reserved",
                          reserved(order_id, paid_at=BASE - timedelta(hours=20)), key=order_id)
        wait_for(lambda: http.get("/sla").json()["overall"]["orders_paid"] == 10, "10 orders queued")
        projection = http.get("/sla").json()["projection"]["within_24h"]
        assert projection["state"] == "at_risk", projection
        # Due at 16:00 UTC = 00:00 in the warehouse; 2 pickers ship 8 of 10 by then.
        assert projection["words"].startswith("need 1 more picker by 00:00 to reach 80%"), projection

        # Hours on, past the deadline with nothing shipped: the 24h target is missed.
        http.put("/clock", json={"now": (BASE + timedelta(hours=5)).isoformat()}).raise_for_status()
        sla = http.get("/sla").json()
        assert sla["projection"]["within_24h"] == {
            "state": "missed",
            "words": "missed: 10 of 10 orders are past the 24 h deadline, so at most 0% can make it (target 80%)"}
        assert sla["projection"]["within_48h"]["state"] in ("on_track", "at_risk")


def test_inventory_keeps_each_skus_bin_from_the_catalogue_and_put(module_world: World) -> None:
    inventory = module_world.start("inventory", settings={"CATALOG_PATH": "services/inventory/sample_catalog.csv"})
    with inventory.client("admin") as http:
        assert http.get("/stock/SKU-TEA-01").json()["bin"] == "A-01-1"
        answer = http.put("/skus/SKU-TEA-01", json={"tier": "traffic_driver", "bin": "Z-09-9"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["bin"] == "Z-09-9"
        # An edit without a bin keeps it; an empty one clears it.
        http.put("/skus/SKU-TEA-01", json={"tier": "traffic_driver"}).raise_for_status()
        assert http.get("/stock/SKU-TEA-01").json()["bin"] == "Z-09-9"
        for bad in ("A 1", "x" * 33, "<script>", "A-\u200b1"):
            refused = http.put("/skus/SKU-TEA-01", json={"tier": "traffic_driver", "bin": bad})
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
        http.put("/skus/SKU-TEA-01", json={"tier": "traffic_driver", "bin": ""}).raise_for_status()
        assert http.get("/stock/SKU-TEA-01").json()["bin"] is None
        new = http.put("/skus/SKU-BIN-NEW", json={"tier": "hot", "planned_stock": 5, "on_hand": 5, "bin": "D-1"})
        assert new.status_code in (200, 201) and new.json()["bin"] == "D-1"
