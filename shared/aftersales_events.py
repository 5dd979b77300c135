"""The aftersales service's events (topic aftersales.cases): returns, exchanges, refunds.

Part of the one published contract (shared/events.py re-exports them); the same rules hold:
changes are additive, a breaking change is a new model under the next version."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contract_types import EntityId, LineQuantity, Sku
from shared.envelope import Contract, UtcDatetime
from shared.event_parts import KnownRegion, OrderLine, ShortText
from shared.limits import MAX_LINES_PER_ORDER
from shared.money import Amount


class ReturnLine(Contract):
    sku: Sku
    quantity: LineQuantity
    gift: bool = False


ReturnLines = Annotated[list[ReturnLine], Field(max_length=MAX_LINES_PER_ORDER)]


class ReturnRequested(Contract):
    case_id: EntityId
    order_id: EntityId
    kind: Literal["return", "exchange"]
    lines: ReturnLines
    reason: ShortText = ""  # type: ignore[valid-type]
    requested_at: UtcDatetime


class ReturnRejected(Contract):
    case_id: EntityId
    order_id: EntityId
    reason: ShortText  # type: ignore[valid-type]
    rejected_at: UtcDatetime


class ReturnApproved(Contract):
    """A support agent approved the request; the customer may send the goods back."""

    case_id: EntityId
    order_id: EntityId
    kind: Literal["return", "exchange", "shipment_exception"] = "return"
    approved_at: UtcDatetime


class ReturnArrived(Contract):
    """The returned goods reached the warehouse; inspection follows (`return.received` carries its result)."""

    case_id: EntityId
    order_id: EntityId
    lines: ReturnLines
    arrived_at: UtcDatetime


class ReturnReceived(Contract):
    """Goods are back and inspected; inventory restocks only when inspection passed (R23)."""

    case_id: EntityId
    order_id: EntityId
    lines: ReturnLines
    inspection_passed: bool
    received_at: UtcDatetime


class RefundIssued(Contract):
    case_id: EntityId
    order_id: EntityId
    amount: Amount = Field(description="Never more than what was paid for the order, all refunds together.")
    issued_at: UtcDatetime


class ExchangeRequested(Contract):
    """Asks logistics for a replacement shipment of the same lines."""

    case_id: EntityId
    order_id: EntityId
    lines: list[OrderLine] = Field(max_length=MAX_LINES_PER_ORDER)
    region: KnownRegion  # type: ignore[valid-type]
    requested_at: UtcDatetime
