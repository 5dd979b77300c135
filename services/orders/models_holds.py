"""Tables of the abuse guard and of the orders that need a person (R6; attention.py): the rules in
force, the delivery addresses orders were sent to (as digests), and every hold or attention item
with its reason. Listed in models.TABLES."""

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel


class OrderAbuseRules(SQLModel, table=True):
    """The abuse rules in force (abuse.py), one row: loaded from the rules file at start-up, or
    what an admin PUT on /abuse-rules (then kept over restarts). `version` grows with every
    change, so each instance notices a new rule set with one small read."""

    __tablename__ = "order_abuse_rules"

    id: int = Field(primary_key=True)  # always 1
    version: int
    rules_json: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))  # `file:<name>` or `PUT /abuse-rules by <actor>`
    updated_at: datetime


class OrderAddress(SQLModel, table=True):
    """Where an accepted (or held) order goes, for the address rules: the digest of the compared
    form of `delivery_address` (abuse.address_key), never the address itself."""

    __tablename__ = "order_address"
    __table_args__ = (Index("ix_order_address_digest_placed", "address_digest", "placed_at"),)

    order_id: str = Field(primary_key=True)
    address_digest: str
    customer_id: str
    placed_at: datetime


class OrderHold(SQLModel, table=True):
    """A hold (kind `hold`: the abuse guard flagged the order) or an attention item (kind
    `attention`: inventory refused a sku it does not know), with its reason in words. Open while
    the order is still `held` / `needs_attention`; a release is recorded here."""

    __tablename__ = "order_hold"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    kind: str  # hold | attention
    rule: str
    reason: str = Field(sa_column=Column(Text, nullable=False))
    figures_json: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime
    # A hold only: the order.accepted intake would have published (released as it was), and the
    # state the order takes when it is released.
    accepted_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    resume_status: str | None = None
    released_at: datetime | None = None
    released_by: str | None = None
    release_note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


HOLD_TABLES = [OrderAbuseRules.__table__, OrderAddress.__table__, OrderHold.__table__]
