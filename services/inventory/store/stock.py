"""A sku's stock figures, mode and open replenishment request. Figures only ever change through
the conditional UPDATEs here, each checked by its rowcount, so the database (not a Python lock)
guarantees that available stock never goes below zero, across threads and processes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, update
from sqlmodel import Session, select

from services.inventory.domain import SkuState, SkuView, StockLimitExceeded
from services.inventory.models import InventoryReplenishmentRequest, InventoryStock, InventorySku
from shared.fastsql import FastStatement
from shared.limits import MAX_STOCK_UNITS

NO_SYNC = {"synchronize_session": False}


class UnknownSku(LookupError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"unknown sku {sku!r}: add it to the catalog first (PUT /skus/{sku})")
        self.sku = sku


def load_sku(session: Session, sku: str) -> InventorySku | None:
    """Fresh from the database: the Core updates below bypass the session's identity map."""
    return session.get(InventorySku, sku, populate_existing=True)


def require_sku(session: Session, sku: str) -> InventorySku:
    row = load_sku(session, sku)
    if row is None:
        raise UnknownSku(sku)
    return row


# The statements of the reservation path, built once: constructing the expression and its cache
# key on every call was a sixth of the service's time at peak. Values come as bound parameters;
# FastStatement() runs them on the driver's cursor (shared/fastsql.py).
SKUS = InventorySku.__table__
# What the reservation path reads of a sku: the figures and mode the decision needs and what
# `sku_state` takes. Every column more is a conversion per row (a time is a parse), on a path
# every order takes two or three times.
DECISION_COLUMNS = [SKUS.c[name] for name in (
    "sku", "tier", "planned_stock", "available", "mode", "threshold_percent", "expected_date",
    "open_request_id", "open_request_urgent", "open_request_expires_at")]
_LOAD_SKUS = FastStatement(select(*DECISION_COLUMNS).where(SKUS.c.sku.in_(bindparam("skus", expanding=True))))
_RESERVE = FastStatement(
    update(SKUS)
    .where(SKUS.c.sku == bindparam("sku_id"), SKUS.c.available >= bindparam("units"))
    .values(available=SKUS.c.available - bindparam("units"), reserved=SKUS.c.reserved + bindparam("units"))
    .returning(*DECISION_COLUMNS))


