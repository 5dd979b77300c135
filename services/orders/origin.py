"""Who caused a change, for the audit trail (R3, R28), and how much of that can be believed.

- Over HTTP the caller is the signed token's subject and roles: `http:checkout(platform)`.
- Over Kafka only the topic is known for sure; the envelope's `source` is whatever the sender
  wrote, so it is shown as a claim: `kafka:platform.orders (source: checkout)`. A sender that
  writes `source: "http:checkout(platform)"` gets `kafka:platform.orders (source:
  http:checkout(platform))`: never an actor of its own choosing.
- An order placed over HTTP travels POST /orders -> outbox -> platform.orders -> this service's
  consumer. The route records the event it wrote (`order_submission`: event id, order id, a hash
  of the content, the caller), and the consumer names the HTTP caller only for an event whose id,
  order id and content match such a row. Nothing in the event itself is trusted for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.unit_of_work import Actor, UnitOfWork


@dataclass(slots=True)
class Origin:
    """Where a request came from, for the timeline and the conflict log. Never changed once made
    (not frozen only because one is made per event, and a frozen dataclass pays a call per field)."""

    channel: str  # kafka | http | parked
    event_id: str | None = None
    source: str | None = None  # the event's claimed source, or the signed-in caller over HTTP
    topic: str | None = None
    recorded_actor: str | None = None  # an actor this service recorded itself (submission, parked event)

    @property
    def actor(self) -> str:
        """Who made the change, e.g. `http:checkout(platform)`, `kafka:inventory.reservations (source: inventory)`."""
        if self.recorded_actor:
            return self.recorded_actor
        if self.channel == "kafka":
            return f"kafka:{self.topic or 'unknown topic'} (source: {_claimed(self.source)})"
        return f"{self.channel}:{self.source or 'unknown'}"

    def submitted_over_http(self, actor: str) -> Origin:
        """This event is an order this service wrote for an HTTP caller: the caller is the actor."""
        return Origin(channel="http", event_id=self.event_id, source=self.source, topic=self.topic,
                      recorded_actor=actor)


def origin_of(uow: UnitOfWork) -> Origin:
    """Who acts in a unit of work. A Kafka actor names the topic as consumed: the deployment's
    topic prefix is not part of the name the audit trail shows."""
    actor = uow.actor
    if actor.channel == "kafka":
        prefix = uow.outbox.topic_prefix
        return Origin(channel="kafka", event_id=actor.event_id, source=actor.source,
                      topic=actor.name[len(prefix):] if actor.name.startswith(prefix) else actor.name)
    if actor.channel == "http":
        return Origin(channel="http", source=http_caller(actor))
    return Origin(channel=actor.channel, source=actor.name)


def http_caller(actor: Actor) -> str:
    """`subject(role,...)` as shared.auth names a signed-in caller; `anonymous` without a token."""
    if actor.name == "anonymous" and not actor.roles:
        return "anonymous"
    return f"{actor.name}({','.join(actor.roles)})"


def _claimed(source: str | None) -> str:
    if not source:
        return "none given"
    # Shown as the sender wrote it, with anything invisible escaped (repr does that).
    return source if source.isprintable() else repr(source)[1:-1]


def content_hash(content_json: str) -> str:
    return hashlib.sha256(content_json.encode()).hexdigest()
