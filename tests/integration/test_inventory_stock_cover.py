"""Stock for the business (R12) through the real broker and real inventory processes on a
settable clock: orders reserved on Kafka move a sku's sell rate and cover; a snapshot of every
sku is kept once per 2-hour slot (none before 2 simulated hours, never two for a slot, even with
two instances), listed, and exported as CSV that a spreadsheet cannot run as formulas."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.test_inventory_stock import accepted_order, new_id, outcome_of
from tests.support.waiting import eventually as wait_until
from tests.support.world import World

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 11, 0, 0, 5, tzinfo=UTC)
FAST_CHECKS = {"STOCK_SNAPSHOT_CHECK_INTERVAL_S": "0.2"}


def set_clock(services, now: datetime) -> None:
    for service in services:
        with service.client("admin") as http:
            http.put("/clock", json={"now": now.isoformat()}).raise_for_status()


def start_inventory(world: World, db_dir: Path, instance: str = "1"):
    return world.start("inventory", instance=instance, db_dir=db_dir, settings={"CLOCK": "settable", **FAST_CHECKS})


def add_sku(service, name: str, on_hand: int, display_name: str = "") -> str:
    sku = f"{name}-{uuid.uuid4().hex[:6].upper()}"
    with service.client("admin") as http:
        response = http.put(f"/skus/{sku}", json={"tier": "profit", "planned_stock": on_hand, "on_hand": on_hand,
                                                  "name": display_name or sku})
    assert response.status_code == 200, response.text
    return sku


def order(world: World, events, sku: str, quantity: int) -> str:
    order_id = new_id()
    world.publish("orders.events", "order.accepted", accepted_order(order_id, [(sku, quantity)]), key=order_id)
    assert events.wait_for(outcome_of(order_id), timeout_s=30)[0].type == "stock.reserved"
    return order_id


def figures(service, sku: str) -> dict:
    with service.client("support") as http:
        response = http.get(f"/stock/{sku}")
    assert response.status_code == 200, response.text
    return response.json()


def snapshots(service) -> list[dict]:
    with service.client("warehouse") as http:
        response = http.get("/stock/snapshots")
    assert response.status_code == 200, response.text
    return response.json()["snapshots"]


def test_orders_reserved_on_kafka_set_the_sell_rate_and_cover(world: World, tmp_path: Path) -> None:
    inventory = start_inventory(world, tmp_path / "db")
    set_clock([inventory], T0)
    events = world.reader("inventory.reservations")
    sku, still = add_sku(inventory, "RATE", 100), add_sku(inventory, "STILL", 40)

    first = figures(inventory, sku)
    assert (first["sell_rate_per_hour"], first["cover_hours"]) == (0.0, None)  # nothing sells: no end in sight

    cancelled = [order(world, events, sku, 10) for _ in range(3)][0]
    now = figures(inventory, sku)
    assert (now["reserved"], now["available"], now["sell_rate_per_hour"], now["cover_hours"]) == (30, 70, 30.0, 2.33)

    # A cancellation gives its units back: the hour's net is 20 units.
    world.publish("orders.events", "order.cancelled", {"order_id": cancelled, "reason": "test"}, key=cancelled)
    assert events.wait_for(lambda m: m.type == "stock.released" and m.data["order_id"] == cancelled,
                           timeout_s=30)
    now = figures(inventory, sku)
    assert (now["available"], now["sell_rate_per_hour"], now["cover_hours"]) == (80, 20.0, 4.0)

    # The list pages carry the same figures (one grouped query for the page).
    with inventory.client("warehouse") as http:
        page = {row["sku"]: row for row in http.get("/stock", params={"limit": 500}).json()["skus"]}
    assert (page[sku]["sell_rate_per_hour"], page[sku]["cover_hours"]) == (20.0, 4.0)
    assert (page[still]["sell_rate_per_hour"], page[still]["cover_hours"]) == (0.0, None)

    # The window is the hour up to now: a second before the hour is up the reservations count,
    # a second after it they have left it.
    set_clock([inventory], T0 + timedelta(hours=1) - timedelta(seconds=1))
    assert figures(inventory, sku)["sell_rate_per_hour"] == 20.0
    set_clock([inventory], T0 + timedelta(hours=1, seconds=1))
    later = figures(inventory, sku)
    assert (later["sell_rate_per_hour"], later["cover_hours"]) == (0.0, None)


def test_a_snapshot_per_two_hour_slot_once_even_with_two_instances_and_its_csv(world: World, tmp_path: Path) -> None:
    shared = tmp_path / "shared-db"
    a, b = start_inventory(world, shared, "a"), start_inventory(world, shared, "b")
    both = [a, b]
    set_clock(both, T0)
    events = world.reader("inventory.reservations")
    sku = add_sku(a, "SNAP", 10, display_name='=HYPERLINK("http://evil.example","tea")')
    plain = add_sku(a, "SNAP-PLAIN", 5, display_name="Green tea 250 g")

    time.sleep(1.0)  # five checks on each instance
    assert snapshots(a) == []

    set_clock(both, T0 + timedelta(hours=1, minutes=59, seconds=59))
    order(world, events, sku, 4)  # within the hour before the snapshot: 4 units an hour
    time.sleep(1.0)
    assert snapshots(a) == []  # 1:59:59 after stock was first recorded: not yet

    set_clock(both, T0 + timedelta(hours=2))
    taken = wait_until(lambda: snapshots(b), timeout_s=15, what="the first snapshot")
    slot = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
    assert len(taken) == 1
    assert datetime.fromisoformat(taken[0]["slot_start"]) == slot
    assert datetime.fromisoformat(taken[0]["taken_at"]) == T0 + timedelta(hours=2)
    assert (taken[0]["sku_count"], taken[0]["period_hours"]) == (2, 2.0)

    set_clock(both, T0 + timedelta(hours=3))  # the same slot: no second snapshot
    time.sleep(1.0)
    assert len(snapshots(a)) == 1

    snapshot_id = taken[0]["id"]
    with a.client("support") as http:
        detail = http.get(f"/stock/snapshots/{snapshot_id}").json()
        rows = {row["sku"]: row for row in detail["rows"]}
        got = rows[sku]
        assert (got["on_hand"], got["reserved"], got["available"], got["mode"]) == (10, 4, 6, "in_stock")
        assert (got["sell_rate_per_hour"], got["cover_hours"]) == (4.0, 1.5)
        assert (rows[plain]["available"], rows[plain]["sell_rate_per_hour"], rows[plain]["cover_hours"]) == (5, 0.0, None)
        exported = http.get(f"/stock/snapshots/{snapshot_id}.csv")
        same = http.get(f"/stock/snapshots/{snapshot_id}", params={"format": "csv"})
        page = http.get(f"/stock/snapshots/{snapshot_id}", params={"limit": 1})
        missing = http.get("/stock/snapshots/999999.csv")
        not_a_number = http.get("/stock/snapshots/abc")
    with a.client("platform") as http:
        assert http.get("/stock/snapshots").status_code == 403

    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    assert "stock-snapshot-20261111T0200Z.csv" in exported.headers["content-disposition"]
    assert same.text == exported.text
    table = list(csv.DictReader(io.StringIO(exported.text)))
    by_sku = {row["sku"]: row for row in table}
    assert by_sku[sku]["name"] == '\'=HYPERLINK("http://evil.example","tea")'  # shown, never run
    assert by_sku[plain]["name"] == "Green tea 250 g"
    assert (by_sku[sku]["on_hand"], by_sku[sku]["available"], by_sku[sku]["cover_hours"]) == ("10", "6", "1.5")
    assert by_sku[plain]["cover_hours"] == ""  # nothing sold: no cover figure
    assert len(page.json()["rows"]) == 1 and page.json()["next_cursor"]
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not-found"
    assert not_a_number.status_code == 422

    set_clock(both, T0 + timedelta(hours=4))  # the next slot
    assert wait_until(lambda: len(snapshots(a)) == 2, timeout_s=15, what="the second snapshot")
    newest = snapshots(a)
    assert [datetime.fromisoformat(s["slot_start"]) for s in newest] == [slot + timedelta(hours=2), slot]
