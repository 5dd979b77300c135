"""Foundation acceptance through the real broker: intake, dead letters, dedupe, outbox recovery."""

from __future__ import annotations

import uuid

import pytest

from tests.support.world import World

pytestmark = pytest.mark.integration


def order_data(order_id: str, **overrides) -> dict:
    data = {
        "order_id": order_id, "customer_id": "C-9", "order_type": "standard",
        "lines": [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False},
                  {"sku": "SKU-CUP-GIFT", "quantity": 1, "unit_price": "0.00", "gift": True}],
        "discount": "10.00", "paid_amount": "89.80", "paid_at": "2026-11-11T00:00:03Z",
        "region": "Shanghai", "currency": "CNY",
    }
    data.update(overrides)
    return data


def new_id() -> str:
    return f"O-{uuid.uuid4().hex[:8]}"


def test_placed_order_is_persisted_and_accepted_event_published(world: World) -> None:
    orders = world.start("orders")
    accepted = world.reader("orders.events")
    order_id = new_id()

    world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)

    [msg] = accepted.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == order_id)
    assert msg.key == order_id
    assert msg.data["priority_class"] == "standard"
    assert msg.data["paid_amount"] == "89.80"
    with orders.client() as http:
        body = http.get(f"/orders/{order_id}").json()
    assert body["status"] == "accepted"


def test_malformed_and_invalid_events_are_dead_lettered_and_consumption_goes_on(world: World) -> None:
    world.start("orders")
    dlq = world.reader("platform.orders.dlq")
    events = world.reader("orders.events")

    world.publish_raw("platform.orders", b"\xff\xfe not json at all", key="junk")
    bad_id = new_id()
    world.publish("platform.orders", "order.placed", order_data(bad_id, lines=[]), key=bad_id)
    good_id = new_id()
    world.publish("platform.orders", "order.placed", order_data(good_id), key=good_id)

    events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == good_id)
    letters = dlq.wait_for(lambda m: True, count=2)
    by_key = {m.key: m for m in letters}
    assert by_key["junk"].value == b"\xff\xfe not json at all"  # the original bytes, untouched
    assert "not UTF-8" in by_key["junk"].headers["dlq.reason"]
    assert "lines" in by_key[bad_id].headers["dlq.reason"]
    for letter in letters:
        assert letter.headers["dlq.source.topic"] == world.topic("platform.orders")
        assert int(letter.headers["dlq.source.offset"]) >= 0
        assert letter.headers["dlq.source.partition"].isdigit()


def test_the_same_event_id_twice_changes_state_once(world: World) -> None:
    orders = world.start("orders")
    events = world.reader("orders.events")
    order_id = new_id()
    event_id = str(uuid.uuid4())

    world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id, event_id=event_id)
    world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id, event_id=event_id)
    marker = new_id()
    world.publish("platform.orders", "order.placed", order_data(marker), key=marker)

    events.wait_for(lambda m: m.data["order_id"] == marker)  # both copies were consumed before this
    accepted = [m for m in events.settle(1.0) if m.type == "order.accepted" and m.data["order_id"] == order_id]
    assert len(accepted) == 1
    with orders.client() as http:
        timeline = http.get(f"/orders/{order_id}").json()["timeline"]
    assert [step["status"] for step in timeline] == ["accepted"]
    metrics = orders.client().get("/metrics").text
    assert "peak_events_duplicate_total" in metrics


def test_event_committed_but_not_published_before_a_crash_is_published_after_restart(world: World) -> None:
    # With its relay held, the orders service commits the accepted order and its
    # order.accepted outbox row, then dies by SIGKILL before anything is published.
    orders = world.start("orders", settings={"RELAY_ENABLED": "false"})
    events = world.reader("orders.events")
    order_id = new_id()

    world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)
    _wait_until(lambda: orders.client().get(f"/orders/{order_id}").status_code == 200)
    assert _outbox_pending(orders, "order.accepted") == 1
    orders.kill()
    assert not [m for m in events.settle(1.0) if m.type == "order.accepted"]

    orders.env["ORDERS_RELAY_ENABLED"] = "true"
    orders.start()
    [msg] = events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == order_id)
    assert msg.data["order_id"] == order_id
    assert _outbox_pending(orders, "order.accepted") == 0


def _outbox_pending(service, type_: str) -> int:
    [(count,)] = service.sql("select count(*) from outbox_message where state != 'published' and headers_json like :t",
                             t=f'%"{type_}"%')
    return count


def _wait_until(condition, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
