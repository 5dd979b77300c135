"""GET /shipments?order_id=&tracking_number= (issue 30, the console's order 360) against the real
logistics service and broker: found by order or by tracking number, paged, who may read, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_logistics_flow import queue_order
from tests.support.world import World

pytestmark = pytest.mark.integration

BASE = datetime(2026, 6, 18, 0, 0, tzinfo=UTC)


def test_shipments_are_found_by_order_or_tracking_number(world: World) -> None:
    service = world.start_at("logistics", BASE + timedelta(hours=2))
    order_ids = [f"O-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    with service.client() as http:
        shipment_ids = [queue_order(world, http, order_id) for order_id in order_ids]
        tracking = f"YT{order_ids[1][2:]}"
        http.post(f"/shipments/{shipment_ids[1]}/pack").raise_for_status()
        http.post(f"/shipments/{shipment_ids[1]}/ship", json={"tracking_number": tracking}).raise_for_status()

        found = http.get("/shipments", params={"tracking_number": tracking})
        assert found.status_code == 200, found.text
        [item] = found.json()["items"]
        assert (item["shipment_id"], item["order_id"], item["tracking_number"], item["status"]) == (
            shipment_ids[1], order_ids[1], tracking, "shipped")
        assert "lines" in item and "exceptions" in item and found.json()["next_cursor"] is None

        by_order = http.get("/shipments", params={"order_id": order_ids[0]}).json()["items"]
        assert [s["shipment_id"] for s in by_order] == [shipment_ids[0]]
        both = http.get("/shipments", params={"order_id": order_ids[0], "tracking_number": tracking}).json()
        assert both["items"] == []
        assert http.get("/shipments", params={"tracking_number": "NOSUCH1"}).json()["items"] == []

        walked, cursor = [], None
        for _ in range(10):
            page = http.get("/shipments", params={"limit": 1} | ({"cursor": cursor} if cursor else {})).json()
            walked += [s["shipment_id"] for s in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert walked == sorted(shipment_ids)  # oldest first (one instant on this stopped clock: by id), each once

        for bad in ({"tracking_number": "a b"}, {"tracking_number": "x" * 65}, {"order_id": "O 1"},
                    {"limit": 0}, {"limit": 501}):
            answer = http.get("/shipments", params=bad)
            assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json", bad
        assert http.get("/shipments", params={"cursor": "bad!"}).status_code == 400

    for role in ("warehouse", "support", "admin"):
        with service.client(role) as reader:
            assert reader.get("/shipments", params={"order_id": order_ids[0]}).status_code == 200, role
    with service.client("platform") as platform:
        assert platform.get("/shipments").status_code == 403
