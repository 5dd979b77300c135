"""The unit of work every use case runs in, whether an HTTP request or a Kafka event started it.

A use case takes one `UnitOfWork` and one message and reads load -> decide -> save -> publish:

    def cancel_order(uow: UnitOfWork, request: OrderCancellationRequested) -> str:
        order = store.lock_order(uow.session, request.order_id)      # load
        decision = domain.cancel(order, uow.now)                     # decide
        store.save_cancellation(uow.session, decision)               # save
        uow.publish(OrderCancelled(...), key=request.order_id)       # publish

What it carries:
- `session`: the one database transaction; the caller commits it (HTTP: `ServiceRuntime.
  unit_of_work`; Kafka: the consumer, with the inbox row and the batch's other events).
- `now`: the service clock's time, read once for the unit (a simulated clock in tests).
- `actor`: who caused the change (the HTTP caller and roles, or the topic and claimed source of
  an event), for audit trails.
- `publish(payload, key=...)`: adds the event to the outbox in the same transaction; its topic
  and CloudEvents type follow from the payload's class (shared/event_registry.py).
- `batch`: what the first pass of a consumer batch read at once for all of its events
  (`Prefetch`); empty for HTTP, for one-by-one events and in a batch's savepoint pass, so a use
  case always has its own single-row read to fall back on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlmodel import Session

from shared.clock import Clock
from shared.envelope import CloudEvent, Contract
from shared.event_registry import publication_of

if TYPE_CHECKING:
    from shared.messaging.outbox import Outbox

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Actor:
    """Who caused a change. `channel` is how it came in: `http` (name: the token's subject,
    roles: its roles), `kafka` (name: the topic, whose ACLs say who may write it; source: what
    the sender claims, kept apart), or a start-up load (`catalog`, name: the file)."""

    channel: str
    name: str
    roles: tuple[str, ...] = ()
    source: str | None = None
    event_id: str | None = None

    def __str__(self) -> str:
        if self.channel == "http":
            return f"http:{self.name}({','.join(self.roles)})"
        if self.channel == "kafka":
            return f"kafka:{self.name}" + (f"(source={self.source})" if self.source is not None else "")
        return f"{self.channel}:{self.name}"


SYSTEM = Actor("system", "service")
"""The service itself (timers, start-up work nobody asked for)."""


@dataclass(frozen=True, eq=False)
class Prefetch(Generic[K, V]):
    """A read that a consumer batch makes once for all its events (one statement instead of one
    per event; on PostgreSQL each is a round trip): `load(session, payloads)` returns a dict the
    use case looks its key up in, and keeps up to date as the batch's events change what it
    read. A use case must still work when the dict is absent (`UnitOfWork.batch.read` -> None)."""

    name: str
    load: Callable[[Session, Sequence[Any]], dict[K, V]]


class BatchScope:
    """The reads a batch's first pass made for its events, by `Prefetch`."""

    __slots__ = ("_reads",)

    def __init__(self) -> None:
        self._reads: dict[Prefetch[Any, Any], dict[Any, Any]] = {}

    def load(self, prefetch: Prefetch[K, V], session: Session, payloads: Sequence[Any]) -> None:
        self._reads[prefetch] = prefetch.load(session, payloads)

    def read(self, prefetch: Prefetch[K, V]) -> dict[K, V] | None:
        """The batch's read, or None when there is none (HTTP, one-by-one, savepoint pass)."""
        return self._reads.get(prefetch)

    def forget(self, prefetch: Prefetch[K, V]) -> None:
        """Drop a read that a change made out of date (e.g. a withdrawal the read predates)."""
        self._reads.pop(prefetch, None)


class UnitOfWork:
    """One transaction's view, for one message (see the module's docstring)."""

    __slots__ = ("session", "clock", "batch", "event", "dead_letter_reason", "_outbox", "_actor", "_topic", "_now")

    def __init__(self, session: Session, outbox: Outbox, clock: Clock, *, actor: Actor | None = None,
                 event: CloudEvent | None = None, topic: str | None = None, batch: BatchScope | None = None) -> None:
        self.session = session
        self.clock = clock
        self.batch = batch if batch is not None else BatchScope()
        self.event = event
        """The event being handled (Kafka), else None."""
        self.dead_letter_reason: str | None = None
        self._outbox = outbox
        self._actor = actor
        self._topic = topic
        self._now: datetime | None = None

    @property
    def now(self) -> datetime:
        if self._now is None:
            self._now = self.clock.now()
        return self._now

    @property
    def actor(self) -> Actor:
        # Built on first use: most events' use cases never ask (the ledger and the audit do).
        if self._actor is None:
            event = self.event
            # The topic as the platform names it, without this deployment's prefix.
            topic = (self._topic or "?").removeprefix(self._outbox.topic_prefix if self._outbox else "")
            self._actor = Actor("kafka", topic, source=event.source if event else None,
                                event_id=event.id if event else None)
        return self._actor

    @property
    def outbox(self) -> Outbox:
        """For what is not an event of the registry (a dead letter's raw copy); use `publish`."""
        return self._outbox

    def publish(self, payload: Contract, *, key: str, subject: str | None = None) -> str:
        """Add the event to the outbox of this transaction; returns its id. The topic and type
        are the payload class's (shared/event_registry.py)."""
        publication = publication_of(payload)
        return self._outbox.publish(self.session, publication.topic, publication.type, payload, key=key,
                                    subject=subject)

    def dead_letter(self, reason: str) -> None:
        """Commit this unit's changes and also keep the original message on the dead-letter
        topic (e.g. an order rejected by validation: `order.rejected` is published, and the bad
        original is kept). Kafka only."""
        self.dead_letter_reason = reason


@dataclass(frozen=True)
class EventHandler:
    """A use case subscribed to an event type, with the batch read it benefits from."""

    handle: Callable[[UnitOfWork, Any], Any]
    prefetch: Prefetch[Any, Any] | None = None
    name: str = field(default="")

    def __call__(self, uow: UnitOfWork, payload: Any) -> Any:
        return self.handle(uow, payload)
