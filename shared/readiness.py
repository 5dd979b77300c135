"""Readiness and "broker connected" as two signals (R25: a degraded mode a deployment can reach).

An instance is *ready* (`/readyz` 200, the probe Kubernetes and docker-compose use) while its
database answers: that is where every service takes its work. A broker outage makes it
*degraded*, not unready: `/readyz` stays 200 and its body names the broker as down, since when,
and how many events wait in the outbox; `/brokerz` (and the `peak_broker_connected` gauge) answer for
the broker alone. Had readiness followed the broker, Kubernetes would take every instance out of
its Service exactly when the outbox should be holding the orders.

Why each service stays ready without the broker (its work lands in its own database, the events
it decides wait in the outbox, its consumers resume from their committed offsets once the broker
is back), in DEGRADED_WORK; docs/operations.md says the same.

The broker state `/readyz` reports is the one a background watch last saw: a readiness probe
must not wait on an unreachable broker (a ping takes its whole timeout then, longer than the
probe's), so only `/brokerz` pings while answering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from shared.periodic import BackgroundTask

log = logging.getLogger(__name__)

DEGRADED_WORK = {
    "orders": "POST /orders and the other order routes: accepted into the database, their events "
              "(order.placed, ...) wait in the outbox and are published once the broker is back",
    "inventory": "stock and catalogue reads and changes over HTTP; reservations for orders resume "
                 "from the consumers' committed offsets once the broker is back",
    "logistics": "queue, shipment and SLA reads and dispatch changes over HTTP; new shipments "
                 "resume from the consumers' committed offsets once the broker is back",
    "aftersales": "case reads and changes over HTTP; purchases and shipments resume from the "
                  "consumers' committed offsets once the broker is back",
}
"""What each service still does while the broker is away (the reason it stays ready)."""


def _now() -> datetime:
    # Operations time is wall time, even when the service's business clock is simulated.
    return datetime.now(UTC)


class BrokerSignal:
    """Whether the broker answered when last asked, and since when it has not.

    Down from start-up until the first answer (`down_since` = the start), so a broker that was
    never reached is reported like one that went away."""

    def __init__(self, now: datetime | None = None) -> None:
        self.connected = False
        self.down_since: datetime | None = now or _now()
        self.checked_at: datetime | None = None

    def observe(self, answered: bool, now: datetime | None = None) -> None:
        now = now or _now()
        self.checked_at = now
        if answered:
            if not self.connected and self.down_since is not None:
                log.info("broker answering again (down since %s)", self.down_since.isoformat())
            self.connected, self.down_since = True, None
        elif self.connected or self.down_since is None:
            log.warning("broker not answering: degraded mode (still ready, events wait in the outbox)")
            self.connected, self.down_since = False, now

    def down_for_s(self, now: datetime | None = None) -> float:
        if self.down_since is None:
            return 0.0
        return max(0.0, ((now or _now()) - self.down_since).total_seconds())


def readiness_answer(service: str, *, database: bool, broker: BrokerSignal, relay: bool,
                     outbox_backlog: int | None) -> dict[str, Any]:
    """The `/readyz` (and `/brokerz`) body. `ready` follows the database alone."""
    down = [name for name, ok in (("database", database), ("broker", broker.connected)) if not ok]
    return {
        "ready": database,
        "database": database,
        "broker": broker.connected,
        "relay": relay,
        "degraded": database and not broker.connected,
        "down": down,
        "broker_down_since": broker.down_since.isoformat() if broker.down_since else None,
        "broker_checked_at": broker.checked_at.isoformat() if broker.checked_at else None,
        "outbox_backlog": outbox_backlog,
        "while_broker_down": DEGRADED_WORK.get(service, "HTTP reads; consumers resume once the broker is back"),
    }


class BrokerWatch(BackgroundTask):
    """Asks the broker every `interval_s` and records the answer in `signal`, so `/readyz` and
    the `peak_broker_connected` gauge know the broker's state without waiting on it."""

    name = "broker-watch"

    def __init__(self, signal: BrokerSignal, ping: Callable[[], Awaitable[bool]], interval_s: float = 2.0) -> None:
        self.signal = signal
        self._ping = ping
        self.interval_s = interval_s

    async def check(self) -> bool:
        try:
            answered = bool(await self._ping())
        except asyncio.CancelledError:
            raise
        except Exception:
            answered = False
        self.signal.observe(answered)
        return answered

    async def _run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.interval_s)
