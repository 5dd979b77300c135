"""What the aftersales service consumes: topic -> event type -> use case."""

from __future__ import annotations

from services.aftersales import usecases
from shared.events import OrderAccepted, OrderBalanceReceived
from shared.messaging import Handler, InvalidEvent
from shared.topics import LOGISTICS_SHIPMENTS, ORDERS_EVENTS, TopicSpec
from shared.unit_of_work import UnitOfWork


def on_order_accepted(uow: UnitOfWork, accepted: OrderAccepted) -> None:
    try:
        usecases.record_order_accepted(uow, accepted)
    except ValueError as exc:  # amounts that cannot be split: dead-lettered with the reason
        raise InvalidEvent(f"order {accepted.order_id}: {exc}") from exc


def on_balance_received(uow: UnitOfWork, balance: OrderBalanceReceived) -> str:
    try:
        return usecases.record_balance_received(uow, balance)
    except ValueError as exc:  # a balance that does not fit the order: dead-lettered with the reason
        raise InvalidEvent(str(exc)) from exc


SUBSCRIPTIONS: list[tuple[TopicSpec, dict[str, Handler]]] = [
    (ORDERS_EVENTS, {"order.accepted": on_order_accepted, "order.balance_received": on_balance_received}),
    (LOGISTICS_SHIPMENTS, {"shipment.delivered": usecases.record_delivery,
                           "shipment.exception": usecases.open_exception_case}),
]
