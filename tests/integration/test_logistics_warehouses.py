"""Several warehouses (issue 34), logistics' part, through the real broker: a stock.reserved with
parts opens one shipment per part, each in its own warehouse's queue and waves; the order ships
with its last part (shipment.dispatched `order_complete`, the 24h/48h figures), while each
warehouse's figures count its part by its own hand-over; redelivery, cancellation, carriers
that collect from one warehouse only, and parts that do not add up (dead letters)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.waiting import handled
from tests.support.world import World

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)

# "NE" collects from the north warehouse only, and is every rule's first choice.
CARRIERS = {
    "carriers": [
        {"code": "NE", "name": "North Express", "daily_capacity": 100, "warehouses": ["north"]},
        {"code": "SF", "name": "SF Express", "daily_capacity": 100},
        {"code": "ZTO", "name": "ZTO Express", "daily_capacity": 100},
    ],
    "rules": [{"name": "default", "carriers": ["NE", "SF", "ZTO"]}],
}


def reserved(order_id: str, parts: list[dict] | None, *, paid_at: datetime = BASE) -> dict:
    return {
        "order_id": order_id, "order_type": "standard", "priority_class": "standard",
        "priority_rank": f"2-{int(paid_at.timestamp())}-{order_id}",
        "lines": [{"sku": "SKU-A", "quantity": 3, "unit_price": "10.00", "weight_kg": "2.00", "volume_l": "1.00"},
                  {"sku": "SKU-B", "quantity": 1, "unit_price": "5.00", "weight_kg": "0.50", "volume_l": "0.50"}],
        "region": "Zhejiang", "paid_at": paid_at.isoformat(), "reserved_at": paid_at.isoformat(),
        **({"parts": parts} if parts is not None else {}),
    }


SPLIT = [{"warehouse": "east", "lines": [{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 1}]},
         {"warehouse": "north", "lines": [{"sku": "SKU-A", "quantity": 1}]}]


def new_order_id() -> str:
    return f"O-{uuid.uuid4().hex[:8]}"


def ids_of(order_id: str) -> tuple[str, str]:
    return f"SHP:{len(order_id)}:{order_id}:east", f"SHP:{len(order_id)}:{order_id}:north"


def wait_for(check, what: str, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout_s}s: {what}")
        time.sleep(0.1)


def shipments_of(http: httpx.Client, order_id: str) -> list[dict]:
    return http.get("/shipments", params={"order_id": order_id}).json()["items"]


def queued_ids(http: httpx.Client, warehouse: str | None) -> list[str]:
    params = {"limit": 5000} | ({"warehouse": warehouse} if warehouse else {})
    page = http.get("/queue", params=params)
    page.raise_for_status()
    return [s["shipment_id"] for s in page.json()["shipments"]]


def set_clock(http: httpx.Client, now: datetime) -> None:
    http.put("/clock", json={"now": now.isoformat()}).raise_for_status()


def start(world: World, tmp: Path):  # type: ignore[no-untyped-def]
    carriers = tmp / "carriers.json"
    carriers.write_text(json.dumps(CARRIERS))
    return world.start_at("logistics", BASE + timedelta(hours=2), settings={"CARRIERS_FILE": str(carriers)})


@pytest.fixture(scope="module")
def service(module_world: World, tmp_path_factory: pytest.TempPathFactory):
    return start(module_world, tmp_path_factory.mktemp("carriers"))


def test_a_split_order_ships_from_two_warehouses_and_counts_as_shipped_at_its_second_hand_over(
        world: World, tmp_path: Path) -> None:
    service = start(world, tmp_path)
    events = world.reader("logistics.shipments")
    order_id = new_order_id()
    east_id, north_id = ids_of(order_id)
    world.publish("inventory.reservations", "stock.reserved", reserved(order_id, SPLIT), key=order_id)
    with service.client() as http:
        found = wait_for(lambda: len(shipments_of(http, order_id)) == 2 and shipments_of(http, order_id),
                         "two shipments")
        by_id = {s["shipment_id"]: s for s in found}
        assert set(by_id) == {east_id, north_id}
        east, north = http.get(f"/shipments/{east_id}").json(), http.get(f"/shipments/{north_id}").json()
        assert (east["warehouse"], north["warehouse"], east["order_parts"]) == ("east", "north", 2)
        assert [(l["sku"], l["quantity"]) for l in east["lines"]] == [("SKU-A", 2), ("SKU-B", 1)]
        assert [(l["sku"], l["quantity"]) for l in north["lines"]] == [("SKU-A", 1)]
        assert (east["weight_kg"], north["weight_kg"]) == ("4.50", "2.00")

        # Each part in its own warehouse's queue; `main` (the default) has neither.
        assert queued_ids(http, "east") == [east_id] and queued_ids(http, "north") == [north_id]
        assert queued_ids(http, None) == [] and queued_ids(http, "main") == []
        assert http.get("/queue", params={"warehouse": "east"}).json()["warehouse"] == "east"

        # Both unshipped: the order is at risk once overall, each part in its warehouse's list.
        sla = http.get("/sla", params={"horizon_h": 24}).json()
        assert [o["order_id"] for o in sla["at_risk"]["orders"]] == [order_id] and sla["at_risk"]["count"] == 1
        assert sla["overall"]["orders_paid"] == 1 and sla["by_warehouse"]["east"]["orders_paid"] == 1
        east_sla = http.get("/sla", params={"warehouse": "east", "horizon_h": 24}).json()
        assert east_sla["warehouse"] == "east"
        assert [o["shipment_id"] for o in east_sla["at_risk"]["orders"]] == [east_id]

        # A picker's wave is one warehouse's: a main picker gets nothing, an east one the east part.
        assert http.post("/waves", json={"size": 10, "picker_id": "P-M"}).json()["size"] == 0
        wave = http.post("/waves", json={"size": 10, "picker_id": "P-E", "warehouse": "east"}).json()
        assert wave["warehouse"] == "east" and [s["shipment_id"] for s in wave["shipments"]] == [east_id]
        assert http.get(f"/waves/{wave['wave_id']}").json()["warehouse"] == "east"
        north_wave = http.post("/waves", json={"size": 10, "picker_id": "P-N", "warehouse": "north"}).json()
        assert [s["shipment_id"] for s in north_wave["shipments"]] == [north_id]
        for shipment_id, picker in ((east_id, "P-E"), (north_id, "P-N")):
            http.post(f"/shipments/{shipment_id}/pack", json={"picker_id": picker}).raise_for_status()

        # First hand-over at 10 h: the order is not complete, nor counted shipped.
        set_clock(http, BASE + timedelta(hours=10))
        first = http.post(f"/shipments/{east_id}/ship", json={"tracking_number": "EAST1"})
        assert first.status_code == 200, first.text
        first = first.json()
        assert first["carrier"] == "SF"  # NE collects from north only
        [dispatched] = events.wait_for(lambda m: m.type == "shipment.dispatched" and m.data["order_id"] == order_id)
        assert dispatched.data["warehouse"] == "east" and dispatched.data["order_complete"] is False
        assert dispatched.data["lines"] == [{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 1}]
        sla = http.get("/sla").json()
        assert sla["overall"]["shipped"] == 0 and sla["overall"]["not_yet_shipped"] == 1
        assert sla["by_warehouse"]["east"]["shipped_within_24h"] == 1
        assert sla["by_warehouse"]["north"]["shipped"] == 0

        # The second at 30 h: complete; the order shipped then (late for 24 h, within 48 h).
        set_clock(http, BASE + timedelta(hours=30))
        second = http.post(f"/shipments/{north_id}/ship", json={"tracking_number": "NORTH1"}).json()
        assert second["carrier"] == "NE"
        both = events.wait_for(lambda m: m.type == "shipment.dispatched" and m.data["order_id"] == order_id, count=2)
        last = next(m for m in both if m.data["shipment_id"] == north_id)
        assert last.data["warehouse"] == "north" and last.data["order_complete"] is True
        assert last.data["lines"] == [{"sku": "SKU-A", "quantity": 1}]
        sla = http.get("/sla").json()
        overall = sla["overall"]
        assert (overall["orders_paid"], overall["shipped"], overall["shipped_within_24h"],
                overall["shipped_within_48h"]) == (1, 1, 0, 1)
        assert sla["by_warehouse"]["east"]["shipped_within_24h"] == 1
        north_figures = sla["by_warehouse"]["north"]
        assert (north_figures["shipped"], north_figures["shipped_within_24h"],
                north_figures["shipped_within_48h"]) == (1, 0, 1)
        assert http.get("/sla", params={"warehouse": "north"}).json()["overall"] == north_figures
        metrics = http.get("/metrics").text
        assert 'peak_sla_warehouse_shipped_within_24h_ratio{warehouse="east"} 1.0' in metrics
        assert 'peak_sla_warehouse_shipped_within_24h_ratio{warehouse="north"} 0.0' in metrics
        assert "peak_sla_shipped_within_24h_ratio 0.0" in metrics  # the order: shipped at 30 h
        # The chart: the order dispatched in the hour of its last part, not its first.
        dispatched_hours = {b["hour"]: b["dispatched"] for b in sla["hourly"] if b["dispatched"]}
        assert dispatched_hours == {(BASE + timedelta(hours=30)).isoformat(): 1}


def test_a_redelivered_reservation_opens_nothing_twice_and_a_cancellation_withdraws_both_parts(
        module_world: World, service) -> None:
    order_id = new_order_id()
    east_id, north_id = ids_of(order_id)
    with service.client() as http:
        module_world.publish("inventory.reservations", "stock.reserved", reserved(order_id, SPLIT), key=order_id)
        wait_for(lambda: len(shipments_of(http, order_id)) == 2, "two shipments")
        # The same reservation again (a new event id, so not the inbox's duplicate), and a later
        # event on the same key to know the repeat was handled.
        module_world.publish("inventory.reservations", "stock.reserved", reserved(order_id, SPLIT), key=order_id)
        module_world.publish("inventory.reservations", "stock.reserved", reserved(order_id, list(reversed(SPLIT))),
                             key=order_id)
        marker = new_order_id()
        module_world.publish("inventory.reservations", "stock.reserved", reserved(marker, None), key=order_id)
        wait_for(lambda: shipments_of(http, marker), "the marker order")
        assert sorted(s["shipment_id"] for s in shipments_of(http, order_id)) == [east_id, north_id]
        assert queued_ids(http, "east").count(east_id) == 1

        module_world.publish("orders.events", "order.cancelled", {
            "order_id": order_id, "reason": "customer", "cancelled_at": (BASE + timedelta(hours=1)).isoformat()},
            key=order_id)
        withdrawn = wait_for(lambda: all(s["status"] == "withdrawn" for s in shipments_of(http, order_id))
                             and shipments_of(http, order_id), "both parts withdrawn")
        assert len(withdrawn) == 2
        assert east_id not in queued_ids(http, "east") and north_id not in queued_ids(http, "north")


def test_one_part_keeps_the_whole_orders_shipment_id_and_its_hand_over_completes_the_order(
        module_world: World, service) -> None:
    events = module_world.reader("logistics.shipments")
    order_id = new_order_id()
    whole = [{"warehouse": "north", "lines": [{"sku": "SKU-A", "quantity": 3}, {"sku": "SKU-B", "quantity": 1}]}]
    with service.client() as http:
        module_world.publish("inventory.reservations", "stock.reserved", reserved(order_id, whole), key=order_id)
        shipment_id = f"SHP-{order_id}"
        wait_for(lambda: http.get(f"/shipments/{shipment_id}").status_code == 200, "the shipment")
        shipment = http.get(f"/shipments/{shipment_id}").json()
        assert (shipment["warehouse"], shipment["order_parts"]) == ("north", 1)
        assert shipment_id in queued_ids(http, "north")
        http.post(f"/shipments/{shipment_id}/pack").raise_for_status()
        http.post(f"/shipments/{shipment_id}/ship", json={"tracking_number": f"W{order_id[2:]}"}).raise_for_status()
    [dispatched] = events.wait_for(lambda m: m.type == "shipment.dispatched" and m.data["order_id"] == order_id)
    assert dispatched.data["warehouse"] == "north" and dispatched.data["order_complete"] is True
    assert dispatched.data["lines"] == []


def test_a_carrier_restricted_to_a_warehouse_is_never_chosen_for_another_warehouses_shipment(
        module_world: World, service) -> None:
    order_id = new_order_id()
    east_id, north_id = ids_of(order_id)
    with service.client() as http:
        module_world.publish("inventory.reservations", "stock.reserved", reserved(order_id, SPLIT), key=order_id)
        wait_for(lambda: len(shipments_of(http, order_id)) == 2, "two shipments")
        east = http.get(f"/shipments/{east_id}").json()
        assert east["suggested_carrier"]["carrier"] == "SF"
        assert {"carrier": "NE", "reason": "NE does not collect from warehouse east"} in (
            east["suggested_carrier"]["passed_over"])
        assert http.get(f"/shipments/{north_id}").json()["suggested_carrier"]["carrier"] == "NE"
        http.post(f"/shipments/{east_id}/pack").raise_for_status()
        refused = http.post(f"/shipments/{east_id}/ship", json={"tracking_number": f"X{order_id[2:]}",
                                                                "carrier": "NE"})
        assert refused.status_code == 409 and "does not collect from warehouse east" in refused.json()["detail"]
        batch = http.post("/shipments/ship-batch", json={"carrier": "NE", "parcels": [
            {"shipment_id": east_id, "tracking_number": f"Y{order_id[2:]}"}]}).json()
        assert batch["shipped"] == [] and "does not collect" in batch["refused"][0]["reason"]
        dock = http.get("/dock", params={"warehouse": "east"}).json()
        assert [s["shipment_id"] for s in dock["shipments"]] == [east_id]
        assert http.get("/dock").json()["packed"] == 0
        carriers = {c["code"]: c for c in http.get("/carriers").json()["carriers"]}
        assert carriers["NE"]["warehouses"] == ["north"] and carriers["SF"]["warehouses"] == "all"


@pytest.mark.parametrize("parts, words", [
    ([{"warehouse": "east", "lines": [{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 1}]},
      {"warehouse": "north", "lines": [{"sku": "SKU-A", "quantity": 2}]}], "SKU-A: 3 ordered, 4 in the parts"),
    ([{"warehouse": "east", "lines": [{"sku": "SKU-A", "quantity": 3}, {"sku": "SKU-B", "quantity": 1}]},
      {"warehouse": "north", "lines": [{"sku": "SKU-Z", "quantity": 1}]}], "SKU-Z is not in the order"),
])
def test_parts_that_do_not_add_up_to_the_order_are_dead_lettered_and_the_consumer_carries_on(
        module_world: World, service, parts: list[dict], words: str) -> None:
    dlq = module_world.reader("inventory.reservations.dlq")
    bad, good = new_order_id(), new_order_id()
    with service.client() as http:
        module_world.publish("inventory.reservations", "stock.reserved", reserved(bad, parts), key=bad)
        module_world.publish("inventory.reservations", "stock.reserved", reserved(good, SPLIT), key=bad)
        [letter] = dlq.wait_for(lambda m: m.key == bad)
        assert words in letter.headers["dlq.reason"] and bad in letter.headers["dlq.reason"]
        wait_for(lambda: len(shipments_of(http, good)) == 2, "the next order's shipments")
        assert shipments_of(http, bad) == []


def test_a_warehouse_that_is_not_an_id_is_a_422_problem(service) -> None:
    with service.client() as http:
        for path in ("/queue", "/sla", "/dock"):
            answer = http.get(path, params={"warehouse": "east; drop"})
            assert answer.status_code == 422, path
            assert answer.headers["content-type"].startswith("application/problem+json")
        wave = http.post("/waves", json={"size": 1, "picker_id": "P-1", "warehouse": "no such\u200bwarehouse"})
        assert wave.status_code == 422 and wave.headers["content-type"].startswith("application/problem+json")


def test_a_cancellation_before_the_split_reservation_opens_both_parts_withdrawn(module_world: World, service) -> None:
    order_id = new_order_id()
    with service.client() as http:
        before = handled(http, module_world, "orders.events")
        module_world.publish("orders.events", "order.cancelled", {"order_id": order_id, "reason": "customer"},
                             key=order_id)
        wait_for(lambda: handled(http, module_world, "orders.events") > before, "the cancellation handled")
        module_world.publish("inventory.reservations", "stock.reserved", reserved(order_id, SPLIT), key=order_id)
        found = wait_for(lambda: len(shipments_of(http, order_id)) == 2 and shipments_of(http, order_id), "parts")
        assert {s["status"] for s in found} == {"withdrawn"}


def test_a_split_deposit_presale_queues_every_part_when_its_balance_arrives(module_world: World, service) -> None:
    order_id = new_order_id()
    east_id, north_id = ids_of(order_id)
    presale = reserved(order_id, SPLIT) | {"order_type": "presale", "priority_class": "presale",
                                           "awaiting_balance": True}
    with service.client() as http:
        module_world.publish("inventory.reservations", "stock.reserved", presale, key=order_id)
        found = wait_for(lambda: len(shipments_of(http, order_id)) == 2 and shipments_of(http, order_id), "parts")
        assert {s["status"] for s in found} == {"awaiting_balance"}
        balance_at = BASE + timedelta(hours=1)
        module_world.publish("orders.events", "order.balance_received", {
            "order_id": order_id, "balance_amount": "20.00", "paid_amount": "35.00",
            "balance_paid_at": balance_at.isoformat(), "priority_rank": f"0-{order_id}",
            "received_at": balance_at.isoformat()}, key=order_id)
        found = wait_for(lambda: {s["status"] for s in shipments_of(http, order_id)} == {"queued"}
                         and shipments_of(http, order_id), "both parts queued")
        assert {s["paid_at"] for s in found} == {balance_at.isoformat()}
        assert east_id in queued_ids(http, "east") and north_id in queued_ids(http, "north")


@pytest.mark.parametrize("first, second", [(None, SPLIT), (SPLIT, None),
                                           (SPLIT, [{**SPLIT[0], "warehouse": "south"}, SPLIT[1]])],
                         ids=["whole-then-split", "split-then-whole", "split-then-other-warehouses"])
def test_a_second_reservation_of_an_order_with_other_parts_is_dead_lettered_and_ships_nothing_twice(
        module_world: World, service, first: list[dict] | None, second: list[dict] | None) -> None:
    """The same order id twice with other content (a faulty or hostile sender of stock.reserved):
    the first reservation stands, the second is a dead letter with the reason, in one batch or
    in two, and the next order on the key is queued."""
    dlq = module_world.reader("inventory.reservations.dlq")
    order_id, marker = new_order_id(), new_order_id()
    with service.client() as http:
        module_world.publish("inventory.reservations", "stock.reserved", reserved(order_id, first), key=order_id)
        opened = sorted(s["shipment_id"] for s in wait_for(lambda: shipments_of(http, order_id), "first shipments"))
        module_world.publish("inventory.reservations", "stock.reserved", reserved(order_id, second), key=order_id)
        module_world.publish("inventory.reservations", "stock.reserved", reserved(marker, None), key=order_id)
        [letter] = dlq.wait_for(lambda m: m.key == order_id)
        assert "already queued as" in letter.headers["dlq.reason"] and "other parts" in letter.headers["dlq.reason"]
        wait_for(lambda: shipments_of(http, marker), "the next order on the key")
        assert sorted(s["shipment_id"] for s in shipments_of(http, order_id)) == opened
        # Both at once: one consumer batch sees the first shipment it added.
        twice = new_order_id()
        module_world.publish("inventory.reservations", "stock.reserved", reserved(twice, first), key=twice)
        module_world.publish("inventory.reservations", "stock.reserved", reserved(twice, second), key=twice)
        dlq.wait_for(lambda m: m.key == twice)
        assert len(shipments_of(http, twice)) == (1 if first is None else 2)
