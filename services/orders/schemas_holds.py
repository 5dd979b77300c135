"""The HTTP contract of holds and the abuse rules (R6): what support and admin send and read."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.orders.abuse import AbuseRules
from services.orders.schemas import HoldInfo, Moment
from shared.events import ShortText
from shared.money import Money


class ReleaseRequest(BaseModel):
    note: ShortText = Field(default="", description="Why it may go on; carried by order.released.")  # type: ignore[valid-type]


class ReleaseAnswer(BaseModel):
    order_id: str
    status: str = Field(description="The order's state now: `accepted` once released")
    already_released: bool = Field(description="True when an earlier call released it (nothing was published again)")


class HoldItem(HoldInfo):
    id: int
    order_id: str
    customer_id: str
    status: str = Field(description="`held` or `needs_attention`")
    priority_class: str
    paid_amount: Money


class HoldPage(BaseModel):
    items: list[HoldItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class RulesAnswer(BaseModel):
    rules: AbuseRules
    version: int = Field(description="Grows with every change")
    source: str = Field(description="`file:<name>` (loaded at start-up) or `PUT /abuse-rules by <who>`")
    updated_at: Moment
