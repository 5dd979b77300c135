"""Deposit presale through the real broker with only the orders service: the deposit accepted
awaiting its balance, the balance checked to the cent over Kafka and HTTP, a late balance and
the window job closing orders `balance_unpaid`, duplicates, a balance ahead of its deposit, and
hostile balances. The test plays the platform and inventory by publishing their events."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.orders.domain import priority_rank
from tests.integration.test_orders_intake import new_id
from tests.integration.test_orders_lifecycle import status_is, view, wait_for_order
from tests.support.world import World

pytestmark = pytest.mark.integration

WINDOW = timedelta(hours=1)
GRACE = timedelta(seconds=60)
SETTINGS = {"CLOCK": "settable", "PRESALE_BALANCE_WINDOW_HOURS": "1", "PRESALE_BALANCE_GRACE_S": "60",
            "PRESALE_WINDOW_JOB_INTERVAL_S": "0.3", "PRESALE_EXPANSION_BY_SKU": '{"SKU-PHONE-01": "3"}'}
# Lines 99.80, discount 10.00: the price is 89.80; a deposit of 20.00 counts 40.00, leaving 49.80.
LINES = [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False},
         {"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "0.00", "gift": True}]


def deposit_data(order_id: str, paid_at: datetime, deposit: str = "20.00", **overrides: Any) -> dict:
    data = {"order_id": order_id, "customer_id": "C-9", "order_type": "presale", "lines": LINES,
            "discount": "10.00", "paid_amount": deposit, "deposit": deposit, "paid_at": paid_at.isoformat(),
            "region": "Shanghai", "currency": "CNY"}
    data.update(overrides)
    return data


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def balance_data(order_id: str, amount: str, paid_at: datetime) -> dict:
    return {"order_id": order_id, "balance_amount": amount, "paid_at": paid_at.isoformat()}


@pytest.fixture(scope="module")
def orders(module_world: World):
    return module_world.start("orders", settings=SETTINGS)


def new_day(orders, days: int = 1) -> datetime:
    """Move the service clock a day on (it only ever moves forward: the window job runs all the
    time, and an earlier test's orders must stay closed) and return the new time."""
    with orders.client() as http:
        now = datetime.fromisoformat(http.get("/clock").json()["now"])
        later = now + timedelta(days=days)
        http.put("/clock", json={"now": later.isoformat()}).raise_for_status()
    return later


def set_clock(orders, moment: datetime) -> None:
    with orders.client() as http:
        http.put("/clock", json={"now": moment.isoformat()}).raise_for_status()


def place_deposit(world: World, orders, order_id: str, paid_at: datetime, **overrides: Any) -> dict:
    world.publish("platform.orders", "order.placed", deposit_data(order_id, paid_at, **overrides), key=order_id)
    return wait_for_order(orders, order_id, status_is("awaiting_balance"))


def of(order_id: str, type_: str):
    return lambda m: m.type == type_ and m.data.get("order_id") == order_id


def test_a_deposit_awaits_its_balance_then_the_right_balance_moves_it_on_ranked_by_the_balance_time(
        module_world: World, orders) -> None:
    now = new_day(orders)
    order_id, deposit_at = new_id(), now - timedelta(minutes=1)
    events = module_world.reader("orders.events")
    module_world.publish("platform.orders", "order.placed", deposit_data(order_id, deposit_at), key=order_id)

    [accepted] = events.wait_for(of(order_id, "order.accepted"))
    assert instant(accepted.data["balance_due_by"]) == deposit_at + WINDOW
    assert (accepted.data["paid_amount"], accepted.data["deposit"], accepted.data["priority_class"]) == (
        "20.00", "20.00", "presale")
    body = wait_for_order(orders, order_id, status_is("awaiting_balance"))
    assert body["presale"] | {"balance_due_by": None, "closes_at": None} == {
        "deposit": "20.00", "expansion": "2.00", "deposit_value": "40.00", "price": "89.80", "balance_due": "49.80",
        "balance_due_by": None, "closes_at": None, "balance_amount": None, "balance_paid_at": None, "closed_at": None}
    assert body["paid_amount"] == "20.00"

    # Inventory holds its stock as presale quota: noted, the order still awaits its balance.
    module_world.publish("inventory.reservations", "stock.reserved", {
        "order_id": order_id, "order_type": "presale", "priority_class": "presale",
        "priority_rank": accepted.data["priority_rank"], "lines": LINES, "region": "Shanghai",
        "paid_at": deposit_at.isoformat(), "reserved_at": now.isoformat(), "awaiting_balance": True}, key=order_id)
    body = wait_for_order(orders, order_id, lambda b: any(s["event_type"] == "stock.reserved" for s in b["timeline"]))
    assert body["status"] == "awaiting_balance"
    assert [s["outcome"] for s in body["timeline"] if s["event_type"] == "stock.reserved"] == ["noted"]

    balance_at = deposit_at + timedelta(minutes=30)
    module_world.publish("platform.orders", "order.balance_paid", balance_data(order_id, "49.80", balance_at),
                         key=order_id)
    [received] = events.wait_for(of(order_id, "order.balance_received"))
    assert received.data | {"balance_paid_at": None, "received_at": None} == {
        "order_id": order_id, "balance_amount": "49.80", "paid_amount": "69.80", "balance_paid_at": None,
        "priority_rank": priority_rank("presale", balance_at, order_id), "received_at": None}
    assert (instant(received.data["balance_paid_at"]), instant(received.data["received_at"])) == (balance_at, now)
    assert received.data["priority_rank"] != accepted.data["priority_rank"]
    body = wait_for_order(orders, order_id, status_is("reserved"))  # the stock was already reserved
    assert (body["paid_amount"], body["priority_rank"]) == ("69.80", received.data["priority_rank"])
    assert body["presale"]["balance_amount"] == "49.80"
    print(f"[presale] deposit 20.00 x 2 + balance 49.80 = paid 69.80; rank {received.data['priority_rank']}")

    # The same payment told again (a new event id): harmless, nothing published, nothing changed.
    module_world.publish("platform.orders", "order.balance_paid", balance_data(order_id, "49.80", balance_at),
                         key=order_id)
    # A second, different balance for the paid order: refused with the reason, dead-lettered.
    dlq = module_world.reader("platform.orders.dlq")
    second = module_world.publish("platform.orders", "order.balance_paid",
                                  balance_data(order_id, "10.00", balance_at + timedelta(minutes=1)), key=order_id)
    [rejected] = events.wait_for(of(order_id, "order.rejected"))
    assert rejected.data["source_event_id"] == second
    assert rejected.data["reason"].startswith(f"the balance of order {order_id} was already received (49.80 paid at")
    [letter] = dlq.wait_for(lambda m: m.key == order_id)
    assert json.loads(letter.value)["id"] == second and "already received" in letter.headers["dlq.reason"]
    events.settle(1.0)
    assert len([m for m in events.seen if of(order_id, "order.balance_received")(m)]) == 1
    assert view(orders, order_id)["status"] == "reserved"


def test_a_wrong_balance_is_refused_with_the_expected_figure_over_kafka_and_http(module_world: World, orders) -> None:
    now = new_day(orders)
    order_id, deposit_at = new_id(), now - timedelta(minutes=5)
    place_deposit(module_world, orders, order_id, deposit_at)
    events, dlq = module_world.reader("orders.events"), module_world.reader("platform.orders.dlq")

    sent = module_world.publish("platform.orders", "order.balance_paid", balance_data(order_id, "49.81", now),
                                key=order_id)
    expected = (f"balance_amount 49.81 is not the balance due for order {order_id}: price 89.80 minus deposit 20.00 "
                "x expansion 2.00 (40.00) = 49.80")
    [rejected] = events.wait_for(of(order_id, "order.rejected"))
    assert (rejected.data["reason"], rejected.data["source_event_id"]) == (expected, sent)
    [letter] = dlq.wait_for(lambda m: m.key == order_id)
    assert letter.headers["dlq.reason"] == expected and json.loads(letter.value)["id"] == sent

    with orders.client("platform") as http:
        wrong = http.post(f"/orders/{order_id}/balance", json={"balance_amount": "49.79", "paid_at": now.isoformat()})
        assert wrong.status_code == 422, wrong.text
        assert wrong.json()["detail"].endswith("x expansion 2.00 (40.00) = 49.80")
        assert wrong.headers["content-type"] == "application/problem+json"
        body = view(orders, order_id)
        assert body["status"] == "awaiting_balance"
        assert [s["outcome"] for s in body["timeline"] if s["event_type"] == "order.balance_paid"] == [
            "refused", "refused"]

        key = {"Idempotency-Key": f"balance-{uuid.uuid4()}"}
        right = http.post(f"/orders/{order_id}/balance", headers=key,
                          json={"balance_amount": "49.80", "paid_at": now.isoformat()})
        assert right.status_code == 200, right.text
        assert right.json() | {"balance_paid_at": None} == {
            "order_id": order_id, "status": "received", "state": "accepted", "balance_amount": "49.80",
            "paid_amount": "69.80", "balance_paid_at": None, "priority_rank": priority_rank("presale", now, order_id)}
        replay = http.post(f"/orders/{order_id}/balance", headers=key,
                           json={"balance_amount": "49.80", "paid_at": now.isoformat()})
        assert (replay.status_code, replay.json(), replay.headers.get("idempotent-replayed")) == (
            200, right.json(), "true")
        again = http.post(f"/orders/{order_id}/balance", json={"balance_amount": "49.80", "paid_at": now.isoformat()})
        assert (again.status_code, again.json()["status"]) == (200, "already_received")
        other = http.post(f"/orders/{order_id}/balance", json={"balance_amount": "49.00", "paid_at": now.isoformat()})
        assert other.status_code == 409 and "was already received" in other.json()["detail"]
    events.wait_for(of(order_id, "order.balance_received"))
    events.settle(1.0)
    assert len([m for m in events.seen if of(order_id, "order.balance_received")(m)]) == 1


def test_a_late_balance_is_refused_and_closes_the_order_balance_unpaid(module_world: World, orders) -> None:
    now = new_day(orders)
    kafka_order, http_order, deposit_at = new_id(), new_id(), now - timedelta(minutes=10)
    for order_id in (kafka_order, http_order):
        place_deposit(module_world, orders, order_id, deposit_at)
    events = module_world.reader("orders.events")
    due_by = deposit_at + WINDOW
    late = due_by + timedelta(seconds=1)

    module_world.publish("platform.orders", "order.balance_paid", balance_data(kafka_order, "49.80", late),
                         key=kafka_order)
    [rejected] = events.wait_for(of(kafka_order, "order.rejected"))
    assert f"after its window closed at {due_by.isoformat()}: the order is closed balance_unpaid" in \
        rejected.data["reason"]
    [forfeited] = events.wait_for(of(kafka_order, "order.deposit_forfeited"))
    assert forfeited.data | {"closed_at": None, "balance_due_by": None} == {
        "order_id": kafka_order, "customer_id": "C-9", "deposit": "20.00", "balance_due_by": None, "closed_at": None}
    assert (instant(forfeited.data["balance_due_by"]), instant(forfeited.data["closed_at"])) == (due_by, now)
    [cancelled] = events.wait_for(of(kafka_order, "order.cancelled"))
    assert cancelled.data["reason"] == f"balance not paid by {due_by.isoformat()}"
    assert wait_for_order(orders, kafka_order, status_is("balance_unpaid"))["presale"]["closed_at"] is not None

    with orders.client("admin") as http:
        refused = http.post(f"/orders/{http_order}/balance", json={"balance_amount": "49.80", "paid_at": late.isoformat()})
        assert refused.status_code == 409 and "the order is closed balance_unpaid" in refused.json()["detail"]
        assert view(orders, http_order)["status"] == "balance_unpaid"  # committed though the answer is an error
        # Paid in time, but the window is closed now: refused as closed.
        closed = http.post(f"/orders/{http_order}/balance",
                           json={"balance_amount": "49.80", "paid_at": due_by.isoformat()})
        assert closed.status_code == 409
        assert closed.json()["detail"] == (f"order {http_order} is closed balance_unpaid: its balance window closed "
                                           f"at {due_by.isoformat()}")
    events.wait_for(of(http_order, "order.deposit_forfeited"))
    events.wait_for(of(http_order, "order.cancelled"))
    # Cancelling a closed order again does nothing more.
    with orders.client("support") as http:
        again = http.post(f"/orders/{http_order}/cancel", json={"reason": "customer asked"})
        assert (again.status_code, again.json()["already_cancelled"]) == (200, True)
    events.settle(1.0)
    for order_id in (kafka_order, http_order):
        assert len([m for m in events.seen if of(order_id, "order.deposit_forfeited")(m)]) == 1
        assert len([m for m in events.seen if of(order_id, "order.cancelled")(m)]) == 1


def test_the_window_job_closes_each_unpaid_deposit_once_after_its_window_and_grace(module_world: World, orders) -> None:
    now = new_day(orders)
    first, second = new_id(), new_id()
    place_deposit(module_world, orders, first, now - timedelta(minutes=30))
    place_deposit(module_world, orders, second, now)
    events = module_world.reader("orders.events")
    first_closes = now - timedelta(minutes=30) + WINDOW + GRACE

    set_clock(orders, first_closes)  # at the grace's very end: still open
    time.sleep(1.5)  # several runs of the job (every 0.3 s)
    assert view(orders, first)["status"] == "awaiting_balance"

    set_clock(orders, first_closes + timedelta(seconds=1))
    wait_for_order(orders, first, status_is("balance_unpaid"))
    [forfeited] = events.wait_for(of(first, "order.deposit_forfeited"))
    [cancelled] = events.wait_for(of(first, "order.cancelled"))
    assert cancelled.data["reason"].startswith("balance not paid by ")
    assert forfeited.data["deposit"] == "20.00"
    body = view(orders, first)
    assert [s["actor"] for s in body["timeline"] if s["status"] == "balance_unpaid"] == ["job:presale-balance-window"]
    assert view(orders, second)["status"] == "awaiting_balance"

    set_clock(orders, now + WINDOW + GRACE + timedelta(seconds=1))
    wait_for_order(orders, second, status_is("balance_unpaid"))
    events.settle(1.5)
    for order_id in (first, second):
        assert len([m for m in events.seen if of(order_id, "order.deposit_forfeited")(m)]) == 1
        assert len([m for m in events.seen if of(order_id, "order.cancelled")(m)]) == 1
    with orders.client() as http:
        assert http.get("/stats").json()["by_state"]["balance_unpaid"]["orders"] >= 2
        listed = http.get("/orders", params={"status": "balance_unpaid", "limit": 500}).json()["items"]
    assert {first, second} <= {o["order_id"] for o in listed}


def test_a_balance_ahead_of_its_deposit_waits_for_it(module_world: World, orders) -> None:
    now = new_day(orders)
    right, wrong, deposit_at = new_id(), new_id(), now - timedelta(minutes=2)
    events = module_world.reader("orders.events")
    for order_id, amount in ((right, "49.80"), (wrong, "50.00")):
        module_world.publish("platform.orders", "order.balance_paid",
                             balance_data(order_id, amount, deposit_at + timedelta(minutes=1)), key=order_id)
    with orders.client("platform") as http:  # over HTTP an order not accepted is not found
        assert http.post(f"/orders/{right}/balance", json={"balance_amount": "49.80",
                                                           "paid_at": now.isoformat()}).status_code == 404
    for order_id in (right, wrong):
        module_world.publish("platform.orders", "order.placed", deposit_data(order_id, deposit_at), key=order_id)

    events.wait_for(of(right, "order.accepted"))
    [received] = events.wait_for(of(right, "order.balance_received"))
    assert received.data["paid_amount"] == "69.80"
    assert wait_for_order(orders, right, status_is("accepted"))["presale"]["balance_amount"] == "49.80"
    [rejected] = events.wait_for(of(wrong, "order.rejected"))
    assert rejected.data["reason"].endswith("= 49.80") and "balance_amount 50.00" in rejected.data["reason"]
    assert view(orders, wrong)["status"] == "awaiting_balance"
    assert not [m for m in events.seen if of(wrong, "order.balance_received")(m)]


def test_balances_that_are_no_balance_are_refused_and_touch_nothing(module_world: World, orders) -> None:
    now = new_day(orders)
    order_id, standard = f"O-{uuid.uuid4().hex[:6]}0", new_id()
    place_deposit(module_world, orders, order_id, now)
    module_world.publish("platform.orders", "order.placed", {
        **deposit_data(standard, now), "order_type": "standard", "paid_amount": "89.80", "deposit": None},
        key=standard)
    wait_for_order(orders, standard, status_is("accepted"))
    events, dlq = module_world.reader("orders.events"), module_world.reader("platform.orders.dlq")
    lookalike = order_id[:-1] + "\u039f"  # the last character a Greek capital omicron, not a zero
    hostile = {
        "30 decimals": (balance_data(order_id, "49." + "8" * 30, now), "more than two decimal places"),
        "past 64 bits": (balance_data(order_id, "18446744073709551616.00", now), "balance_amount must be at most 100000000.00, got 18446744073709551616.00"),
        "negative": (balance_data(order_id, "-49.80", now), "balance_amount must not be negative, got -49.80"),
        "a JSON number": ({**balance_data(order_id, "0", now), "balance_amount": 49.8}, "decimal strings"),
        "a look-alike id": (balance_data(lookalike, "49.80", now), "U+039F GREEK CAPITAL LETTER OMICRON"),
        "an unknown field": ({**balance_data(order_id, "49.80", now), "deposit": "20.00"}, "deposit: Extra inputs are not permitted"),
    }
    sent = {}
    for name, (data, _) in hostile.items():
        sent[name] = module_world.publish("platform.orders", "order.balance_paid", data, key=order_id)
    module_world.publish("platform.orders", "order.balance_paid", balance_data(standard, "10.00", now), key=standard)

    answers = events.wait_for(lambda m: m.type == "order.rejected" and m.data["source_event_id"] in sent.values(),
                              count=len(hostile))
    by_event = {m.data["source_event_id"]: m.data for m in answers}
    for name, (_, reason) in hostile.items():
        assert reason in by_event[sent[name]]["reason"], (name, by_event[sent[name]])
    assert by_event[sent["a look-alike id"]]["order_id"] is None  # not echoed: it is no valid id
    letters = dlq.wait_for(lambda m: json.loads(m.value)["id"] in sent.values(), count=len(hostile))
    assert {json.loads(m.value)["id"] for m in letters} == set(sent.values())
    [not_deposit] = events.wait_for(of(standard, "order.rejected"))
    assert not_deposit.data["reason"] == (
        f"order {standard} is a standard order, not a deposit presale: it has no balance to pay")

    with orders.client("platform") as http:
        def post(path_id: str, body: dict) -> Any:
            return http.post(f"/orders/{path_id}/balance", json=body)
        for body in ({"balance_amount": "49." + "8" * 30, "paid_at": now.isoformat()},
                     {"balance_amount": "18446744073709551616.00", "paid_at": now.isoformat()},
                     {"balance_amount": "-49.80", "paid_at": now.isoformat()},
                     {"balance_amount": "49.80", "paid_at": "2026-11-11T00:00:00"},  # naive time
                     {"balance_amount": "49.80", "paid_at": now.isoformat(), "order_id": lookalike}):
            answer = post(order_id, body)
            assert answer.status_code == 422, (body, answer.text)
        assert post(lookalike, {"balance_amount": "49.80", "paid_at": now.isoformat()}).status_code == 422
        assert post(order_id[:-1] + "O", {"balance_amount": "49.80", "paid_at": now.isoformat()}).status_code == 404
        assert post(standard, {"balance_amount": "10.00", "paid_at": now.isoformat()}).status_code == 409
    with orders.client("warehouse") as http:
        assert http.post(f"/orders/{order_id}/balance",
                         json={"balance_amount": "49.80", "paid_at": now.isoformat()}).status_code == 403

    body = view(orders, order_id)  # none of it touched the real order
    assert (body["status"], body["paid_amount"], body["presale"]["balance_amount"]) == ("awaiting_balance", "20.00", None)
    assert not [s for s in body["timeline"] if s["event_type"] == "order.balance_paid"]
    assert not [m for m in events.seen if of(order_id, "order.balance_received")(m)]


def test_a_deposit_order_that_cannot_be_one_is_rejected_with_the_reason(module_world: World, orders) -> None:
    now = new_day(orders)
    events = module_world.reader("orders.events")
    cases = {
        "worth more than the price": (deposit_data(new_id(), now, "44.91"),
                                      "deposit 44.91 x expansion 2 = 89.82 is worth more than the price 89.80"),
        "paid neither": (deposit_data(new_id(), now, paid_amount="30.00"),
                         "paid_amount 30.00 is neither the full price 89.80"),
        "per-sku expansion": (deposit_data(new_id(), now, "30.00", lines=[
            {"sku": "SKU-PHONE-01", "quantity": 1, "unit_price": "99.80", "gift": False}]),
            "deposit 30.00 x expansion 3 = 90.00 is worth more than the price 89.80"),
    }
    for data, _ in cases.values():
        module_world.publish("platform.orders", "order.placed", data, key=data["order_id"])
    for name, (data, reason) in cases.items():
        [rejected] = events.wait_for(of(data["order_id"], "order.rejected"))
        assert reason in rejected.data["reason"], name
    # Just inside the boundary (29.92 x 3 = 89.76 of 89.80): accepted, awaiting a balance of 0.04.
    edge = deposit_data(new_id(), now, "29.92", lines=[
        {"sku": "SKU-PHONE-01", "quantity": 1, "unit_price": "99.80", "gift": False}])
    module_world.publish("platform.orders", "order.placed", edge, key=edge["order_id"])
    body = wait_for_order(orders, edge["order_id"], status_is("awaiting_balance"))
    assert (body["presale"]["expansion"], body["presale"]["balance_due"]) == ("3.00", "0.04")


def test_two_instances_close_each_unpaid_deposit_exactly_once(world: World) -> None:
    """Both instances' window jobs run at once over one database, in small bounded batches: each
    order is closed by one of them, and told once (PostgreSQL: rows locked, the taken ones skipped;
    SQLite: writers take turns)."""
    settings = SETTINGS | {"PRESALE_WINDOW_JOB_INTERVAL_S": "0.2", "PRESALE_WINDOW_JOB_BATCH": "3",
                           "PRESALE_WINDOW_JOB_MAX_BATCHES": "2"}
    instances = [world.start("orders", instance=str(n), settings=settings) for n in (1, 2)]
    start = datetime.fromisoformat("2026-10-24T20:00:00+00:00")
    for instance in instances:
        set_clock(instance, start)
    order_ids = [new_id() for _ in range(24)]
    for order_id in order_ids:
        world.publish("platform.orders", "order.placed", deposit_data(order_id, start), key=order_id)
    events = world.reader("orders.events")
    events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] in order_ids, count=len(order_ids))

    for instance in instances:  # both past the window and its grace
        set_clock(instance, start + WINDOW + GRACE + timedelta(seconds=1))
    events.wait_for(lambda m: m.type == "order.cancelled" and m.data["order_id"] in order_ids, count=len(order_ids),
                    timeout_s=60)
    events.settle(2.0)
    for type_ in ("order.deposit_forfeited", "order.cancelled"):
        told = [m.data["order_id"] for m in events.seen if m.type == type_]
        assert sorted(told) == sorted(order_ids), type_
    for order_id in order_ids:
        assert view(instances[0], order_id)["status"] == "balance_unpaid"
    by_instance = [sum(int(n) for n in re.findall(r"closed (\d+) deposit presales", i.log_path.read_text()))
                   for i in instances]
    assert sum(by_instance) == len(order_ids)
    print(f"[presale] {len(order_ids)} deposits closed once each by two instances in batches of 3: {by_instance}")


