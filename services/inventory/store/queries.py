"""Reads for the HTTP side: pages of skus and what a sku's figures show beside them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from sqlalchemy import func
from sqlmodel import Session, col, select

from services.inventory.models import InventoryBackorderLine, InventoryReplenishmentRequest, InventorySku
from shared.idempotency import forget_expired


def skus_after(session: Session, after: str | None, limit: int) -> list[InventorySku]:
    """Skus in name order, from after `after`."""
    query = select(InventorySku)
    if after is not None:
        query = query.where(col(InventorySku.sku) > after)
    return list(session.exec(query.order_by(col(InventorySku.sku)).limit(limit)).all())


def all_skus(session: Session) -> list[InventorySku]:
    return list(session.exec(select(InventorySku)).all())


def open_requests(session: Session, request_ids: Iterable[str | None]) -> dict[str, InventoryReplenishmentRequest]:
    wanted = sorted({r for r in request_ids if r})
    if not wanted:
        return {}
    rows = session.exec(select(InventoryReplenishmentRequest)
                        .where(col(InventoryReplenishmentRequest.request_id).in_(wanted))).all()
    return {row.request_id: row for row in rows}


def waiting_orders(session: Session, skus: Iterable[str]) -> dict[str, int]:
    """Per sku, the waiting orders that need it (their backorder lines)."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = session.exec(select(InventoryBackorderLine.sku, func.count())
                        .where(col(InventoryBackorderLine.sku).in_(wanted))
                        .group_by(col(InventoryBackorderLine.sku))).all()
    return {sku: int(count) for sku, count in rows}


def forget_expired_answers(session: Session, now: datetime) -> int:
    """Idempotency-Key answers past their retention (shared/idempotency.py)."""
    return forget_expired(session, now)
