"""Several warehouses in the console (issue 34, item 5) in a real browser, against the real
inventory (three warehouses from a warehouses file), logistics and broker: orders reach logistics
as `stock.reserved` with `parts` on Kafka. A picker restricted to east signs in to east's board
(named, only east's shipments), takes a wave of east's only, asks for north by hand and gets
east's board with the reason, cannot act on a north shipment, and a forged or borrowed cookie
changes nothing; an unrestricted picker switches warehouses and the choice is remembered;
hostile `warehouse` values get a clear message, never a 500; the war room and the overview show
each warehouse's figures equal to logistics' GET /sla. Screenshots in test-output/screenshots/."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from console.users import hash_password
from console.warehouses import WAREHOUSE_COOKIE, sign
from shared.auth import AuthSettings
from tests.support.console import new_order_id, rank, screenshot, wait_until
from tests.support.services import TEST_SECRET
from tests.support.world import World

pytestmark = pytest.mark.e2e

WAREHOUSES = {"WAREHOUSES_PATH": "services/inventory/sample_warehouses.json"}  # north, east, south (in this order)
EAST, NORTH = "East DC (Kunshan)", "North DC (Tianjin)"
PASSWORDS = {"picker-east": "east-picker-password-1", "picker-any": "any-picker-password-2",
             "boss": "admin-password-3"}
USERS = {"picker-east": {"roles": ["warehouse"], "warehouses": ["east"]},
         "picker-any": {"roles": ["warehouse"]},
         "boss": {"roles": ["admin"]}}
HOSTILE = ["x" * 5000, "nоrth", "../north", "north\u202e", "<b>north</b>", "north\x00", "’; DROP TABLE"]


def users_env() -> dict[str, str]:
    return {"CONSOLE_USERS": json.dumps({name: {**user, "password_hash": hash_password(PASSWORDS[name],
                                                                                       iterations=100_000)}
                                         for name, user in USERS.items()})}


def reserve_parts(world: World, order_id: str, parts: list[tuple[str, int]], *, paid_at: datetime) -> None:
    """An order of SKU-TEA-01 reserved by inventory from `parts` (warehouse, units)."""
    world.publish("inventory.reservations", "stock.reserved", {
        "order_id": order_id, "order_type": "standard", "priority_class": "standard",
        "priority_rank": rank("standard", paid_at, order_id),
        "lines": [{"sku": "SKU-TEA-01", "quantity": sum(n for _, n in parts), "unit_price": "49.90", "gift": False,
                   "weight_kg": "0.50", "volume_l": "1.20"}],
        "region": "Shanghai", "paid_at": paid_at.isoformat(), "reserved_at": paid_at.isoformat(),
        "parts": [{"warehouse": w, "lines": [{"sku": "SKU-TEA-01", "quantity": n}]} for w, n in parts],
    }, key=order_id)


def part_id(order_id: str, warehouse: str) -> str:
    return f"SHP:{len(order_id)}:{order_id}:{warehouse}"


def seed(world: World, logistics) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Two whole orders (east, north) and one split over east and north; one east order nearly late."""
    now = datetime.now(UTC).replace(microsecond=0)
    east_a, east_late, north_b, split = (new_order_id() for _ in range(4))
    reserve_parts(world, east_a, [("east", 2)], paid_at=now - timedelta(hours=2))
    reserve_parts(world, east_late, [("east", 1)], paid_at=now - timedelta(hours=22))
    reserve_parts(world, north_b, [("north", 1)], paid_at=now - timedelta(hours=1))
    reserve_parts(world, split, [("east", 1), ("north", 2)], paid_at=now - timedelta(hours=3))
    ids = {"east": [f"SHP-{east_a}", f"SHP-{east_late}", part_id(split, "east")],
           "north": [f"SHP-{north_b}", part_id(split, "north")]}
    with logistics.client("warehouse") as http:
        for warehouse, expected in ids.items():
            wait_until(lambda: {s["shipment_id"] for s in http.get("/queue", params={"warehouse": warehouse})
                                .json()["shipments"]} == set(expected), f"{warehouse}'s queue")
    return ids


