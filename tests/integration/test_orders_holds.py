"""The abuse guard's holds (R6) and orders needing attention, through the real broker with the real
orders, inventory and logistics services: a purchase limit and a brushing rule each hold an order
(order.held with the figures, nothing reserved), a release lets it reserve and ship, a cancelled
hold releases nothing twice, an unknown sku needs attention within seconds instead of waiting as
a backorder; and what an outsider may try against it."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.kafka import cloud_event
from tests.support.waiting import eventually
from tests.support.world import World

pytestmark = pytest.mark.integration

FLASH_LIMIT = 3
ADDRESS_MAX = 2
PROBLEM_JSON = "application/problem+json"


def rules(flash_sku: str) -> dict:
    return {"purchase_limits": [{"sku": flash_sku, "limit": FLASH_LIMIT}],
            "address_orders": {"max_orders": ADDRESS_MAX, "minutes": 10}}


@pytest.fixture(scope="module")
def platform(module_world: World, tmp_path_factory: pytest.TempPathFactory):
    flash = f"SKU-FLASH-{uuid.uuid4().hex[:6]}"
    rules_file = Path(tmp_path_factory.mktemp("rules")) / "abuse_rules.json"
    rules_file.write_text(json.dumps(rules(flash)))
    services = {
        "orders": module_world.start("orders", settings={"ABUSE_RULES_FILE": str(rules_file)}),
        "inventory": module_world.start("inventory"),
        "logistics": module_world.start("logistics"),
    }
    with services["inventory"].client("admin") as admin:
        for sku in (flash, "SKU-TEA-01"):
            r = admin.put(f"/skus/{sku}", json={"tier": "profit", "planned_stock": 1000, "on_hand": 1000})
            assert r.status_code == 200, r.text
    events = module_world.reader("orders.events")
    reservations = module_world.reader("inventory.reservations")
    return module_world, services, flash, events, reservations


def order_data(order_id: str, sku: str, *, customer: str, quantity: int = 1, address: str | None = None) -> dict:
    total = f"{49.90 * quantity:.2f}"
    data = {"order_id": order_id, "customer_id": customer, "order_type": "standard",
            "lines": [{"sku": sku, "quantity": quantity, "unit_price": "49.90", "gift": False}],
            "discount": "0.00", "paid_amount": total, "paid_at": "2026-11-11T00:00:03Z",
            "region": "Shanghai", "currency": "CNY"}
    if address is not None:
        data["delivery_address"] = address
    return data


def new_id(prefix: str = "O-H") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def of(order_id: str, type_: str):
    return lambda m: m.type == type_ and m.data.get("order_id") == order_id


def status(http: httpx.Client, order_id: str) -> str | None:
    r = http.get(f"/orders/{order_id}")
    return r.json()["status"] if r.status_code == 200 else None


def assert_problem(response: httpx.Response, status_code: int, kind: str) -> dict:
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == f"/problems/{kind}"
    return body


def ship(logistics, order_id: str) -> None:
    """The warehouse steps: the order's shipment comes out in a wave, is packed and handed over."""
    with logistics.client("warehouse", subject="picker-7") as warehouse:
        eventually(lambda: any(s["order_id"] == order_id for s in warehouse.get("/queue").json()["shipments"]),
                   what="the released order in logistics' dispatch queue")
        shipment = None
        for _ in range(20):
            wave = warehouse.post("/waves", json={"size": 50, "picker_id": "picker-7"})
            assert wave.status_code == 201, wave.text
            mine = [s for s in wave.json()["shipments"] if s["order_id"] == order_id]
            if mine:
                shipment = mine[0]
                break
        assert shipment is not None, "the shipment never came out in a wave"
        sid = shipment["shipment_id"]
        assert warehouse.post(f"/shipments/{sid}/pack", json={"picker_id": "picker-7"}).status_code == 200
        shipped = warehouse.post(f"/shipments/{sid}/ship", json={"tracking_number": f"SF{uuid.uuid4().hex[:10]}"})
        assert shipped.status_code == 200, shipped.text


