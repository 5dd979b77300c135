"""R7 under contention: 5,000 orders at once over five skus with far less stock than demand, two
inventory instances in one consumer group sharing one database. No oversell, every order decided
exactly once, and the figures explained by the ledger."""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.test_inventory_stock import PAID_AT, accepted_order, write_catalog
from tests.support.kafka import cloud_event
from tests.support.world import World

pytestmark = pytest.mark.integration

ORDERS = 5_000
CATALOG = [  # (sku, tier, planned, on hand): 1,350 units against roughly 20,000 wanted
    ("C-TEA", "traffic_driver", 400, 400),
    ("C-CUP", "traffic_driver", 300, 300),
    ("C-KETTLE", "profit", 300, 300),
    ("C-FILTER", "profit", 200, 200),
    ("C-SET", "hot", 150, 150),
]
CLASSES = ("presale", "high_value", "standard")


def random_orders(rng: random.Random) -> list[dict]:
    skus = [sku for sku, *_ in CATALOG]
    orders = []
    for n in range(ORDERS):
        order_id = f"CT-{n:05d}"
        lines = [(sku, rng.randint(1, 3)) for sku in rng.sample(skus, rng.randint(1, 3))]
        if rng.random() < 0.2:
            lines.append(("C-CUP", 1, True))  # a free gift needs stock too
        orders.append(accepted_order(order_id, lines, priority_class=rng.choice(CLASSES),
                                     paid_at=PAID_AT + timedelta(milliseconds=rng.randint(0, 3_600_000))))
    return orders


def consumed_orders_events(metrics_text: str) -> float:
    pattern = r'^peak_events_consumed_total\{topic="[^"]*orders\.events",type="order\.accepted"\} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, metrics_text, re.MULTILINE))


def handler_seconds(metrics_text: str) -> float:
    """Mean time to process one orders.events message, decode to commit."""
    total = re.search(r'^peak_handler_seconds_sum\{topic="[^"]*orders\.events"\} (\S+)$', metrics_text, re.MULTILINE)
    count = re.search(r'^peak_handler_seconds_count\{topic="[^"]*orders\.events"\} (\S+)$', metrics_text, re.MULTILINE)
    return float(total.group(1)) / float(count.group(1)) if total and count and float(count.group(1)) else 0.0


def whole_ledger(http, sku: str) -> dict:
    """The sku's ledger with every entry: its pages, followed to the last."""
    ledger = http.get(f"/ledger/{sku}", params={"limit": 500}).json()
    entries = list(ledger["entries"])
    while ledger["next_cursor"]:
        ledger = http.get(f"/ledger/{sku}", params={"limit": 500, "cursor": ledger["next_cursor"]}).json()
        entries += ledger["entries"]
    return {**ledger, "entries": entries}


def test_five_thousand_orders_at_once_on_two_instances_never_oversell_and_each_is_decided_once(
        world: World, tmp_path: Path) -> None:
    shared_db = tmp_path / "shared-db"
    catalog = write_catalog(tmp_path, CATALOG)
    settings = {"CATALOG_PATH": str(catalog)}
    a = world.start("inventory", instance="a", db_dir=shared_db, settings=settings)
    b = world.start("inventory", instance="b", db_dir=shared_db, settings=settings)
    assert a.db_path == b.db_path
    outcomes = world.reader("inventory.reservations")
    orders = random_orders(random.Random(4))
    items = [(o["order_id"], json.dumps(cloud_event("order.accepted", o, subject=o["order_id"])).encode())
             for o in orders]

    started = time.monotonic()
    world.publisher.send_many_raw(world.topic("orders.events"), items)
    published = time.monotonic()
    # SQLite here: 20-50 s on the shared 2-core machine; the bound leaves room for PostgreSQL runs
    # (make test-postgres), where batches of two instances deadlock on sku rows now and then.
    outcomes.wait_for(lambda m: m.type in ("stock.reserved", "stock.backordered"), count=ORDERS, timeout_s=170)
    finished = time.monotonic()
    print(f"\n[contention] {ORDERS} orders published in {published - started:.1f}s, all decided after "
          f"{finished - started:.1f}s: {ORDERS / (finished - started):.0f} orders/s end to end")

    # Every order is either reserved or backordered, exactly once.
    outcomes.settle(2.0)
    decided = [m for m in outcomes.seen if m.type in ("stock.reserved", "stock.backordered")]
    per_order = Counter(m.data["order_id"] for m in decided)
    assert set(per_order) == {o["order_id"] for o in orders}
    assert set(per_order.values()) == {1}
    kinds = Counter(m.type for m in decided)
    assert kinds["stock.reserved"] > 0 and kinds["stock.backordered"] > 0
    print(f"[contention] {kinds['stock.reserved']} reserved, {kinds['stock.backordered']} backordered")

    # Reserved stock is exactly what the reserved orders hold, and never more than was there.
    reserved_by_events = Counter()
    for m in decided:
        if m.type == "stock.reserved":
            for line in m.data["lines"]:
                reserved_by_events[line["sku"]] += line["quantity"]
    with a.client("warehouse") as http:
        figures = {s["sku"]: s for s in http.get("/stock").json()["skus"]}
        ledgers = {sku: whole_ledger(http, sku) for sku in figures}
    for sku, _tier, _planned, on_hand in CATALOG:
        f = figures[sku]
        assert f["reserved"] + f["available"] == f["on_hand"] == on_hand, f
        assert 0 <= f["reserved"] <= on_hand and f["available"] >= 0, f
        assert f["reserved"] == reserved_by_events[sku], (sku, f["reserved"], reserved_by_events[sku])
        # The ledger explains the figures, and replayed in order it never reserves more than on hand.
        ledger = ledgers[sku]
        assert ledger["consistent"], sku
        running_on_hand = running_reserved = 0
        for entry in ledger["entries"]:
            running_on_hand += entry["on_hand_delta"]
            running_reserved += entry["reserved_delta"]
            assert 0 <= running_reserved <= running_on_hand, (sku, entry)

    # Both instances did part of the work (the group shared the partitions).
    with a.client() as http_a, b.client() as http_b:
        share_a = consumed_orders_events(http_a.get("/metrics").text)
        share_b = consumed_orders_events(http_b.get("/metrics").text)
        handler_a = handler_seconds(http_a.get("/metrics").text)
        handler_b = handler_seconds(http_b.get("/metrics").text)
    print(f"[contention] instance a consumed {share_a:.0f} (handler mean {handler_a * 1000:.1f} ms), "
          f"instance b consumed {share_b:.0f} (handler mean {handler_b * 1000:.1f} ms)")
    assert share_a > 0 and share_b > 0
    assert share_a + share_b >= ORDERS


