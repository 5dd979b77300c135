"""Tables of the orders service."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, Numeric, Text
from sqlmodel import Field, SQLModel


class OrderRecord(SQLModel, table=True):
    __tablename__ = "order_record"

    order_id: str = Field(primary_key=True)
    customer_id: str
    order_type: str
    priority_class: str = Field(index=True)
    priority_rank: str = Field(index=True)
    status: str = Field(index=True)
    paid_amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    discount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str
    region: str
    paid_at: datetime
    accepted_at: datetime
    # The accepted order exactly as accepted (JSON); compared with re-sends to tell a harmless
    # duplicate from a tampering attempt (R3). Never updated.
    content_json: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str


class OrderStep(SQLModel, table=True):
    """The timeline: one row per lifecycle step or refused transition."""

    __tablename__ = "order_step"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    status: str
    at: datetime
    event_id: str | None = None
    note: str = ""


TABLES = [OrderRecord.__table__, OrderStep.__table__]
