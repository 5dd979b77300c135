"""A deposit presale's whole journey through the real broker with the real orders, inventory and
logistics services (issue 29's acceptance): the deposit -> `awaiting_balance` (stock held, not in
any wave, not in the 24h/48h figures) -> the balance -> reserved -> shipped, the clock counting
from the balance; a balance with the wrong amount refused with the expected figure; a balance
after the window refused and the order closed `balance_unpaid` with its stock given back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.waiting import eventually
from tests.support.world import World

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 11, 0, 30, tzinfo=UTC)  # every service's clock
DEPOSIT_AT = datetime(2026, 11, 1, 20, 0, tzinfo=UTC)
DUE_BY = datetime(2026, 11, 11, 23, 59, tzinfo=UTC)
# Two phones at 899.00, nothing off: a deposit of 100.00 counts 200.00, leaving 1,598.00.
SKU = f"SKU-PRE-{uuid.uuid4().hex[:6]}"


def deposit(order_id: str) -> dict:
    return {"order_id": order_id, "customer_id": f"C-{order_id}", "order_type": "presale",
            "lines": [{"sku": SKU, "quantity": 2, "unit_price": "899.00"}], "discount": "0.00",
            "paid_amount": "100.00", "deposit": "100.00", "paid_at": DEPOSIT_AT.isoformat(),
            "region": "Shanghai", "currency": "CNY"}


def balance(order_id: str, amount: str, at: datetime) -> dict:
    return {"order_id": order_id, "balance_amount": amount, "paid_at": at.isoformat()}


@pytest.fixture(scope="module")
def platform(module_world: World):
    settings = {"PRESALE_BALANCE_DUE_BY": DUE_BY.isoformat(), "PRESALE_WINDOW_JOB_INTERVAL_S": "0.3",
                "PRESALE_BALANCE_GRACE_S": "60"}
    services = {"orders": module_world.start_at("orders", NOW, settings),
                "inventory": module_world.start_at("inventory", NOW),
                "logistics": module_world.start_at("logistics", NOW)}
    with services["inventory"].client() as stock:
        stock.put(f"/skus/{SKU}", json={"tier": "profit", "planned_stock": 10, "on_hand": 10}).raise_for_status()
    return services


def status(platform, order_id: str) -> str | None:
    with platform["orders"].client() as http:
        answer = http.get(f"/orders/{order_id}")
    return answer.json().get("status") if answer.status_code == 200 else None


def shipment(platform, order_id: str) -> dict | None:
    with platform["logistics"].client() as http:
        answer = http.get(f"/shipments/SHP-{order_id}")
    return answer.json() if answer.status_code == 200 else None


def available(platform) -> int:
    with platform["inventory"].client() as stock:
        return stock.get(f"/stock/{SKU}").json()["available"]


def sla_paid(platform) -> int:
    with platform["logistics"].client() as http:
        return http.get("/sla").json()["overall"]["orders_paid"]


def test_deposit_then_balance_then_shipped_with_the_clock_from_the_balance(module_world: World, platform) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    paid_before = sla_paid(platform)
    module_world.publish("platform.orders", "order.placed", deposit(order_id), key=order_id)

    waiting = eventually(lambda: (s := shipment(platform, order_id)) and s["status"] == "awaiting_balance" and s,
                         what="the shipment opened awaiting the balance")
    assert status(platform, order_id) == "awaiting_balance"
    assert available(platform) == 8  # held as presale quota
    assert waiting["deadline_24h"] is None and sla_paid(platform) == paid_before  # no clock, not in the figures
    with platform["logistics"].client() as http:
        wave = http.post("/waves", json={"size": 200, "picker_id": "P-J1"})
        assert wave.status_code in (201, 404), wave.text  # nothing else waits in this module
        claimed = {s["shipment_id"] for s in wave.json().get("shipments", [])} if wave.status_code == 201 else set()
        assert f"SHP-{order_id}" not in claimed

    # A wrong balance is refused with the figure that is due; the right one moves the order on.
    with platform["orders"].client() as http:
        wrong = http.post(f"/orders/{order_id}/balance", json=balance(order_id, "1597.99", NOW))
        assert wrong.status_code == 422 and "1598.00" in wrong.json()["detail"], wrong.text
    balance_at = NOW - timedelta(minutes=5)
    module_world.publish("platform.orders", "order.balance_paid", balance(order_id, "1598.00", balance_at),
                         key=order_id)
    queued = eventually(lambda: (s := shipment(platform, order_id)) and s["status"] == "queued" and s,
                        what="the shipment queued after the balance")
    assert queued["deadline_24h"] == (balance_at + timedelta(hours=24)).isoformat()
    assert queued["priority_class"] == "presale"
    assert eventually(lambda: status(platform, order_id) == "reserved", what="orders reserved after the balance")
    assert sla_paid(platform) == paid_before + 1

    with platform["logistics"].client() as http:
        claimed = http.post("/waves", json={"size": 200, "picker_id": "P-J2"}).json()
        assert f"SHP-{order_id}" in {s["shipment_id"] for s in claimed["shipments"]}
        http.post(f"/shipments/SHP-{order_id}/pack", json={"picker_id": "P-J2"}).raise_for_status()
        shipped = http.post(f"/shipments/SHP-{order_id}/ship", json={"tracking_number": f"ZT{order_id[2:]}"})
        assert shipped.status_code == 200 and shipped.json()["shipped_within_24h"] is True
    assert eventually(lambda: status(platform, order_id) == "shipped", what="orders heard of the hand-over")


def test_a_balance_after_the_window_closes_the_order_balance_unpaid_and_gives_the_stock_back(
        module_world: World, platform) -> None:
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    before = available(platform)
    module_world.publish("platform.orders", "order.placed", deposit(order_id), key=order_id)
    eventually(lambda: status(platform, order_id) == "awaiting_balance" and available(platform) == before - 2,
               what="the deposit's stock held")

    late = DUE_BY + timedelta(hours=1)
    module_world.publish("platform.orders", "order.balance_paid", balance(order_id, "1598.00", late), key=order_id)
    assert eventually(lambda: status(platform, order_id) == "balance_unpaid", what="the order closed balance_unpaid")
    assert eventually(lambda: available(platform) == before, what="the stock given back")
    assert eventually(lambda: (s := shipment(platform, order_id)) and s["status"] == "withdrawn",
                      what="the awaiting shipment withdrawn")