def load_skus(session: Session, skus: Iterable[str]) -> dict[str, Any]:
    """The skus' current figures and mode (`DECISION_COLUMNS`), read-only (plain rows with the
    columns' names, not ORM objects: stock figures change only through the UPDATEs below)."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = _LOAD_SKUS.execute(session, {"skus": wanted}).all()
    return {row.sku: row for row in rows}


def sku_views(session: Session, skus: Iterable[str]) -> dict[str, SkuView]:
    return {sku: sku_view(row) for sku, row in load_skus(session, skus).items()}


def sku_view(row: Any) -> SkuView:  # an ORM row, or a row of DECISION_COLUMNS: same names
    return SkuView(available=row.available, mode=row.mode, expected_date=row.expected_date)


def sku_state(row: Any) -> SkuState:
    return SkuState(sku=row.sku, tier=row.tier, planned_stock=row.planned_stock, available=row.available,
                    mode=row.mode, threshold_percent=row.threshold_percent,
                    open_request_urgent=row.open_request_urgent if row.open_request_id else None,
                    open_request_expires_at=row.open_request_expires_at)


# ---------------------------------------------------------------------------------------------
# Stock figures


STOCK = InventoryStock.__table__
# What the replenishment trigger reads of a warehouse's row, returned by the reserving UPDATE.
STOCK_COLUMNS = [STOCK.c[name] for name in (
    "sku", "warehouse", "planned_stock", "available", "threshold_percent", "open_request_id", "open_request_urgent",
    "open_request_expires_at")]
_RESERVE_IN = FastStatement(
    update(STOCK)
    .where(STOCK.c.sku == bindparam("sku_id"), STOCK.c.warehouse == bindparam("wh"),
           STOCK.c.available >= bindparam("units"))
    .values(available=STOCK.c.available - bindparam("units"), reserved=STOCK.c.reserved + bindparam("units"))
    .returning(*STOCK_COLUMNS))
_RESERVE_TOTAL = _RESERVE


def try_reserve(session: Session, parts: Iterable[tuple[str, str, int]]) -> tuple[tuple[str, str] | None, Fresh]:
    """Reserve every (warehouse, sku, units) of a decision or none. Returns (None, the skus'
    total rows as the updates left them) when all are reserved, else (the first (warehouse,
    sku) that had too little, {}) and every update of this attempt is rolled back to the
    savepoint. One global lock order: the warehouse rows by (sku, warehouse), then the skus'
    total rows by sku, so two transactions never wait on each other in a cycle. The total rows
    rows come back from the UPDATEs themselves (RETURNING): what follows reads them without a SELECT."""
    ordered = sorted((sku, wh, units) for wh, sku, units in parts)
    # One row: a refused UPDATE changed nothing, so no savepoint is needed to undo it.
    savepoint = session.begin_nested() if len(ordered) > 1 else None
    fresh = Fresh({}, {})
    totals: dict[str, int] = {}
    for sku, wh, units in ordered:
        row = _RESERVE_IN.execute(session, {"sku_id": sku, "wh": wh, "units": units}).one_or_none()
        if row is None:
            if savepoint is not None:
                savepoint.rollback()
            return (wh, sku), Fresh({}, {})
        fresh.here.setdefault(sku, {})[wh] = row
        totals[sku] = totals.get(sku, 0) + units
    for sku in sorted(totals):  # cannot refuse: the warehouse rows add up to the total's figures
        fresh.totals[sku] = _RESERVE_TOTAL.execute(session, {"sku_id": sku, "units": totals[sku]}).one()
    if savepoint is not None:
        savepoint.commit()
    return None, fresh


@dataclass(frozen=True)
class Fresh:
    """The rows a reservation's UPDATEs returned: sku -> total row; sku -> warehouse -> row."""

    totals: dict[str, Any]
    here: dict[str, dict[str, Any]]


def _both(session: Session, rows: Iterable[tuple[str, str, int]], condition: Any, change: Any, what: str) -> None:
    """The same change of (warehouse, sku, units) to each warehouse row (conditioned), then to
    the skus' total rows: warehouse rows by (sku, warehouse), then totals by sku, the lock order
    of `try_reserve`."""
    ordered = sorted((sku, wh, units) for wh, sku, units in rows)
    totals: dict[str, int] = {}
    for sku, wh, units in ordered:
        result = session.execute(update(STOCK).where(STOCK.c.sku == sku, STOCK.c.warehouse == wh,
                                                     condition(STOCK, units)).values(**change(STOCK, units)))
        if result.rowcount != 1:
            raise RuntimeError(what.format(units=units, sku=sku, warehouse=wh))
        totals[sku] = totals.get(sku, 0) + units
    for sku, units in sorted(totals.items()):
        session.execute(update(SKUS).where(SKUS.c.sku == sku).values(**change(SKUS, units)))


def release(session: Session, rows: Iterable[tuple[str, str, int]]) -> None:
    """Reserved units of (warehouse, sku, units) back to available."""
    _both(session, rows, lambda t, q: t.c.reserved >= q,
          lambda t, q: {"available": t.c.available + q, "reserved": t.c.reserved - q},
          "cannot release {units} of {sku} in {warehouse}: fewer units are reserved")


def ship_out(session: Session, rows: Iterable[tuple[str, str, int]]) -> None:
    """Reserved goods leave their warehouse: they stop being on hand and stop being reserved;
    what is available does not change."""
    _both(session, rows, lambda t, q: (t.c.reserved >= q) & (t.c.on_hand >= q),
          lambda t, q: {"on_hand": t.c.on_hand - q, "reserved": t.c.reserved - q},
          "cannot ship {units} of {sku} from {warehouse}: fewer units are reserved")


