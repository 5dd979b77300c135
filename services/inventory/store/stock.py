"""A sku's stock figures, mode and open replenishment request. Figures only ever change through
the conditional UPDATEs here, each checked by its rowcount, so the database (not a Python lock)
guarantees that available stock never goes below zero, across threads and processes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, update
from sqlmodel import Session, col, select

from services.inventory.domain import SkuState, SkuView, StockLimitExceeded
from services.inventory.models import InventoryReplenishmentRequest, InventorySku
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


def try_reserve(session: Session, needs: Mapping[str, int]) -> tuple[str | None, dict[str, Any]]:
    """Reserve every sku's quantity or none. Returns (None, the skus' rows as the updates left
    them) when all are reserved, else (the first sku that had too little, {}) and every update of
    this attempt is rolled back to the savepoint. Skus are locked in name order so two
    transactions never wait on each other in a cycle. The rows come back from the UPDATE itself
    (RETURNING), so what follows reads the figures this transaction just wrote without a SELECT."""
    # One sku: a refused UPDATE changed nothing, so no savepoint is needed to undo it.
    savepoint = session.begin_nested() if len(needs) > 1 else None
    fresh: dict[str, Any] = {}
    for sku in sorted(needs):
        quantity = needs[sku]
        row = _RESERVE.execute(session, {"sku_id": sku, "units": quantity}).one_or_none()
        if row is None:
            if savepoint is not None:
                savepoint.rollback()
            return sku, {}
        fresh[sku] = row
    if savepoint is not None:
        savepoint.commit()
    return None, fresh


def release(session: Session, sku: str, quantity: int) -> None:
    result = session.execute(
        update(InventorySku)
        .where(InventorySku.sku == sku, col(InventorySku.reserved) >= quantity)
        .values(available=InventorySku.available + quantity, reserved=InventorySku.reserved - quantity)
        .execution_options(**NO_SYNC)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"cannot release {quantity} of {sku}: fewer units are reserved")


def ship_out(session: Session, sku: str, quantity: int) -> None:
    """Reserved goods leave the warehouse: they stop being on hand and stop being reserved;
    what is available does not change."""
    result = session.execute(
        update(InventorySku)
        .where(InventorySku.sku == sku, col(InventorySku.reserved) >= quantity, col(InventorySku.on_hand) >= quantity)
        .values(on_hand=InventorySku.on_hand - quantity, reserved=InventorySku.reserved - quantity)
        .execution_options(**NO_SYNC)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"cannot ship {quantity} of {sku}: fewer units are reserved")


def change_on_hand(session: Session, sku: str, delta: int) -> None:
    """Goods arrive (delivery, return, count up) or turn out missing (count down). A decrease is
    refused if it would take away units already promised to orders; an increase if on hand would
    pass MAX_STOCK_UNITS (callers check that first with the domain's `on_hand_after`; this
    condition also holds against another transaction's change in between)."""
    result = session.execute(
        update(InventorySku)
        .where(InventorySku.sku == sku, col(InventorySku.available) + delta >= 0,
               col(InventorySku.on_hand) + delta <= MAX_STOCK_UNITS)
        .values(on_hand=InventorySku.on_hand + delta, available=InventorySku.available + delta)
        .execution_options(**NO_SYNC)
    )
    if result.rowcount != 1:
        if delta > 0:
            raise StockLimitExceeded(f"cannot add {delta} units to the on-hand stock of {sku}: it would pass "
                                     f"the limit of {MAX_STOCK_UNITS} units per sku")
        raise ValueError(f"cannot change on-hand stock of {sku} by {delta}: not enough unreserved stock")


# ---------------------------------------------------------------------------------------------
# The catalog's fields


def add_sku(session: Session, *, sku: str, name: str, tier: str, planned_stock: int, on_hand: int,
            threshold_percent: int | None, now: datetime, bin: str | None = None) -> None:
    session.execute(insert(SKUS).values(
        sku=sku, name=name, bin=bin, tier=tier, planned_stock=planned_stock, on_hand=on_hand, reserved=0,
        available=on_hand, mode="in_stock", threshold_percent=threshold_percent, updated_at=now))


def save_catalog_fields(session: Session, sku: str, *, name: str, tier: str, planned_stock: int,
                        threshold_percent: int | None, now: datetime, bin: str | None = None) -> None:
    """The catalog's own fields; the stock figures are left alone."""
    session.execute(update(SKUS).where(SKUS.c.sku == sku).values(
        name=name, bin=bin, tier=tier, planned_stock=planned_stock, threshold_percent=threshold_percent, updated_at=now))


# ---------------------------------------------------------------------------------------------
# Once-per-episode claims: the database decides which transaction raises the signal


def claim_replenishment(session: Session, sku: str, *, request_id: str, urgent: bool, now: datetime,
                        expires_at: datetime) -> str | None | bool:
    """Open a request unless one is already open (an urgent one may replace an ordinary one).
    Returns False when another request is open, else the id of the request it replaced (or None)."""
    row = require_sku(session, sku)
    replaced = row.open_request_id
    open_clause = or_(col(InventorySku.open_request_id).is_(None), col(InventorySku.open_request_expires_at) <= now)
    if urgent:
        open_clause = or_(open_clause, InventorySku.open_request_urgent == False)  # noqa: E712
    result = session.execute(
        update(InventorySku).where(InventorySku.sku == sku, open_clause)
        .values(open_request_id=request_id, open_request_urgent=urgent, open_request_expires_at=expires_at)
        .execution_options(**NO_SYNC)
    )
    if result.rowcount != 1:
        return False
    return replaced


def close_replenishment(session: Session, sku: str) -> str | None:
    """The sku's open request (its id), which no longer holds a new one back; None if none."""
    row = require_sku(session, sku)
    if row.open_request_id is None:
        return None
    session.execute(
        update(InventorySku).where(InventorySku.sku == sku)
        .values(open_request_id=None, open_request_urgent=None, open_request_expires_at=None)
        .execution_options(**NO_SYNC)
    )
    return row.open_request_id


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
                requested_at: datetime, expires_at: datetime) -> None:
    session.execute(insert(_REQUESTS).values(
        request_id=request_id, sku=sku, quantity=quantity, urgent=urgent, reason=reason,
        requested_at=requested_at, expires_at=expires_at))


def close_request(session: Session, request_id: str, *, at: datetime, by: str) -> None:
    """Once: a request already closed keeps its first closing."""
    session.execute(update(_REQUESTS).where(_REQUESTS.c.request_id == request_id, _REQUESTS.c.closed_at.is_(None))
                    .values(closed_at=at, closed_by=by))