# ---------------------------------------------------------------------------------------------
# Several warehouses (issue 34): the same harness, stock spread over three warehouses

WAREHOUSES = [
    {"id": "north", "regions": ["beijing", "tianjin"], "reaches": ["shanghai"], "pickers": 10},
    {"id": "east", "regions": ["shanghai"], "reaches": ["beijing", "shenzhen"], "pickers": 10},
    {"id": "south", "regions": ["shenzhen"], "reaches": ["shanghai"], "pickers": 10},
]
REGIONS = ("beijing", "tianjin", "shanghai", "shenzhen", "lhasa")  # lhasa: served by none
POLICIES = ("fewest_shipments", "fastest", "own_region")
STOCK_BY_WAREHOUSE = {  # sku -> warehouse -> units: 1,350 units against roughly 20,000 wanted
    "C-TEA": {"north": 150, "east": 150, "south": 100},
    "C-CUP": {"north": 100, "east": 100, "south": 100},
    "C-KETTLE": {"north": 200, "east": 0, "south": 100},
    "C-FILTER": {"north": 0, "east": 120, "south": 80},
    "C-SET": {"north": 50, "east": 50, "south": 50},
}


def write_warehouse_catalog(directory: Path) -> tuple[Path, Path]:
    warehouses = directory / "warehouses.json"
    warehouses.write_text(json.dumps(WAREHOUSES))
    tier = {sku: tier for sku, tier, *_ in CATALOG}
    catalog = directory / "catalog-warehouses.csv"
    catalog.write_text("sku,name,tier,planned_stock,on_hand,warehouse\n" + "".join(
        f"{sku},{sku} name,{tier[sku]},{max(units, 1)},{units},{wh}\n"
        for sku, per in STOCK_BY_WAREHOUSE.items() for wh, units in per.items()))
    return warehouses, catalog


