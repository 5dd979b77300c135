"""The HTTP contract of the orders service: what each route accepts and answers (POST /orders'
body is the `order.placed` payload itself, shared/events.py OrderPlaced). Amounts are decimal
strings with two places; times ISO 8601 with their UTC offset."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from shared.contract_types import EntityId
from shared.envelope import UtcDatetime
from shared.events import ShortText
from shared.money import Amount, Money

Moment = Annotated[
    AwareDatetime,
    PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "ISO 8601 with its UTC offset"}),
]
TimeText = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time",
                                          "description": "ISO 8601 with its offset, as the order carried it"})]


def aware(moment: datetime) -> datetime:
    # Every time stored here is UTC; a driver may hand one back naive.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class CancelRequest(BaseModel):
    reason: ShortText = ""  # type: ignore[valid-type]  # what order.cancelled carries


class OrderSubmitted(BaseModel):
    order_id: str
    status: str = Field(description="`submitted` (202: order.placed is on its way to platform.orders) or "
                                    "`already_accepted` (200: this order id was accepted with the same content)")
    event_id: str | None = Field(default=None, description="The order.placed event written, when submitted")


class CancelAnswer(BaseModel):
    order_id: str
    status: str = Field(description="`cancelled`")
    already_cancelled: bool


class OrderSummary(BaseModel):
    order_id: str
    status: str
    priority_class: str
    priority_rank: str = Field(description="Sorts as plain text in dispatch order (R2)")
    paid_amount: Money
    discount: Money
    currency: str
    paid_at: Moment
    accepted_at: Moment


class Step(BaseModel):
    status: str = Field(description="The state this event is evidence of, or the event's name for a note")
    outcome: str = Field(description="advanced | late | noted | refused")
    at: Moment = Field(description="When it happened, by the sender's account")
    recorded_at: Moment | None
    event_type: str | None
    event_id: str | None
    actor: str = Field(description="Who caused it: `http:<subject>(<roles>)` or `kafka:<topic> (source: <claimed>)`")
    note: str


class HoldInfo(BaseModel):
    """Why an order was held or needs attention, and what a person did about it."""

    kind: str = Field(description="`hold` (the abuse guard, R6) or `attention` (e.g. a sku the catalogue lacks)")
    rule: str = Field(description="purchase_limit | customer_orders | address_orders | address_customers | "
                                  "threshold_return | sku_unknown")
    reason: str = Field(description="In words, with the figures")
    figures: dict[str, str]
    since: Moment
    released_at: Moment | None = None
    released_by: str | None = None
    release_note: str = ""


class OrderView(OrderSummary):
    customer_id: str
    region: str
    order_type: str
    lines: list[dict[str, Any]] = Field(description="The lines as accepted (order.placed's `lines`)")
    deposit: Money | None
    balance_paid_at: TimeText | None
    promotions: list[dict[str, Any]]
    refunded_amount: Money = Field(description="All refunds issued on the order together (R23)")
    status_changed_at: Moment
    steps_reached: dict[str, Moment] = Field(description="State -> when the order first reached it")
    timeline: list[Step]
    presale: PresaleView | None = Field(default=None, description="A deposit presale's terms and balance")
    hold: HoldInfo | None = Field(default=None, description="Why it is (or was) held or needs attention (R6)")


class RejectedOrder(BaseModel):
    order_id: str
    status: str = Field(description="`rejected`")
    reason: str
    rejected_at: Moment
    event_id: str | None


class OrderPage(BaseModel):
    items: list[OrderSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class Figures(BaseModel):
    orders: int
    gmv: Money


class Stats(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    orders: int
    """Accepted orders, cancelled ones (and deposit presales closed `balance_unpaid`) excluded"""
    gmv: Money
    """GMV gross: what they paid, refunds not netted off"""
    gmv_net: Money
    """GMV net of refunds: `gmv` less `refunded`"""
    refunded: Money
    """What was refunded on them, all refunds together"""
    average_basket: Money
    by_class: dict[str, Figures]
    by_state: dict[str, Figures]
    cancelled: int
    rejected: int
    conflicts: int
    parked_events: int


class Conflict(BaseModel):
    id: int
    order_id: str
    channel: str = Field(description="kafka | http")
    event_id: str | None
    source: str | None
    differences: list[str]
    received_at: Moment
    content: dict[str, Any] = Field(description="The re-sent order, as sent")


class ConflictPage(BaseModel):
    items: list[Conflict]
    next_after_id: int | None = Field(description="Older paging: the `after_id` of the next page")
    next_cursor: str | None


class Rejection(BaseModel):
    id: int
    order_id: str | None
    reason: str
    event_id: str | None
    rejected_at: Moment


class RejectionPage(BaseModel):
    items: list[Rejection]
    next_after_id: int | None = Field(description="Older paging: the `after_id` of the next page")
    next_cursor: str | None


class BalancePayment(BaseModel):
    """POST /orders/{order_id}/balance: `order.balance_paid`'s fields; `order_id` may be left out
    (the path names the order) and must be the path's when given."""

    model_config = ConfigDict(extra="forbid")

    order_id: EntityId | None = None
    balance_amount: Amount = Field(examples=["259.00"])
    paid_at: UtcDatetime


class BalanceAnswer(BaseModel):
    order_id: str
    status: str = Field(description="`received` (order.balance_received published) or `already_received` (this "
                                    "same payment was received before: nothing done)")
    state: str = Field(description="The order's state after the balance: `accepted`, `backordered` or `reserved`")
    balance_amount: Money
    paid_amount: Money = Field(description="Deposit plus balance")
    balance_paid_at: Moment
    priority_rank: str = Field(description="The presale class, ranked by the balance time")


class PresaleView(BaseModel):
    """A deposit presale's terms, fixed when its deposit was accepted, and its balance."""

    deposit: Money
    expansion: Decimal
    deposit_value: Money = Field(description="deposit x expansion: what the deposit takes off the price")
    price: Money = Field(description="Lines less discount")
    balance_due: Money = Field(description="What the balance must be, to the cent")
    balance_due_by: Moment
    closes_at: Moment = Field(description="balance_due_by plus the grace for payments in flight")
    balance_amount: Money | None
    balance_paid_at: Moment | None
    closed_at: Moment | None = Field(description="When it was closed `balance_unpaid`")


OrderView.model_rebuild()  # its `presale` part is defined after it
