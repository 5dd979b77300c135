"""Customer complaints and their response times (R27), with no I/O.

A complaint is opened by support (or the customer-facing platform) for one order. Its clocks run
from `opened_at`: the first response is due 1 hour later, the resolution 24 hours later. A time
is *due at* that instant and late only after it: at exactly 60:00 the first response is not yet
overdue; one microsecond later it is (as a case's 48-hour deadline in cases.py).

Public complaints (posted where other customers see them) are handled before private ones; within
each channel the complaint whose next deadline comes first is first.

A step is a function of the complaint as it is: it returns the complaint as it becomes, or raises
a `ComplaintRefused` saying why not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.aftersales.domain import Refusal

FIRST_RESPONSE_TIME = timedelta(hours=1)
"""R27: a customer hears back within one hour of complaining."""
RESOLUTION_TIME = timedelta(hours=24)
"""R27: a complaint is resolved within 24 hours."""

MAX_SUBJECT = 200
MAX_TEXT = 4000
MAX_NOTE = 2000
"""Characters: a subject line, the customer's words, an agent's response or resolution note."""


class Channel(StrEnum):
    PRIVATE = "private"  # a message to customer service
    PUBLIC = "public"  # a review or post other customers read: handled first


class ComplaintRefused(Refusal):
    """Kinds: unknown_complaint (404), unknown_order (404), customer_mismatch | invalid (422),
    closed | responded (409)."""


def channel_of(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise ComplaintRefused("invalid", f"channel must be `private` or `public`, not {value[:30]!r}") from None


def bounded(field: str, value: str, most: int, *, required: bool = True) -> str:
    """The text trimmed; refused when empty (if required) or longer than `most` characters."""
    text = value.strip()
    if required and not text:
        raise ComplaintRefused("invalid", f"{field} must not be empty")
    if len(text) > most:
        raise ComplaintRefused("invalid", f"{field} is {len(text)} characters; at most {most} are kept")
    return text


@dataclass(frozen=True)
class Complaint:
    complaint_id: str
    order_id: str
    customer_id: str
    channel: Channel
    subject: str
    text: str
    opened_at: datetime
    opened_by: str = ""
    responded_at: datetime | None = None
    response: str = ""
    responded_by: str = ""
    resolved_at: datetime | None = None
    resolution: str = ""
    resolved_by: str = ""

    @property
    def first_response_due(self) -> datetime:
        return self.opened_at + FIRST_RESPONSE_TIME

    @property
    def resolution_due(self) -> datetime:
        return self.opened_at + RESOLUTION_TIME

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def next_due(self) -> datetime:
        """What the desk works towards: the first response until there is one, then the resolution."""
        return self.first_response_due if self.responded_at is None else self.resolution_due

    def first_response_overdue(self, now: datetime) -> bool:
        """No response yet and its hour is over (not at the due instant itself)."""
        return self.responded_at is None and now > self.first_response_due

    def resolution_overdue(self, now: datetime) -> bool:
        return self.resolved_at is None and now > self.resolution_due

    @property
    def first_response_in_time(self) -> bool | None:
        """None until responded; a response at the due instant is in time."""
        return None if self.responded_at is None else self.responded_at <= self.first_response_due

    @property
    def resolved_in_time(self) -> bool | None:
        return None if self.resolved_at is None else self.resolved_at <= self.resolution_due


def open_complaint(*, complaint_id: str, order_id: str, customer_id: str, channel: str, subject: str, text: str,
                   now: datetime, by: str = "") -> Complaint:
    return Complaint(complaint_id=complaint_id, order_id=order_id, customer_id=customer_id,
                     channel=channel_of(channel), subject=bounded("subject", subject, MAX_SUBJECT),
                     text=bounded("text", text, MAX_TEXT), opened_at=now, opened_by=by)


def check_customer(order_customer: str | None, given: str | None) -> str:
    """The complaint's customer: the order's. One given that is not the order's is refused."""
    if order_customer is None:
        if not given:
            raise ComplaintRefused("invalid", "customer_id is needed: the order's customer is not known yet")
        return given
    if given and given != order_customer:
        raise ComplaintRefused("customer_mismatch", f"the order belongs to another customer than {given[:64]}")
    return order_customer


def respond(complaint: Complaint, response: str, now: datetime, by: str = "") -> Complaint:
    """The first response to the customer; later messages belong to the resolution."""
    if not complaint.is_open:
        raise ComplaintRefused("closed", f"complaint {complaint.complaint_id} is resolved already")
    if complaint.responded_at is not None:
        raise ComplaintRefused("responded", f"complaint {complaint.complaint_id} had its first response "
                                            f"at {complaint.responded_at.isoformat()}")
    return replace(complaint, responded_at=now, response=bounded("response", response, MAX_NOTE), responded_by=by)


def resolve(complaint: Complaint, resolution: str, now: datetime, by: str = "") -> Complaint:
    """Closes it with what was done; a resolution is also the first response when none was given."""
    if not complaint.is_open:
        raise ComplaintRefused("closed", f"complaint {complaint.complaint_id} was resolved at "
                                         f"{complaint.resolved_at.isoformat()}")  # type: ignore[union-attr]
    note = bounded("resolution", resolution, MAX_NOTE)
    first = {} if complaint.responded_at is not None else {"responded_at": now, "response": note, "responded_by": by}
    return replace(complaint, resolved_at=now, resolution=note, resolved_by=by, **first)  # type: ignore[arg-type]


def desk_position(complaint: Complaint) -> tuple[int, datetime, datetime, str]:
    """Where a complaint stands on the desk: public first, then the nearest deadline, then the
    oldest, then by id (store.py sorts the same in SQL)."""
    return (channel_tier(complaint.channel), complaint.next_due, complaint.opened_at, complaint.complaint_id)


def channel_tier(channel: Channel | str) -> int:
    return 0 if channel == Channel.PUBLIC else 1