def sign_in_as(page, console, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(console.url + "/signin")
    page.fill("#username", name)
    page.fill("#password", PASSWORDS[name])
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator("#signed-in-as").inner_text().startswith(name)


def queue_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [row.locator("td").first.inner_text() for row in page.locator("#queue tbody tr").all()]


def queued(logistics, warehouse: str) -> set[str]:  # type: ignore[no-untyped-def]
    with logistics.client("warehouse") as http:
        return {s["shipment_id"] for s in http.get("/queue", params={"warehouse": warehouse}).json()["shipments"]}


def test_a_picker_works_in_one_warehouse_and_an_unrestricted_one_switches(world: World, console_for, page) -> None:
    inventory, logistics = world.start("inventory", settings=WAREHOUSES), world.start("logistics")
    ids = seed(world, logistics)
    console = console_for(env=users_env(), inventory=inventory, logistics=logistics)

    sign_in_as(page, console, "picker-east")
    assert page.url.endswith("/dispatch")
    assert page.locator("#warehouse-name").inner_text() == EAST
    assert page.locator("#warehouse-banner").get_attribute("data-warehouse") == "east"
    assert page.locator("#warehouse-select").count() == 0  # one warehouse: nothing to switch to
    assert sorted(queue_ids(page)) == sorted(ids["east"])
    assert page.locator("#waiting-count").inner_text() == "3"
    assert page.locator("#sla-warehouse").inner_text().startswith(f"{EAST}'s parts only")
    assert "3 orders paid" in page.locator("#sla-panel").inner_text()  # east's three, not all four orders
    screenshot(page, "warehouses-east-board")

    # Asking for north by hand: east's board, with the reason; never north's shipments.
    response = page.goto(console.url + "/dispatch?warehouse=north")
    assert response.status == 200
    assert page.locator("#warehouse-name").inner_text() == EAST
    assert page.locator("#warehouse-message").inner_text() == (
        f"You work in {EAST} only; north is not one of your warehouses. Showing {EAST}.")
    assert sorted(queue_ids(page)) == sorted(ids["east"])
    assert not any(s in page.content() for s in ids["north"])
    live = page.request.get(console.url + "/dispatch/live?warehouse=north")
    assert live.status == 200 and not any(s in live.text() for s in ids["north"])
    dock = page.goto(console.url + "/dispatch/dock?warehouse=north")
    assert dock.status == 200 and page.locator("#warehouse-name").inner_text() == EAST

    # A cookie forged, or signed for someone else, is ignored.
    for cookie in (sign(AuthSettings(auth_secret=TEST_SECRET), "picker-any", "north"),
                   sign(AuthSettings(auth_secret="not-the-console-secret-0123456789-abcdefgh"), "picker-east", "north"),
                   "eyJ1IjogInBpY2tlci1lYXN0IiwgInciOiAibm9ydGgifQ==.0123456789abcdef0123456789abcdef"):
        page.context.add_cookies([{"name": WAREHOUSE_COOKIE, "value": cookie, "url": console.url}])
        page.goto(console.url + "/dispatch")
        assert page.locator("#warehouse-name").inner_text() == EAST
        assert sorted(queue_ids(page)) == sorted(ids["east"])

    # A wave asked for north by a forged form is refused; nothing of north's is claimed.
    refused = page.request.post(console.url + "/dispatch/waves", form={"size": "10", "picker_id": "picker-east",
                                                                       "warehouse": "north"},
                                headers={"Origin": console.url})
    assert refused.status == 200 and "north is not one of your warehouses" in refused.text()
    assert "No wave was taken" in refused.text()
    assert queued(logistics, "north") == set(ids["north"])

    # Hostile values: a clear message, no 500, east's board.
    for value in HOSTILE:
        answer = page.request.get(console.url + "/dispatch", params={"warehouse": value})
        assert answer.status == 200, (value[:20], answer.status)
        assert "is not a warehouse id" in answer.text() and EAST in answer.text(), value[:20]
        for fragment in ("/dispatch/live", "/dispatch/sla", "/dispatch/dock"):
            shown = page.request.get(console.url + fragment, params={"warehouse": value})
            assert shown.status == 200 and not any(s in shown.text() for s in ids["north"]), (fragment, value[:20])
        posted = page.request.post(console.url + "/dispatch/waves", form={"size": "1", "warehouse": value},
                                   headers={"Origin": console.url})
        assert posted.status == 200 and "is not a warehouse id" in posted.text(), value[:20]
    assert queued(logistics, "east") == set(ids["east"])  # none of those took a wave

    # East's wave: east's shipments only.
    page.goto(console.url + "/dispatch")
    page.fill("#wave-size", "10")
    with page.expect_navigation():
        page.click("#take-wave")
    query = parse_qs(urlsplit(page.url).query)
    assert sorted(query["s"]) == sorted(ids["east"])
    assert page.locator("#warehouse-name").inner_text() == EAST
    with logistics.client("warehouse") as http:
        wave = http.get(f"/waves/{query['wave'][0]}").json()
        assert wave["warehouse"] == "east"
    assert queued(logistics, "north") == set(ids["north"]) and queued(logistics, "east") == set()
    screenshot(page, "warehouses-east-wave")

    # A north shipment opened or scanned by the east picker: refused in words.
    page.goto(console.url + f"/dispatch/wave?s={ids['north'][0]}")
    assert f"Shipment {ids['north'][0]} is in warehouse north, not {EAST}" in page.locator(".flash").first.inner_text()
    scanned = page.request.post(console.url + "/dispatch/scan/pack", data=json.dumps({"shipment_id": ids["north"][0]}),
                                headers={"Content-Type": "application/json", "Origin": console.url})
    assert scanned.status == 409 and "is in warehouse north" in scanned.json()["say"]
    with logistics.client("warehouse") as http:
        assert http.get(f"/shipments/{ids['north'][0]}").json()["status"] == "queued"

    # The dock: east's packed parcels only; a truck's batch with a north parcel in it is refused whole.
    with logistics.client("warehouse") as http:
        for shipment_id in ids["east"][:2]:
            http.post(f"/shipments/{shipment_id}/pack", json={"picker_id": "picker-east"}).raise_for_status()
        http.post(f"/shipments/{ids['north'][0]}/pack", json={"picker_id": "P-9"}).raise_for_status()
        carrier = http.get(f"/shipments/{ids['east'][0]}").json()["suggested_carrier"]["carrier"]
    page.goto(console.url + "/dispatch/dock")
    on_dock = {r.get_attribute("data-shipment-id") for r in page.locator("tr[data-shipment-id]").all()}
    assert on_dock == set(ids["east"][:2]) and page.locator("#packed-count").inner_text() == "2"

    def hand_over(shipment_ids: list[str]):  # type: ignore[no-untyped-def]
        parcels = [{"shipment_id": s, "tracking_number": f"ZT{n}{s[-4:].replace(':', '')}"}
                   for n, s in enumerate(shipment_ids)]
        return page.request.post(console.url + "/dispatch/scan/handover",
                                 data=json.dumps({"carrier": carrier, "parcels": parcels}),
                                 headers={"Content-Type": "application/json", "Origin": console.url})
    mixed = hand_over(ids["east"][:2] + [ids["north"][0]])
    assert mixed.status == 409 and f"Shipment {ids['north'][0]} is in warehouse north" in mixed.json()["say"]
    with logistics.client("warehouse") as http:
        assert {http.get(f"/shipments/{s}").json()["status"] for s in ids["east"][:2] + [ids["north"][0]]} == {"packed"}
    fine = hand_over(ids["east"][:2])
    assert fine.status == 200 and len(fine.json()["shipped"]) == 2, fine.text()
    screenshot(page, "warehouses-east-dock")

    # An unrestricted picker: every warehouse, switches, and the choice is remembered.
    with page.expect_navigation():
        page.click("header .who button")
    sign_in_as(page, console, "picker-any")
    assert page.locator("#warehouse-name").inner_text() == NORTH  # the first by position
    assert [o.get_attribute("value") for o in page.locator("#warehouse-select option").all()] == \
        ["north", "east", "south"]
    assert queue_ids(page) == ids["north"][1:]  # the first is packed (above)
    page.select_option("#warehouse-select", "south")
    with page.expect_navigation():
        page.click("#warehouse-switch")
    assert page.locator("#warehouse-name").inner_text() == "South DC (Dongguan)"
    assert queue_ids(page) == [] and page.locator("#waiting-count").inner_text() == "0"
    page.goto(console.url + "/dispatch")  # remembered (the signed cookie)
    assert page.locator("#warehouse-name").inner_text() == "South DC (Dongguan)"
    page.goto(console.url + "/dispatch?warehouse=north")
    assert page.locator("#warehouse-name").inner_text() == NORTH and page.locator("#warehouse-message").count() == 0
    assert queue_ids(page) == ids["north"][1:]
    assert page.locator("#board").get_attribute("data-live") == "/dispatch/live?warehouse=north"
    screenshot(page, "warehouses-switch")


def test_the_war_room_and_overview_break_figures_down_per_warehouse(world: World, console_for, page) -> None:
    inventory, logistics = world.start("inventory", settings=WAREHOUSES), world.start("logistics")
    ids = seed(world, logistics)
    with logistics.client("warehouse") as http:  # one east and one north part handed over
        for n, shipment_id in enumerate((ids["east"][0], ids["north"][1])):
            http.post(f"/shipments/{shipment_id}/pack", json={"picker_id": "P-1"}).raise_for_status()
            http.post(f"/shipments/{shipment_id}/ship", json={"tracking_number": f"WH{n}X"}).raise_for_status()
        sla = http.get("/sla", params={"at_risk_limit": 0}).json()
        risks = {w: http.get("/sla", params={"warehouse": w, "at_risk_limit": 0}).json()["at_risk"]["count"]
                 for w in sla["by_warehouse"]}
    assert set(sla["by_warehouse"]) == {"east", "north"} and risks["east"] >= 1
    console = console_for(env=users_env(), inventory=inventory, logistics=logistics)

    sign_in_as(page, console, "boss")
    assert page.url.endswith("/warroom")
    card = page.locator("#warroom-warehouses")
    wait_until(lambda: card.is_visible() and page.locator("#warehouse-rows tr").count() == 3,
               "the per-warehouse table", timeout_s=15)

    keys = ("orders_paid", "shipped", "not_yet_shipped", "within_24h_pct", "within_48h_pct")

    def figures(row) -> dict:  # type: ignore[no-untyped-def]
        shown = {k: row.get_attribute(f"data-{k.replace('_', '-')}") for k in keys + ("at_risk",)}
        return {k: None if v == "" else float(v) for k, v in shown.items()}

    def expected(counts: dict, at_risk: int) -> dict:
        return {k: None if counts[k] is None else float(counts[k]) for k in keys} | {"at_risk": float(at_risk)}

    rows = page.locator("#warehouse-rows tr")
    assert figures(rows.nth(0)) == expected(sla["overall"], sla["at_risk"]["count"])
    for row in rows.all()[1:]:
        warehouse = row.get_attribute("data-warehouse")
        assert figures(row) == expected(sla["by_warehouse"][warehouse], risks[warehouse]), warehouse
    east_row = page.locator("#warehouse-rows tr[data-warehouse='east']")
    assert east_row.locator("td").first.inner_text() == f"{EAST} (east)"
    assert sla["by_warehouse"]["east"]["shipped"] == 1 and sla["by_warehouse"]["east"]["not_yet_shipped"] == 2
    # Local time (CONSOLE_TIME_ZONE, Asia/Shanghai by default) while the browser runs in UTC.
    as_of = page.locator("#warehouses-as-of").inner_text()
    local = datetime.fromisoformat(sla["now"]).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%H:") in as_of
    card.scroll_into_view_if_needed()
    screenshot(page, "warehouses-warroom")

    page.goto(console.url + "/overview")
    table = page.locator("#overview-warehouses")
    assert table.locator("tbody tr").count() == 2
    east = table.locator("tr[data-warehouse='east'] td")
    assert [east.nth(i).inner_text() for i in (1, 2, 5)] == ["1", "2", str(risks["east"])]
