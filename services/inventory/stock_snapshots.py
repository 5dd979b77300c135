"""Stock for the business (R12), the part that reads the database: each sku's sell rate for the
stock routes, and the job that keeps a snapshot of every sku's figures once per 2-hour slot.

The job runs every `stock_snapshot_check_interval_s` (wall time) and decides by the service clock
(settable in tests) whether a snapshot is due (stock_cover.snapshot_due). A slot is snapshotted
once: the slot's start is a unique key, so when two instances race, the second insert fails,
its transaction rolls back and the job says so quietly."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.inventory import store
from services.inventory.domain import InventoryPolicy
from services.inventory.models import InventorySku
from services.inventory.stock_cover import cover_hours, sell_rate_per_hour, snapshot_due
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

PAGE = 500
"""Skus read at a time while taking a snapshot."""


def sell_rates(session: Session, rows: Sequence[InventorySku], policy: InventoryPolicy,
               now: datetime) -> dict[str, float]:
    """Every row's sku -> units per hour over the policy's window up to `now` (one query)."""
    window = policy.sell_rate_window
    net = store.net_reserved(session, (row.sku for row in rows), since=now - window, until=now)
    return {row.sku: sell_rate_per_hour(net.get(row.sku, 0), window) for row in rows}


def snapshot_rows(session: Session, policy: InventoryPolicy, now: datetime) -> list[dict[str, Any]]:
    """Every sku's figures as they stand, a page of skus at a time."""
    rows: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        skus = store.skus_after(session, after, PAGE)
        requests = store.open_requests(session, (row.open_request_id for row in skus))
        pace = sell_rates(session, skus, policy, now)
        for row in skus:
            request = requests.get(row.open_request_id) if row.open_request_id else None
            rows.append({
                "sku": row.sku, "name": row.name, "on_hand": row.on_hand, "reserved": row.reserved,
                "available": row.available, "mode": row.mode, "sell_rate_per_hour": pace[row.sku],
                "cover_hours": cover_hours(row.available, pace[row.sku]),
                "replenishment_request_id": request.request_id if request else None,
                "replenishment_quantity": request.quantity if request else None})
        if len(skus) < PAGE:
            return rows
        after = skus[-1].sku


def take_snapshot_if_due(session: Session, policy: InventoryPolicy, now: datetime,
                         period: timedelta) -> tuple[datetime, int] | None:
    """(slot start, skus) of the snapshot taken, or None when none is due."""
    slot = snapshot_due(now, last_slot=store.last_snapshot_slot(session), first_record=store.first_ledger_at(session),
                        period=period)
    if slot is None:
        return None
    rows = snapshot_rows(session, policy, now)
    store.add_snapshot(session, slot_start=slot, taken_at=now, period_s=int(period.total_seconds()), rows=rows)
    return slot, len(rows)


def schedule_snapshots(runtime: ServiceRuntime, policy: InventoryPolicy, *, period: timedelta,
                       interval_s: float) -> None:
    def check() -> str:
        try:
            with runtime.transaction() as session:
                taken = take_snapshot_if_due(session, policy, runtime.clock.now(), period)
        except IntegrityError:
            return "the slot's snapshot was taken by another instance"
        if taken is None:
            return ""
        slot, count = taken
        return f"stock snapshot of {count} skus for the slot starting {slot.isoformat()}"

    runtime.every(interval_s, "stock-snapshots", check)
