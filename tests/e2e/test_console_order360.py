"""Order 360 and the complaints desk in a real browser (Debian's Chromium, driven by Playwright)
against real services and the real broker: a support agent finds an order by the tracking number
a customer reads out and sees its timeline, lines with product names and parcel (the after-sales
sections say why they are missing while that service is down); a complaint nobody answered for an
hour is flagged overdue on the desk by the after-sales service's settable clock. Each test leaves
a screenshot in test-output/screenshots/.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.console import flash, new_order_id, screenshot, sign_in, wait_until
from tests.support.world import World

pytestmark = pytest.mark.e2e


def test_an_order_found_by_tracking_number_shows_its_timeline(world: World, console_for, people, page) -> None:
    orders, inventory, logistics = (world.start(name) for name in ("orders", "inventory", "logistics"))
    sku = f"SKU-O360-{uuid.uuid4().hex[:6].upper()}"
    with inventory.client("admin") as http:
        r = http.put(f"/skus/{sku}", json={"tier": "traffic_driver", "planned_stock": 20, "on_hand": 20,
                                           "name": "Jasmine tea 250 g"})
        assert r.status_code == 200, r.text
    order_id, customer_id = new_order_id(), f"C-{uuid.uuid4().hex[:6]}"
    world.publish("platform.orders", "order.placed", {
        "order_id": order_id, "customer_id": customer_id, "order_type": "standard",
        "lines": [{"sku": sku, "quantity": 2, "unit_price": "49.90", "gift": False}],
        "discount": "0.00", "paid_amount": "99.80", "paid_at": datetime.now(UTC).isoformat(),
        "region": "Shanghai", "currency": "CNY"}, key=order_id)
    tracking = f"YT{order_id[2:]}"
    with logistics.client("warehouse") as http:
        wait_until(lambda: http.get(f"/shipments/SHP-{order_id}").status_code == 200, "the order's shipment", 45)
        http.post(f"/shipments/SHP-{order_id}/pack", json={"picker_id": "P-1"}).raise_for_status()
        http.post(f"/shipments/SHP-{order_id}/ship", json={"tracking_number": tracking}).raise_for_status()
    with orders.client("support") as http:
        wait_until(lambda: http.get(f"/orders/{order_id}").json()["status"] == "shipped", "the order shipped")
    # After-sales is not started: its sections must say so, the rest of the page still shows.
    console = console_for(orders=orders, inventory=inventory, logistics=logistics)

    sign_in(page, console, "support", people["support"])
    assert "Order 360" in page.locator("header nav").inner_text()
    page.goto(console.url + "/orders")
    page.fill("#order-search", tracking)
    with page.expect_navigation():
        page.click("#find")
    assert page.url.endswith(f"/orders/{order_id}")
    assert page.locator("#order-id").inner_text() == order_id
    assert page.locator("#order-status").inner_text() == "shipped"
    assert page.locator("#customer-id").inner_text() == customer_id
    reached = [li.get_attribute("data-status") for li in page.locator("#timeline li").all()]
    assert {"accepted", "reserved", "shipped"} <= set(reached), reached
    assert "Jasmine tea 250 g" in page.locator("#lines").inner_text()
    assert tracking in page.locator("#shipments .tracking").inner_text()
    assert "cannot be reached" in page.locator("#cases-error").inner_text()
    assert "cannot be reached" in page.locator("#complaints-error").inner_text()
    assert page.locator("#confirm-cancel").count() == 0, "no cancel after dispatch"
    screenshot(page, "order360-found-by-tracking-number")

    # The customer's id finds the same order; something unknown says so.
    page.goto(console.url + "/orders")
    page.fill("#order-search", customer_id)
    with page.expect_navigation():
        page.click("#find")
    assert page.url.endswith(f"/orders/{order_id}")
    page.goto(console.url + "/orders?q=NOTHING-LIKE-THIS")
    assert "No order, customer or tracking number" in page.locator("#no-match").inner_text()


def test_a_complaint_unanswered_for_an_hour_is_flagged_overdue(world: World, console_for, people, page) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    aftersales = world.start_at("aftersales", start)
    order_id = new_order_id()
    world.publish("orders.events", "order.accepted", {
        "order_id": order_id, "customer_id": "C-77", "order_type": "standard", "priority_class": "standard",
        "priority_rank": f"2-{order_id}", "lines": [{"sku": "SKU-TEA", "quantity": 1, "unit_price": "49.90"}],
        "discount": "0.00", "paid_amount": "49.90", "paid_at": start.isoformat(), "region": "Shanghai",
        "currency": "CNY", "promotions": [], "accepted_at": start.isoformat()}, key=order_id)
    with aftersales.client("support") as http:  # known (409: not delivered yet) once order.accepted is in
        wait_until(lambda: http.get(f"/orders/{order_id}/returnable").status_code == 409, f"{order_id} known")
    console = console_for(aftersales=aftersales)

    sign_in(page, console, "support", people["support"])
    page.goto(console.url + "/complaints")
    page.fill("#complaint-order", order_id)
    page.select_option("#complaint-channel", "public")
    page.fill("#complaint-subject", "Parcel never came")
    page.fill("#complaint-text", "I posted this on the shop's page: where is my tea?")
    with page.expect_navigation():
        page.click("#open-complaint")
    assert "opened for order" in flash(page)
    complaint_id = page.locator("#complaint-id").inner_text()
    assert "1 h 00 min left" in page.locator("#first-response-clock").inner_text()

    page.goto(console.url + "/complaints")
    row = page.locator(f"#complaint-{complaint_id}")
    assert row.get_attribute("data-overdue") == "no"
    assert "public" in row.inner_text() and "C-77" in row.inner_text()

    with aftersales.client() as http:
        http.put("/clock", json={"now": (start + timedelta(minutes=61)).isoformat()}).raise_for_status()
    page.reload()
    row = page.locator(f"#complaint-{complaint_id}")
    assert row.get_attribute("data-overdue") == "yes"
    first = row.locator(".first-response").inner_text()
    assert "OVERDUE" in first and "overdue by 0 h 01 min" in first, first
    assert "22 h 59 min left" in row.locator(".resolution").inner_text()
    assert "1 overdue" in page.locator("#overdue-count").inner_text()
    screenshot(page, "complaints-desk-overdue")

    with page.expect_navigation():
        row.locator("a").first.click()
    page.fill("#response-words", "Sorry! The parcel is on its way, here is the tracking number.")
    with page.expect_navigation():
        page.click("#respond")
    assert "first response recorded" in flash(page)
    assert "late" in page.locator("#first-response-clock").inner_text()
    screenshot(page, "complaint-answered-late")

    # An administrator reads the desk but cannot act on it.
    with page.expect_navigation():
        page.click("header .who button")
    sign_in(page, console, "admin", people["admin"])
    page.goto(console.url + "/complaints")
    assert page.locator("#new-complaint").count() == 0
    page.goto(console.url + f"/complaints/{complaint_id}")
    assert page.locator("#resolve").count() == 0 and "read-only" in page.locator("main").inner_text()
