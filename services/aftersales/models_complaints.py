"""The complaints table (complaints.py has the rules). Its own module so the case tables stay as
they were; models.py lists it in TABLES."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel


def _text() -> Column:
    return Column(Text, nullable=False, server_default="")


class AftersalesComplaint(SQLModel, table=True):
    __tablename__ = "aftersales_complaint"
    # The desk's order (complaints.desk_position): public first, the nearest deadline, the oldest.
    __table_args__ = (Index("ix_aftersales_complaint_desk", "tier", "next_due_at", "opened_at", "complaint_id"),)

    complaint_id: str = Field(primary_key=True)
    order_id: str = Field(index=True)
    customer_id: str = Field(index=True)
    channel: str  # private | public
    tier: int  # 0 public, 1 private (complaints.channel_tier), so SQL sorts as the rules do
    subject: str
    text: str = Field(sa_column=_text())
    opened_at: datetime
    opened_by: str = ""
    # first_response_due until responded, then resolution_due: the deadline the desk sorts by
    next_due_at: datetime
    responded_at: datetime | None = None
    response: str = Field(default="", sa_column=_text())
    responded_by: str = ""
    resolved_at: datetime | None = Field(default=None, index=True)
    resolution: str = Field(default="", sa_column=_text())
    resolved_by: str = ""
