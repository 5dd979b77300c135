"""CloudEvents as the spec's Kafka binding says, checked with the official `cloudevents` SDK
(a test dependency only) against the real broker and the real orders service:

- what the services publish is structured mode, marked `content-type: application/cloudevents+json`,
  and the SDK reads it back as the same event;
- a platform service may send either mode: an order placed in binary mode (`ce_*` headers, the
  data as the value) and one in structured mode are both accepted;
- a binary-mode record whose data is not JSON is dead-lettered with a reason and stops nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from cloudevents.http import CloudEvent as SdkEvent
from cloudevents.kafka import KafkaMessage, from_structured, to_binary, to_structured

from shared.envelope import STRUCTURED_CONTENT_TYPE
from tests.support.world import World

pytestmark = pytest.mark.integration


def order_data(order_id: str) -> dict:
    return {
        "order_id": order_id, "customer_id": "C-9", "order_type": "standard",
        "lines": [{"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False}],
        "discount": "0.00", "paid_amount": "99.80", "paid_at": "2026-11-11T00:00:03Z",
        "region": "Shanghai", "currency": "CNY",
    }


def sdk_event(type_: str, data: dict, *, subject: str) -> SdkEvent:
    return SdkEvent({"type": type_, "source": "checkout-sdk", "id": str(uuid.uuid4()), "subject": subject,
                     "time": datetime.now(UTC).isoformat(), "datacontenttype": "application/json",
                     "dataversion": "1", "partitionkey": subject}, data)


def send(world: World, topic: str, message: KafkaMessage) -> None:
    key = message.key.encode() if isinstance(message.key, str) else message.key
    value = message.value.encode() if isinstance(message.value, str) else message.value
    world.publisher.send_records(world.topic(topic), [(key, value, list(message.headers.items()))])


def new_id() -> str:
    return f"O-CE-{uuid.uuid4().hex[:8]}"


def test_the_sdk_round_trips_orders_in_both_modes_through_the_real_broker(world: World) -> None:
    world.start("orders")
    accepted = world.reader("orders.events")
    binary_id, structured_id = new_id(), new_id()

    send(world, "platform.orders", to_binary(sdk_event("order.placed", order_data(binary_id), subject=binary_id)))
    send(world, "platform.orders",
         to_structured(sdk_event("order.placed", order_data(structured_id), subject=structured_id)))

    answers = accepted.wait_for(lambda m: m.type == "order.accepted"
                                and m.data["order_id"] in (binary_id, structured_id), count=2)
    for message in answers:
        # What the service wrote is structured mode, marked as such, and the SDK reads it.
        assert message.headers["content-type"] == STRUCTURED_CONTENT_TYPE
        event = from_structured(KafkaMessage({k: v.encode() for k, v in message.headers.items()},
                                             message.key.encode(), message.value))
        assert event["type"] == "order.accepted" and event["source"] == "orders"
        assert event["id"] == message.json["id"]
        assert event.get_data()["order_id"] == message.data["order_id"]
        assert event.get_data()["paid_amount"] == "99.80"


def test_a_binary_record_whose_data_is_not_json_is_dead_lettered_and_the_next_is_accepted(world: World) -> None:
    world.start("orders")
    accepted = world.reader("orders.events")
    dlq = world.reader("platform.orders.dlq")
    bad_id, good_id = new_id(), new_id()

    broken = to_binary(sdk_event("order.placed", order_data(bad_id), subject=bad_id))
    send(world, "platform.orders", KafkaMessage(broken.headers, broken.key, b"{not json"))
    send(world, "platform.orders", to_binary(sdk_event("order.placed", order_data(good_id), subject=good_id)))

    accepted.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == good_id)
    [letter] = dlq.wait_for(lambda m: m.key == bad_id)
    assert letter.value == b"{not json"  # kept as sent
    assert "not JSON" in letter.headers["dlq.reason"]


def test_a_binary_cancellation_request_cancels_the_order(world: World) -> None:
    orders = world.start("orders")
    events = world.reader("orders.events")
    order_id = new_id()
    world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)
    events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == order_id)

    request = sdk_event("order.cancellation_requested", {"order_id": order_id, "reason": "changed my mind"},
                        subject=order_id)
    send(world, "platform.orders", to_binary(request))

    [cancelled] = events.wait_for(lambda m: m.type == "order.cancelled" and m.data["order_id"] == order_id)
    assert cancelled.data["reason"] == "changed my mind"
    with orders.client() as http:
        assert http.get(f"/orders/{order_id}").json()["status"] == "cancelled"
    assert json.loads(cancelled.value)["datacontenttype"] == "application/json"


def test_hostile_binary_records_are_dead_lettered_and_stop_nothing(world: World) -> None:
    """Binary-mode records an attacker or a careless SDK could send: attribute headers that are
    not UTF-8, data nested 100,000 deep, a number past 64 bits, a look-alike id, the same event
    id twice with other content. Each is refused or handled on its own; the canary after them
    is accepted."""
    world.start("orders")
    accepted = world.reader("orders.events")
    dlq = world.reader("platform.orders.dlq")
    twice = str(uuid.uuid4())

    def binary(data: bytes, **attributes: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
        headers = {"ce_specversion": b"1.0", "ce_id": str(uuid.uuid4()).encode(), "ce_source": b"attacker",
                   "ce_type": b"order.placed", "ce_time": b"2026-11-11T00:00:03Z", "content-type": b"application/json",
                   **attributes}
        return b"K", data, [(k.encode(), v) for k, v in headers.items()]

    good = json.dumps(order_data(new_id())).encode()
    first, second = new_id(), new_id()
    hostile = [
        binary(good, ce_source=b"\xff\xfe not utf-8"),
        binary(b"[" * 100_000 + b"]" * 100_000),
        binary(json.dumps({**order_data(new_id()), "lines": [
            {"sku": "SKU-TEA-01", "quantity": 2**70, "unit_price": "49.90"}]}).encode()),
        binary(json.dumps(order_data("O-\uff21\u200b")).encode()),  # full-width A, zero-width space
        binary(json.dumps(order_data(first)).encode(), ce_id=twice.encode()),
        binary(json.dumps(order_data(second)).encode(), ce_id=twice.encode()),
    ]
    world.publisher.send_records(world.topic("platform.orders"), hostile)
    canary = new_id()
    send(world, "platform.orders", to_binary(sdk_event("order.placed", order_data(canary), subject=canary)))

    accepted.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == canary)
    accepted.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == first)
    letters = dlq.wait_for(lambda m: True, count=5, timeout_s=60)
    reasons = [m.headers["dlq.reason"] for m in letters]
    assert any("already used" in r for r in reasons)  # the second use of the id, with other content
    assert any("source" in r for r in reasons) and any("nested deeper" in r for r in reasons)
    assert not [m for m in accepted.settle(quiet_s=1.0)
                if m.type == "order.accepted" and m.data["order_id"] == second]
