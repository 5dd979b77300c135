"""Issue 27 through the real broker: a row the broker refuses, a record past the limits, an event
id used twice, a body past the size limit, a consumer that cannot make progress.

Each test would have failed before the fix it is named after: the relay pass failed as a whole
(finding 3), an id used again was dropped silently (finding 5), bodies had no size limit and
errors no problem body (finding 11), and /healthz said 200 whatever the consumers did.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid

import httpx
import pytest
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from sqlalchemy import create_engine, select, text
from sqlmodel import Session

from shared.clock import make_clock
from shared.db import transaction
from shared.messaging import MESSAGING_TABLES, Outbox, OutboxMessage, OutboxRelay
from shared.metrics import ServiceMetrics
from tests.integration.test_orders_intake import new_id, order_data
from tests.support.kafka import TopicReader, cloud_event
from tests.support.services import token_for
from tests.support.world import World

pytestmark = pytest.mark.integration

WAIT_S = 60.0


def metric(service, name: str) -> float:
    """The sum of a metric's samples on the service's /metrics page."""
    page = httpx.get(service.url + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
               if line.startswith(name) and not line.startswith("#"))


async def test_a_row_the_broker_refuses_is_kept_aside_and_the_rows_beside_it_go_out(kafka_bootstrap, engine_with) -> None:
    """Finding 3: one 2 MB row among ten used to fail every relay pass, and the rows claimed with
    it waited for good."""
    engine = engine_with(MESSAGING_TABLES)
    topic = f"t{uuid.uuid4().hex[:10]}.relay.refusals"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=15000)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    clock = make_clock("system")
    outbox = Outbox(source="refusal-test", topic_prefix=topic, clock=clock)
    ids = [f"E-{i}" for i in range(11)]
    with transaction(engine) as session:  # written with no relay running: the table scan finds them
        for i, event_id in enumerate(ids):
            value = b"x" * 2_000_000 if i == 5 else event_id.encode()
            outbox.add_raw(session, topic, key="K", value=value, headers={"ce_type": "test.event"}, event_id=event_id)
    metrics = ServiceMetrics("test")
    relay = OutboxRelay(engine, kafka_bootstrap, clock, metrics, client_id="refusal-test", interval_s=0.1)
    reader = TopicReader(kafka_bootstrap, topic)
    await relay.start()
    try:
        sent = await asyncio.to_thread(reader.wait_for, lambda m: True, count=10, timeout_s=WAIT_S)
        await relay.flush_marks()
        deadline = time.monotonic() + WAIT_S
        while True:
            with Session(engine) as session:
                states = dict(session.execute(select(OutboxMessage.event_id, OutboxMessage.state)).all())
            if list(states.values()).count("published") == 10 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await relay.stop()
        reader.close()
    assert sorted(m.value.decode() for m in sent) == sorted(ids[:5] + ids[6:])
    assert states.pop("E-5") == "refused" and set(states.values()) == {"published"}
    with Session(engine) as session:
        refused = session.execute(select(OutboxMessage).where(OutboxMessage.event_id == "E-5")).scalar_one()
    assert "MessageSizeTooLarge" in refused.last_error and len(refused.value) == 2_000_000  # kept as it was
    assert metrics.outbox_refused.labels(topic=topic)._value.get() == 1
    assert relay.backlog_and_refused() == (0, 1)


def test_a_record_the_dead_letter_topic_refuses_is_kept_and_the_orders_behind_it_flow(world: World) -> None:
    """Finding 3 on Kafka: a 5 MB record on a topic configured to take it is dead-lettered; the
    dead-letter topic (1 MB) refuses the copy, which stays in the outbox as `refused` and counted,
    and the orders behind it are accepted."""
    admin = KafkaAdminClient(bootstrap_servers=world.bootstrap, request_timeout_ms=15000)
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, world.topic("platform.orders"),
                                        configs={"max.message.bytes": "6000000"})])
    admin.close()
    orders = world.start("orders")
    accepted = world.reader("orders.events")
    producer = KafkaProducer(bootstrap_servers=world.bootstrap, max_request_size=6_000_000, acks="all")
    producer.send(world.topic("platform.orders"), key=b"huge", partition=0,
                  value=b'{"pad":"' + b"x" * 5_000_000 + b'"}').get(timeout=30)
    canaries = [new_id() for _ in range(6)]
    for order_id in canaries:
        producer.send(world.topic("platform.orders"), key=order_id.encode(), partition=0,
                      value=json.dumps(cloud_event("order.placed", order_data(order_id))).encode()).get(timeout=30)
    producer.close()
    accepted.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] in canaries, count=6,
                      timeout_s=WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while metric(orders, "peak_outbox_refused_total") < 1:
        assert time.monotonic() < deadline, "the refused dead letter was never counted"
        time.sleep(0.5)
    [(state, reason_headers)] = orders.sql("SELECT state, headers_json FROM outbox_message WHERE topic = :t",
                                           t=world.dlq("platform.orders"))
    assert state == "refused"
    assert "over the 1,000,000-byte limit" in json.loads(reason_headers)["dlq.reason"]


def test_an_event_id_used_again_for_another_order_is_dead_lettered_and_rejected(world: World) -> None:
    """Finding 5: the second order under an already-processed event id used to vanish."""
    world.start("orders")
    events = world.reader("orders.events")
    dlq = world.reader("platform.orders.dlq")
    first, second = new_id(), new_id()
    event_id = f"EV-{uuid.uuid4().hex[:8]}"
    world.publish("platform.orders", "order.placed", order_data(first), key=first, event_id=event_id)
    events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == first)
    world.publish("platform.orders", "order.placed", order_data(second), key=second, event_id=event_id)
    world.publish("platform.orders", "order.placed", order_data(first), key=first, event_id=event_id)  # a redelivery
    [letter] = dlq.wait_for(lambda m: m.key == second)
    assert "already used" in letter.headers["dlq.reason"]
    [rejected] = events.wait_for(lambda m: m.type == "order.rejected" and m.data["order_id"] == second)
    assert "already used" in rejected.data["reason"]
    events.settle(2.0)
    assert [m.data["order_id"] for m in events.seen if m.type == "order.accepted"] == [first]
    assert len(dlq.settle(1.0)) == 1  # the true redelivery is a duplicate, not a dead letter


def test_bodies_past_the_limit_and_bad_tokens_get_problem_bodies_and_the_orders_behind_them_flow(world: World) -> None:
    """Finding 11: a 20,000-line order answered 202 and never came out; bodies were unbounded;
    a malformed token's 401 quoted a codec error; a non-JSON body got FastAPI's raw list."""
    orders = world.start("orders")
    events = world.reader("orders.events")
    line = {"sku": "SKU-TEA-01", "quantity": 1, "unit_price": "1.00", "gift": False}
    huge = order_data(new_id(), lines=[line] * 20_000, discount="0.00", paid_amount="20000.00")
    with orders.client("platform") as http:
        declared = http.post("/orders", json=huge)
        streamed = http.post("/orders", content=iter([json.dumps(huge).encode()[i:i + 65536]
                                                      for i in range(0, len(json.dumps(huge)), 65536)]),
                             headers={"content-type": "application/json"})
        not_json = http.post("/orders", content=b"{not json", headers={"content-type": "application/json"})
        canary = new_id()
        assert http.post("/orders", json=order_data(canary)).status_code == 202
    for answer in (declared, streamed):
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "262,144-byte limit" in answer.json()["detail"] and answer.json()["status"] == 413
    assert not_json.status_code == 400 and not_json.headers["content-type"] == "application/problem+json"
    assert isinstance(not_json.json()["detail"], str) and "JSON" in not_json.json()["detail"]
    malformed = httpx.get(orders.url + "/orders", headers={"Authorization": "Bearer \xff.\xfe.x".encode("latin-1")})
    assert malformed.status_code == 401 and "codec" not in malformed.text
    assert "well-formed" in malformed.json()["detail"]
    wrong_key = token_for("platform")[:-4] + "AAAA"
    assert "signature" in httpx.get(orders.url + "/orders", headers={"Authorization": f"Bearer {wrong_key}"}).json()["detail"]
    events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == canary)
    deadline = time.monotonic() + WAIT_S  # sent rows are marked published a moment later
    while orders.sql("SELECT count(*) FROM outbox_message WHERE state <> 'published'") != [(0,)]:
        assert time.monotonic() < deadline, "the outbox kept rows that were not published"
        time.sleep(0.2)


def test_a_consumer_that_cannot_make_progress_makes_the_service_not_live_until_it_can(world: World) -> None:
    """Liveness tells the truth: with its database locked, the orders consumer cannot commit; after
    CONSUMER_STALL_S with lag /healthz answers 503 naming the partition, and 200 again once the
    lock is gone and the order went through."""
    orders = world.start("orders", settings={"CONSUMER_STALL_S": "3"})
    events = world.reader("orders.events")
    assert httpx.get(orders.url + "/healthz").json()["status"] == "ok"
    with database_lock(orders):
        order_id = new_id()
        world.publish("platform.orders", "order.placed", order_data(order_id), key=order_id)
        deadline = time.monotonic() + WAIT_S
        while (health := httpx.get(orders.url + "/healthz", timeout=10)).status_code != 503:
            assert time.monotonic() < deadline, "never reported stalled"
            time.sleep(0.5)
        assert any(name.startswith(world.topic("platform.orders")) for name in health.json()["stalled"])
        assert metric(orders, "peak_consumer_stalled") >= 1
    events.wait_for(lambda m: m.type == "order.accepted" and m.data["order_id"] == order_id, timeout_s=WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while httpx.get(orders.url + "/healthz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "still not live after the lock was released"
        time.sleep(0.5)


class database_lock:
    """Holds a lock that stops every write to the service's database (SQLite: an exclusive
    transaction; PostgreSQL: the inbox table locked)."""

    def __init__(self, service) -> None:
        self.url = service.database_url

    def __enter__(self) -> None:
        if self.url.startswith("sqlite"):
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
            self.conn.execute("BEGIN EXCLUSIVE")
        else:
            self.engine = create_engine(self.url)
            self.conn = self.engine.connect()
            self.tx = self.conn.begin()
            self.conn.execute(text("LOCK TABLE inbox_entry IN ACCESS EXCLUSIVE MODE"))

    def __exit__(self, *exc) -> None:
        if self.url.startswith("sqlite"):
            self.conn.execute("ROLLBACK")
            self.conn.close()
        else:
            self.tx.rollback()
            self.conn.close()
            self.engine.dispose()
