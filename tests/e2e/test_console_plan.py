"""The dispatch board shows a carrier booking shortfall (issue 32) in a real browser: the plan put
over HTTP, bookings proposed from its forecast and confirmed short, and the board's red line
"<region>, <day>: N parcels forecast, M booked". Screenshot in test-output/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.console import screenshot, sign_in, wait_until
from tests.support.world import World

pytestmark = pytest.mark.e2e


def test_the_dispatch_board_shows_a_day_booked_short_of_the_forecast(world: World, console_for, people,
                                                                     page) -> None:
    logistics = world.start("logistics")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    plan = {"name": "board plan", "start": start.isoformat(),
            "phases": [{"name": "burst", "hours": 2, "orders_per_hour": {"presale": 50, "standard": 250}}],
            "regions": {"Guangdong": 1, "Zhejiang": 1}}
    with logistics.client("admin") as http:
        http.put("/plan", json=plan).raise_for_status()
        proposed = http.post("/carrier-bookings/proposals").json()["bookings"]
        assert proposed
        for booking in proposed:
            http.post(f"/carrier-bookings/{booking['booking_id']}/confirm", json={"parcels": 10}).raise_for_status()
        risks = http.get("/forecast").json()["risks"]
    assert risks, "the bookings should be short of 600 parcels"
    console = console_for(logistics=logistics)

    sign_in(page, console, "warehouse", people["warehouse"])
    page.goto(console.url + "/dispatch")
    lines = page.locator("#capacity-risks .capacity-risk")
    wait_until(lambda: lines.count() >= 1, "the risk lines")
    texts = lines.all_inner_texts()
    assert any(t.startswith("Guangdong, ") and "parcels forecast" in t and "booked" in t for t in texts), texts
    assert texts == [r["words"] for r in risks]
    colour = page.eval_on_selector("#capacity-risks .capacity-risk", "e => getComputedStyle(e).color")
    assert colour == "rgb(179, 38, 30)"  # red
    screenshot(page, "plan-risks")