def test_a_purchase_over_the_flash_sale_limit_is_held_and_once_released_reserves_and_ships(platform) -> None:
    world, services, flash, events, reservations = platform
    customer = new_id("C")
    first, second = new_id(), new_id()
    world.publish("platform.orders", "order.placed", order_data(first, flash, customer=customer, quantity=2),
                  key=first)
    events.wait_for(of(first, "order.accepted"))
    world.publish("platform.orders", "order.placed", order_data(second, flash, customer=customer, quantity=2),
                  key=second)

    [held] = events.wait_for(of(second, "order.held"))
    assert held.data["rule"] == "purchase_limit" and held.data["customer_id"] == customer
    assert held.data["figures"] == {"sku": flash, "bought_before": "2", "this_order": "2", "total": "4",
                                    "limit": str(FLASH_LIMIT)}
    assert f"would have 4 of flash-sale sku {flash}" in held.data["reason"]

    orders, inventory = services["orders"], services["inventory"]
    with orders.client("support", subject="agent-3") as support, inventory.client("admin") as admin:
        assert status(support, second) == "held"
        listed = support.get("/holds", params={"kind": "hold"}).json()["items"]
        [item] = [i for i in listed if i["order_id"] == second]
        assert item["rule"] == "purchase_limit" and item["status"] == "held" and item["customer_id"] == customer
        assert "the limit is 3 per customer" in item["reason"] and item["figures"]["total"] == "4"
        # Nothing reserves a held order: inventory never heard of it.
        assert admin.get(f"/reservations/{second}").status_code == 404

        # Only support and admin decide.
        for role in ("platform", "warehouse"):
            with orders.client(role) as other:
                assert_problem(other.post(f"/orders/{second}/release", json={}), 403, "forbidden")

        released = support.post(f"/orders/{second}/release", json={"note": "verified: a family order"})
        assert released.status_code == 200, released.text
        assert released.json() == {"order_id": second, "status": "accepted", "already_released": False}
        again = support.post(f"/orders/{second}/release", json={"note": "twice"})
        assert again.status_code == 200 and again.json()["already_released"] is True

        [note] = events.wait_for(of(second, "order.released"))
        assert note.data["released_by"] == "agent-3" and note.data["note"] == "verified: a family order"
        [accepted] = events.wait_for(of(second, "order.accepted"))
        [first_accepted] = [m for m in events.seen if of(first, "order.accepted")(m)]
        assert accepted.offset > note.offset or accepted.partition != note.partition
        assert accepted.data["priority_class"] == first_accepted.data["priority_class"] == "standard"
        assert accepted.data["priority_rank"].endswith(second)
        reservations.wait_for(of(second, "stock.reserved"))
        eventually(lambda: status(support, second) == "reserved", what="the released order reserved")
        assert second not in [i["order_id"] for i in support.get("/holds").json()["items"]]

        ship(services["logistics"], second)
        eventually(lambda: status(support, second) == "shipped", what="the released order shipped")
        body = support.get(f"/orders/{second}").json()
        assert body["hold"]["released_by"] == "http:agent-3(support)" and body["hold"]["rule"] == "purchase_limit"

    events.settle(quiet_s=1.5)
    assert len([m for m in events.seen if of(second, "order.accepted")(m)]) == 1  # released once


