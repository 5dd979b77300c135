"""The HTTP contract of the aftersales service: request bodies and answers (as the returns desk in
console/ and the simulator read them; fields are only ever added). Money is a decimal string
("6.66"), times are ISO-8601 with their UTC offset ("2026-11-14T09:30:00+00:00")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from shared.contract_types import EntityId, Sku
from shared.envelope import to_utc
from shared.events import ShortText
from shared.money import Money

Instant = Annotated[AwareDatetime, AfterValidator(to_utc),
                    PlainSerializer(datetime.isoformat, return_type=str, when_used="json")]
"""A UTC time written as `isoformat()` writes it (`+00:00`, not pydantic's `Z`), as always."""

CaseKindName = Literal["return", "exchange", "shipment_exception"]
CaseStatusName = Literal["requested", "approved", "received", "inspected", "refunded", "exchanged", "rejected"]


# ---------------------------------------------------------------------------------------------
# Requests


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestedLine(Body):
    sku: Sku
    quantity: int = Field(gt=0, le=10_000)


class ReturnRequest(Body):
    order_id: EntityId
    kind: Literal["return", "exchange"] = "return"
    lines: list[RequestedLine] = Field(min_length=1, max_length=100)
    # The contract's own text type: what return.requested would refuse is a 422 here, not a 500.
    reason: ShortText = Field(default="", description="Optional: returns need no reason (R19).")  # type: ignore[valid-type]
    dispute: bool = Field(default=False, description="Open the case as a dispute (R22): handled first.")


class StepNote(Body):
    note: str = Field(default="", max_length=500)


class Inspection(Body):
    passed: bool
    note: str = Field(default="", max_length=500)


class Rejection(Body):
    reason: ShortText = Field(min_length=1)  # type: ignore[valid-type]


# ---------------------------------------------------------------------------------------------
# Answers


class CaseLineOut(BaseModel):
    sku: str
    quantity: int
    gift: bool
    added_by_gift_rule: bool


class TimelineStep(BaseModel):
    status: str = Field(description="A case status, or `disputed`")
    at: Instant
    note: str


class CaseSummary(BaseModel):
    """A case as the queue lists it."""

    case_id: str
    order_id: str
    kind: CaseKindName
    status: CaseStatusName
    dispute: bool
    reason: str
    opened_at: Instant
    deadline_at: Instant = Field(description="Opened + 48 hours (R21)")
    handled_at: Instant | None = Field(description="The first decision: approved, refunded, exchanged or rejected")
    closed_at: Instant | None
    overdue: bool = Field(description="Not handled and past its deadline")
    inspection_passed: bool | None
    refund_amount: Money | None
    shipment_id: str | None
    exception_kind: Literal["delayed", "damaged", "lost"] | None
    lines: list[CaseLineOut]


class CaseDetail(CaseSummary):
    """A case with its timeline; the answer of every step."""

    timeline: list[TimelineStep]
    refund_preview: Money | None = Field(
        default=None, description="What refunding the case would give now (open return cases; else null)")


class CaseList(BaseModel):
    cases: list[CaseSummary] = Field(description="Disputes first, then shipment exceptions, then the rest; "
                                                 "nearest deadline first within each (R22)")
    next_cursor: str | None = Field(description="The `cursor` of the next page; null on the last page")


class CaseSla(BaseModel):
    target_hours: int
    at_risk_hours: float
    cases: int
    handled: int
    handled_within_48h: int
    overdue_unhandled: int
    share_handled_within_48h: str | None = Field(
        description="Decimal string, 4 places: handled in time / (handled + unhandled past deadline); "
                    "null while none is judged")
    at_risk: list[CaseSummary] = Field(description="Unhandled cases due within `at_risk_hours` or overdue, "
                                                   "in queue order")


class ReturnableLine(BaseModel):
    sku: str
    gift: bool
    gift_for_sku: str | None
    quantity: int
    unit_price: Money
    paid: Money = Field(description="Paid for the whole line after order discounts")
    refunded: int
    in_open_cases: int
    returnable: int
    refund_if_all_returned: Money | None = Field(description="null for gifts and lines with nothing returnable")


class PreviewLine(BaseModel):
    sku: str
    quantity: int
    gift: bool
    added_by_gift_rule: bool


class RefundPreview(BaseModel):
    lines: list[PreviewLine]
    amount: Money


class Returnable(BaseModel):
    order_id: str
    delivered_at: Instant
    window_closes_at: Instant
    window_open: bool
    gift_policy: Literal["return_with_item", "deduct_value"]
    paid_amount: Money
    deposit: Money | None = Field(default=None, description="A deposit presale's deposit: `paid_amount` is it "
                                                            "alone until its balance is received")
    balance_amount: Money | None = Field(default=None, description="A deposit presale's balance, once received "
                                                                   "(then `paid_amount` is deposit + balance)")
    refunded_so_far: Money
    lines: list[ReturnableLine]
    refund_preview: RefundPreview | None = Field(
        default=None, description="The return of `?lines=` (default: every returnable paid unit), gift rule "
                                  "applied; null when nothing is returnable")
