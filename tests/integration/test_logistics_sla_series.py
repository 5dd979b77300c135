"""GET /sla/series through the real service (issue 30): parcels dispatched per bucket and the
24h/48h shares at each bucket's end agree with GET /sla; ranges are bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.console import new_order_id, reserve, wait_for_shipments
from tests.support.world import World

pytestmark = pytest.mark.integration


def test_the_series_ends_where_the_sla_stands(world: World) -> None:
    logistics = world.start("logistics")
    now = datetime.now(UTC)
    late, early, waiting = new_order_id(), new_order_id(), new_order_id()
    reserve(world, late, paid_at=now - timedelta(hours=30))  # shipped now: past 24h, within 48h
    reserve(world, early, paid_at=now - timedelta(hours=2))
    reserve(world, waiting, paid_at=now - timedelta(hours=1))
    wait_for_shipments(logistics, [late, early, waiting])
    with logistics.client("warehouse") as http:
        for order_id in (late, early):
            http.post(f"/shipments/SHP-{order_id}/pack", json={"picker_id": "P-1"}).raise_for_status()
            http.post(f"/shipments/SHP-{order_id}/ship", json={"tracking_number": f"T{order_id[2:]}"}
                      ).raise_for_status()
        sla = http.get("/sla").json()["overall"]
    with logistics.client("support") as http:  # every console role reads it
        hours = http.get("/sla/series", params={"bucket": "hour", "since": (now - timedelta(hours=35)).isoformat()})
        minutes = http.get("/sla/series")
        too_long = http.get("/sla/series", params={"since": (now - timedelta(days=2)).isoformat()})
        naive = http.get("/sla/series", params={"until": "2026-11-11T00:00:00"})
    assert hours.status_code == 200, hours.text
    body = hours.json()
    assert len(body["points"]) == 36 and body["targets"] == {"within_24h_pct": 80, "within_48h_pct": 95}
    last = body["points"][-1]
    assert sum(p["dispatched"] for p in body["points"]) == 2  # both in the last hour or two
    assert (last["orders_paid"], last["shipped_within_24h"], last["shipped_within_48h"]) == (3, 1, 2)
    assert (last["within_24h_pct"], last["within_48h_pct"]) == (sla["within_24h_pct"], sla["within_48h_pct"])
    assert body["points"][0]["orders_paid"] == 0 and body["points"][0]["within_24h_pct"] is None
    assert [p["paid"] for p in body["points"]].count(1) == 3
    assert len(minutes.json()["points"]) == 60 and sum(p["dispatched"] for p in minutes.json()["points"]) == 2
    assert too_long.status_code == 400 and "1440" in too_long.json()["detail"]
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