def change_on_hand(session: Session, warehouse: str, sku: str, delta: int) -> None:
    """Goods arrive (delivery, return, count up) or turn out missing (count down) in one
    warehouse. A decrease is refused if it would take away units already promised to orders; an
    increase if on hand would pass MAX_STOCK_UNITS in the warehouse or in the sku's total
    (callers check that first with the domain's `on_hand_after`; this condition also holds
    against another transaction's change in between)."""
    stock = session.execute(update(STOCK).where(
        STOCK.c.sku == sku, STOCK.c.warehouse == warehouse, STOCK.c.available + delta >= 0,
        STOCK.c.on_hand + delta <= MAX_STOCK_UNITS).values(on_hand=STOCK.c.on_hand + delta,
                                                           available=STOCK.c.available + delta))
    total = None
    if stock.rowcount == 1:
        total = session.execute(update(SKUS).where(SKUS.c.sku == sku, SKUS.c.on_hand + delta <= MAX_STOCK_UNITS)
                                .values(on_hand=SKUS.c.on_hand + delta, available=SKUS.c.available + delta))
    if total is None or total.rowcount != 1:
        if delta > 0:
            raise StockLimitExceeded(f"cannot add {delta} units to the on-hand stock of {sku}: it would pass "
                                     f"the limit of {MAX_STOCK_UNITS} units per sku")
        raise ValueError(f"cannot change on-hand stock of {sku} in {warehouse} by {delta}: not enough unreserved "
                         "stock")


