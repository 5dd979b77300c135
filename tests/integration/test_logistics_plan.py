"""The event's plan through the real broker (issue 32): a forecast hour by hour before any order,
actual arrivals blended in as stock.reserved events come, carrier bookings proposed, confirmed
and used by carrier choice, and a shortfall shown as a risk; and the inputs attacked."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.world import World

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # 11 Nov 00:00 at the warehouse (UTC+8)
FILE_PLAN = {"name": "file plan", "start": "2026-11-11T00:00:00+08:00",
             "phases": [{"name": "warm-up", "hours": 2, "orders_per_hour": {"presale": 2, "standard": 8}},
                        {"name": "burst", "hours": 1, "orders_per_hour": {"high_value": 10, "standard": 50}},
                        {"name": "tail", "hours": 3, "orders_per_hour": {"standard": 5}}]}


@pytest.fixture(scope="module")
def service(module_world: World, tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    path.write_text(json.dumps(FILE_PLAN), encoding="utf-8")
    return module_world.start_at("logistics", START - timedelta(hours=3),
                                 settings={"LOGISTICS_PLAN_PATH": str(path), "LOGISTICS_DEFAULT_PICKERS": "1",
                                           "LOGISTICS_DEFAULT_PICKS_PER_HOUR": "20"})


def reserved(order_id: str, paid_at: datetime) -> dict:
    return {"order_id": order_id, "order_type": "standard", "priority_class": "standard",
            "priority_rank": f"2-{int(paid_at.timestamp())}-{order_id}",
            "lines": [{"sku": "SKU-CUP-01", "quantity": 1, "unit_price": "19.90", "gift": False,
                       "weight_kg": "0.40", "volume_l": "1.50"}],
            "region": "Zhejiang", "paid_at": paid_at.isoformat(), "reserved_at": paid_at.isoformat()}


def wait_until(check, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def set_clock(http: httpx.Client, now: datetime) -> None:
    http.put("/clock", json={"now": now.isoformat()}).raise_for_status()


def test_the_forecast_answers_hour_by_hour_from_the_plan_alone_before_any_order(service) -> None:
    with service.client("warehouse") as http:
        forecast = http.get("/forecast").json()
        assert http.get("/plan").json()["source"] == "file"
    assert forecast["plan"] == "file plan"
    hours = forecast["hours"]
    assert len(hours) == 6 + 48
    assert [h["planned_arrivals"] for h in hours[:7]] == [10, 10, 60, 5, 5, 5, 0]
    assert all(h["actual_arrivals"] is None for h in hours)
    assert hours[0]["hour_start"] == START.isoformat()
    # 20 an hour (1 picker): 40 of the burst's 60 wait, then 25, 10, none, all within 24h.
    assert [h["shipped"] for h in hours[:6]] == [10, 10, 20, 20, 20, 15]
    assert [h["backlog"] for h in hours[:6]] == [0, 0, 40, 25, 10, 0]
    assert hours[2]["share_24h"] == 100.0 and hours[-1]["share_48h"] == 100.0
    assert hours[0]["pickers_needed_80_24h"] >= 1 and hours[0]["pickers_needed_95_48h"] >= 1
    assert forecast["regions_from"] == "none"
    assert sum(row["parcels"] for row in forecast["carrier_capacity_needed"]) == 95
    assert forecast["risks"] == []


def test_a_plan_put_by_an_admin_replaces_the_files_and_actual_arrivals_blend_in(module_world: World, service) -> None:
    plan = {**FILE_PLAN, "name": "put plan", "regions": {"Zhejiang": 3, "Guangdong": 1}}
    with service.client("admin") as http:
        answer = http.put("/plan", json=plan)
        assert answer.status_code == 200, answer.text
        assert answer.json()["source"] == "http" and answer.json()["planned_orders"] == 95
        for i in range(3):
            order_id = f"O-PLAN-{i}"
            module_world.publish("inventory.reservations", "stock.reserved",
                                 reserved(order_id, START + timedelta(minutes=10 + i)), key=order_id)
        wait_until(lambda: all(http.get(f"/shipments/SHP-O-PLAN-{i}").status_code == 200 for i in range(3)))
        set_clock(http, START + timedelta(hours=1, minutes=30))
        forecast = http.get("/forecast").json()
    hours = forecast["hours"]
    assert forecast["plan"] == "put plan"
    assert (hours[0]["planned_arrivals"], hours[0]["actual_arrivals"]) == (10, 3)  # the hour over: what came
    assert (hours[1]["planned_arrivals"], hours[1]["actual_arrivals"]) == (10, 0)  # now: the larger
    assert hours[0]["pickers_needed_80_24h"] is None and hours[1]["pickers_needed_80_24h"] is not None
    assert hours[0]["shipped"] == 0 and hours[0]["backlog"] == 3  # nothing handed over in that hour
    assert forecast["regions_from"] == "plan"
    assert {row["region"] for row in forecast["carrier_capacity_needed"]} == {"Zhejiang", "Guangdong"}
    assert sum(row["parcels"] for row in forecast["carrier_capacity_needed"]) == 3 + 85


def test_bookings_are_proposed_confirmed_and_used_by_carrier_choice(service) -> None:
    with service.client("admin") as http:
        proposed = http.post("/carrier-bookings/proposals")
        assert proposed.status_code == 201, proposed.text
        rows = proposed.json()["bookings"]
        assert {r["day"] for r in rows} == {"2026-11-11"} and all(r["status"] == "proposed" for r in rows)
        zto = next(r for r in rows if r["carrier"] == "ZTO")
        confirmed = http.post(f"/carrier-bookings/{zto['booking_id']}/confirm", json={"parcels": 1})
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "confirmed" and confirmed.json()["changed"] is True
        again = http.post(f"/carrier-bookings/{zto['booking_id']}/confirm", json={"parcels": 1})
        assert again.status_code == 200 and again.json()["changed"] is False  # a repeat changes nothing
        other = http.post(f"/carrier-bookings/{zto['booking_id']}/confirm", json={"parcels": 7})
        assert other.status_code == 409 and other.json()["type"].endswith("/conflict")
        unknown = http.post("/carrier-bookings/BK-nope/confirm")
        assert unknown.status_code == 404
        listed = http.get("/carrier-bookings", params={"day": "2026-11-11"}).json()["bookings"]
        assert any(r["booking_id"] == zto["booking_id"] and r["parcels"] == 1 for r in listed)
        assert next(c for c in http.get("/carriers").json()["carriers"] if c["code"] == "ZTO")["daily_capacity"] == 1
    with service.client("warehouse") as http:
        carriers = []
        for i in range(2):  # east China light: ZTO first, then YTO once ZTO's booked 1 is used
            http.post(f"/shipments/SHP-O-PLAN-{i}/pack", json={"picker_id": "P-1"}).raise_for_status()
            shipped = http.post(f"/shipments/SHP-O-PLAN-{i}/ship", json={"tracking_number": f"TN-PLAN-{i}"})
            assert shipped.status_code == 200, shipped.text
            carriers.append(shipped.json()["carrier"])
        assert carriers == ["ZTO", "YTO"]
        http.post("/shipments/SHP-O-PLAN-2/pack", json={"picker_id": "P-1"}).raise_for_status()
        refused = http.post("/shipments/SHP-O-PLAN-2/ship", json={"tracking_number": "TN-PLAN-2", "carrier": "ZTO"})
        assert refused.status_code == 409 and "full today (1 parcels booked)" in refused.json()["detail"]


def test_a_day_booked_short_is_a_risk_in_the_forecast_and_in_the_sla(service) -> None:
    with service.client("admin") as http:
        rows = http.post("/carrier-bookings/proposals", json={"margin_pct": 10}).json()["bookings"]
        assert http.post("/carrier-bookings/proposals", json={"margin_pct": 101}).status_code == 422
        superseded_later = rows[0]["booking_id"]
        for row in rows:
            assert http.post(f"/carrier-bookings/{row['booking_id']}/confirm", json={"parcels": 1}).status_code == 200
        forecast = http.get("/forecast").json()
        sla = http.get("/sla").json()
        listed = http.get("/carrier-bookings", params={"day": "2026-11-11"}).json()["bookings"]
    assert any(r["status"] == "superseded" for r in listed)  # the earlier ZTO confirmation
    day_risk = next(r for r in forecast["risks"] if r["kind"] == "day_capacity")
    assert day_risk["day"] == "2026-11-11" and day_risk["needed"] > day_risk["booked"]
    assert day_risk["words"].startswith("11 Nov: ") and "booked" in day_risk["words"]
    region = next(r for r in forecast["risks"] if r["kind"] == "region_capacity" and r["region"] == "Guangdong")
    assert region["words"] == f"Guangdong, 11 Nov: {region['needed']:,} parcels forecast, {region['booked']:,} booked"
    assert sla["capacity_risks"] == forecast["risks"]
    assert superseded_later


# -- attacks ---------------------------------------------------------------------------------------


def plan_with(**changes) -> dict:
    return {**FILE_PLAN, **changes}


@pytest.mark.parametrize(("body", "field"), [
    (plan_with(phases=[{"hours": 1, "orders_per_hour": {"standard": 10 ** 30}}]), "phases.0.orders_per_hour.standard"),
    (plan_with(phases=None, previous={"hours": [{"standard": 1}], "factor": "1.000000000000000000000000000001"}),
     "previous.factor"),
    (plan_with(phases=None, previous={"hours": [{"standard": 1}], "factor": -2}), "previous.factor"),
    (plan_with(phases=[{"hours": 1, "orders_per_hour": {"standard": 2.5}}]), "standard"),
    (plan_with(phases=[{"hours": 1, "orders_per_hour": {"vip": 2}}]), "vip"),
    (plan_with(start="2026-11-11T00:00:00"), "start"),
    (plan_with(phases=[{"hours": 745, "orders_per_hour": {}}]), "hours"),
    (plan_with(stock_waits=[{"share_pct": "60", "hours": 5}, {"share_pct": "40.5", "hours": 9}]), "100%"),
    (plan_with(stock_waits=[{"share_pct": "12.3456", "hours": 5}]), "stock_waits.0.share_pct"),
    (plan_with(stock_waits=[{"share_pct": "5", "hours": 10 ** 20}]), "stock_waits.0.hours"),
    (plan_with(stock_waits={"share_pct": "5", "hours": 1}), "stock_waits"),
])
def test_a_bad_plan_is_a_422_problem_naming_the_field(service, body, field) -> None:
    with service.client("admin") as http:
        before = http.get("/plan").json()
        answer = http.put("/plan", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert field in answer.json()["detail"]
        assert http.get("/plan").json() == before  # the plan before stays


def test_a_body_nested_100k_deep_or_not_utf8_is_refused_and_the_service_carries_on(service) -> None:
    with service.client("admin") as http:
        before = http.get("/plan").json()["name"]
        deep = http.put("/plan", content=b"[" * 100_000 + b"]" * 100_000,
                        headers={"Content-Type": "application/json"})
        assert deep.status_code in (400, 413, 422), deep.text
        assert deep.headers["content-type"].startswith("application/problem+json")
        latin = http.put("/plan", content=json.dumps(plan_with(name="caf\u00e9"), ensure_ascii=False).encode("latin-1"),
                         headers={"Content-Type": "application/json"})
        assert latin.status_code in (400, 422), latin.text
        assert latin.headers["content-type"].startswith("application/problem+json")
        assert http.get("/plan").json()["name"] == before
    with service.client("warehouse") as http:
        assert http.put("/plan", json=FILE_PLAN).status_code == 403
        assert http.post("/carrier-bookings/proposals").status_code == 403
        assert http.get("/forecast").status_code == 200
    with service.client("support") as http:
        assert http.get("/forecast").status_code == 403


def test_orders_expected_to_wait_for_stock_ship_later_in_the_forecast(service) -> None:
    # a day later than the other tests' plans: every hour is still to come
    plan = {"name": "stock plan", "start": "2026-11-12T00:00:00+08:00",
            "phases": [{"hours": 1, "orders_per_hour": {"standard": 20}}],
            "stock_waits": [{"share_pct": "25", "hours": 30}]}
    with service.client("admin") as http:
        answer = http.put("/plan", json=plan)
        assert answer.status_code == 200, answer.text
        assert answer.json()["plan"]["stock_waits"] == [{"share_pct": "25", "hours": 30, "from_hour": 0}]
        hours = http.get("/forecast").json()["hours"]
    # 1 picker x 20/h: the 15 in stock ship in the first hour; the 5 waiting come back 30 hours
    # later, too late for 24h, in time for 48h
    assert hours[0]["shipped"] == 15 and hours[0]["waiting_for_stock"] == 5 and hours[0]["backlog"] == 0
    assert hours[29]["waiting_for_stock"] == 5 and hours[30]["waiting_for_stock"] == 0 and hours[30]["shipped"] == 5
    assert hours[-1]["share_24h"] == 75.0 and hours[-1]["share_48h"] == 100.0
