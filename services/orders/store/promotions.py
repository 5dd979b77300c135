"""Every statement about promotions (R5): the event's catalogue (one row), the first-order coupons
customers used, the units first-N-half-price offers sold. Once per customer and the quota are
decided by the database, so two instances accepting orders at once cannot both get them:
a coupon use is an INSERT that does nothing on the (customer, code) key already there, and the
count row is locked (PostgreSQL: FOR UPDATE; SQLite: its writers take turns) from the read that
decides an order's half-price units to the commit that adds them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from services.orders.models import OrderCouponUse, OrderHalfPriceCount, OrderPromotionCatalogue

_CATALOGUE = OrderPromotionCatalogue.__table__
_USES = OrderCouponUse.__table__
_COUNTS = OrderHalfPriceCount.__table__
CATALOGUE_ROW = 1


@dataclass(frozen=True)
class StoredCatalogue:
    body_json: str
    digest: str
    source: str
    set_by: str
    set_at: datetime


def catalogue_digest(session: Session) -> str | None:
    """The digest of the catalogue in force, None when none was ever set. The one read an order
    with promotions pays when its instance has the catalogue parsed already."""
    return session.execute(select(_CATALOGUE.c.digest).where(_CATALOGUE.c.id == CATALOGUE_ROW)).scalar_one_or_none()


def catalogue(session: Session) -> StoredCatalogue | None:
    row = session.execute(select(_CATALOGUE.c.body_json, _CATALOGUE.c.digest, _CATALOGUE.c.source,
                                 _CATALOGUE.c.set_by, _CATALOGUE.c.set_at)
                          .where(_CATALOGUE.c.id == CATALOGUE_ROW)).one_or_none()
    return StoredCatalogue(*row) if row is not None else None


def save_catalogue(session: Session, *, body_json: str, digest: str, source: str, set_by: str,
                   now: datetime, half_price_codes: Iterable[str]) -> None:
    """Replace the catalogue (every instance reads it from here), and give each half-price offer
    its count row now, so an order's FOR UPDATE always finds a row to lock."""
    values = {"id": CATALOGUE_ROW, "body_json": body_json, "digest": digest, "source": source, "set_by": set_by,
              "set_at": now}
    statement = _insert(session, _CATALOGUE).values(values)
    session.execute(statement.on_conflict_do_update(index_elements=[_CATALOGUE.c.id], set_=values))
    _ensure_counts(session, half_price_codes)


def coupon_uses(session: Session, customer_id: str, codes: list[str]) -> dict[str, str]:
    """code -> the order that used it, for those of `codes` this customer used."""
    if not codes:
        return {}
    rows = session.execute(select(_USES.c.code, _USES.c.order_id).where(
        _USES.c.customer_id == customer_id, _USES.c.code.in_(codes)))
    return {code: order_id for code, order_id in rows}


def claim_coupon(session: Session, *, customer_id: str, code: str, order_id: str, now: datetime) -> bool:
    """Record the use; False when the customer had used it already (another order got there
    first, possibly in another instance: on PostgreSQL this waits for that one to commit)."""
    statement = _insert(session, _USES).values(customer_id=customer_id, code=code, order_id=order_id, used_at=now)
    # RETURNING says whether the row went in; the driver's rowcount is not to be trusted for it
    # (on PostgreSQL, through this engine, it is -1 whether or not the row went in).
    inserted = session.execute(statement.on_conflict_do_nothing().returning(_USES.c.order_id)).scalar_one_or_none()
    return inserted is not None


def half_price_sold(session: Session, codes: list[str], *, lock: bool) -> dict[str, int]:
    """code -> units sold so far. `lock`: hold the rows until the commit, so the units this order
    is given are still free when it adds them (an order being accepted; a mere check does not)."""
    if not codes:
        return {}
    if lock:
        _ensure_counts(session, codes)
    query = select(_COUNTS.c.code, _COUNTS.c.sold).where(_COUNTS.c.code.in_(codes)).order_by(_COUNTS.c.code)
    return {code: sold for code, sold in session.execute(query.with_for_update() if lock else query)}


def add_half_price_sold(session: Session, code: str, units: int) -> None:
    session.execute(update(_COUNTS).where(_COUNTS.c.code == bindparam("c")).values(sold=_COUNTS.c.sold + units),
                    {"c": code})


def usage(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    """(first-order coupon code -> customers who used it, half-price code -> units sold)."""
    uses = {code: n for code, n in session.execute(select(_USES.c.code, func.count()).group_by(_USES.c.code))}
    sold = {code: n for code, n in session.execute(select(_COUNTS.c.code, _COUNTS.c.sold))}
    return uses, sold


def _ensure_counts(session: Session, codes: Iterable[str]) -> None:
    rows = [{"code": code, "sold": 0} for code in codes]
    if rows:
        session.execute(_insert(session, _COUNTS).values(rows).on_conflict_do_nothing())


def _insert(session: Session, table):  # type: ignore[no-untyped-def]
    """INSERT with ON CONFLICT, in the dialect at hand (both speak it)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
