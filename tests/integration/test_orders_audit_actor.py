"""Issue 27, finding 7 (orders): the audit trail names who really acted.

An order placed over HTTP names the signed-in caller (`http:<subject>(<roles>)`) on its placement
step, although it reaches the orders consumer through platform.orders like any platform event.
An event from Kafka names its topic and shows the sender's `source` as a claim only; a sender
cannot pass for an HTTP caller, not even by claiming such a source or by reusing the event id
of an HTTP submission with other content."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_orders_intake import new_id, order_data
from tests.support.world import World

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def orders(module_world: World):
    return module_world.start("orders")


def timeline(service, order_id: str, status: str, timeout_s: float = 30.0) -> list[dict]:
    """The order's timeline once it has a step `status`."""
    deadline = time.monotonic() + timeout_s
    body: dict = {}
    while time.monotonic() < deadline:
        with service.client("admin") as http:
            response = http.get(f"/orders/{order_id}")
        if response.status_code == 200:
            body = response.json()
            if any(step["status"] == status for step in body.get("timeline", [])):
                return body["timeline"]
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} has no step {status!r}; last seen: {body}")


def actor_of(steps: list[dict], status: str) -> str:
    [step] = [s for s in steps if s["status"] == status]
    return step["actor"]


def test_an_order_placed_over_http_names_the_signed_in_caller(module_world: World, orders) -> None:
    order_id = new_id()
    with orders.client("platform", subject="checkout-web") as http:
        response = http.post("/orders", json=order_data(order_id))
    assert response.status_code == 202, response.text

    steps = timeline(orders, order_id, "accepted")
    assert actor_of(steps, "accepted") == "http:checkout-web(platform)"
    assert "via http" in [s for s in steps if s["status"] == "accepted"][0]["note"]


def test_a_kafka_event_names_its_topic_and_marks_the_source_as_claimed(module_world: World, orders) -> None:
    order_id, forged_id = new_id(), new_id()
    topic = module_world.topic("platform.orders")
    module_world.publisher.send_event(topic, "order.placed", order_data(order_id), key=order_id, source="checkout")
    # A sender claiming to be an HTTP caller is still only a Kafka sender making a claim.
    module_world.publisher.send_event(topic, "order.placed", order_data(forged_id), key=forged_id,
                                      source="http:checkout-web(platform)")

    assert actor_of(timeline(orders, order_id, "accepted"), "accepted") == "kafka:platform.orders (source: checkout)"
    assert actor_of(timeline(orders, forged_id, "accepted"), "accepted") == \
        "kafka:platform.orders (source: http:checkout-web(platform))"


def test_lifecycle_events_name_their_topic_also_when_parked_until_the_order_came(module_world: World, orders) -> None:
    early, late = new_id(), new_id()
    reservation = {"order_type": "standard", "priority_class": "standard", "priority_rank": "2-1-x",
                   "lines": [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90"}], "region": "Shanghai",
                   "paid_at": "2026-11-11T00:00:03Z", "reserved_at": "2026-11-11T00:01:00Z"}
    reservations = module_world.topic("inventory.reservations")
    # `early`'s reservation overtakes its order: it is parked, then applied when the order comes.
    module_world.publisher.send_event(reservations, "stock.reserved", {"order_id": early, **reservation}, key=early,
                                      source="inventory")
    for order_id in (early, late):
        module_world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)
    timeline(orders, late, "accepted")
    module_world.publisher.send_event(reservations, "stock.reserved", {"order_id": late, **reservation}, key=late,
                                      source="inventory")

    for order_id in (early, late):
        assert actor_of(timeline(orders, order_id, "reserved"), "reserved") == \
            "kafka:inventory.reservations (source: inventory)"


def test_an_http_submissions_event_id_reused_on_kafka_does_not_lend_its_caller(world: World) -> None:
    # The relay is held, so the HTTP submission stays in the outbox: what the consumer meets under
    # its event id comes from a Kafka sender who learnt the id.
    orders = world.start("orders", settings={"RELAY_ENABLED": "false"})
    submitted, other = new_id(), new_id()
    with orders.client("platform", subject="checkout-web") as http:
        response = http.post("/orders", json=order_data(submitted))
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]

    topic = world.topic("platform.orders")
    # Same event id, another order; and same event id and order with other content.
    world.publisher.send_event(topic, "order.placed", order_data(other), key=other, event_id=event_id,
                               source="checkout-web")
    assert actor_of(timeline(orders, other, "accepted"), "accepted") == "kafka:platform.orders (source: checkout-web)"

    changed = new_id()
    with orders.client("platform", subject="checkout-web") as http:
        second = http.post("/orders", json=order_data(changed)).json()["event_id"]
    world.publisher.send_event(topic, "order.placed", order_data(changed, region="Beijing"), key=changed,
                               event_id=second, source="checkout-web")
    assert actor_of(timeline(orders, changed, "accepted"), "accepted") == \
        "kafka:platform.orders (source: checkout-web)"
