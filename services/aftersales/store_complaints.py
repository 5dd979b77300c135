"""Every statement about complaints, by name (store.py's rules: Core statements, rows in, domain
values out, so a complaint changed by an UPDATE is never handed back stale)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, insert, literal, select, tuple_, update
from sqlmodel import Session

from services.aftersales.complaints import Channel, Complaint, channel_tier
from services.aftersales.models_complaints import AftersalesComplaint

COMPLAINTS = AftersalesComplaint.__table__
DESK_ORDER = (COMPLAINTS.c.tier, COMPLAINTS.c.next_due_at, COMPLAINTS.c.opened_at, COMPLAINTS.c.complaint_id)
"""complaints.desk_position in SQL: the desk's order and its page key."""


def _complaint(row: Any) -> Complaint:
    return Complaint(
        complaint_id=row.complaint_id, order_id=row.order_id, customer_id=row.customer_id,
        channel=Channel(row.channel), subject=row.subject, text=row.text, opened_at=row.opened_at,
        opened_by=row.opened_by, responded_at=row.responded_at, response=row.response,
        responded_by=row.responded_by, resolved_at=row.resolved_at, resolution=row.resolution,
        resolved_by=row.resolved_by)


def _row(complaint: Complaint) -> dict[str, Any]:
    return dict(
        complaint_id=complaint.complaint_id, order_id=complaint.order_id, customer_id=complaint.customer_id,
        channel=complaint.channel.value, tier=channel_tier(complaint.channel), subject=complaint.subject,
        text=complaint.text, opened_at=complaint.opened_at, opened_by=complaint.opened_by,
        next_due_at=complaint.next_due, responded_at=complaint.responded_at, response=complaint.response,
        responded_by=complaint.responded_by, resolved_at=complaint.resolved_at, resolution=complaint.resolution,
        resolved_by=complaint.resolved_by)


def get_complaint(session: Session, complaint_id: str, *, for_update: bool = False) -> Complaint | None:
    query = select(COMPLAINTS).where(COMPLAINTS.c.complaint_id == complaint_id)
    if for_update:
        query = query.with_for_update()  # PostgreSQL: one step at a time per complaint
    row = session.execute(query).first()
    return None if row is None else _complaint(row)


def add_complaint(session: Session, complaint: Complaint) -> None:
    session.execute(insert(COMPLAINTS).values(**_row(complaint)))


def save_complaint(session: Session, complaint: Complaint) -> None:
    values = _row(complaint)
    del values["complaint_id"]
    session.execute(update(COMPLAINTS).where(COMPLAINTS.c.complaint_id == complaint.complaint_id).values(**values))


def desk_page(session: Session, *, state: str, order_id: str | None, customer_id: str | None,
              after: tuple[int, datetime, datetime, str] | None, fetch: int) -> list[Complaint]:
    """Up to `fetch` complaints in desk order after the key `after`; `state`: open | closed | all."""
    query = select(COMPLAINTS).order_by(*DESK_ORDER).limit(fetch)
    if state == "open":
        query = query.where(COMPLAINTS.c.resolved_at.is_(None))
    elif state == "closed":
        query = query.where(COMPLAINTS.c.resolved_at.is_not(None))
    if order_id is not None:
        query = query.where(COMPLAINTS.c.order_id == order_id)
    if customer_id is not None:
        query = query.where(COMPLAINTS.c.customer_id == customer_id)
    if after is not None:
        tier, next_due_at, opened_at, complaint_id = after
        # Typed as their columns: a bare datetime would be bound without the column's UTC handling.
        query = query.where(tuple_(*DESK_ORDER) > tuple_(
            literal(tier, Integer()), literal(next_due_at, COMPLAINTS.c.next_due_at.type),
            literal(opened_at, COMPLAINTS.c.opened_at.type), literal(complaint_id, COMPLAINTS.c.complaint_id.type)))
    return [_complaint(row) for row in session.execute(query)]
