"""The web console in a real browser (Debian's Chromium, headless, driven by Playwright) against
real services and the real broker: warehouse staff ship a presale order from a wave, a support
agent takes a return to its refund, a support agent is kept off the dispatch board, and the SLA
chart shows what logistics' GET /sla says. Each test leaves a screenshot in
test-output/screenshots/.

The services are seeded by playing their upstream neighbours on Kafka (stock.reserved for
logistics; order.accepted and shipment.delivered for aftersales), as the integration tests do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from tests.support.console import (flash, new_order_id, rank, reserve, screenshot, sign_in, wait_for_shipments,
                                   wait_until)
from tests.support.world import World

pytestmark = pytest.mark.e2e

# --- the journeys -------------------------------------------------------------------------------------

def test_warehouse_staff_ship_a_presale_order_taken_first_from_the_next_wave(
        world: World, console_for, people, page) -> None:
    logistics = world.start("logistics")
    now = datetime.now(UTC).replace(microsecond=0)
    standard, presale = new_order_id(), new_order_id()
    reserve(world, standard, paid_at=now - timedelta(hours=3))  # paid earlier, but standard
    reserve(world, presale, paid_at=now - timedelta(hours=1), klass="presale", sku="SKU-MOONCAKE-HOT")
    wait_for_shipments(logistics, [standard, presale])
    console = console_for(logistics=logistics)

    sign_in(page, console, "warehouse", people["warehouse"])
    assert page.url.endswith("/dispatch")
    assert page.locator("#waiting-count").inner_text() == "2"

    page.fill("#wave-size", "1")
    with page.expect_navigation():
        page.click("#take-wave")
    assert "shipment(s) are yours" in flash(page)
    card = page.locator(f"#shipment-SHP-{presale}")
    assert card.count() == 1, "the wave of one holds the presale order, not the earlier standard one"
    assert page.locator(f"#shipment-SHP-{standard}").count() == 0
    assert "SKU-MOONCAKE-HOT" in page.locator("#pick-list").inner_text()

    with page.expect_navigation():
        card.locator("button.pack").click()
    card = page.locator(f"#shipment-SHP-{presale}")
    assert card.get_attribute("data-status") == "packed", flash(page)
    suggested = card.locator("select.carrier-choice").input_value()
    assert suggested, "a carrier is suggested"
    tracking = f"ZT{presale[2:]}"
    card.locator("input.tracking-input").fill(tracking)
    with page.expect_navigation():
        card.locator("form.ship button[type=submit]").click()
    assert f"handed to {suggested} with tracking number {tracking}" in flash(page)
    card = page.locator(f"#shipment-SHP-{presale}")
    assert card.get_attribute("data-status") == "shipped"
    assert card.locator(".tracking").inner_text() == tracking
    screenshot(page, "warehouse-ships-presale-wave")

    with logistics.client("warehouse") as http:
        shipped = http.get(f"/shipments/SHP-{presale}").json()
        assert (shipped["status"], shipped["carrier"], shipped["tracking_number"]) == ("shipped", suggested, tracking)
        assert http.get(f"/shipments/SHP-{standard}").json()["status"] == "queued"

    page.goto(console.url + "/dispatch")
    assert page.locator("#waiting-count").inner_text() == "1"


def test_a_support_agent_takes_a_return_from_request_to_refund(world: World, console_for, people, page) -> None:
    aftersales = world.start("aftersales")
    order_id = new_order_id()
    delivered_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    world.publish("orders.events", "order.accepted", {
        "order_id": order_id, "customer_id": "C-9", "order_type": "standard", "priority_class": "standard",
        "priority_rank": rank("standard", delivered_at - timedelta(days=2), order_id),
        "lines": [{"sku": "SKU-TEA", "quantity": 2, "unit_price": "49.90", "weight_kg": "0.50"},
                  {"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "0.00", "gift": True,
                   "gift_for_sku": "SKU-TEA"}],
        "discount": "10.00", "paid_amount": "89.80", "paid_at": (delivered_at - timedelta(days=2)).isoformat(),
        "region": "Shanghai", "currency": "CNY", "promotions": [],
        "accepted_at": (delivered_at - timedelta(days=2)).isoformat(),
    }, key=order_id)
    world.publish("logistics.shipments", "shipment.delivered", {
        "order_id": order_id, "shipment_id": f"SHP-{order_id}", "delivered_at": delivered_at.isoformat()},
        key=order_id)
    with aftersales.client("support") as http:
        wait_until(lambda: http.get(f"/orders/{order_id}/returnable").status_code == 200, f"{order_id} returnable")
        expected = http.get(f"/orders/{order_id}/returnable", params={"lines": "SKU-TEA:1"}).json()["refund_preview"]
    console = console_for(aftersales=aftersales)

    sign_in(page, console, "support", people["support"])
    assert page.url.endswith("/returns")
    page.fill("#order-id", order_id)
    with page.expect_navigation():
        page.click("#find-order")
    assert "Gift rule:" in page.locator("#gift-rule").inner_text()
    assert "SKU-CUP-GIFT" in page.locator("#order-lines").inner_text()
    page.fill("input.qty[data-sku='SKU-TEA']", "1")
    with page.expect_navigation():
        page.click("#preview-button")
    assert page.locator("#preview-amount").inner_text() == expected["amount"]
    assert "SKU-TEA" in page.locator("#preview").inner_text()
    screenshot(page, "support-return-preview")
    with page.expect_navigation():
        page.click("#open-case")
    assert "opened for order" in flash(page)
    case_id = page.locator("#case-id").inner_text()
    assert page.locator("#case-status").inner_text() == "requested"

    # The queue shows the new case with its 48-hour timer running.
    page.goto(console.url + "/returns")
    row = page.locator("#cases tr", has_text=case_id)
    assert row.locator(".timer").inner_text() in ("47 h 59 min left", "48 h 00 min left")
    screenshot(page, "support-case-queue")
    with page.expect_navigation():
        row.locator("a").first.click()

    for button, status in (("#approve", "approved"), ("#receive", "received")):
        with page.expect_navigation():
            page.click(button)
        assert page.locator("#case-status").inner_text() == status, flash(page)
    page.check("#passed-yes")
    with page.expect_navigation():
        page.click("#inspect")
    assert page.locator("#case-status").inner_text() == "inspected", flash(page)

    # The amount is shown before the agent confirms.
    page.click("#refund-panel summary")
    assert page.locator("#refund-confirm-amount").inner_text() == expected["amount"]
    assert expected["amount"] in page.locator("#confirm-refund").inner_text()
    screenshot(page, "support-refund-confirmation")
    with page.expect_navigation():
        page.click("#confirm-refund")
    assert page.locator("#case-status").inner_text() == "refunded", flash(page)
    assert page.locator("#refunded-amount").inner_text() == expected["amount"]
    assert f"{expected['amount']} goes back to the customer" in flash(page)
    screenshot(page, "support-return-refunded")

    with aftersales.client("support") as http:
        case = http.get(f"/cases/{case_id}").json()
        assert (case["status"], case["refund_amount"]) == ("refunded", expected["amount"])


def test_a_support_agent_cannot_open_the_dispatch_board(world: World, console_for, people, page) -> None:
    console = console_for()  # no service started: the returns desk must say so in plain words

    sign_in(page, console, "support", people["support"])
    assert page.url.endswith("/returns")
    nav = page.locator("header nav").inner_text()
    assert "Returns desk" in nav and "Dispatch board" not in nav and "Overview" not in nav
    assert "after-sales service cannot be reached" in page.locator(".flash-error").first.inner_text()
    assert "Traceback" not in page.content()

    response = page.goto(console.url + "/dispatch")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "This page is not for your role"
    assert "Dispatch board is for warehouse staff and administrators" in page.locator("#forbidden").inner_text()
    screenshot(page, "support-refused-dispatch-board")

    # Nor can the agent act on it by posting straight to its forms, nor see the admin overview.
    refused = page.request.post(console.url + "/dispatch/waves", form={"size": "5", "picker_id": "x"})
    assert refused.status == 403
    assert page.goto(console.url + "/overview").status == 403
    # Signed out, every page sends the person to sign in.
    with page.expect_navigation():
        page.click("header .who button")
    assert page.goto(console.url + "/returns").url.startswith(console.url + "/signin")


def test_the_sla_chart_draws_what_logistics_reports(world: World, console_for, people, page) -> None:
    logistics = world.start("logistics")
    now = datetime.now(UTC).replace(microsecond=0)
    seeds = {  # hours since payment -> class
        30: "standard", 26: "high_value", 21: "standard", 9: "presale", 6: "standard", 5: "high_value",
        3: "standard", 1: "presale",
    }
    orders = {}
    for hours, klass in seeds.items():
        order_id = new_order_id()
        reserve(world, order_id, paid_at=now - timedelta(hours=hours, minutes=10), klass=klass)
        orders[hours] = order_id
    wait_for_shipments(logistics, list(orders.values()))
    with logistics.client("warehouse") as http:
        for hours in (30, 9, 6):  # one shipped late, two in time
            shipment = f"SHP-{orders[hours]}"
            http.post(f"/shipments/{shipment}/pack", json={"picker_id": "P-1"}).raise_for_status()
            http.post(f"/shipments/{shipment}/ship", json={"tracking_number": f"T{hours}X"}).raise_for_status()
        sla = http.get("/sla").json()
    assert sla["overall"]["orders_paid"] == len(seeds) and sla["overall"]["shipped"] == 3
    console = console_for(logistics=logistics)

    sign_in(page, console, "warehouse", people["warehouse"])
    chart = page.locator("svg#sla-chart")
    assert chart.is_visible()
    assert int(chart.get_attribute("data-paid-total")) == sla["overall"]["orders_paid"]
    assert int(chart.get_attribute("data-dispatched-total")) == sla["overall"]["shipped"]
    assert int(chart.get_attribute("data-hours")) == len(sla["hourly"])
    paid_bars = {b.get_attribute("data-hour"): int(b.get_attribute("data-paid"))
                 for b in chart.locator("rect.bar-paid").all()}
    assert paid_bars == {b["hour"]: b["paid"] for b in sla["hourly"]}
    assert chart.locator("line.target").count() == 1 and chart.locator("polyline.share").count() == 1

    gauge = page.locator(".gauge[data-key='24h']")
    assert float(gauge.get_attribute("data-value")) == sla["overall"]["within_24h_pct"]
    assert gauge.get_attribute("data-target") == "80"
    assert page.locator(".gauge[data-key='48h']").get_attribute("data-target") == "95"
    at_risk = page.locator("#at-risk").inner_text()
    assert orders[21] in at_risk  # 24 h deadline in under three hours, not shipped
    assert [o["order_id"] for o in sla["at_risk"]["orders"]] == [orders[21]]
    page.locator("#sla-panel").scroll_into_view_if_needed()
    screenshot(page, "dispatch-sla-chart")


def test_the_admin_overview_shows_orders_low_stock_and_dead_letters(world: World, console_for, people, page) -> None:
    orders, inventory = world.start("orders"), world.start("inventory")
    dead_letters = world.reader("platform.orders.dlq")
    placed = [new_order_id() for _ in range(2)]
    for order_id in placed:
        world.publish("platform.orders", "order.placed", {
            "order_id": order_id, "customer_id": "C-9", "order_type": "standard",
            "lines": [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False}],
            "discount": "10.00", "paid_amount": "89.80", "paid_at": datetime.now(UTC).isoformat(),
            "region": "Shanghai", "currency": "CNY"}, key=order_id)
    world.publish_raw("platform.orders", b"{not json", key="O-BROKEN")
    # A record the topic takes but whose dead-letter copy the broker refuses (issue 27, finding 3).
    admin = KafkaAdminClient(bootstrap_servers=world.bootstrap, request_timeout_ms=15000)
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, world.topic("platform.orders"),
                                        configs={"max.message.bytes": "3000000"})])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=world.bootstrap, max_request_size=3_000_000)
    producer.send(world.topic("platform.orders"), key=b"O-HUGE", value=b"x" * 2_000_000).get(timeout=30)
    producer.close()
    with inventory.client("admin") as http:
        http.put("/skus/SKU-MUG-LOW", json={"tier": "profit", "planned_stock": 200, "on_hand": 10,
                                            "name": "Mug"}).raise_for_status()
    with orders.client("admin") as http:
        stats = wait_until(lambda: (lambda s: s if s["orders"] == 2 else None)(http.get("/stats").json()),
                           "two accepted orders")
    dead_letters.wait_for(lambda m: m.key == "O-BROKEN")
    with orders.client("admin") as http:
        wait_until(lambda: http.get("/outbox").json()["refused"] == 1, "the huge record's dead letter refused")
    console = console_for(orders=orders, inventory=inventory)  # logistics and aftersales not started

    sign_in(page, console, "admin", people["admin"])
    assert page.url.endswith("/warroom")  # an admin's first page (issue 30); the overview stays one click away
    page.goto(console.url + "/overview")
    assert page.locator("header nav").inner_text().split() == ["Dispatch", "board", "Returns", "desk", "Overview",
                                                                "Order", "360", "Complaints", "desk", "Stock",
                                                                "War", "room"]
    assert page.locator("#orders-total").inner_text() == "2"
    assert page.locator("#gmv").inner_text() == stats["gmv"]
    assert "SKU-MUG-LOW" in page.locator("#low-stock").inner_text()
    assert page.locator("#dead-letters tr[data-topic='platform.orders'] .dlq-count").inner_text() == "1"
    assert page.locator("#dlq-total").inner_text() == "1"  # the refused copy never reached the topic
    assert page.locator("#refused-events tr[data-service='orders'] .refused-count").inner_text() == "1"
    assert page.locator("#refused-events tr[data-service='inventory'] .refused-count").inner_text() == "0"
    assert "cannot be reached" in page.locator("#refused-events tr[data-service='logistics']").inner_text()
    # The services this test did not start are named, in plain words, where their figures would be.
    assert "logistics (dispatch) service cannot be reached" in page.locator("#targets-overview").inner_text()
    screenshot(page, "admin-overview")
