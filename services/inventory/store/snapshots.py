"""Statements of the stock page (R12): the sell rate of a page of skus in one grouped query, and
the 2-hourly snapshots of every sku's figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from services.inventory.models import InventoryLedgerEntry, InventoryStockSnapshot, InventoryStockSnapshotRow
from services.inventory.stock_cover import SELLING_CAUSES

_ROWS = InventoryStockSnapshotRow.__table__
_SNAPSHOTS = InventoryStockSnapshot.__table__


def net_reserved(session: Session, skus: Iterable[str], *, since: datetime, until: datetime) -> dict[str, int]:
    """Per sku, units reserved minus units released in (since, until]: one grouped query for the
    whole page (the (sku, at) index reads only the window). Skus with no such line are left out."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = session.exec(
        select(InventoryLedgerEntry.sku, func.sum(InventoryLedgerEntry.reserved_delta))
        .where(col(InventoryLedgerEntry.sku).in_(wanted), col(InventoryLedgerEntry.at) > since,
               col(InventoryLedgerEntry.at) <= until, col(InventoryLedgerEntry.cause).in_(SELLING_CAUSES))
        .group_by(col(InventoryLedgerEntry.sku))).all()
    return {sku: int(total or 0) for sku, total in rows}


def first_ledger_at(session: Session) -> datetime | None:
    """When stock was first recorded: the ledger's first line (by id, the primary key's order)."""
    return session.exec(select(InventoryLedgerEntry.at).order_by(col(InventoryLedgerEntry.id)).limit(1)).first()


def last_snapshot_slot(session: Session) -> datetime | None:
    return session.exec(select(func.max(InventoryStockSnapshot.slot_start))).first()


def add_snapshot(session: Session, *, slot_start: datetime, taken_at: datetime, period_s: int,
                 rows: Sequence[Mapping[str, Any]]) -> int:
    """The snapshot and its rows. A second snapshot of the same slot breaks the unique key
    (IntegrityError): the caller's transaction then rolls back, and the first one stands."""
    snapshot_id = session.execute(insert(_SNAPSHOTS).values(
        slot_start=slot_start, taken_at=taken_at, period_s=period_s, sku_count=len(rows))).inserted_primary_key[0]
    if rows:
        session.execute(insert(_ROWS), [{**row, "snapshot_id": snapshot_id} for row in rows])
    return int(snapshot_id)


def snapshots_before(session: Session, before_id: int | None, limit: int) -> list[InventoryStockSnapshot]:
    """Newest first. A snapshot is only taken for a slot later than the last one, so id order is
    slot order."""
    query = select(InventoryStockSnapshot)
    if before_id is not None:
        query = query.where(col(InventoryStockSnapshot.id) < before_id)
    return list(session.exec(query.order_by(col(InventoryStockSnapshot.id).desc()).limit(limit)).all())


def load_snapshot(session: Session, snapshot_id: int) -> InventoryStockSnapshot | None:
    return session.get(InventoryStockSnapshot, snapshot_id)


def snapshot_rows(session: Session, snapshot_id: int, *, after_sku: str | None,
                  limit: int | None) -> list[InventoryStockSnapshotRow]:
    """The snapshot's rows in sku order, from after `after_sku`; all of them when `limit` is None."""
    query = select(InventoryStockSnapshotRow).where(InventoryStockSnapshotRow.snapshot_id == snapshot_id)
    if after_sku is not None:
        query = query.where(col(InventoryStockSnapshotRow.sku) > after_sku)
    query = query.order_by(col(InventoryStockSnapshotRow.sku))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())
