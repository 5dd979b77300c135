"""HTTP routes of the inventory service: catalog edits, stock queries (R12), counts, deliveries.

Every quantity is a whole number (JSON integers only, never floats) from 0 to MAX_STOCK_UNITS;
a change that would take a sku's figures past that limit is refused with 422 and the reason.
Who may call which route: access.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Session, col, func, select

from services.inventory import store
from services.inventory.catalog import CatalogInvalid, parse_entry
from services.inventory.domain import MODES, InventoryPolicy, StockLimitExceeded, is_low, threshold
from services.inventory.models import (
    InventoryBackorderLine,
    InventoryLedgerEntry,
    InventoryReplenishmentRequest,
    InventoryReservation,
    InventorySku,
)
from services.inventory.stockkeeping import Stockkeeper
from shared.auth import actor
from shared.contract_types import EntityId, Sku, Text
from shared.events import SupplierDelivery
from shared.limits import MAX_STOCK_UNITS
from shared.service import ServiceRuntime


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def units(*, default: Any = ..., minimum: int = 0, description: str | None = None) -> Any:
    """A number of units: a JSON integer (no float, no string) from `minimum` to MAX_STOCK_UNITS."""
    return Field(default=default, strict=True, ge=minimum, le=MAX_STOCK_UNITS, description=description)


class SkuChange(Body):
    name: Text(200) | None = None  # type: ignore[valid-type]
    tier: str = Field(description="traffic_driver, profit or hot")
    planned_stock: int | None = units(default=None)
    forecast: int | None = units(default=None, description="Used when planned_stock is absent (R8).")
    on_hand: int | None = units(default=None, description="Opening stock; only when the sku is created.")
    threshold_percent: int | None = Field(default=None, strict=True, ge=0, le=100)
    mode: str | None = Field(default=None, description=" / ".join(MODES))


class CountLine(Body):
    sku: Sku
    quantity: int = units(description="Units counted on the shelf.")


class StockCount(Body):
    reference: EntityId | None = Field(default=None, description="Count id; generated when absent.")
    counts: list[CountLine] = Field(min_length=1)


class Delivery(Body):
    delivery_id: EntityId
    sku: Sku
    quantity: int = units(minimum=1)
    delivered_at: AwareDatetime | None = None


def build_router(runtime: ServiceRuntime, policy: InventoryPolicy) -> APIRouter:
    router = APIRouter(tags=["inventory"])

    @contextmanager
    def stockkeeper(request: Request) -> Iterator[Stockkeeper]:
        """A Stockkeeper in one transaction, acting as the signed-in caller (named in the ledger)."""
        try:
            with runtime.transaction() as session:
                def publish(spec, type_, payload, *, key):  # type: ignore[no-untyped-def]
                    return runtime.outbox.publish(session, spec, type_, payload, key=key)
                yield Stockkeeper(session=session, publish=publish, now=runtime.clock.now(), policy=policy,
                                  actor=f"http:{actor(request)}")
        except store.UnknownSku as exc:
            raise HTTPException(404, str(exc)) from exc
        except StockLimitExceeded as exc:  # rolled back: nothing of it is booked
            raise HTTPException(422, str(exc)) from exc

    @router.put("/skus/{sku}")
    def put_sku(sku: Sku, change: SkuChange, request: Request) -> dict[str, Any]:
        """Create a sku or change its catalog fields (tier, planned stock, threshold, mode). Admin only."""
        if change.planned_stock is None and change.forecast is None:
            with Session(runtime.engine) as session:
                existing = session.get(InventorySku, sku)
            if existing is None:
                raise HTTPException(422, "planned_stock or forecast is required for a new sku")
            planned: int | None = existing.planned_stock
        else:
            planned = change.planned_stock
        try:
            entry = parse_entry({"sku": sku, "tier": change.tier, "planned_stock": planned,
                                 "forecast": change.forecast, "on_hand": change.on_hand,
                                 "threshold_percent": change.threshold_percent, "name": change.name or ""},
                                place="body")
        except CatalogInvalid as exc:
            raise HTTPException(422, str(exc)) from exc
        with stockkeeper(request) as keeper:
            outcome = keeper.upsert_sku(entry, mode=change.mode)
        return {"outcome": outcome, **stock_figures(sku)}

    @router.get("/stock")
    def list_stock() -> dict[str, Any]:
        with Session(runtime.engine) as session:
            rows = session.exec(select(InventorySku).order_by(col(InventorySku.sku))).all()
            return {"as_of": runtime.clock.now().isoformat(), "skus": [describe(session, r) for r in rows]}

    @router.get("/stock/low")
    def low_stock() -> dict[str, Any]:
        """Skus below their replenishment threshold (R9), with what is already asked for."""
        with Session(runtime.engine) as session:
            rows = session.exec(select(InventorySku).order_by(col(InventorySku.sku))).all()
            low = [describe(session, r) for r in rows if is_low(store.sku_state(r), policy)]
            return {"as_of": runtime.clock.now().isoformat(), "skus": low}

    @router.get("/stock/{sku}")
    def get_stock(sku: str) -> dict[str, Any]:
        return stock_figures(sku)

    def stock_figures(sku: str) -> dict[str, Any]:
        with Session(runtime.engine) as session:
            row = session.get(InventorySku, sku)
            if row is None:
                raise HTTPException(404, f"unknown sku {sku!r}")
            return describe(session, row)

    def describe(session: Session, row: InventorySku) -> dict[str, Any]:
        request = session.get(InventoryReplenishmentRequest, row.open_request_id) if row.open_request_id else None
        waiting = session.exec(select(func.count()).select_from(InventoryBackorderLine)
                               .where(InventoryBackorderLine.sku == row.sku)).one()
        state = store.sku_state(row)
        return {
            "sku": row.sku, "name": row.name, "tier": row.tier, "planned_stock": row.planned_stock,
            "on_hand": row.on_hand, "reserved": row.reserved, "available": row.available, "mode": row.mode,
            "threshold": threshold(state, policy), "low": is_low(state, policy),
            "expected_date": iso(row.expected_date), "discount_percent": row.discount_percent,
            "discount_until": iso(row.discount_until), "waiting_orders": waiting,
            "open_replenishment": None if request is None else {
                "request_id": request.request_id, "quantity": request.quantity, "urgent": request.urgent,
                "requested_at": iso(request.requested_at), "expires_at": iso(request.expires_at),
                "expired": request.expires_at <= runtime.clock.now(),
            },
        }

    @router.get("/ledger/{sku}")
    def ledger(sku: str) -> dict[str, Any]:
        """Every change to the sku's figures with its cause, and whether they explain the figures."""
        with Session(runtime.engine) as session:
            row = session.get(InventorySku, sku)
            if row is None:
                raise HTTPException(404, f"unknown sku {sku!r}")
            entries = session.exec(select(InventoryLedgerEntry).where(InventoryLedgerEntry.sku == sku)
                                   .order_by(col(InventoryLedgerEntry.id))).all()
            on_hand, reserved = store.ledger_totals(session, sku)
            return {
                "sku": sku, "on_hand": row.on_hand, "reserved": row.reserved, "available": row.available,
                "ledger_on_hand": on_hand, "ledger_reserved": reserved,
                "consistent": on_hand == row.on_hand and reserved == row.reserved,
                "entries": [{"cause": e.cause, "on_hand_delta": e.on_hand_delta, "reserved_delta": e.reserved_delta,
                             "reference": e.reference, "actor": e.actor, "at": iso(e.at)} for e in entries],
            }

    @router.post("/counts")
    def post_counts(count: StockCount, request: Request) -> dict[str, Any]:
        """Reconcile a physical count with the ledger: differences are booked as adjustments."""
        skus = [line.sku for line in count.counts]
        if len(set(skus)) != len(skus):
            raise HTTPException(422, "a sku appears twice in the count")
        reference = count.reference or f"COUNT-{uuid.uuid4().hex[:10]}"
        with stockkeeper(request) as keeper:
            report = keeper.reconcile_counts([(line.sku, line.quantity) for line in count.counts], reference)
        return {"reference": reference, "lines": report}

    @router.post("/deliveries", status_code=201)
    def post_delivery(delivery: Delivery, request: Request) -> dict[str, Any]:
        """Goods received from a supplier (same effect as a supplier.delivery event)."""
        event = SupplierDelivery(delivery_id=delivery.delivery_id, sku=delivery.sku, quantity=delivery.quantity,
                                 delivered_at=delivery.delivered_at or runtime.clock.now())
        with stockkeeper(request) as keeper:
            outcome = keeper.receive_delivery(event)
        return {"delivery_id": delivery.delivery_id, "outcome": outcome, **stock_figures(delivery.sku)}

    @router.get("/reservations/{order_id}")
    def get_reservation(order_id: str) -> dict[str, Any]:
        with Session(runtime.engine) as session:
            r = session.get(InventoryReservation, order_id)
            if r is None:
                raise HTTPException(404, f"no reservation for order {order_id}")
            return {"order_id": r.order_id, "status": r.status, "priority_rank": r.priority_rank,
                    "presale": r.presale, "needs": store.needs_of(r), "updated_at": iso(r.updated_at)}

    return router


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


