"""shared/readiness.py: readiness follows the database; the broker is its own signal, with the
moment it stopped answering."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from shared.readiness import DEGRADED_WORK, BrokerSignal, BrokerWatch, readiness_answer

T0 = datetime(2026, 11, 11, tzinfo=UTC)


def test_a_broker_never_reached_is_down_since_start_up() -> None:
    signal = BrokerSignal(T0)
    assert not signal.connected and signal.down_since == T0 and signal.checked_at is None
    signal.observe(False, T0 + timedelta(seconds=5))
    assert signal.down_since == T0  # still the start, not the latest check
    assert signal.checked_at == T0 + timedelta(seconds=5)
    assert signal.down_for_s(T0 + timedelta(seconds=9)) == 9.0


def test_down_since_is_the_first_unanswered_check_after_an_answer() -> None:
    signal = BrokerSignal(T0)
    signal.observe(True, T0 + timedelta(seconds=1))
    assert signal.connected and signal.down_since is None
    assert signal.down_for_s(T0 + timedelta(seconds=100)) == 0.0
    signal.observe(False, T0 + timedelta(seconds=10))
    signal.observe(False, T0 + timedelta(seconds=12))
    assert not signal.connected and signal.down_since == T0 + timedelta(seconds=10)
    assert signal.down_for_s(T0 + timedelta(seconds=12)) == 2.0
    assert signal.down_for_s(T0) == 0.0  # never negative
    signal.observe(True, T0 + timedelta(seconds=20))
    assert signal.connected and signal.down_since is None


def test_ready_with_the_database_whatever_the_broker_says() -> None:
    down = BrokerSignal(T0)
    degraded = readiness_answer("orders", database=True, broker=down, relay=False, outbox_backlog=31)
    assert degraded["ready"] is True and degraded["degraded"] is True
    assert degraded["database"] is True and degraded["broker"] is False
    assert degraded["down"] == ["broker"]
    assert degraded["broker_down_since"] == T0.isoformat()
    assert degraded["outbox_backlog"] == 31
    assert "outbox" in degraded["while_broker_down"]

    up = BrokerSignal(T0)
    up.observe(True, T0)
    healthy = readiness_answer("orders", database=True, broker=up, relay=True, outbox_backlog=0)
    assert healthy["ready"] is True and healthy["degraded"] is False and healthy["down"] == []
    assert healthy["broker_down_since"] is None and healthy["broker_checked_at"] == T0.isoformat()

    no_database = readiness_answer("orders", database=False, broker=up, relay=True, outbox_backlog=None)
    assert no_database["ready"] is False and no_database["degraded"] is False
    assert no_database["down"] == ["database"]
    both = readiness_answer("orders", database=False, broker=down, relay=False, outbox_backlog=None)
    assert both["ready"] is False and both["down"] == ["database", "broker"]


def test_every_service_says_what_it_does_without_the_broker() -> None:
    assert set(DEGRADED_WORK) == {"orders", "inventory", "logistics", "aftersales"}
    assert "POST /orders" in DEGRADED_WORK["orders"]
    other = readiness_answer("console", database=True, broker=BrokerSignal(T0), relay=False, outbox_backlog=0)
    assert other["while_broker_down"]


def test_the_watch_records_a_failing_or_raising_ping_as_down() -> None:
    answers = iter([True, False, RuntimeError("no route"), True])

    async def ping() -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    signal = BrokerSignal(T0)
    watch = BrokerWatch(signal, ping, interval_s=0.01)

    async def run() -> list[tuple[bool, bool]]:
        seen = []
        for _ in range(4):
            seen.append((await watch.check(), signal.connected))
        return seen

    assert asyncio.run(run()) == [(True, True), (False, False), (False, False), (True, True)]


def test_the_watch_loops_until_stopped() -> None:
    calls = []

    async def ping() -> bool:
        calls.append(1)
        return True

    signal = BrokerSignal(T0)
    watch = BrokerWatch(signal, ping, interval_s=0.01)

    async def run() -> None:
        watch.start()
        await asyncio.sleep(0.1)
        await watch.stop()

    asyncio.run(run())
    assert len(calls) >= 2 and signal.connected
