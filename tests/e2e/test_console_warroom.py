"""The war room in a real browser (issue 30) against the real orders and logistics services and
the real broker: its orders and GMV series change within 5 s of orders published to Kafka, with
no reload; the conversion shown is orders / visitors of a traffic window published on
platform.traffic; the axes are in the warehouse's zone (CONSOLE_TIME_ZONE); per minute and per
hour switch in place; warehouse staff may open it too. Screenshots in test-output/screenshots/."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.support.console import new_order_id, reserve, screenshot, sign_in, wait_for_shipments, wait_until
from tests.support.world import World

pytestmark = pytest.mark.e2e

ZONE = "Asia/Shanghai"


def order(order_id: str, paid_at: datetime) -> dict:
    return {"order_id": order_id, "customer_id": "C-9", "order_type": "standard",
            "lines": [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False}],
            "discount": "10.00", "paid_amount": "89.80", "paid_at": paid_at.isoformat(),
            "region": "Shanghai", "currency": "CNY"}


def state(page, name: str) -> str | None:
    return page.locator("#warroom").get_attribute(f"data-{name}")


def option(page, chart: str, path: str):  # type: ignore[no-untyped-def]
    return page.evaluate(f"() => echarts.getInstanceByDom(document.getElementById('{chart}')).getOption().{path}")


def test_the_war_room_follows_orders_live_and_shows_conversion(world: World, console_for, people, page) -> None:
    orders, logistics = world.start("orders"), world.start("logistics")
    shipped = new_order_id()
    reserve(world, shipped, paid_at=datetime.now(UTC) - timedelta(hours=2))
    wait_for_shipments(logistics, [shipped])
    with logistics.client("warehouse") as http:
        http.post(f"/shipments/SHP-{shipped}/pack", json={"picker_id": "P-1"}).raise_for_status()
        http.post(f"/shipments/SHP-{shipped}/ship", json={"tracking_number": "WR1X"}).raise_for_status()
    console = console_for(orders=orders, logistics=logistics)

    sign_in(page, console, "admin", people["admin"])
    assert page.url.endswith("/warroom")  # the admin's home
    wait_until(lambda: int(state(page, "updates") or 0) >= 1, "the first figures", timeout_s=10)
    assert state(page, "orders-total") == "0"
    assert option(page, "chart-dispatch", "series[0].data").count(1) == 1  # the parcel shipped just now
    targets = [s["markLine"]["data"][0]["yAxis"] for s in option(page, "chart-share", "series")]
    assert targets == [80, 95]
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page were reloaded

    now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0)
    world.publish("platform.traffic", "traffic.counted",
                  {"window_start": minute.isoformat(), "window_seconds": 60, "visitors": 400}, key="traffic")
    placed = [new_order_id(), new_order_id()]
    for order_id in placed:
        world.publish("platform.orders", "order.placed", order(order_id, now), key=order_id)
    published = time.monotonic()
    wait_until(lambda: state(page, "orders-total") == "2" and state(page, "gmv-total") == "179.60",
               "the orders and GMV series to move", timeout_s=5)
    assert time.monotonic() - published < 5
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    assert sum(option(page, "chart-orders", "series[0].data")) == 2
    assert sum(v or 0 for v in option(page, "chart-gmv", "series[0].data")) == pytest.approx(179.60)

    # Conversion = orders / visitors of the window, on the KPI and on the chart.
    wait_until(lambda: state(page, "visitors-total") == "400", "the traffic window", timeout_s=10)
    expected = (Decimal(2) / Decimal(400)).quantize(Decimal("0.000001"))
    assert state(page, "conversion") == str(expected) and state(page, "orders-with-traffic") == "2"
    assert page.locator("#kpi-conversion").inner_text() == "0.50 % (2 / 400)"
    assert float(expected) * 100 in option(page, "chart-conversion", "series[0].data")

    # The axis is in the warehouse's zone (the browser itself runs in UTC).
    labels = option(page, "chart-orders", "xAxis[0].data")
    assert minute.astimezone(ZoneInfo(ZONE)).strftime("%H:%M") in labels
    page.locator("#chart-conversion").scroll_into_view_if_needed()
    screenshot(page, "warroom-minutes")

    page.click(".warroom-switch .bucket[data-bucket='hour']")
    wait_until(lambda: state(page, "bucket") == "hour", "the hourly view", timeout_s=10)
    assert len(option(page, "chart-orders", "xAxis[0].data")) == 24
    assert option(page, "chart-orders", "series[0].data")[-1] == 2
    assert page.evaluate("() => window.__sameDocument === true")
    screenshot(page, "warroom-hours")

    # Warehouse staff land on their board, and may open the war room to read it.
    with page.expect_navigation():
        page.click("header .who button")
    sign_in(page, console, "warehouse", people["warehouse"])
    assert page.url.endswith("/dispatch")
    assert page.goto(console.url + "/warroom").status == 200
    wait_until(lambda: state(page, "orders-total") == "2", "the warehouse's war room", timeout_s=10)
    # Inventory is not running here: the stock part says so in words, the rest stays live.
    assert "cannot be reached" in page.locator("#warroom-stock .part-error").inner_text()
    screenshot(page, "warroom-warehouse")