def test_many_orders_to_one_address_are_held_and_a_cancelled_hold_releases_nothing(platform) -> None:
    world, services, flash, events, reservations = platform
    address = f"Room {uuid.uuid4().hex[:6]}, 1 Huaihai Road"
    ids = [new_id() for _ in range(ADDRESS_MAX + 2)]
    for n, order_id in enumerate(ids):  # different customers: only the address repeats
        world.publish("platform.orders", "order.placed",
                      order_data(order_id, "SKU-TEA-01", customer=new_id("C"), address=address), key=order_id)
        events.wait_for(lambda m, o=order_id: m.data.get("order_id") == o and m.type in ("order.accepted",
                                                                                           "order.held"))
    outcomes = {m.data["order_id"]: m for m in events.seen if m.data.get("order_id") in ids
                and m.type in ("order.accepted", "order.held")}
    assert [outcomes[o].type for o in ids] == ["order.accepted"] * ADDRESS_MAX + ["order.held"] * 2
    held = outcomes[ids[ADDRESS_MAX]]
    assert held.data["rule"] == "address_orders"
    assert held.data["figures"] == {"orders": str(ADDRESS_MAX + 1), "max_orders": str(ADDRESS_MAX), "minutes": "10"}

    orders, inventory = services["orders"], services["inventory"]
    for order_id in ids[:ADDRESS_MAX]:
        reservations.wait_for(of(order_id, "stock.reserved"))
    with inventory.client("admin") as admin:
        before = admin.get("/stock/SKU-TEA-01").json()
    cancel_http, cancel_event = ids[ADDRESS_MAX], ids[ADDRESS_MAX + 1]
    with orders.client("support") as support:
        r = support.post(f"/orders/{cancel_http}/cancel", json={"reason": "brushing"})
        assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    world.publish("platform.orders", "order.cancellation_requested",
                  {"order_id": cancel_event, "reason": "platform risk check"}, key=cancel_event)
    for order_id in (cancel_http, cancel_event):
        events.wait_for(of(order_id, "order.cancelled"))
    with orders.client("support") as support, inventory.client("admin") as admin:
        eventually(lambda: all(status(support, o) == "cancelled" for o in (cancel_http, cancel_event)), what="cancelled")
        # Inventory heard order.cancelled for orders it never reserved: it remembers them, releases nothing.
        for order_id in (cancel_http, cancel_event):
            eventually(lambda o=order_id: admin.get(f"/reservations/{o}").status_code == 200, what="cancellation seen")
            assert admin.get(f"/reservations/{order_id}").json()["status"] == "cancelled"
        reservations.settle(quiet_s=1.5)
        assert not [m for m in reservations.seen if m.data.get("order_id") in (cancel_http, cancel_event)]
        after = admin.get("/stock/SKU-TEA-01").json()
        assert {k: after[k] for k in ("on_hand", "reserved", "available")} == {
            k: before[k] for k in ("on_hand", "reserved", "available")}
        held_now = [i["order_id"] for i in support.get("/holds").json()["items"]]
        assert cancel_http not in held_now and cancel_event not in held_now
        # A cancelled hold cannot be released afterwards.
        body = assert_problem(support.post(f"/orders/{cancel_http}/release"), 409, "conflict")
        assert "is cancelled, not held" in body["detail"]


