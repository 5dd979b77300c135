"""What operators and the console read: paginated lists, live figures (R26); and who may change
orders over HTTP (R3, R28). Orders come in over POST /orders, the HTTP way in."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_orders_intake import new_id, order_data
from tests.support.services import token_for
from tests.support.world import World

pytestmark = pytest.mark.integration

PLATFORM = {"Authorization": f"Bearer {token_for('platform', subject='checkout')}"}


def wait_accepted(http, order_ids: list[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(http.get(f"/orders/{o}").status_code == 200 for o in order_ids):
            return
        time.sleep(0.1)
    raise AssertionError("orders not accepted in time")


def test_only_platform_services_place_orders_and_the_figures_add_up(world: World) -> None:
    orders = world.start("orders")
    standard = [new_id() for _ in range(3)]
    high_value, presale = new_id(), new_id()
    bodies = [order_data(o, paid_at=f"2026-11-11T00:00:0{i}Z") for i, o in enumerate(standard)] + [
        order_data(high_value, lines=[{"sku": "SKU-TV-55", "quantity": 1, "unit_price": "1000.00"}],
                   discount="0.00", paid_amount="1000.00"),
        order_data(presale, order_type="presale", deposit="20.00"),
    ]
    with orders.client("warehouse") as http:
        assert orders.anonymous_client().post("/orders", json=bodies[0]).status_code == 401
        assert http.post("/orders", json=bodies[0], headers={"Authorization": "Bearer guess"}).status_code == 401
        assert http.post("/orders", json=bodies[0]).status_code == 403  # warehouse staff do not place orders
        for body in bodies:
            assert http.post("/orders", json=body, headers=PLATFORM).status_code == 202
        wait_accepted(http, standard + [high_value, presale])
        assert http.post(f"/orders/{standard[2]}/cancel").status_code == 403
        assert http.post(f"/orders/{standard[2]}/cancel", headers=PLATFORM).status_code == 200
        assert http.post(f"/orders/{new_id()}/cancel", headers=PLATFORM).status_code == 404

        stats = http.get("/stats").json()
        pages, cursor = [], None
        while True:
            page = http.get("/orders", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            pages.append([o["order_id"] for o in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        cancelled = http.get("/orders", params={"status": "cancelled"}).json()["items"]
        standard_listed = http.get("/orders", params={"priority_class": "standard"}).json()["items"]
        asyncapi = http.get("/asyncapi.json").text
        bad = [http.get("/orders", params=p) for p in ({"status": "lost"}, {"priority_class": "vip"},
                                                      {"limit": 0}, {"cursor": "!!"})]

    # 89.80 x 2 standard + 1000.00 high-value + 89.80 presale; the cancelled order is not GMV.
    assert (stats["orders"], stats["gmv"], stats["average_basket"]) == (4, "1269.40", "317.35")
    assert stats["by_class"] == {"presale": {"orders": 1, "gmv": "89.80"},
                                 "high_value": {"orders": 1, "gmv": "1000.00"},
                                 "standard": {"orders": 2, "gmv": "179.60"}}
    assert stats["by_state"]["accepted"] == {"orders": 4, "gmv": "1269.40"}
    assert stats["by_state"]["cancelled"] == {"orders": 1, "gmv": "89.80"}
    assert pages == [[presale, high_value], [standard[0], standard[1]], [standard[2]]]
    assert [o["order_id"] for o in cancelled] == [standard[2]]
    assert [o["order_id"] for o in standard_listed] == standard
    # A cursor this API did not hand out is a 400 `invalid-cursor` problem, as on every list
    # endpoint of every service (shared/pagination.py; it was a 422 before issue 28).
    assert [r.status_code for r in bad] == [422, 422, 422, 400]
    assert "unknown status 'lost'" in bad[0].json()["detail"]
    assert bad[3].json()["type"] == "/problems/invalid-cursor"
    assert "not a cursor this API hands out" in bad[3].json()["detail"]
    for published in ("order.accepted", "order.rejected", "order.cancelled", "order.cancellation_refused"):
        assert published in asyncapi
    for consumed in ("platform.orders", "inventory.reservations", "logistics.shipments", "aftersales.cases"):
        assert consumed in asyncapi