def stock_rows(session: Session, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
    """sku -> warehouse -> its row in that warehouse (all columns)."""
    wanted = sorted(set(skus))
    rows = session.execute(select(STOCK).where(STOCK.c.sku.in_(wanted))).all() if wanted else []
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out.setdefault(row.sku, {})[row.warehouse] = row
    return out


def stock_row(session: Session, warehouse: str, sku: str) -> Any:
    return session.execute(select(STOCK).where(STOCK.c.sku == sku, STOCK.c.warehouse == warehouse)).first()


def add_stock_row(session: Session, *, warehouse: str, sku: str, planned_stock: int, on_hand: int,
                  threshold_percent: int | None) -> None:
    """The sku in one more warehouse; its total row gains the opening stock and planned stock."""
    session.execute(insert(STOCK).values(sku=sku, warehouse=warehouse, planned_stock=planned_stock, on_hand=on_hand,
                                         reserved=0, available=on_hand, threshold_percent=threshold_percent))
    session.execute(update(SKUS).where(SKUS.c.sku == sku).values(
        on_hand=SKUS.c.on_hand + on_hand, available=SKUS.c.available + on_hand,
        planned_stock=SKUS.c.planned_stock + planned_stock))


def save_stock_fields(session: Session, *, warehouse: str, sku: str, planned_stock: int,
                      threshold_percent: int | None) -> None:
    """A warehouse's planned stock and threshold for the sku; the total's planned stock follows."""
    session.execute(update(STOCK).where(STOCK.c.sku == sku, STOCK.c.warehouse == warehouse)
                    .values(planned_stock=planned_stock, threshold_percent=threshold_percent))
    total = select(func.coalesce(func.sum(STOCK.c.planned_stock), 0)).where(STOCK.c.sku == sku).scalar_subquery()
    session.execute(update(SKUS).where(SKUS.c.sku == sku).values(planned_stock=total))


# ---------------------------------------------------------------------------------------------
# The catalog's fields


def add_sku(session: Session, *, sku: str, name: str, tier: str, threshold_percent: int | None, now: datetime,
            bin: str | None = None) -> None:
    """The sku's total row, with no stock yet: `add_stock_row` adds each warehouse's."""
    session.execute(insert(SKUS).values(
        sku=sku, name=name, bin=bin, tier=tier, planned_stock=0, on_hand=0, reserved=0,
        available=0, mode="in_stock", threshold_percent=threshold_percent, updated_at=now))


def save_catalog_fields(session: Session, sku: str, *, name: str, tier: str, threshold_percent: int | None,
                        now: datetime, bin: str | None = None) -> None:
    """The catalog's own fields of the sku; the stock figures are left alone."""
    session.execute(update(SKUS).where(SKUS.c.sku == sku).values(
        name=name, bin=bin, tier=tier, threshold_percent=threshold_percent, updated_at=now))


# ---------------------------------------------------------------------------------------------
# Once-per-episode claims: the database decides which transaction raises the signal


def claim_replenishment(session: Session, sku: str, warehouse: str, *, request_id: str, urgent: bool,
                        now: datetime, expires_at: datetime) -> str | None | bool:
    """Open a request for the sku in the warehouse unless one is already open there (an urgent
    one may replace an ordinary one). Returns False when another request is open, else the id of
    the request it replaced (or None)."""
    row = stock_row(session, warehouse, sku)
    if row is None:
        raise UnknownSku(sku)
    replaced = row.open_request_id
    open_clause = or_(STOCK.c.open_request_id.is_(None), STOCK.c.open_request_expires_at <= now)
    if urgent:
        open_clause = or_(open_clause, STOCK.c.open_request_urgent == False)  # noqa: E712
    result = session.execute(
        update(STOCK).where(STOCK.c.sku == sku, STOCK.c.warehouse == warehouse, open_clause)
        .values(open_request_id=request_id, open_request_urgent=urgent, open_request_expires_at=expires_at))
    if result.rowcount != 1:
        return False
    _show_open_request(session, sku, request_id, urgent, expires_at)
    return replaced


def close_replenishment(session: Session, sku: str, warehouse: str) -> str | None:
    """The warehouse's open request for the sku (its id), which no longer holds a new one back;
    None if none."""
    row = stock_row(session, warehouse, sku)
    if row is None or row.open_request_id is None:
        return None
    session.execute(update(STOCK).where(STOCK.c.sku == sku, STOCK.c.warehouse == warehouse)
                    .values(open_request_id=None, open_request_urgent=None, open_request_expires_at=None))
    other = session.execute(select(STOCK).where(STOCK.c.sku == sku, STOCK.c.open_request_id.is_not(None))
                            .order_by(STOCK.c.warehouse)).first()
    if other is None:
        _show_open_request(session, sku, None, None, None)
    else:
        _show_open_request(session, sku, other.open_request_id, other.open_request_urgent,
                           other.open_request_expires_at)
    return row.open_request_id


def _show_open_request(session: Session, sku: str, request_id: str | None, urgent: bool | None,
                       expires_at: datetime | None) -> None:
    """The sku's total row shows one open request of its warehouses (the latest opened), for
    GET /stock and the snapshots; the claims themselves are per warehouse."""
    session.execute(update(SKUS).where(SKUS.c.sku == sku).values(
        open_request_id=request_id, open_request_urgent=urgent, open_request_expires_at=expires_at))


def claim_mode_change(session: Session, sku: str, *, from_mode: str, to_mode: str,
                      expected_date: datetime | None, discount_percent: int | None,
                      discount_until: datetime | None) -> bool:
    result = session.execute(
        update(InventorySku).where(InventorySku.sku == sku, InventorySku.mode == from_mode)
        .values(mode=to_mode, expected_date=expected_date, discount_percent=discount_percent,
                discount_until=discount_until)
        .execution_options(**NO_SYNC)
    )
    return result.rowcount == 1


_REQUESTS = InventoryReplenishmentRequest.__table__


def add_request(session: Session, *, request_id: str, sku: str, quantity: int, urgent: bool, reason: str,
                requested_at: datetime, expires_at: datetime, warehouse: str) -> None:
    session.execute(insert(_REQUESTS).values(
        request_id=request_id, sku=sku, quantity=quantity, urgent=urgent, reason=reason,
        requested_at=requested_at, expires_at=expires_at, warehouse=warehouse))


def close_request(session: Session, request_id: str, *, at: datetime, by: str) -> None:
    """Once: a request already closed keeps its first closing."""
    session.execute(update(_REQUESTS).where(_REQUESTS.c.request_id == request_id, _REQUESTS.c.closed_at.is_(None))
                    .values(closed_at=at, closed_by=by))