def test_an_unknown_sku_needs_attention_within_seconds_and_is_not_backordered(platform) -> None:
    world, services, flash, events, reservations = platform
    order_id, ghost = new_id(), f"SKU-GHOST-{uuid.uuid4().hex[:6]}"
    data = order_data(order_id, "SKU-TEA-01", customer=new_id("C"))
    data["lines"].append({"sku": ghost, "quantity": 1, "unit_price": "0.00", "gift": True})
    started = time.monotonic()
    world.publish("platform.orders", "order.placed", data, key=order_id)

    [unknown] = reservations.wait_for(of(order_id, "stock.sku_unknown"))
    assert unknown.data["skus"] == [ghost]
    orders, inventory = services["orders"], services["inventory"]
    with orders.client("support") as support, inventory.client("admin") as admin:
        eventually(lambda: status(support, order_id) == "needs_attention", what="needs attention", timeout_s=10)
        took = time.monotonic() - started
        body = support.get(f"/orders/{order_id}").json()
        assert body["hold"]["kind"] == "attention" and body["hold"]["rule"] == "sku_unknown"
        assert f"inventory does not know sku(s) {ghost}" in body["hold"]["reason"]
        [item] = [i for i in support.get("/holds", params={"kind": "attention"}).json()["items"]
                  if i["order_id"] == order_id]
        assert item["status"] == "needs_attention" and item["figures"]["skus"] == ghost
        # Inventory keeps nothing waiting for it: refused, not backordered, and the known line is not reserved.
        assert admin.get(f"/reservations/{order_id}").json()["status"] == "sku_unknown"
        assert admin.get("/stock/SKU-TEA-01").json()["waiting_orders"] == 0
        reservations.settle(quiet_s=1.0)
        assert [m.type for m in reservations.seen if m.data.get("order_id") == order_id] == ["stock.sku_unknown"]
        # A person cancels it; inventory has nothing to give back.
        assert support.post(f"/orders/{order_id}/cancel", json={"reason": "sku unknown"}).status_code == 200
        events.wait_for(of(order_id, "order.cancelled"))
        eventually(lambda: order_id not in [i["order_id"] for i in support.get("/holds").json()["items"]],
                   what="off the list once cancelled")
    print(f"\n[holds] unknown sku visible as needing attention after {took:.1f}s")


def test_a_burst_of_one_customers_orders_stops_exactly_at_the_limit(platform) -> None:
    """Orders of one customer published together (so several share a consumer batch, on several
    partitions): whatever the order they are applied in, exactly the limit's worth goes on."""
    world, services, flash, events, _ = platform
    customer = new_id("C")
    ids = [new_id() for _ in range(8)]
    world.publisher.send_many_raw(world.topic("platform.orders"), [
        (order_id, json.dumps(cloud_event("order.placed", order_data(order_id, flash, customer=customer),
                                          subject=order_id)).encode()) for order_id in ids])
    decided = events.wait_for(lambda m: m.data.get("order_id") in ids and m.type in ("order.accepted", "order.held"),
                              count=len(ids))
    kinds = sorted(m.type for m in decided)
    assert kinds == ["order.accepted"] * FLASH_LIMIT + ["order.held"] * (len(ids) - FLASH_LIMIT)
    totals = sorted(int(m.data["figures"]["total"]) for m in decided if m.type == "order.held")
    assert totals == list(range(FLASH_LIMIT + 1, len(ids) + 1))  # each counted every order before it


def test_what_an_outsider_may_try(platform) -> None:
    world, services, flash, events, _ = platform
    orders = services["orders"]
    with orders.client("support") as support, orders.client("platform") as platform_http:
        assert_problem(support.post("/orders/O-NEVER-SEEN/release"), 404, "not-found")
        fine = new_id()
        world.publish("platform.orders", "order.placed", order_data(fine, "SKU-TEA-01", customer=new_id("C")),
                      key=fine)
        events.wait_for(of(fine, "order.accepted"))
        eventually(lambda: status(support, fine) is not None, what="accepted")
        body = assert_problem(support.post(f"/orders/{fine}/release", json={"note": "x"}), 409, "conflict")
        assert "not held" in body["detail"]
        assert_problem(support.post(f"/orders/{fine}/release", json={"note": "x" * 501}), 422, "invalid-request")

        # The delivery address is compared, so the contract refuses what would make two look alike.
        for spoiled, words in (("Room\u200b5", "U+200B ZERO WIDTH SPACE"), ("x" * 10_240, "at most 200"),
                               ("Room\x005", "U+0000"), ("\u202eRoom 5", "U+202E"), (" Room 5", "white space")):
            r = platform_http.post("/orders", json=order_data(new_id(), "SKU-TEA-01", customer="C-1",
                                                              address=spoiled))
            detail = assert_problem(r, 422, "invalid-request")["detail"]
            assert "delivery_address" in detail and words in detail, detail
        sneaky = new_id()
        world.publish("platform.orders", "order.placed",
                      order_data(sneaky, "SKU-TEA-01", customer="C-1", address="Room\u200b5"), key=sneaky)
        [rejected] = events.wait_for(of(sneaky, "order.rejected"))
        assert "delivery_address" in rejected.data["reason"]

        # The rules: support reads, only admin replaces; a bad document is refused with the reason.
        assert support.get("/abuse-rules").json()["rules"]["purchase_limits"][0]["sku"] == flash
        assert_problem(support.put("/abuse-rules", json={}), 403, "forbidden")
    with orders.client("admin", subject="ops") as admin:
        body = assert_problem(admin.put("/abuse-rules", json={"customer_orders": {"max_orders": 0, "minutes": 1}}),
                              422, "invalid-request")
        assert "customer_orders.max_orders" in body["detail"]
        current = admin.get("/abuse-rules").json()
        replaced = admin.put("/abuse-rules", json=current["rules"])
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["version"] == current["version"] + 1
        assert replaced.json()["source"] == "PUT /abuse-rules by http:ops(admin)"