def test_refunds_are_bounded_by_the_deposit_plus_the_balance(module_world: World, orders) -> None:
    """R23: once the balance is paid, refunds together may reach deposit + balance, not a cent more."""
    now = new_day(orders)
    order_id, case_id = new_id(), f"CASE-{uuid.uuid4().hex[:6]}"
    place_deposit(module_world, orders, order_id, now - timedelta(minutes=1))
    with orders.client("platform") as http:
        paid = http.post(f"/orders/{order_id}/balance", json={"balance_amount": "49.80", "paid_at": now.isoformat()})
        assert (paid.status_code, paid.json()["paid_amount"]) == (200, "69.80")
    at = now.isoformat()
    parcel = {"order_id": order_id, "shipment_id": f"S-{order_id}"}
    returned = {"case_id": case_id, "order_id": order_id, "lines": [{"sku": "SKU-TEA-01", "quantity": 2}]}
    for topic, type_, data in [
        ("logistics.shipments", "shipment.dispatched", {**parcel, "carrier": "SF", "tracking_number": "SF1",
                                                        "dispatched_at": at}),
        ("logistics.shipments", "shipment.delivered", {**parcel, "delivered_at": at}),
        ("aftersales.cases", "return.requested", {**returned, "kind": "return", "requested_at": at}),
        ("aftersales.cases", "return.received", {**returned, "inspection_passed": True, "received_at": at}),
    ]:
        module_world.publish(topic, type_, data, key=order_id)
    wait_for_order(orders, order_id, status_is("returned"))
    dlq = module_world.reader("aftersales.cases.dlq")
    too_much = module_world.publish("aftersales.cases", "refund.issued", {
        "case_id": case_id, "order_id": order_id, "amount": "69.81", "issued_at": at}, key=order_id)
    [letter] = dlq.wait_for(lambda m: json.loads(m.value)["id"] == too_much)
    assert "refunds would total 69.81, more than the 69.80 paid" in letter.headers["dlq.reason"]
    module_world.publish("aftersales.cases", "refund.issued", {
        "case_id": case_id, "order_id": order_id, "amount": "69.80", "issued_at": at}, key=order_id)
    wait_for_order(orders, order_id, status_is("refunded"))
