"""What several use cases need of their unit of work."""

from __future__ import annotations

from shared.event_registry import publication_of
from shared.events import Contract
from shared.unit_of_work import UnitOfWork

from services.orders.origin import Origin, origin_of


def origin(uow: UnitOfWork) -> Origin:
    """Who acts in this unit of work, for the timeline (origin.py)."""
    return origin_of(uow.actor, uow.outbox.topic_prefix)


def type_of(payload: Contract) -> str:
    """The event type a payload is registered as (shared/event_registry.py)."""
    return publication_of(payload).type
