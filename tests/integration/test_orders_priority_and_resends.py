"""Priority decided once at acceptance (R2), replayed events and re-sends of the same order id:
harmless duplicates versus refused, recorded tampering (R3). Through the real broker."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.test_orders_intake import new_id, order_data
from tests.support.world import World

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def orders(module_world: World):
    return module_world.start("orders")


def test_presale_then_high_value_then_standard_whatever_order_they_arrive_in(module_world: World, orders) -> None:
    events = module_world.reader("orders.events")
    customer = f"C-{uuid.uuid4().hex[:6]}"
    standard, high_value, presale = new_id(), new_id(), new_id()
    # Placed in reverse order, and the standard order paid first: class beats payment time.
    module_world.publish("platform.orders", "order.placed", order_data(
        standard, customer_id=customer, paid_at="2026-11-11T00:00:01Z"), key=standard)
    module_world.publish("platform.orders", "order.placed", order_data(
        high_value, customer_id=customer, paid_at="2026-11-11T00:00:02Z",
        lines=[{"sku": "SKU-TV-55", "quantity": 1, "unit_price": "1010.00"}], discount="10.00",
        paid_amount="1000.00"), key=high_value)
    module_world.publish("platform.orders", "order.placed", order_data(
        presale, customer_id=customer, paid_at="2026-11-11T00:00:03Z", order_type="presale", deposit="20.00",
        balance_paid_at="2026-11-11T00:00:03Z"), key=presale)

    accepted = events.wait_for(lambda m: m.type == "order.accepted" and m.data["customer_id"] == customer, count=3)
    by_rank = sorted(accepted, key=lambda m: m.data["priority_rank"])
    assert [m.data["order_id"] for m in by_rank] == [presale, high_value, standard]
    assert [m.data["priority_class"] for m in by_rank] == ["presale", "high_value", "standard"]
    with orders.client() as http:  # the same order as everyone downstream
        listed = http.get("/orders", params={"customer_id": customer}).json()["items"]
    assert [o["order_id"] for o in listed] == [presale, high_value, standard]
    assert [o["priority_rank"] for o in listed] == [m.data["priority_rank"] for m in by_rank]


def test_within_a_class_the_earlier_payment_ranks_first(module_world: World, orders) -> None:
    events = module_world.reader("orders.events")
    customer = f"C-{uuid.uuid4().hex[:6]}"
    late, early = new_id(), new_id()
    module_world.publish("platform.orders", "order.placed",
                         order_data(late, customer_id=customer, paid_at="2026-11-11T08:00:00+08:00"), key=late)
    module_world.publish("platform.orders", "order.placed",
                         order_data(early, customer_id=customer, paid_at="2026-11-10T23:59:59Z"), key=early)

    accepted = events.wait_for(lambda m: m.type == "order.accepted" and m.data["customer_id"] == customer, count=2)
    ranks = {m.data["order_id"]: m.data["priority_rank"] for m in accepted}
    assert ranks[early] < ranks[late]


def test_a_replayed_event_changes_nothing_and_an_identical_resend_is_a_harmless_duplicate(
        module_world: World, orders) -> None:
    events = module_world.reader("orders.events")
    order_id = new_id()
    event_id = str(uuid.uuid4())
    module_world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id, event_id=event_id)
    module_world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id, event_id=event_id)
    # A new event id, the same order written differently ("89.8", another time zone): same content.
    module_world.publish("platform.orders", "order.placed",
                         order_data(order_id, paid_amount="89.8", paid_at="2026-11-11T08:00:03+08:00"), key=order_id)
    marker = new_id()
    module_world.publish("platform.orders", "order.placed", order_data(marker), key=order_id)  # same partition, after

    events.wait_for(lambda m: m.data.get("order_id") == marker)
    about_it = [m for m in events.settle(1.0) if m.data.get("order_id") == order_id]
    assert [m.type for m in about_it] == ["order.accepted"]
    with orders.client() as http:
        assert [s["status"] for s in http.get(f"/orders/{order_id}").json()["timeline"]] == ["accepted"]
        assert http.get("/conflicts", params={"order_id": order_id}).json()["items"] == []
        again = http.post("/orders", json=order_data(order_id))
    assert again.status_code == 200 and again.json()["status"] == "already_accepted"


def test_a_conflicting_resend_is_refused_recorded_for_operators_and_the_accepted_order_stands(
        module_world: World, orders) -> None:
    events = module_world.reader("orders.events")
    dlq = module_world.reader("platform.orders.dlq")
    order_id = new_id()
    module_world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)
    events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == order_id)

    tampered = order_data(order_id, discount="90.00", paid_amount="9.80")
    tamper_id = module_world.publish("platform.orders", "order.placed", tampered, key=order_id)

    [refusal] = events.wait_for(lambda m: m.type == "order.rejected" and m.data["order_id"] == order_id)
    assert refusal.data["reason"].startswith(f"conflict: order {order_id} was already accepted with different content")
    assert "paid_amount: 89.80 -> 9.80" in refusal.data["reason"]
    assert refusal.data["source_event_id"] == tamper_id
    [letter] = dlq.wait_for(lambda m: m.key == order_id)
    assert "conflict" in letter.headers["dlq.reason"]

    with orders.client() as http:
        over_http = http.post("/orders", json=order_data(order_id, region="Beijing"))
        assert over_http.status_code == 409
        assert "region: Shanghai -> Beijing" in over_http.json()["detail"]
        recorded = http.get("/conflicts", params={"order_id": order_id}).json()["items"]
        order = http.get(f"/orders/{order_id}").json()
    assert [(c["channel"], c["event_id"]) for c in recorded] == [("kafka", tamper_id), ("http", None)]
    assert "discount: 10.00 -> 90.00" in recorded[0]["differences"]
    assert recorded[0]["content"]["paid_amount"] == "9.80"
    assert (order["status"], order["paid_amount"], order["discount"], order["region"]) == \
        ("accepted", "89.80", "10.00", "Shanghai")
