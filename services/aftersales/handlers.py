"""Kafka subscriptions of the aftersales service: thin, each calls one use case in casework."""

from __future__ import annotations

import logging

from services.aftersales import casework
from shared.events import OrderAccepted, ShipmentDelivered, ShipmentException
from shared.messaging import HandlerContext, InvalidEvent
from shared.topics import AFTERSALES_CASES

log = logging.getLogger(__name__)


def publisher(ctx: HandlerContext) -> casework.Publish:
    return lambda type_, payload, key: ctx.publish(payload, key=key)


def on_order_accepted(ctx: HandlerContext, accepted: OrderAccepted) -> None:
    try:
        casework.record_order_accepted(ctx.session, accepted)
    except ValueError as exc:
        raise InvalidEvent(f"order {accepted.order_id}: {exc}") from exc


def on_shipment_delivered(ctx: HandlerContext, delivered: ShipmentDelivered) -> None:
    casework.record_delivery(ctx.session, delivered)


def on_shipment_exception(ctx: HandlerContext, exception: ShipmentException) -> None:
    case = casework.open_exception_case(ctx.session, exception, ctx.clock.now())
    if case is not None:
        log.info("opened %s for order %s: shipment %s %s", case.case_id, exception.order_id,
                 exception.shipment_id, exception.kind)
