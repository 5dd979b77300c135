"""A deposit presale downstream of orders, through the real broker (issue 29, item 1): inventory,
logistics and aftersales each in a real process. The tests play the orders service, publishing
`order.accepted` (with `balance_due_by`), `order.balance_received` and `order.cancelled` on
orders.events, and inventory's `stock.reserved` (with `awaiting_balance`) where logistics alone is
under test.

- inventory reserves an order awaiting its balance like any other (all or nothing, counted as
  reserved) and says `awaiting_balance` on stock.reserved, also when it fills it later;
- logistics keeps its shipment `awaiting_balance`: not in /queue, not claimed by a wave, not in
  /sla or /capacity, no deadlines; the balance queues it with its clock from `balance_paid_at`,
  also when the balance came first; a cancellation withdraws it; odd balances are harmless;
- aftersales bounds refunds by the deposit until the balance, then by deposit + balance.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.services import ServiceProcess
from tests.support.waiting import eventually as wait_until
from tests.support.waiting import handled
from tests.support.world import World

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)  # the logistics clock
DEPOSIT_AT = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
BALANCE_DUE_BY = datetime(2026, 11, 11, 23, 59, tzinfo=UTC)
BALANCE_AT = datetime(2026, 11, 11, 0, 30, tzinfo=UTC)
DELIVERED = datetime(2026, 11, 14, 9, 30, tzinfo=UTC)


def new_id() -> str:
    return f"O-{uuid.uuid4().hex[:8]}"


def rank(klass_digit: int, at: datetime, order_id: str) -> str:
    """Shaped like orders.domain.priority_rank: class, microseconds since year 1, order id."""
    elapsed = at - datetime(1, 1, 1, tzinfo=UTC)
    micros = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
    return f"{klass_digit}-{micros:018d}-{order_id}"


def wait_handled(http: httpx.Client, world: World, topic: str, count: float) -> None:
    wait_until(lambda: handled(http, world, topic) >= count, what=f"{count} messages of {topic} processed")


def balance_received(order_id: str, *, balance: str = "699.00", paid: str = "799.00", at: datetime = BALANCE_AT,
                     priority_rank: str | None = None) -> dict:
    return {"order_id": order_id, "balance_amount": balance, "paid_amount": paid, "balance_paid_at": at.isoformat(),
            "priority_rank": priority_rank or rank(0, at, order_id),
            "received_at": (at + timedelta(seconds=1)).isoformat()}


@pytest.fixture(scope="module")
def orders_dlq(module_world: World):
    return module_world.reader("orders.events.dlq")


# =====================================================================================================
# Logistics


@pytest.fixture(scope="module")
def logistics(module_world: World) -> ServiceProcess:
    return module_world.start_at("logistics", NOW)


def reserved_awaiting(order_id: str, *, paid_at: datetime = DEPOSIT_AT, awaiting: bool = True) -> dict:
    return {
        "order_id": order_id, "order_type": "presale", "priority_class": "presale",
        "priority_rank": rank(0, paid_at, order_id),
        "lines": [{"sku": "SKU-PHONE-01", "quantity": 1, "unit_price": "899.00", "weight_kg": "0.40",
                   "volume_l": "1.50"}],
        "region": "Zhejiang", "paid_at": paid_at.isoformat(),
        "reserved_at": (paid_at + timedelta(seconds=2)).isoformat(),
        "awaiting_balance": awaiting,
    }


def shipment(http: httpx.Client, order_id: str, status: str | None = None) -> dict:
    def found() -> dict | None:
        r = http.get(f"/shipments/SHP-{order_id}")
        if r.status_code == 200 and (status is None or r.json()["status"] == status):
            return r.json()
        return None
    return wait_until(found, what=f"SHP-{order_id} {status or 'there'}")


def queued_ids(http: httpx.Client) -> set[str]:
    return {s["shipment_id"] for s in http.get("/queue", params={"limit": 5000}).json()["shipments"]}


def figures(http: httpx.Client) -> dict:
    sla = http.get("/sla").json()
    return {"paid": sla["overall"]["orders_paid"], "presale_paid": sla["by_class"]["presale"]["orders_paid"],
            "missed_24h": sla["overall"]["missed_24h"], "not_yet_shipped": sla["overall"]["not_yet_shipped"],
            "at_risk": {o["order_id"] for o in sla["at_risk"]["orders"]},
            "queue": http.get("/capacity").json()["queue"],
            "waiting_presale": http.get("/queue").json()["waiting_by_class"]["presale"]}


def test_logistics_keeps_an_awaiting_shipment_out_of_the_queue_waves_and_sla_until_its_balance(
        module_world: World, logistics) -> None:
    # One deposit paid long ago (it would be late if a clock ran) and one 23 h ago (it would be at risk).
    late, near, paid_up = new_id(), new_id(), new_id()
    with logistics.client() as http:
        # A presale paid in full at once is queued as always.
        module_world.publish("inventory.reservations", "stock.reserved",
                             reserved_awaiting(paid_up, paid_at=NOW - timedelta(hours=1), awaiting=False), key=paid_up)
        assert shipment(http, paid_up, "queued")["deadline_24h"] == (NOW + timedelta(hours=23)).isoformat()
        before = figures(http)
        module_world.publish("inventory.reservations", "stock.reserved", reserved_awaiting(late), key=late)
        module_world.publish("inventory.reservations", "stock.reserved",
                             reserved_awaiting(near, paid_at=NOW - timedelta(hours=23)), key=near)
        waiting = shipment(http, late, "awaiting_balance")
        assert shipment(http, near, "awaiting_balance")["deadline_24h"] is None
        assert (waiting["deadline_24h"], waiting["deadline_48h"]) == (None, None)  # no clock runs
        assert waiting["deposit_paid_at"] == DEPOSIT_AT.isoformat() and waiting["balance_paid_at"] is None
        assert waiting["paid_at"] == DEPOSIT_AT.isoformat()

        assert not {f"SHP-{late}", f"SHP-{near}"} & queued_ids(http)
        assert figures(http) == before  # not in /sla (paid, missed, at risk), /capacity or the queue counts
        wave = http.post("/waves", json={"size": 200, "picker_id": "P-PRE"})
        assert wave.status_code == 201, wave.text
        assert {s["shipment_id"] for s in wave.json()["shipments"]} == {f"SHP-{paid_up}"}
        assert shipment(http, late)["status"] == "awaiting_balance"
        packed = http.post(f"/shipments/SHP-{late}/pack", json={"picker_id": "P-PRE"})
        assert packed.status_code == 409 and "awaiting_balance" in packed.json()["detail"]

        # The balance: queued, ranked by the balance's payment, its clock starting then.
        module_world.publish("orders.events", "order.balance_received", balance_received(late), key=late)
        paid = shipment(http, late, "queued")
        assert paid["paid_at"] == paid["balance_paid_at"] == BALANCE_AT.isoformat()
        assert paid["deadline_24h"] == (BALANCE_AT + timedelta(hours=24)).isoformat()
        assert paid["deadline_48h"] == (BALANCE_AT + timedelta(hours=48)).isoformat()
        assert paid["deposit_paid_at"] == DEPOSIT_AT.isoformat()
        assert paid["priority_rank"] == rank(0, BALANCE_AT, late) and paid["priority_class"] == "presale"
        assert f"SHP-{late}" in queued_ids(http) and f"SHP-{near}" not in queued_ids(http)
        after = figures(http)
        assert (after["paid"], after["presale_paid"], after["not_yet_shipped"]) == (
            before["paid"] + 1, before["presale_paid"] + 1, before["not_yet_shipped"] + 1)
        assert after["missed_24h"] == before["missed_24h"]  # counted from the balance: not late
        # Unshipped (in a wave or waiting) one more; waiting for a wave: one left in the wave, one came.
        assert after["queue"] == before["queue"] + 1 and after["waiting_presale"] == before["waiting_presale"]
        claimed = http.post("/waves", json={"size": 200, "picker_id": "P-PRE2"}).json()
        assert f"SHP-{late}" in {s["shipment_id"] for s in claimed["shipments"]}
        http.post(f"/shipments/SHP-{late}/pack", json={"picker_id": "P-PRE2"}).raise_for_status()
        shipped = http.post(f"/shipments/SHP-{late}/ship", json={"tracking_number": f"ZT{late[2:]}"})
        assert shipped.status_code == 200 and shipped.json()["shipped_within_24h"] is True


def test_a_balance_before_the_reservation_is_kept_and_queues_the_shipment_when_it_opens(
        module_world: World, logistics, orders_dlq) -> None:
    order_id = new_id()
    with logistics.client() as http:
        before = handled(http, module_world, "orders.events")
        module_world.publish("orders.events", "order.balance_received", balance_received(order_id), key=order_id)
        wait_handled(http, module_world, "orders.events", before + 1)
        assert http.get(f"/shipments/SHP-{order_id}").status_code == 404
        module_world.publish("inventory.reservations", "stock.reserved", reserved_awaiting(order_id), key=order_id)
        opened = shipment(http, order_id)
        assert opened["status"] == "queued"
        assert opened["deadline_24h"] == (BALANCE_AT + timedelta(hours=24)).isoformat()
        assert opened["deposit_paid_at"] == DEPOSIT_AT.isoformat()
        assert opened["priority_rank"] == rank(0, BALANCE_AT, order_id)
    assert not [m for m in orders_dlq.settle(quiet_s=1.0) if m.key == order_id]


def test_a_cancellation_withdraws_an_awaiting_shipment_and_a_late_balance_does_not_bring_it_back(
        module_world: World, logistics) -> None:
    order_id = new_id()
    with logistics.client() as http:
        module_world.publish("inventory.reservations", "stock.reserved", reserved_awaiting(order_id), key=order_id)
        shipment(http, order_id, "awaiting_balance")
        module_world.publish("orders.events", "order.cancelled",
                             {"order_id": order_id, "reason": "balance_unpaid",
                              "cancelled_at": BALANCE_DUE_BY.isoformat()}, key=order_id)
        withdrawn = shipment(http, order_id, "withdrawn")
        assert withdrawn["withdraw_reason"] == "balance_unpaid"
        before = handled(http, module_world, "orders.events")
        module_world.publish("orders.events", "order.balance_received", balance_received(order_id), key=order_id)
        wait_handled(http, module_world, "orders.events", before + 1)
        assert http.get(f"/shipments/SHP-{order_id}").json()["status"] == "withdrawn"
        assert f"SHP-{order_id}" not in queued_ids(http)


def test_odd_balances_are_harmless_and_the_contradictory_ones_dead_lettered_with_the_reason(
        module_world: World, logistics, orders_dlq) -> None:
    unknown, twice, odd_rank = new_id(), new_id(), new_id()
    with logistics.client() as http:
        before = handled(http, module_world, "orders.events")
        # A balance for an order logistics never hears of again: kept, nothing opens, nothing fails.
        module_world.publish("orders.events", "order.balance_received", balance_received(unknown), key=unknown)
        # A balance twice (the same content under a new event id), then once more with other content.
        module_world.publish("inventory.reservations", "stock.reserved", reserved_awaiting(twice), key=twice)
        shipment(http, twice, "awaiting_balance")
        module_world.publish("orders.events", "order.balance_received", balance_received(twice), key=twice)
        module_world.publish("orders.events", "order.balance_received", balance_received(twice), key=twice)
        later = BALANCE_AT + timedelta(hours=5)
        module_world.publish("orders.events", "order.balance_received", balance_received(twice, at=later), key=twice)
        # A rank outside the presale class: the shipment is queued, keeping its reservation's rank.
        module_world.publish("inventory.reservations", "stock.reserved", reserved_awaiting(odd_rank), key=odd_rank)
        shipment(http, odd_rank, "awaiting_balance")
        module_world.publish("orders.events", "order.balance_received",
                             balance_received(odd_rank, priority_rank=rank(2, BALANCE_AT, odd_rank)), key=odd_rank)
        wait_handled(http, module_world, "orders.events", before + 5)

        assert http.get(f"/shipments/SHP-{unknown}").status_code == 404
        kept = shipment(http, twice, "queued")
        assert kept["deadline_24h"] == (BALANCE_AT + timedelta(hours=24)).isoformat()  # the first balance's
        queued = shipment(http, odd_rank, "queued")
        assert queued["priority_rank"] == rank(0, DEPOSIT_AT, odd_rank) and queued["priority_class"] == "presale"
        assert queued["deadline_24h"] == (BALANCE_AT + timedelta(hours=24)).isoformat()

    [contradiction] = orders_dlq.wait_for(lambda m: m.key == twice)
    assert contradiction.headers["dlq.consumer"] == "logistics"
    assert "was received already; this one differs and is ignored" in contradiction.headers["dlq.reason"]
    [refused_rank] = orders_dlq.wait_for(lambda m: m.key == odd_rank)
    assert "is not in the presale class" in refused_rank.headers["dlq.reason"]
    assert "keeps the rank of its reservation" in refused_rank.headers["dlq.reason"]
    settled = orders_dlq.settle(quiet_s=1.0)
    assert len([m for m in settled if m.key == twice]) == 1  # the repeat is not a dead letter
    assert not [m for m in settled if m.key == unknown]


# =====================================================================================================
# Aftersales


@pytest.fixture(scope="module")
def aftersales(module_world: World) -> ServiceProcess:
    return module_world.start("aftersales", settings={"CLOCK": "settable"})


@pytest.fixture
def desk(aftersales: ServiceProcess) -> Iterator[httpx.Client]:
    with aftersales.client() as client:
        client.put("/clock", json={"now": (DELIVERED + timedelta(hours=1)).isoformat()}).raise_for_status()
        yield client


def presale_accepted(order_id: str) -> dict:
    """Two phones at 899.00 with a 200.00 deposit that counts double: 1,798.00 - 400.00 leaves a
    balance of 1,398.00, so 1,598.00 is paid in all (the deposit's expansion is the customer's gain)."""
    return {
        "order_id": order_id, "customer_id": "C-PRE", "order_type": "presale", "priority_class": "presale",
        "priority_rank": rank(0, DEPOSIT_AT, order_id),
        "lines": [{"sku": "SKU-PHONE-01", "quantity": 2, "unit_price": "899.00"}],
        "discount": "0.00", "paid_amount": "200.00", "paid_at": DEPOSIT_AT.isoformat(), "region": "Shanghai",
        "currency": "CNY", "deposit": "200.00", "accepted_at": (DEPOSIT_AT + timedelta(seconds=1)).isoformat(),
        "balance_due_by": BALANCE_DUE_BY.isoformat(),
    }


def delivered(world: World, order_id: str) -> None:
    world.publish("logistics.shipments", "shipment.delivered",
                  {"order_id": order_id, "shipment_id": f"SHP-{order_id}", "delivered_at": DELIVERED.isoformat()},
                  key=order_id)


def returnable(http: httpx.Client, order_id: str, lines: str | None = None, paid: str | None = None) -> dict:
    def answer() -> dict | None:
        r = http.get(f"/orders/{order_id}/returnable", params={"lines": lines} if lines else None)
        if r.status_code == 200 and (paid is None or r.json()["paid_amount"] == paid):
            return r.json()
        return None
    return wait_until(answer, what=f"order {order_id} returnable{' at ' + paid if paid else ''}")


def test_refunds_follow_the_deposit_until_the_balance_then_deposit_plus_balance(
        module_world: World, desk, orders_dlq) -> None:
    order_id = new_id()
    module_world.publish("orders.events", "order.accepted", presale_accepted(order_id), key=order_id)
    delivered(module_world, order_id)
    before = returnable(desk, order_id)
    assert (before["paid_amount"], before["deposit"], before["balance_amount"]) == ("200.00", "200.00", None)
    assert before["refund_preview"]["amount"] == "200.00"  # everything back: the deposit, not the price
    assert returnable(desk, order_id, "SKU-PHONE-01:1")["refund_preview"]["amount"] == "100.00"

    module_world.publish("orders.events", "order.balance_received",
                         balance_received(order_id, balance="1398.00", paid="1598.00"), key=order_id)
    after = returnable(desk, order_id, paid="1598.00")
    assert (after["deposit"], after["balance_amount"]) == ("200.00", "1398.00")
    assert [line["paid"] for line in after["lines"]] == ["1598.00"]
    assert returnable(desk, order_id, "SKU-PHONE-01:1")["refund_preview"]["amount"] == "799.00"

    # Return one phone and refund it, then the other: the refunds add up to what was paid, no more.
    refunds = []
    for _ in range(2):
        case = desk.post("/returns", json={"order_id": order_id, "lines": [{"sku": "SKU-PHONE-01", "quantity": 1}]})
        assert case.status_code == 201, case.text
        case_id = case.json()["case_id"]
        for step in ("approve", "receive"):
            assert desk.post(f"/cases/{case_id}/{step}").status_code == 200
        assert desk.post(f"/cases/{case_id}/inspect", json={"passed": True}).status_code == 200
        refunded = desk.post(f"/cases/{case_id}/refund")
        assert refunded.status_code == 200, refunded.text
        refunds.append(refunded.json()["refund_amount"])
    assert refunds == ["799.00", "799.00"]
    assert not [m for m in orders_dlq.settle(quiet_s=1.0) if m.key == order_id]


def test_a_balance_before_the_order_is_kept_and_odd_balances_change_nothing(
        module_world: World, desk, orders_dlq) -> None:
    early, wrong_sum, standard = new_id(), new_id(), new_id()
    # The balance first, then the order: the refund follows deposit + balance.
    module_world.publish("orders.events", "order.balance_received",
                         balance_received(early, balance="1398.00", paid="1598.00"), key=early)
    module_world.publish("orders.events", "order.accepted", presale_accepted(early), key=early)
    delivered(module_world, early)
    assert returnable(desk, early)["paid_amount"] == "1598.00"
    # Repeated, the same balance changes nothing; with other figures it is dead-lettered.
    module_world.publish("orders.events", "order.balance_received",
                         balance_received(early, balance="1398.00", paid="1598.00"), key=early)
    module_world.publish("orders.events", "order.balance_received",
                         balance_received(early, balance="1598.00", paid="1798.00"), key=early)
    [contradiction] = orders_dlq.wait_for(lambda m: m.key == early and m.headers["dlq.consumer"] == "aftersales")
    assert "was received already; this one differs and is ignored" in contradiction.headers["dlq.reason"]

    # deposit + balance that does not add up to paid_amount: refused, refunds stay at the deposit.
    module_world.publish("orders.events", "order.accepted", presale_accepted(wrong_sum), key=wrong_sum)
    delivered(module_world, wrong_sum)
    returnable(desk, wrong_sum, paid="200.00")
    module_world.publish("orders.events", "order.balance_received",
                         balance_received(wrong_sum, balance="1398.00", paid="1798.00"), key=wrong_sum)
    [refused] = orders_dlq.wait_for(lambda m: m.key == wrong_sum and m.headers["dlq.consumer"] == "aftersales")
    assert refused.headers["dlq.reason"] == (f"order {wrong_sum}: paid_amount 1798.00 is not the deposit 200.00 "
                                             "plus the balance 1398.00 = 1598.00")
    assert returnable(desk, wrong_sum)["paid_amount"] == "200.00"

    # A balance for an order that never awaited one (paid in full): refused, what was paid unchanged.
    paid_in_full = presale_accepted(standard) | {"paid_amount": "1798.00", "balance_due_by": None,
                                                 "balance_paid_at": BALANCE_AT.isoformat()}
    module_world.publish("orders.events", "order.accepted", paid_in_full, key=standard)
    delivered(module_world, standard)
    returnable(desk, standard, paid="1798.00")
    module_world.publish("orders.events", "order.balance_received", balance_received(standard), key=standard)
    [stray] = orders_dlq.wait_for(lambda m: m.key == standard and m.headers["dlq.consumer"] == "aftersales")
    assert "was not accepted awaiting a balance" in stray.headers["dlq.reason"]
    assert returnable(desk, standard)["paid_amount"] == "1798.00"
    assert len([m for m in orders_dlq.settle(quiet_s=1.0)
                if m.key == early and m.headers["dlq.consumer"] == "aftersales"]) == 1


# =====================================================================================================
# Inventory (last: the stock.reserved it publishes would reach the logistics tests' figures)


@pytest.fixture(scope="module")
def inventory(module_world: World) -> ServiceProcess:
    return module_world.start("inventory")


@pytest.fixture(scope="module")
def reservations(module_world: World):
    return module_world.reader("inventory.reservations")


def new_sku(inventory: ServiceProcess, on_hand: int) -> str:
    sku = f"PRE-{uuid.uuid4().hex[:8].upper()}"
    with inventory.client("admin") as http:
        r = http.put(f"/skus/{sku}", json={"tier": "profit", "planned_stock": 100, "on_hand": on_hand})
    assert r.status_code == 200, r.text
    return sku


def accepted(order_id: str, sku: str, quantity: int, *, awaiting: bool = True, unit_price: str = "899.00",
             deposit: str = "100.00") -> dict:
    total = f"{int(float(unit_price) * quantity):d}.00"
    return {
        "order_id": order_id, "customer_id": "C-PRE", "order_type": "presale", "priority_class": "presale",
        "priority_rank": rank(0, DEPOSIT_AT, order_id),
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": unit_price}],
        "discount": "0.00", "paid_amount": deposit if awaiting else total, "paid_at": DEPOSIT_AT.isoformat(),
        "region": "Shanghai", "currency": "CNY", "deposit": deposit,
        "balance_paid_at": None if awaiting else BALANCE_AT.isoformat(),
        "accepted_at": (DEPOSIT_AT + timedelta(seconds=1)).isoformat(),
        "balance_due_by": BALANCE_DUE_BY.isoformat() if awaiting else None,
    }


def stock_of(inventory: ServiceProcess, sku: str) -> dict:
    with inventory.client("support") as http:
        return http.get(f"/stock/{sku}").json()


def test_inventory_reserves_an_order_awaiting_its_balance_as_presale_quota_and_says_so(
        module_world: World, inventory, reservations) -> None:
    sku = new_sku(inventory, on_hand=3)
    held, standard = new_id(), new_id()
    module_world.publish("orders.events", "order.accepted", accepted(held, sku, 2), key=held)
    module_world.publish("orders.events", "order.accepted", accepted(standard, sku, 1, awaiting=False), key=standard)
    [reserved] = reservations.wait_for(lambda m: m.type == "stock.reserved" and m.data["order_id"] == held)
    assert reserved.data["awaiting_balance"] is True
    assert reserved.data["paid_at"] == "2026-10-24T20:00:00Z"  # the deposit's: logistics starts no clock from it
    [paid_in_full] = reservations.wait_for(lambda m: m.type == "stock.reserved" and m.data["order_id"] == standard)
    assert paid_in_full.data["awaiting_balance"] is False

    figures = stock_of(inventory, sku)
    assert (figures["on_hand"], figures["reserved"], figures["available"]) == (3, 3, 0)  # held counts as reserved
    with inventory.client("support") as http:
        reservation = http.get(f"/reservations/{held}").json()
    assert (reservation["status"], reservation["awaiting_balance"]) == ("reserved", True)

    # R7 unchanged: all or nothing, never oversold; a cancellation (e.g. the balance unpaid) gives it back.
    short = new_id()
    module_world.publish("orders.events", "order.accepted", accepted(short, sku, 1), key=short)
    [waiting] = reservations.wait_for(lambda m: m.type == "stock.backordered" and m.data["order_id"] == short)
    assert waiting.data["missing"] == [{"sku": sku, "quantity": 1}]
    module_world.publish("orders.events", "order.cancelled",
                         {"order_id": held, "reason": "balance_unpaid", "cancelled_at": BALANCE_DUE_BY.isoformat()},
                         key=held)
    [released] = reservations.wait_for(lambda m: m.type == "stock.released" and m.data["order_id"] == held)
    assert released.data["lines"] == [{"sku": sku, "quantity": 2}]
    # The waiting order is filled from what was released, and is still said to await its balance.
    [filled] = reservations.wait_for(lambda m: m.type == "stock.reserved" and m.data["order_id"] == short)
    assert filled.data["awaiting_balance"] is True
    figures = stock_of(inventory, sku)
    assert (figures["on_hand"], figures["reserved"], figures["available"]) == (3, 2, 1)
