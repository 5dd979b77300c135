"""Scan-first dispatch in a real browser (issue 30) against the real services and broker: a wave
picked, packed and handed over using only the scanner input (keyboard typing and Enter, no
clicks once the wave is open, no page reloads); the dock handing a carrier's batch over at once
and confirming a delivery; the gauges of a fresh spike with nobody late showing "on track", with
the Waiting table refreshing together with the SLA panel. Screenshots in
test-output/screenshots/console-dispatch-*.png."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.support.console import new_order_id, rank, reserve, screenshot, sign_in, wait_for_shipments
from tests.support.world import World

pytestmark = pytest.mark.e2e

CATALOG = {"CATALOG_PATH": "services/inventory/sample_catalog.csv"}


def reserve_lines(world: World, order_id: str, lines: list[tuple[str, int]], *, paid_at: datetime) -> None:
    world.publish("inventory.reservations", "stock.reserved", {
        "order_id": order_id, "order_type": "standard", "priority_class": "standard",
        "priority_rank": rank("standard", paid_at, order_id),
        "lines": [{"sku": sku, "quantity": n, "unit_price": "19.90", "gift": False, "weight_kg": "0.50",
                   "volume_l": "1.20"} for sku, n in lines],
        "region": "Shanghai", "paid_at": paid_at.isoformat(), "reserved_at": paid_at.isoformat(),
    }, key=order_id)


def scan(page, code: str) -> None:  # type: ignore[no-untyped-def]
    """What a barcode scanner does: types the code into the focused field, then Enter."""
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def test_a_wave_is_picked_packed_and_handed_over_with_the_scanner_input_alone(
        world: World, console_for, people, page) -> None:
    logistics, inventory = world.start("logistics"), world.start("inventory", settings=CATALOG)
    now = datetime.now(UTC).replace(microsecond=0)
    first, second = new_order_id(), new_order_id()
    reserve_lines(world, first, [("SKU-TEA-01", 2)], paid_at=now - timedelta(hours=2))
    reserve_lines(world, second, [("SKU-CUP-GIFT", 1), ("SKU-TEA-01", 1)], paid_at=now - timedelta(hours=1))
    wait_for_shipments(logistics, [first, second])
    console = console_for(logistics=logistics, inventory=inventory)

    sign_in(page, console, "warehouse", people["warehouse"])
    page.fill("#wave-size", "2")
    with page.expect_navigation():
        page.click("#take-wave")  # opening the wave: the last click of this test
    page.evaluate("window.notReloaded = true")
    ship_a, ship_b = f"SHP-{first}", f"SHP-{second}"

    # The pick list: totalled per sku, with names, in bin order (A-01-1 before A-02-3).
    rows = page.locator("#pick-list tbody tr")
    assert [r.get_attribute("data-sku") for r in rows.all()] == ["SKU-TEA-01", "SKU-CUP-GIFT"]
    assert [r.get_attribute("data-quantity") for r in rows.all()] == ["3", "1"]
    assert "Oolong tea 250g" in rows.first.inner_text() and "A-01-1" in rows.first.inner_text()
    page.emulate_media(media="print")
    assert page.locator("#pick-list").is_visible() and not page.locator("header.top").is_visible()
    assert not page.locator(f"#shipment-{ship_a}").is_visible() and not page.locator("#scan").is_visible()
    screenshot(page, "dispatch-pick-list-print")
    page.emulate_media(media="screen")

    said = page.locator("#scan-say")
    expect(page.locator("#scan-input")).to_be_focused()
    scan(page, ship_a)  # wrong order: nothing picked yet
    expect(said).to_contain_text(f"Shipment {ship_a} still needs 2 × Oolong tea 250g (traffic driver) (SKU-TEA-01)")
    scan(page, "NOT-A-CODE-1")
    expect(said).to_contain_text("Unknown code “NOT-A-CODE-1”")
    for code in ("SKU-TEA-01", "SKU-TEA-01", "SKU-CUP-GIFT", "SKU-TEA-01"):
        scan(page, code)
    expect(said).to_contain_text("Everything on the pick list is picked")
    scan(page, "SKU-TEA-01")
    expect(said).to_contain_text("All 3 of Oolong tea 250g (traffic driver) (SKU-TEA-01) are picked already")
    expect(page.locator("#pick-list tbody tr").first).to_have_class("done")

    tracking = {ship_a: f"ZT{first[2:]}A", ship_b: f"ZT{second[2:]}B"}
    scan(page, ship_a)
    expect(said).to_contain_text(f"Shipment {ship_a} packed. Scan the tracking number")
    scan(page, tracking[ship_a])
    expect(said).to_contain_text(f"Shipment {ship_a} handed to")
    expect(said).to_contain_text("1 shipment to go.")
    scan(page, tracking[ship_b])  # nothing selected: not a tracking number of anything
    expect(said).to_contain_text("Unknown code")
    scan(page, ship_b)
    expect(said).to_contain_text(f"Shipment {ship_b} packed.")
    scan(page, tracking[ship_b])
    expect(said).to_contain_text("The wave is handed over.")
    scan(page, ship_a)
    expect(said).to_contain_text(f"Shipment {ship_a} was handed over already")
    expect(page.locator("#scan-input")).to_be_focused()
    assert page.evaluate("window.notReloaded") is True, "no page reload"
    assert page.locator(f"#shipment-{ship_b}").get_attribute("data-status") == "shipped"
    screenshot(page, "dispatch-scan-wave-handed-over")

    # A refused step is an RFC 9457 problem with the refusal's status, its detail the sentence said.
    def step(body: object):
        return page.request.post(console.url + "/dispatch/scan/pack", data=json.dumps(body),
                                 headers={"Content-Type": "application/json", "Origin": console.url})
    for body, status in (({"shipment_id": "SHP-NO-SUCH-1"}, 404), ({"shipment_id": "not an id!"}, 422),
                         ({"shipment_id": ship_a}, 409)):
        answer = step(body)
        problem = answer.json()
        assert answer.status == status, (body, answer.status, problem)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert problem["status"] == status and problem["ok"] is False and problem["detail"] == problem["say"]
    # Bodies nobody should send: nested past the parser, not UTF-8, past the size limit.
    for raw in (b"[" * 100_000, b"\xff\xfe{\"shipment_id\": 1}", json.dumps({"shipment_id": "x" * 300_000}).encode()):
        answer = page.request.post(console.url + "/dispatch/scan/pack", data=raw,
                                   headers={"Content-Type": "application/json", "Origin": console.url})
        assert answer.status == 422 and answer.json()["ok"] is False, (raw[:20], answer.status)

    with logistics.client("warehouse") as http:
        for shipment_id, number in tracking.items():
            shipped = http.get(f"/shipments/{shipment_id}").json()
            assert (shipped["status"], shipped["tracking_number"]) == ("shipped", number)


def test_the_dock_hands_a_carriers_batch_over_at_once_and_confirms_a_delivery(
        world: World, console_for, people, page) -> None:
    logistics = world.start("logistics")
    now = datetime.now(UTC).replace(microsecond=0)
    orders = [new_order_id() for _ in range(3)]
    for order_id in orders:
        reserve(world, order_id, paid_at=now - timedelta(hours=2))
    wait_for_shipments(logistics, orders)
    with logistics.client("warehouse") as http:
        for order_id in orders[:2]:
            http.post(f"/shipments/SHP-{order_id}/pack", json={"picker_id": "P-1"}).raise_for_status()
    console = console_for(logistics=logistics)

    sign_in(page, console, "warehouse", people["warehouse"])
    page.goto(console.url + "/dispatch/dock")
    assert page.locator("#packed-count").inner_text() == "2"
    group = page.locator(".dock-carrier").first
    carrier = group.get_attribute("data-carrier")
    assert carrier and group.locator("tr[data-shipment-id]").count() == 2
    said = page.locator("#scan-say")
    scan(page, f"SHP-{orders[2]}")  # queued, not packed: not on the dock
    expect(said).to_contain_text("not a packed parcel on this dock")
    for n, order_id in enumerate(orders[:2]):
        scan(page, f"SHP-{order_id}")
        expect(said).to_contain_text(f"Shipment SHP-{order_id} for {carrier}: scan its tracking number.")
        scan(page, f"DK{order_id[2:]}")
        expect(said).to_contain_text(f"{n + 1} parcel{'s' if n else ''} ready for {carrier}")
    button = group.locator("button.handover")
    expect(button).to_contain_text(f"Hand over 2 to {carrier}")
    screenshot(page, "dispatch-dock-ready")
    button.click()
    expect(said).to_contain_text(f"2 parcels handed to {carrier}.")
    with logistics.client("warehouse") as http:
        for order_id in orders[:2]:
            shipped = http.get(f"/shipments/SHP-{order_id}").json()
            assert (shipped["status"], shipped["carrier"], shipped["tracking_number"]) == (
                "shipped", carrier, f"DK{order_id[2:]}")

    page.fill("#deliver-input", f"SHP-{orders[0]}")
    page.press("#deliver-input", "Enter")
    expect(said).to_contain_text(f"Shipment SHP-{orders[0]} confirmed delivered.")
    page.fill("#deliver-input", f"SHP-{orders[2]}")  # never handed over
    page.press("#deliver-input", "Enter")
    expect(said).to_contain_text("it was not handed over")
    screenshot(page, "dispatch-dock-handed-over")
    with logistics.client("warehouse") as http:
        assert http.get(f"/shipments/SHP-{orders[0]}").json()["status"] == "delivered"


def test_a_spike_with_nobody_late_shows_on_track_and_waiting_refreshes_with_the_panel(
        world: World, console_for, people, page) -> None:
    logistics = world.start("logistics")
    now = datetime.now(UTC).replace(microsecond=0)
    spike = [new_order_id() for _ in range(12)]
    for n, order_id in enumerate(spike):
        reserve(world, order_id, paid_at=now - timedelta(seconds=30 + n))
    wait_for_shipments(logistics, spike)
    console = console_for(logistics=logistics)

    sign_in(page, console, "warehouse", people["warehouse"])
    page.goto(console.url + "/dispatch?refresh=2")
    gauge = page.locator(".gauge[data-key='24h']")
    assert gauge.get_attribute("data-value") == "0.0", "nothing shipped yet"
    assert gauge.get_attribute("data-state") == "on_track"
    assert "on track" in gauge.locator(".gauge-words").inner_text()
    assert gauge.locator(".gauge-fill-on_track").count() == 1
    assert page.locator(".gauge[data-key='48h']").get_attribute("data-state") == "on_track"
    assert page.locator("#waiting-count").inner_text() == "12"

    another = new_order_id()
    reserve(world, another, paid_at=now - timedelta(minutes=1))
    wait_for_shipments(logistics, [another])
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#waiting-count")).to_have_text("13", timeout=15_000)
    expect(page.locator("#sla-panel")).to_contain_text("13 orders paid")
    assert page.evaluate("window.notReloaded") is True, "refreshed in place"
    page.locator("#sla-panel").scroll_into_view_if_needed()
    screenshot(page, "dispatch-gauges-on-track")