def test_two_instances_sharing_one_database_stop_a_customer_exactly_at_the_limit(world: World, tmp_path) -> None:
    """Scaled out: two orders instances in one consumer group, each applying other partitions of
    the same customer's orders at the same time (SQLite: the file's write lock; PostgreSQL: the
    per-customer advisory lock). Neither may count below the limit while the other accepts."""
    rules_file = tmp_path / "abuse_rules.json"
    rules_file.write_text(json.dumps(rules("SKU-TWIN")))
    settings = {"ABUSE_RULES_FILE": str(rules_file), "CONSUMER_BATCH_SIZE": "4"}
    first = world.start("orders", instance="1", settings=settings)
    second = world.start("orders", instance="2", settings=settings)
    events = world.reader("orders.events")
    # Both instances own partitions before the burst: canaries until each has applied one.
    for _ in range(60):
        if min(placed_count(first), placed_count(second)) > 0:
            break
        canary = new_id("O-CANARY")
        world.publish("platform.orders", "order.placed", order_data(canary, "SKU-TEA-01", customer=new_id("C")),
                      key=canary)
        time.sleep(0.5)
    before = placed_count(first), placed_count(second)
    assert min(before) > 0, f"an instance never got a partition: {before}"
    customer = new_id("C")
    ids = [new_id() for _ in range(24)]
    world.publisher.send_many_raw(world.topic("platform.orders"), [
        (order_id, json.dumps(cloud_event("order.placed", order_data(order_id, "SKU-TWIN", customer=customer),
                                          subject=order_id)).encode()) for order_id in ids])
    decided = events.wait_for(lambda m: m.data.get("order_id") in ids and m.type in ("order.accepted", "order.held"),
                              count=len(ids), timeout_s=60)
    assert sorted(m.type for m in decided) == ["order.accepted"] * FLASH_LIMIT + ["order.held"] * (len(ids) - FLASH_LIMIT)
    assert sorted(int(m.data["figures"]["total"]) for m in decided if m.type == "order.held") == list(
        range(FLASH_LIMIT + 1, len(ids) + 1))
    shares = placed_count(first) - before[0], placed_count(second) - before[1]
    assert min(shares) > 0, f"one instance applied the whole burst: {shares}"
    print(f"\n[holds] the burst's orders applied by each instance: {shares}")
    with first.client("support") as a, second.client("support") as b:
        assert len([i for i in a.get("/holds", params={"limit": 100}).json()["items"] if i["customer_id"] == customer]) \
            == len(ids) - FLASH_LIMIT
        assert b.get("/abuse-rules").json()["rules"]["purchase_limits"][0]["sku"] == "SKU-TWIN"


def placed_count(service) -> float:
    """order.placed events the instance consumed (its /metrics)."""
    with service.anonymous_client() as client:
        text = client.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("peak_events_consumed_total{") and 'type="order.placed"' in line)
