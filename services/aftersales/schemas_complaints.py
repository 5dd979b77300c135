"""The HTTP contract of complaints (R27): request bodies and answers. Times are ISO-8601 UTC;
the deadlines and overdue flags are the service's, by its clock."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.aftersales.complaints import MAX_NOTE, MAX_SUBJECT, MAX_TEXT
from services.aftersales.schemas import Body, Instant
from shared.contract_types import EntityId


class ComplaintRequest(Body):
    order_id: EntityId
    customer_id: EntityId | None = Field(default=None, description="Optional: the order's customer is taken when "
                                                                   "left out; another customer is a 422.")
    channel: Literal["private", "public"] = Field(description="`public`: a post other customers read, handled first.")
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="The customer's words.")


class ComplaintResponse(Body):
    response: str = Field(min_length=1, max_length=MAX_NOTE, description="What the customer was told.")


class ComplaintResolution(Body):
    resolution: str = Field(min_length=1, max_length=MAX_NOTE, description="What was done about it.")


class ComplaintOut(BaseModel):
    complaint_id: str
    order_id: str
    customer_id: str
    channel: str = Field(description="`private` or `public`")
    subject: str
    text: str
    status: str = Field(description="`open` (waiting for the first response), `responded`, `resolved`")
    opened_at: Instant
    opened_by: str
    first_response_due: Instant = Field(description="1 hour after opening")
    resolution_due: Instant = Field(description="24 hours after opening")
    next_due: Instant = Field(description="The first response's deadline until responded, then the resolution's")
    first_response_overdue: bool = Field(description="No response and the service clock is past its due time")
    resolution_overdue: bool = Field(description="Not resolved and the service clock is past its due time")
    first_response_in_time: bool | None = Field(description="None until responded")
    resolved_in_time: bool | None = Field(description="None until resolved")
    responded_at: Instant | None
    response: str
    responded_by: str
    resolved_at: Instant | None
    resolution: str
    resolved_by: str
    now: Instant = Field(description="The service clock the flags were computed by")


class ComplaintList(BaseModel):
    complaints: list[ComplaintOut] = Field(description="Public first, then by the nearest deadline")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


ComplaintState = Literal["open", "closed", "all"]
