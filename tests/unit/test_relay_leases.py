"""A relay pass that waits on the broker longer than the outbox lease (an outage in degraded
mode) must not publish a row twice: once from its hand-over queue or its acknowledged-but-not-
marked list, and once more from the table scan that finds the row's lease run out. Found by
tests/faults/test_degraded_ready.py (every order posted during a 60 s outage was published
twice); here with a producer stand-in and a relay clock moved past the lease."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from shared.clock import make_clock
from shared.db import create_tables, make_engine, transaction
from shared.messaging import MESSAGING_TABLES, Outbox, OutboxMessage, OutboxRelay
from shared.messaging.tables import LEASE, take_within_lease
from shared.metrics import ServiceMetrics

T0 = datetime(2026, 11, 11, tzinfo=UTC)


class Recorder:
    """Acknowledges every send and records its value."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, topic, value=None, key=None, headers=None):  # type: ignore[no-untyped-def]
        self.sent.append(value)
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def stop(self) -> None:
        pass


def test_take_within_lease_drops_rows_whose_lease_ran_out_and_keeps_order() -> None:
    queue = deque([{"event_id": "a", "lease_until": T0 + timedelta(seconds=1)},
                   {"event_id": "b", "lease_until": T0},  # ends now: no longer ours
                   {"event_id": "c", "lease_until": T0 - timedelta(seconds=1)},
                   {"event_id": "d", "lease_until": None},
                   {"event_id": "e", "lease_until": T0 + timedelta(seconds=30)},
                   {"event_id": "f", "lease_until": T0 + timedelta(seconds=30)}])
    rows, expired = take_within_lease(queue, 3, T0)
    assert [r["event_id"] for r in rows] == ["a", "d", "e"] and expired == 2
    assert [r["event_id"] for r in queue] == ["f"]
    assert take_within_lease(deque(), 3, T0) == ([], 0)


def _relay_with_hand_overs(tmp_path: Path) -> tuple[OutboxRelay, Outbox, Recorder, list]:
    engine = make_engine(f"sqlite:///{tmp_path / 'relay.sqlite'}")
    create_tables(engine, MESSAGING_TABLES)
    clock = make_clock("system")
    relay = OutboxRelay(engine, "unused:9092", clock, ServiceMetrics("test"), client_id="test-relay")
    relay._task = object()  # type: ignore[assignment]  # "running": commits hand rows over
    relay.connected = True
    producer = relay._producer = Recorder()  # type: ignore[assignment]
    outbox = Outbox(source="test", topic_prefix="", clock=clock, relay=relay)
    now = [datetime.now(UTC)]
    relay._clock_now = lambda: now[0]  # type: ignore[method-assign]
    return relay, outbox, producer, now


def _add(relay: OutboxRelay, outbox: Outbox, n: int, start: int = 0) -> None:
    with transaction(relay._engine) as session:
        for i in range(start, start + n):
            outbox.add_raw(session, "t.orders", key=f"k{i}", value=f"v{i}".encode(), event_id=f"E-{i}")


def _states(relay: OutboxRelay) -> Counter[str]:
    with Session(relay._engine) as session:
        return Counter(r.state for r in session.exec(select(OutboxMessage)))


async def test_rows_that_outlive_their_lease_in_the_queue_go_out_once_from_the_scan(tmp_path: Path) -> None:
    relay, outbox, producer, now = _relay_with_hand_overs(tmp_path)
    _add(relay, outbox, 5)
    assert len(relay._handed) == 5 and _states(relay) == {"in_progress": 5}
    now[0] += LEASE + timedelta(seconds=1)  # the pass before waited on the broker that long
    relay._last_scan = 0.0
    sent = await relay.publish_pending()
    await relay.flush_marks()
    assert sent == 5 and Counter(producer.sent) == Counter(f"v{i}".encode() for i in range(5))
    assert not relay._handed and _states(relay) == {"published": 5}
    assert await relay.publish_pending() == 0 and len(producer.sent) == 5


async def test_acknowledged_rows_whose_lease_ran_out_are_not_sent_again_before_marking(tmp_path: Path) -> None:
    relay, outbox, producer, now = _relay_with_hand_overs(tmp_path)
    _add(relay, outbox, 4)
    relay._mark_when_due = lambda: None  # type: ignore[method-assign]  # marking later, as when it waits its turn
    assert await relay.publish_pending() == 4
    assert relay._sent_unmarked and _states(relay) == {"in_progress": 4}
    now[0] += LEASE + timedelta(seconds=1)
    _add(relay, outbox, 1, start=4)  # a new one, handed over with a fresh lease
    relay._last_scan = 0.0
    assert await relay.publish_pending() == 1  # the scan claims E-0..E-3 again, but they are acknowledged
    await relay.flush_marks()
    assert sorted(producer.sent) == [f"v{i}".encode() for i in range(5)]  # each once
    assert _states(relay) == {"published": 5} and relay._sent_unmarked == []


async def test_a_failed_marking_keeps_the_rows_for_the_next_one(tmp_path: Path) -> None:
    relay, outbox, producer, _now = _relay_with_hand_overs(tmp_path)
    _add(relay, outbox, 3)
    relay._mark_when_due = lambda: None  # type: ignore[method-assign]
    assert await relay.publish_pending() == 3
    real_mark = relay._mark

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database busy")

    relay._mark = failing  # type: ignore[method-assign]
    try:
        await relay.flush_marks()
    except RuntimeError:
        pass
    assert relay._sent_unmarked == ["E-0", "E-1", "E-2"]
    relay._mark = real_mark  # type: ignore[method-assign]
    await relay.flush_marks()
    assert relay._sent_unmarked == [] and _states(relay) == {"published": 3}
