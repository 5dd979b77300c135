"""Tables of the aftersales service. Names carry the `aftersales_` prefix: every service's tables
share SQLModel's metadata in one test process."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, Numeric, Text
from sqlmodel import Field, SQLModel

from shared.idempotency import IDEMPOTENCY_TABLE


def _money(nullable: bool = False) -> Column:
    return Column(Numeric(14, 2), nullable=nullable)


class PurchaseRecord(SQLModel, table=True):
    """What a return needs of one order; filled by order.accepted and shipment.delivered, in
    whichever order they arrive."""

    __tablename__ = "aftersales_purchase"

    order_id: str = Field(primary_key=True)
    accepted: bool = False
    customer_id: str | None = None
    region: str | None = None
    currency: str | None = None
    paid_amount: Decimal | None = Field(default=None, sa_column=_money(nullable=True))
    discount: Decimal | None = Field(default=None, sa_column=_money(nullable=True))
    # spend-threshold promotions the order used, as [{"threshold": "200.00", "amount": "30.00"}]
    thresholds_json: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    delivered_at: datetime | None = None
    delivered_shipment_id: str | None = None
    # A deposit presale's (presale.py): the deposit it was accepted with (paid_amount until the
    # balance), and the balance received (kept from order.balance_received, even before order.accepted).
    deposit: Decimal | None = Field(default=None, sa_column=_money(nullable=True))
    balance_amount: Decimal | None = Field(default=None, sa_column=_money(nullable=True))
    balance_paid_amount: Decimal | None = Field(default=None, sa_column=_money(nullable=True))
    balance_paid_at: datetime | None = None


class PurchaseLineRecord(SQLModel, table=True):
    __tablename__ = "aftersales_purchase_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    line_no: int
    sku: str
    quantity: int
    unit_price: Decimal = Field(sa_column=_money())
    gift: bool = False
    gift_for_sku: str | None = None
    paid: Decimal = Field(sa_column=_money())
    weight_kg: Decimal | None = Field(default=None, sa_column=_money(nullable=True))
    volume_l: Decimal | None = Field(default=None, sa_column=_money(nullable=True))


class AftersalesCase(SQLModel, table=True):
    __tablename__ = "aftersales_case"

    case_id: str = Field(primary_key=True)
    order_id: str = Field(index=True)
    kind: str  # return | exchange | shipment_exception
    status: str = Field(index=True)
    dispute: bool = False
    reason: str = ""
    opened_at: datetime
    deadline_at: datetime = Field(index=True)
    handled_at: datetime | None = None
    closed_at: datetime | None = None
    inspection_passed: bool | None = None
    refund_amount: Decimal | None = Field(default=None, sa_column=_money(nullable=True))
    shipment_id: str | None = None
    exception_kind: str | None = None  # delayed | damaged | lost, for shipment_exception cases


class AftersalesCaseLine(SQLModel, table=True):
    __tablename__ = "aftersales_case_line"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True)
    sku: str
    quantity: int
    gift: bool = False
    added_by_gift_rule: bool = False


class AftersalesCaseStep(SQLModel, table=True):
    """The case timeline: one row per step, with who/why in `note`."""

    __tablename__ = "aftersales_case_step"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True)
    status: str
    at: datetime
    note: str = ""


TABLES = [PurchaseRecord.__table__, PurchaseLineRecord.__table__, AftersalesCase.__table__,
          AftersalesCaseLine.__table__, AftersalesCaseStep.__table__, IDEMPOTENCY_TABLE]

from services.aftersales.models_complaints import AftersalesComplaint  # noqa: E402  (complaints, R27)

TABLES.append(AftersalesComplaint.__table__)
