"""How a service's batch subscribers poll (shared.consumer_health.poll_without_sleeping), against the real
broker of the run.

FastStream's own batch poll waits briefly and then naps as long again when nothing came; with a
short wait every idle consumer woke 100 times a second. With one long wait instead, an idle
consumer polls about once per wait, and a record that arrives during the wait is still handed
over at once: aiokafka's getmany returns as soon as a fetch brings records.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from faststream.kafka import KafkaBroker
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from shared.consumer_health import poll_without_sleeping

pytestmark = pytest.mark.integration

WAIT_MS = 4_000  # far longer than delivery takes, so "at once" and "after the wait" differ


def _topic(bootstrap: str) -> str:
    name = f"polling-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    return name


async def test_an_idle_consumer_waits_in_one_poll_and_a_record_ends_the_wait(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap)
    broker = KafkaBroker(kafka_bootstrap)
    subscriber = broker.subscriber(topic, group_id=f"{topic}.g", auto_offset_reset="earliest", batch=True)
    poll_without_sleeping(subscriber, wait_ms=WAIT_MS, max_records=100)
    polls: list[float] = []
    ours = subscriber.get_msg

    async def counted(consumer):  # type: ignore[no-untyped-def]
        polls.append(time.monotonic())
        return await ours(consumer)

    subscriber.get_msg = counted
    received: list[tuple[float, list[bytes]]] = []
    arrived = asyncio.Event()

    @subscriber
    async def on_batch(body: list[bytes]) -> None:
        received.append((time.monotonic(), body))
        arrived.set()

    await broker.start()
    try:
        # Idle: the consume loop waits in getmany instead of waking every few milliseconds.
        deadline = time.monotonic() + 60
        while subscriber.consumer is None or not subscriber.consumer.assignment():
            assert time.monotonic() < deadline, "no partition assigned within 60 s"
            await asyncio.sleep(0.1)
        idle_from = time.monotonic()
        await asyncio.sleep(3.0)
        idle_polls = sum(1 for t in polls if t >= idle_from)
        assert polls, "the consume loop never called the replaced get_msg"
        assert idle_polls <= 2, f"{idle_polls} polls in 3 s idle"

        # A record published mid-wait is handled long before the wait would have run out.
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        try:
            sent_at = time.monotonic()
            producer.send(topic, b"hello").get(timeout=30)
        finally:
            producer.close()
        await asyncio.wait_for(arrived.wait(), timeout=30)
        handled_at, body = received[0]
        assert body == [b"hello"]
        assert handled_at - sent_at < WAIT_MS / 1000 / 2, f"handled {handled_at - sent_at:.2f} s after the send"
    finally:
        await broker.stop()