def test_five_thousand_orders_over_three_warehouses_on_two_instances_are_each_reserved_whole_or_not_at_all(
        world: World, tmp_path: Path) -> None:
    shared_db = tmp_path / "shared-db"
    warehouses, catalog = write_warehouse_catalog(tmp_path)
    settings = {"CATALOG_PATH": str(catalog), "WAREHOUSES_PATH": str(warehouses)}
    a = world.start("inventory", instance="wa", db_dir=shared_db, settings=settings)
    b = world.start("inventory", instance="wb", db_dir=shared_db, settings=settings)
    outcomes = world.reader("inventory.reservations")
    rng = random.Random(34)
    orders = [{**o, "region": rng.choice(REGIONS), "split_policy": rng.choice(POLICIES)}
              for o in random_orders(rng)]
    items = [(o["order_id"], json.dumps(cloud_event("order.accepted", o, subject=o["order_id"])).encode())
             for o in orders]

    started = time.monotonic()
    world.publisher.send_many_raw(world.topic("orders.events"), items)
    outcomes.wait_for(lambda m: m.type in ("stock.reserved", "stock.backordered"), count=ORDERS, timeout_s=170)
    finished = time.monotonic()
    print(f"\n[contention/warehouses] {ORDERS} orders over 3 warehouses decided after {finished - started:.1f}s: "
          f"{ORDERS / (finished - started):.0f} orders/s end to end")

    # Every order decided exactly once.
    outcomes.settle(2.0)
    decided = [m for m in outcomes.seen if m.type in ("stock.reserved", "stock.backordered")]
    per_order = Counter(m.data["order_id"] for m in decided)
    assert set(per_order) == {o["order_id"] for o in orders}
    assert set(per_order.values()) == {1}
    kinds = Counter(m.type for m in decided)
    split = [m for m in decided if m.type == "stock.reserved" and len(m.data["parts"]) > 1]
    print(f"[contention/warehouses] {kinds['stock.reserved']} reserved ({len(split)} split), "
          f"{kinds['stock.backordered']} backordered")
    assert kinds["stock.reserved"] > 0 and kinds["stock.backordered"] > 0 and split

    # No split order partly reserved: each reserved order's parts (event and stored) add up to its
    # needs; a backordered order holds nothing; own_region orders only from their region.
    needs = {o["order_id"]: Counter() for o in orders}
    for o in orders:
        for line in o["lines"]:
            needs[o["order_id"]][line["sku"]] += line["quantity"]
    region_of = {o["order_id"]: (o["region"], o["split_policy"]) for o in orders}
    serving = {w["id"]: set(w["regions"]) for w in WAREHOUSES}
    held_by_events: Counter = Counter()
    with a.client("support") as http:
        for m in decided:
            order_id = m.data["order_id"]
            stored = http.get(f"/reservations/{order_id}").json()
            stored_parts = Counter()
            for p in stored["parts"]:
                assert p["state"] == "reserved", p
                stored_parts[p["sku"]] += p["quantity"]
            if m.type == "stock.backordered":
                assert stored["status"] == "backordered" and not stored["parts"], stored
                continue
            assert stored["status"] == "reserved", stored
            event_parts = Counter()
            for part in m.data["parts"]:
                region, policy = region_of[order_id]
                if policy == "own_region":
                    assert region in serving[part["warehouse"]], (order_id, region, part)
                for line in part["lines"]:
                    event_parts[line["sku"]] += line["quantity"]
                    held_by_events[(part["warehouse"], line["sku"])] += line["quantity"]
            assert event_parts == needs[order_id] == stored_parts, (order_id, m.data["parts"], stored["parts"])

    # Per warehouse and sku: reserved + available = on hand, never negative, and reserved is what
    # the reserved orders' parts hold there.
    with a.client("warehouse") as http:
        figures = {s["sku"]: s for s in http.get("/stock").json()["skus"]}
        ledgers = {sku: whole_ledger(http, sku) for sku in STOCK_BY_WAREHOUSE}
    for sku, per in STOCK_BY_WAREHOUSE.items():
        here = {w["warehouse"]: w for w in figures[sku]["warehouses"]}
        assert set(here) == set(per), (sku, here)
        for wh, opening in per.items():
            f = here[wh]
            assert f["reserved"] + f["available"] == f["on_hand"] == opening, (sku, wh, f)
            assert 0 <= f["reserved"] and f["available"] >= 0, (sku, wh, f)
            assert f["reserved"] == held_by_events[(wh, sku)], (sku, wh, f, held_by_events[(wh, sku)])
        assert figures[sku]["on_hand"] == sum(per.values()) and ledgers[sku]["consistent"], sku
        # Replayed in order, per warehouse, the ledger never reserves more than is on hand there.
        running: dict[str, list[int]] = {wh: [0, 0] for wh in per}
        for entry in ledgers[sku]["entries"]:
            books = running[entry["warehouse"]]
            books[0] += entry["on_hand_delta"]
            books[1] += entry["reserved_delta"]
            assert 0 <= books[1] <= books[0], (sku, entry)
        assert {wh: books[0] for wh, books in running.items()} == per, sku

    with a.client() as http_a, b.client() as http_b:
        share_a = consumed_orders_events(http_a.get("/metrics").text)
        share_b = consumed_orders_events(http_b.get("/metrics").text)
        handler_a = handler_seconds(http_a.get("/metrics").text)
        handler_b = handler_seconds(http_b.get("/metrics").text)
    print(f"[contention/warehouses] instance a consumed {share_a:.0f} (handler mean {handler_a * 1000:.1f} ms), "
          f"instance b consumed {share_b:.0f} (handler mean {handler_b * 1000:.1f} ms)")
    assert share_a > 0 and share_b > 0
