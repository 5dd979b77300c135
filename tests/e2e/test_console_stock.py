"""The console's stock page in a real browser against a real inventory process on a settable
clock and the real broker: figures per sku with the cover that orders reserved on Kafka give,
a stock snapshot that appears after 2 simulated hours (the inventory clock moved with PUT
/clock) and downloads as CSV, and a count reconciliation through the form with its result and a
refusal in plain words. Each test leaves a screenshot in test-output/screenshots/."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.console import flash, screenshot, sign_in, wait_until
from tests.support.world import World

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 11, 11, 0, 0, 5, tzinfo=UTC)


def accept(world: World, sku: str, quantity: int) -> str:
    order_id = f"O-{uuid.uuid4().hex[:8].upper()}"
    world.publish("orders.events", "order.accepted", {
        "order_id": order_id, "customer_id": "C-9", "order_type": "standard", "priority_class": "standard",
        "priority_rank": f"2-{int(T0.timestamp() * 1e6):020d}-{order_id}",
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": "10.00", "gift": False}],
        "discount": "0.00", "paid_amount": f"{10 * quantity}.00", "paid_at": T0.isoformat(), "region": "Shanghai",
        "currency": "CNY", "accepted_at": T0.isoformat()}, key=order_id)
    return order_id


def test_stock_figures_a_snapshot_after_two_simulated_hours_its_csv_and_a_count(
        world: World, console_for, people, page) -> None:
    inventory = world.start_at("inventory", T0, settings={"STOCK_SNAPSHOT_CHECK_INTERVAL_S": "0.2"})
    tea, cup = f"SKU-TEA-{uuid.uuid4().hex[:4].upper()}", f"SKU-CUP-{uuid.uuid4().hex[:4].upper()}"
    with inventory.client("admin") as http:
        http.put(f"/skus/{tea}", json={"tier": "hot", "planned_stock": 20, "on_hand": 20,
                                       "name": "Green tea 250 g"}).raise_for_status()
        http.put(f"/skus/{cup}", json={"tier": "profit", "planned_stock": 10, "on_hand": 10,
                                       "name": "=cmd|' /C calc'!A0"}).raise_for_status()  # a formula for a name
        accept(world, tea, 3)
        accept(world, tea, 3)
        wait_until(lambda: http.get(f"/stock/{tea}").json()["reserved"] == 6, "two orders reserved on Kafka")
    console = console_for(inventory=inventory)

    sign_in(page, console, "admin", people["admin"])
    page.goto(console.url + "/stock")
    row = page.locator(f"#stock-table tr[data-sku='{tea}']")
    assert [row.locator(f"td.{c}").inner_text() for c in ("on-hand", "reserved", "available", "mode", "sell-rate")] \
        == ["20", "6", "14", "in stock", "6.0"]
    assert row.locator("td.cover").inner_text() == "2 h 20 min"  # 14 units at 6 an hour
    assert "not selling" in page.locator(f"#stock-table tr[data-sku='{cup}'] td.cover").inner_text()
    assert "No snapshot yet" in page.locator("#snapshots").inner_text()

    # 1:59:59 after the skus were created: still no snapshot. At 2 h: one, for the 02:00 slot.
    with inventory.client("admin") as http:
        http.put("/clock", json={"now": (T0 + timedelta(hours=1, minutes=59, seconds=59)).isoformat()})
        accept(world, tea, 2)  # sold in the hour before the snapshot: 2 an hour
        wait_until(lambda: http.get(f"/stock/{tea}").json()["reserved"] == 8, "the third order reserved")
        assert http.get("/stock/snapshots").json()["snapshots"] == []
        http.put("/clock", json={"now": (T0 + timedelta(hours=2)).isoformat()}).raise_for_status()
        wait_until(lambda: http.get("/stock/snapshots").json()["snapshots"], "the first stock snapshot")
    page.reload()
    listed = page.locator("#snapshot-list tbody tr")
    assert listed.count() == 1
    assert "11 Nov 2026 10:00 CST" in listed.first.inner_text()  # the 02:00 UTC slot, in Shanghai
    assert page.locator(f"#stock-table tr[data-sku='{tea}'] td.cover").inner_text() == "6 h 00 min"  # 12 at 2/h
    screenshot(page, "stock")

    with page.expect_navigation():
        listed.first.locator("a").first.click()
    assert page.locator(f"#snapshot-rows tr[data-sku='{tea}'] td.available").inner_text() == "12"
    with page.expect_download() as download:
        page.click("#download-csv")
    assert download.value.suggested_filename == "stock-snapshot-20261111T0200Z.csv"
    table = {r["sku"]: r for r in csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read()))}
    assert (table[tea]["on_hand"], table[tea]["reserved"], table[tea]["available"]) == ("20", "8", "12")
    assert (table[tea]["sell_rate_per_hour"], table[tea]["cover_hours"]) == ("2.0", "6.0")
    assert table[cup]["name"] == "'=cmd|' /C calc'!A0"  # a spreadsheet shows it, never runs it
    screenshot(page, "stock-snapshot")

    # A count: 17 on the shelf where the books say 20.
    page.goto(console.url + "/stock")
    page.locator("input.count-sku").first.fill(tea)
    page.locator("input.count-qty").first.fill("17")
    with page.expect_navigation():
        page.click("#book-count")
    assert f"{tea}: counted 17, the books said 20; 3 units written off." in flash(page)
    assert page.locator(f"#stock-table tr[data-sku='{tea}'] td.on-hand").inner_text() == "17"

    # Refusals in plain words, the typed lines kept: not a number; below what orders hold.
    page.locator("input.count-sku").first.fill(tea)
    page.locator("input.count-qty").first.fill("two")
    with page.expect_navigation():
        page.click("#book-count")
    assert flash(page) == f"The count of {tea} must be a whole number of units, not 'two'."
    assert page.locator("input.count-qty").first.input_value() == "two"
    page.locator("input.count-qty").first.fill("2")
    with page.expect_navigation():
        page.click("#book-count")
    assert flash(page) == (f"The count was not booked: {tea}: counted 2 is below the 8 units reserved for orders; "
                           "release or re-check those orders first.")
    screenshot(page, "stock-count")
    with inventory.client("admin") as http:
        assert http.get(f"/stock/{tea}").json()["on_hand"] == 17  # the refused count changed nothing


def test_support_reads_the_stock_page_without_the_count_form(world: World, console_for, people, page) -> None:
    inventory = world.start("inventory")
    with inventory.client("admin") as http:
        http.put("/skus/SKU-READ-ONLY", json={"tier": "profit", "planned_stock": 5, "on_hand": 5}).raise_for_status()
    console = console_for(inventory=inventory)
    sign_in(page, console, "support", people["support"])
    page.goto(console.url + "/stock")
    assert page.locator("#stock-table tr[data-sku='SKU-READ-ONLY'] td.available").inner_text() == "5"
    assert page.locator("#count-form").count() == 0
    assert "read-only" in page.locator("#count").inner_text()
    screenshot(page, "stock-support")
