"""The rest of the logistics flow through the real broker: hand-over and delivery events, carrier
confirmations, exceptions and reports, cancellations in either order, exchanges, duplicates,
dead letters, and the capacity forecast."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.kafka import cloud_event
from tests.support.waiting import handled
from tests.support.world import World

pytestmark = pytest.mark.integration

BASE = datetime(2026, 6, 18, 0, 0, tzinfo=UTC)


def reserved(order_id: str, *, paid_at: datetime = BASE, priority_class: str = "standard") -> dict:
    return {
        "order_id": order_id, "order_type": "standard", "priority_class": priority_class,
        "priority_rank": f"2-{int(paid_at.timestamp())}-{order_id}",
        "lines": [{"sku": "SKU-CUP-01", "quantity": 2, "unit_price": "19.90", "gift": False,
                   "weight_kg": "0.40", "volume_l": "1.50"}],
        "region": "Zhejiang", "paid_at": paid_at.isoformat(), "reserved_at": paid_at.isoformat(),
    }


def new_order_id() -> str:
    return f"O-{uuid.uuid4().hex[:8]}"


def wait_for_shipment(http: httpx.Client, shipment_id: str, status: str | None = None,
                      timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        response = http.get(f"/shipments/{shipment_id}")
        if response.status_code == 200 and (status is None or response.json()["status"] == status):
            return response.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"{shipment_id} not {status or 'there'}: {response.text}")
        time.sleep(0.1)


def wait_handled(http: httpx.Client, world: World, topic: str, count: float, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while handled(http, world, topic) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic}: {count} messages not processed in {timeout_s}s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def service(module_world: World):
    return module_world.start_at("logistics", BASE + timedelta(hours=2))


@pytest.fixture(scope="module")
def shipments(module_world: World):
    return module_world.reader("logistics.shipments")


def queue_order(world: World, http: httpx.Client, order_id: str, **kwargs) -> str:
    world.publish("inventory.reservations", "stock.reserved", reserved(order_id, **kwargs), key=order_id)
    shipment_id = f"SHP-{order_id}"
    wait_for_shipment(http, shipment_id)
    return shipment_id


def test_hand_over_publishes_dispatched_and_a_carrier_confirmation_publishes_delivered(
        module_world: World, service, shipments) -> None:
    order_id = new_order_id()
    with service.client() as http:
        shipment_id = queue_order(module_world, http, order_id)
        shipment = http.get(f"/shipments/{shipment_id}").json()
        assert shipment["weight_kg"] == "0.80" and shipment["volume_l"] == "3.00"
        assert shipment["deadline_24h"] == (BASE + timedelta(hours=24)).isoformat()
        assert http.post(f"/shipments/{shipment_id}/ship", json={"tracking_number": "ZT1"}).status_code == 409
        http.post(f"/shipments/{shipment_id}/pack", json={"picker_id": "P-7"}).raise_for_status()
        shipped = http.post(f"/shipments/{shipment_id}/ship", json={"tracking_number": f"ZT{order_id[2:]}"}).json()
        assert shipped["carrier"] == "ZTO" and shipped["shipped_within_24h"] is True

        [dispatched] = shipments.wait_for(lambda m: m.type == "shipment.dispatched" and m.data["order_id"] == order_id)
        assert dispatched.key == order_id
        assert dispatched.data["carrier"] == "ZTO" and dispatched.data["tracking_number"] == f"ZT{order_id[2:]}"
        assert dispatched.data["replacement_for_case"] is None

        delivered_at = BASE + timedelta(hours=30)
        module_world.publish("carrier.events", "carrier.delivery", {
            "carrier": "ZTO", "tracking_number": f"ZT{order_id[2:]}", "delivered_at": delivered_at.isoformat()},
            key=f"ZT{order_id[2:]}")
        [delivered] = shipments.wait_for(lambda m: m.type == "shipment.delivered" and m.data["order_id"] == order_id)
        assert delivered.data["delivered_at"] == delivered_at.isoformat().replace("+00:00", "Z")
        assert wait_for_shipment(http, shipment_id, "delivered")["delivered_at"] == delivered_at.isoformat()
        # Staff confirming it again changes nothing and publishes nothing.
        assert http.post(f"/shipments/{shipment_id}/delivered").json()["changed"] is False

        # A staff confirmation cannot predate the hand-over or lie in the future.
        other = queue_order(module_world, http, new_order_id())
        http.post(f"/shipments/{other}/pack").raise_for_status()
        http.post(f"/shipments/{other}/ship", json={"tracking_number": f"ZT{other[-8:]}"}).raise_for_status()
        early = http.post(f"/shipments/{other}/delivered", json={"delivered_at": BASE.isoformat()})
        assert early.status_code == 422 and "before the hand-over" in early.json()["detail"]
        future = http.post(f"/shipments/{other}/delivered", json={"delivered_at": "2030-01-01T00:00:00Z"})
        assert future.status_code == 422 and "future" in future.json()["detail"]


def test_a_carrier_confirmation_before_the_hand_over_scan_is_applied_when_the_scan_arrives(
        module_world: World, service, shipments) -> None:
    order_id = new_order_id()
    tracking = f"YT{order_id[2:]}"
    with service.client() as http:
        shipment_id = queue_order(module_world, http, order_id)
        before = handled(http, module_world, "carrier.events")
        module_world.publish("carrier.events", "carrier.delivery", {
            "carrier": "YTO", "tracking_number": tracking, "delivered_at": (BASE + timedelta(hours=3)).isoformat()},
            key=tracking)
        wait_handled(http, module_world, "carrier.events", before + 1)
        assert http.get(f"/shipments/{shipment_id}").json()["status"] == "queued"
        http.post(f"/shipments/{shipment_id}/pack").raise_for_status()
        http.post(f"/shipments/{shipment_id}/ship", json={"tracking_number": tracking, "carrier": "YTO"}).raise_for_status()
        assert http.get(f"/shipments/{shipment_id}").json()["status"] == "delivered"
    shipments.wait_for(lambda m: m.type == "shipment.delivered" and m.data["order_id"] == order_id)


def test_a_damaged_shipment_is_flagged_published_and_counted_in_the_damage_rate(
        module_world: World, service, shipments) -> None:
    # Four parcels go with SF (the only SF hand-overs in this module); one arrives damaged.
    order_ids = [new_order_id() for _ in range(4)]
    with service.client() as http:
        for order_id in order_ids:
            shipment_id = queue_order(module_world, http, order_id)
            http.post(f"/shipments/{shipment_id}/pack").raise_for_status()
            http.post(f"/shipments/{shipment_id}/ship",
                      json={"tracking_number": f"SF{order_id[2:]}", "carrier": "SF"}).raise_for_status()
        damaged = f"SHP-{order_ids[0]}"
        bad = http.post(f"/shipments/{damaged}/exception", json={"kind": "broken"})
        assert bad.status_code == 422
        not_out = queue_order(module_world, http, new_order_id())
        lost_at_home = http.post(f"/shipments/{not_out}/exception", json={"kind": "lost"})
        assert lost_at_home.status_code == 409 and "handed-over" in lost_at_home.json()["detail"]
        flagged = http.post(f"/shipments/{damaged}/exception",
                            json={"kind": "damaged", "note": "box crushed", "reported_by": "S-3"})
        assert flagged.status_code == 201
        assert flagged.json()["exceptions"][0]["kind"] == "damaged"
        report = http.get("/reports").json()
    [event] = shipments.wait_for(lambda m: m.type == "shipment.exception" and m.data["order_id"] == order_ids[0])
    assert event.data["kind"] == "damaged" and event.data["note"] == "box crushed"
    sf = report["by_carrier"]["SF"]
    assert sf["shipped"] == 4 and sf["damaged_rate_pct"] == 25.0 and sf["lost_rate_pct"] == 0.0
    assert sf["dispatch_speed"]["count"] == 4 and sf["dispatch_speed"]["median_h"] == 2.0


def test_cancellation_withdraws_an_unshipped_shipment_in_either_order_of_arrival(
        module_world: World, service) -> None:
    queued_first, cancelled_first = new_order_id(), new_order_id()
    with service.client() as http:
        shipment_id = queue_order(module_world, http, queued_first)
        module_world.publish("orders.events", "order.cancelled", {"order_id": queued_first, "reason": "customer"},
                             key=queued_first)
        withdrawn = wait_for_shipment(http, shipment_id, "withdrawn")
        assert withdrawn["withdraw_reason"] == "customer"

        # The cancellation overtakes the reservation (different topics): the shipment is never queued.
        before = handled(http, module_world, "orders.events")
        module_world.publish("orders.events", "order.cancelled", {"order_id": cancelled_first, "reason": "fraud"},
                             key=cancelled_first)
        wait_handled(http, module_world, "orders.events", before + 1)
        late_id = queue_order(module_world, http, cancelled_first)
        late = http.get(f"/shipments/{late_id}").json()
        assert late["status"] == "withdrawn"
        assert late["withdraw_reason"] == "order cancelled before the reservation arrived: fraud"
        queued = {s["order_id"] for s in http.get("/queue", params={"limit": 5000}).json()["shipments"]}
        assert not {queued_first, cancelled_first} & queued
        assert http.post(f"/shipments/{shipment_id}/pack").status_code == 409


def test_an_event_type_logistics_does_not_handle_is_passed_over_by_its_header_a_mislabelled_one_is_decoded(
        module_world: World, service) -> None:
    """Every order.accepted passes logistics on orders.events; the relay's `ce_type` header lets
    it skip them without validating their data, once the envelope's own `type` agrees. Bytes
    labelled order.accepted that are no such envelope (issue 27, finding 8), and bad bytes
    labelled as a type it handles, are dead-lettered."""
    order_id = new_order_id()
    dlq = module_world.reader("orders.events.dlq")
    accepted = json.dumps(cloud_event("order.accepted", {"order_id": order_id, "not": "validated here"})).encode()
    with service.client() as http:
        shipment_id = queue_order(module_world, http, order_id)
        before = handled(http, module_world, "orders.events")
        module_world.publish_raw("orders.events", accepted, key=order_id, headers={"ce_type": "order.accepted"})
        module_world.publish_raw("orders.events", b"{not json", key=order_id, headers={"ce_type": "order.accepted"})
        module_world.publish_raw("orders.events", b"{not json", key=order_id, headers={"ce_type": "order.cancelled"})
        module_world.publish("orders.events", "order.cancelled", {"order_id": order_id, "reason": "customer"},
                             key=order_id)
        wait_for_shipment(http, shipment_id, "withdrawn")  # the consumer carried on past all three
        wait_handled(http, module_world, "orders.events", before + 4)
        letters = dlq.wait_for(lambda m: m.key == order_id, count=2)
        assert {m.headers["dlq.consumer"] for m in letters} == {"logistics"}
        assert all(m.headers["dlq.reason"].startswith("not JSON") for m in letters)
        assert len([m for m in dlq.settle(quiet_s=1.0) if m.key == order_id]) == 2  # the skipped one is not there


def test_an_exchange_ships_a_replacement_whose_dispatch_names_the_case(module_world: World, service, shipments) -> None:
    order_id, case_id = new_order_id(), f"C-{uuid.uuid4().hex[:6]}"
    with service.client() as http:
        queue_order(module_world, http, order_id, priority_class="high_value")  # the original order
    exchange = {"case_id": case_id, "order_id": order_id, "region": "Beijing",
                "lines": [{"sku": "SKU-CUP-01", "quantity": 1, "unit_price": "19.90", "weight_kg": "0.40"}],
                "requested_at": (BASE + timedelta(hours=1)).isoformat()}
    module_world.publish("aftersales.cases", "exchange.requested", exchange, key=order_id)
    module_world.publish("aftersales.cases", "exchange.requested", exchange, key=order_id)  # asked twice
    shipment_id = f"SHP-{order_id}-X-{case_id}"
    with service.client() as http:
        replacement = wait_for_shipment(http, shipment_id)
        assert replacement["replacement_for_case"] == case_id
        assert replacement["priority_class"] == "high_value"  # keeps the original order's class
        assert replacement["deadline_24h"] == (BASE + timedelta(hours=25)).isoformat()  # from the request
        at_risk = {o["shipment_id"] for o in http.get("/sla", params={"horizon_h": 48}).json()["at_risk"]["orders"]}
        http.post(f"/shipments/{shipment_id}/pack").raise_for_status()
        http.post(f"/shipments/{shipment_id}/ship", json={"tracking_number": f"JD{order_id[2:]}", "carrier": "JD"})
    [dispatched] = shipments.wait_for(lambda m: m.type == "shipment.dispatched" and m.data["order_id"] == order_id)
    assert dispatched.data["replacement_for_case"] == case_id
    # The SLA counts paid orders: the original is tracked, its replacement is not.
    assert f"SHP-{order_id}" in at_risk and shipment_id not in at_risk


def test_a_repeated_reservation_queues_one_shipment_and_a_bad_one_is_dead_lettered(module_world: World, service) -> None:
    order_id = new_order_id()
    dlq = module_world.reader("inventory.reservations.dlq")
    with service.client() as http:
        queue_order(module_world, http, order_id)
        module_world.publish("inventory.reservations", "stock.reserved", reserved(order_id), key=order_id)
        broken = reserved(new_order_id())
        broken["paid_at"] = "2026-06-18T00:00:00"  # no timezone
        module_world.publish("inventory.reservations", "stock.reserved", broken, key=broken["order_id"])
        [letter] = dlq.wait_for(lambda m: m.key == broken["order_id"])
        assert "paid_at" in letter.headers["dlq.reason"]
        queued = [s["order_id"] for s in http.get("/queue", params={"limit": 5000}).json()["shipments"]]
        assert queued.count(order_id) == 1


def test_bad_staff_input_gets_a_4xx_with_the_reason(service) -> None:
    with service.client() as http:
        assert http.post("/waves", json={"size": 0, "picker_id": "P-1"}).status_code == 422
        too_big = http.post("/waves", json={"size": 10_000, "picker_id": "P-1"})
        assert too_big.status_code == 422 and "largest wave" in too_big.json()["detail"]
        assert http.post("/waves", json={"size": 5, "picker_id": "bad id; drop"}).status_code == 422
        assert http.get("/shipments/SHP-nope").status_code == 404
        assert http.post("/shipments/SHP-nope/ship", json={"tracking_number": "T1"}).status_code == 404
        assert http.get("/capacity", params={"pickers": -1}).status_code == 422


def test_the_asyncapi_document_lists_what_logistics_consumes_and_publishes(service) -> None:
    with service.client() as http:
        document = http.get("/asyncapi.json").text
    for name in ("inventory.reservations", "orders.events", "carrier.events", "aftersales.cases",
                 "shipment.dispatched", "shipment.delivered", "shipment.exception"):
        assert name in document


def test_capacity_forecast_says_how_many_pickers_reach_80_percent(module_world: World, service) -> None:
    with service.client() as http:
        for i in range(30):
            queue_order(module_world, http, new_order_id(), paid_at=BASE + timedelta(minutes=i))
        few = http.get("/capacity", params={"pickers": 0, "picks_per_hour": 10}).json()
        needed = few["pickers_needed_for_target"]
        enough = http.get("/capacity", params={"pickers": needed, "picks_per_hour": 10}).json()
        one_less = http.get("/capacity", params={"pickers": needed - 1, "picks_per_hour": 10}).json()
    assert few["queue"] >= 30 and few["arrival_rate_per_hour"] > 0
    assert few["target_reachable"] is True and needed >= 1
    assert enough["projected_within_24h_pct"] >= 80.0
    assert one_less["projected_within_24h_pct"] < 80.0
