"""Kafka subscriptions of the logistics service: decode -> operation -> save + outbox.

Tolerant of order across topics: a cancellation may arrive before the reservation (kept as a
withdrawal), a carrier's delivery before the hand-over scan (kept until it is recorded).
Redelivered event ids never reach these functions (inbox); a different event asking for the
same shipment changes nothing (the shipment id is derived from the order or the case).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from services.logistics import operations
from services.logistics.models import Shipment
from shared.events import CarrierDelivery, ExchangeRequested, OrderCancelled, StockReserved
from shared.messaging import EventHandler, HandlerContext
from shared.unit_of_work import Prefetch

log = logging.getLogger(__name__)


def shipment_id_for_order(order_id: str) -> str:
    return f"SHP-{order_id}"


def shipment_id_for_exchange(order_id: str, case_id: str) -> str:
    return f"SHP-{order_id}-X-{case_id}"


def _publisher(ctx: HandlerContext) -> operations.Publish:
    return lambda spec, type_, payload, key: ctx.publish(payload, key=key)


def _load_outlooks_of_reserved_orders(session: Session, events: Sequence[StockReserved]) -> dict[str, Any]:
    return operations.load_shipment_outlooks(session, [(shipment_id_for_order(e.order_id), e.order_id) for e in events])


SHIPMENT_OUTLOOKS: Prefetch[str, Any] = Prefetch("logistics.shipment_outlooks", _load_outlooks_of_reserved_orders)
"""For a consumer batch of reserved orders: which of their shipments exist, which were withdrawn."""


def _open_shipment_for_reserved(ctx: HandlerContext, event: StockReserved) -> None:
    operations.open_shipment(
        ctx.session, shipment_id=shipment_id_for_order(event.order_id), order_id=event.order_id,
        order_type=event.order_type, priority_class=event.priority_class, priority_rank=event.priority_rank,
        lines=list(event.lines), region=event.region, paid_at=event.paid_at, now=ctx.clock.now(),
        batch_outlooks=ctx.batch.read(SHIPMENT_OUTLOOKS),
    )


on_stock_reserved = EventHandler(_open_shipment_for_reserved, prefetch=SHIPMENT_OUTLOOKS, name="on_stock_reserved")


def on_order_cancelled(ctx: HandlerContext, event: OrderCancelled) -> None:
    withdrawn = operations.withdraw_order(ctx.session, order_id=event.order_id, reason=event.reason,
                                          cancelled_at=event.cancelled_at or ctx.clock.now())
    if withdrawn:
        log.info("order %s cancelled: withdrew %s", event.order_id, ", ".join(withdrawn))


def on_exchange_requested(ctx: HandlerContext, event: ExchangeRequested) -> None:
    """A replacement ships like an order; its clock starts when the exchange was asked for.
    It keeps the original order's priority class when that order shipped from here."""
    original = ctx.session.get(Shipment, shipment_id_for_order(event.order_id))
    klass = original.priority_class if original is not None else "standard"
    rank = original.priority_rank if original is not None else f"9-{event.requested_at.isoformat()}-{event.case_id}"
    operations.open_shipment(
        ctx.session, shipment_id=shipment_id_for_exchange(event.order_id, event.case_id), order_id=event.order_id,
        order_type=original.order_type if original is not None else "standard", priority_class=klass,
        priority_rank=rank, lines=list(event.lines), region=event.region, paid_at=event.requested_at,
        now=ctx.clock.now(), replacement_for_case=event.case_id,
    )


def on_carrier_delivery(ctx: HandlerContext, event: CarrierDelivery) -> None:
    outcome = operations.carrier_delivered(ctx.session, carrier=event.carrier, tracking_number=event.tracking_number,
                                           delivered_at=event.delivered_at, publish=_publisher(ctx))
    log.debug("carrier.delivery %s %s: %s", event.carrier, event.tracking_number, outcome)
