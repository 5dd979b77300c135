"""HTTP routes of the inventory service: catalog edits, stock queries (R12), counts, deliveries.

Bodies and answers: schemas.py. Lists page with `limit` + `cursor` (shared/pagination.py);
`POST /counts` and `POST /deliveries` honour `Idempotency-Key` (shared/idempotency.py). A change
that would take a sku's figures past MAX_STOCK_UNITS is refused with 422 and the reason, an
unknown sku is a 404. Who may call which route: access.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from services.inventory import store
from services.inventory import usecases_goods as usecases
from services.inventory.domain import InventoryPolicy, is_low, threshold
from services.inventory.models import InventorySku
from services.inventory.schemas import (
    CountAnswer,
    Delivery,
    DeliveryAnswer,
    LedgerEntry,
    LedgerPage,
    OpenReplenishment,
    ReservationAnswer,
    SkuAnswer,
    SkuChange,
    SkuEdit,
    StockCount,
    StockFigures,
    StockPage,
    WarehouseStock,
)
from services.inventory.levels import warehouse_state
from services.inventory.stock_cover import cover_hours
from services.inventory.stock_snapshots import sell_rates
from shared.db import read_session
from shared.contract_types import Sku
from shared.events import SupplierDelivery
from shared.http_app import RuntimeDep, Work, service_policy
from shared.http_problems import Problem
from shared.idempotency import IdempotencyKey, create_once
from shared.pagination import PageRequest, next_cursor, page_request
from shared.unit_of_work import UnitOfWork

PolicyDep = Annotated[InventoryPolicy, Depends(service_policy)]
Page = Annotated[PageRequest, Depends(page_request)]

router = APIRouter(tags=["inventory"])


@router.put("/skus/{sku}", response_model=SkuAnswer)
def put_sku(sku: Sku, change: SkuChange, work: Work, policy: PolicyDep) -> SkuAnswer:
    """Create a sku or change its catalog fields (tier, planned stock, threshold, mode). Admin only.
    Idempotent by nature: the same body again changes nothing."""
    with work() as uow:
        outcome = usecases.edit_sku(uow, SkuEdit(sku=sku, **change.model_dump()), policy)
        return SkuAnswer(outcome=outcome, **figures_now(uow.session, sku, policy, uow.now).model_dump())


@router.get("/stock", response_model=StockPage)
def list_stock(runtime: RuntimeDep, policy: PolicyDep, page: Page) -> StockPage:
    """Every sku in name order, a page at a time."""
    after = page.after_matching(str)
    now = runtime.clock.now()
    with read_session(runtime.engine) as session:
        rows = store.skus_after(session, after[0] if after else None, page.fetch_limit)
        return StockPage(as_of=now, skus=describe(session, rows[:page.limit], policy, now),
                         next_cursor=next_cursor(rows, page.limit, _sku_key))


LOW_SCAN = 500
"""Skus read at a time while looking for low ones: lowness depends on the policy, so it is
decided here (domain.is_low), not by the query."""


@router.get("/stock/low", response_model=StockPage)
def low_stock(runtime: RuntimeDep, policy: PolicyDep, page: Page) -> StockPage:
    """Skus below their replenishment threshold (R9), with what is already asked for."""
    after = page.after_matching(str)
    cursor = after[0] if after else None
    now = runtime.clock.now()
    with read_session(runtime.engine) as session:
        low: list[InventorySku] = []
        while len(low) < page.fetch_limit:
            rows = store.skus_after(session, cursor, LOW_SCAN)
            low += [row for row in rows if is_low(store.sku_state(row), policy)]
            if len(rows) < LOW_SCAN:
                break
            cursor = rows[-1].sku
        low = low[:page.fetch_limit]
        return StockPage(as_of=now, skus=describe(session, low[:page.limit], policy, now),
                         next_cursor=next_cursor(low, page.limit, _sku_key))


@router.get("/stock/{sku}", response_model=StockFigures)
def get_stock(sku: str, runtime: RuntimeDep, policy: PolicyDep) -> StockFigures:
    with read_session(runtime.engine) as session:
        return figures_now(session, sku, policy, runtime.clock.now())


@router.get("/ledger/{sku}", response_model=LedgerPage)
def ledger(sku: str, runtime: RuntimeDep, page: Page) -> LedgerPage:
    """Every change to the sku's figures with its cause and actor, oldest first, a page at a
    time; the totals and `consistent` are the whole ledger's."""
    after = page.after_matching(int)
    with read_session(runtime.engine) as session:
        row = store.load_sku(session, sku)
        if row is None:
            raise Problem(404, "not-found", f"unknown sku {sku!r}")
        entries = store.ledger_entries(session, sku, after_id=after[0] if after else None, limit=page.fetch_limit)
        on_hand, reserved = store.ledger_totals(session, sku)
        return LedgerPage(
            sku=sku, on_hand=row.on_hand, reserved=row.reserved, available=row.available,
            ledger_on_hand=on_hand, ledger_reserved=reserved,
            consistent=on_hand == row.on_hand and reserved == row.reserved,
            entries=[LedgerEntry(cause=e.cause, on_hand_delta=e.on_hand_delta, reserved_delta=e.reserved_delta,
                                 reference=e.reference, actor=e.actor, at=e.at,
                                 warehouse=e.warehouse) for e in entries[:page.limit]],
            next_cursor=next_cursor(entries, page.limit, lambda e: (e.id,)))


@router.post("/counts", response_model=CountAnswer)
def post_counts(count: StockCount, work: Work, policy: PolicyDep, key: IdempotencyKey) -> Any:
    """Reconcile a physical count with the ledger: differences are booked as adjustments."""
    return create_once(work, "post-counts", key, count, 200,
                lambda uow: CountAnswer.model_validate(usecases.reconcile_counts(uow, count, policy)))


@router.post("/deliveries", status_code=201, response_model=DeliveryAnswer)
def post_delivery(delivery: Delivery, work: Work, policy: PolicyDep, key: IdempotencyKey) -> Any:
    """Goods received from a supplier (same effect as a supplier.delivery event)."""
    def receive(uow: UnitOfWork) -> DeliveryAnswer:
        outcome = usecases.receive_delivery(uow, SupplierDelivery(
            delivery_id=delivery.delivery_id, sku=delivery.sku, quantity=delivery.quantity,
            delivered_at=delivery.delivered_at or uow.now, warehouse=delivery.warehouse), policy)
        figures = figures_now(uow.session, delivery.sku, policy, uow.now)
        return DeliveryAnswer(delivery_id=delivery.delivery_id, outcome=outcome, **figures.model_dump())

    return create_once(work, "post-deliveries", key, delivery, 201, receive)


@router.get("/reservations/{order_id}", response_model=ReservationAnswer)
def get_reservation(order_id: str, runtime: RuntimeDep) -> ReservationAnswer:
    with read_session(runtime.engine) as session:
        r = store.load_reservation(session, order_id)
        parts = [{"warehouse": a.warehouse, "sku": a.sku, "quantity": a.quantity, "state": a.state}
                 for a in store.allocation_of(session, order_id)] if r is not None else []
    if r is None:
        raise Problem(404, "not-found", f"no reservation for order {order_id}")
    return ReservationAnswer(order_id=r.order_id, status=r.status, priority_rank=r.priority_rank, presale=r.presale,
                             awaiting_balance=r.awaiting_balance, needs=store.needs_of(r), updated_at=r.updated_at,
                             parts=parts)


# ---------------------------------------------------------------------------------------------


def figures_now(session: Session, sku: str, policy: InventoryPolicy, now: datetime) -> StockFigures:
    row = store.load_sku(session, sku)
    if row is None:
        raise Problem(404, "not-found", f"unknown sku {sku!r}")
    return describe(session, [row], policy, now)[0]


def describe(session: Session, rows: Sequence[InventorySku], policy: InventoryPolicy,
             now: datetime) -> list[StockFigures]:
    """The skus' figures with their threshold, waiting orders and open request."""
    requests = store.open_requests(session, (row.open_request_id for row in rows))
    waiting = store.waiting_orders(session, (row.sku for row in rows))
    pace = sell_rates(session, rows, policy, now)
    per_warehouse = store.stock_rows(session, (row.sku for row in rows))
    answers = []
    for row in rows:
        state = store.sku_state(row)
        here = []
        for wh, stock in sorted(per_warehouse.get(row.sku, {}).items()):
            wstate = warehouse_state(row, stock)
            here.append(WarehouseStock(warehouse=wh, planned_stock=stock.planned_stock, on_hand=stock.on_hand,
                                       reserved=stock.reserved, available=stock.available,
                                       threshold=threshold(wstate, policy), low=is_low(wstate, policy),
                                       open_request_id=stock.open_request_id))
        request = requests.get(row.open_request_id) if row.open_request_id else None
        answers.append(StockFigures(
            sku=row.sku, name=row.name, bin=row.bin, tier=row.tier, planned_stock=row.planned_stock, on_hand=row.on_hand,
            reserved=row.reserved, available=row.available, mode=row.mode, threshold=threshold(state, policy),
            low=is_low(state, policy), expected_date=row.expected_date, discount_percent=row.discount_percent,
            discount_until=row.discount_until, waiting_orders=waiting.get(row.sku, 0),
            open_replenishment=None if request is None else OpenReplenishment(
                request_id=request.request_id, quantity=request.quantity, urgent=request.urgent,
                requested_at=request.requested_at, expires_at=request.expires_at,
                expired=request.expires_at <= now),
            sell_rate_per_hour=pace[row.sku], cover_hours=cover_hours(row.available, pace[row.sku]), warehouses=here))
    return answers


def _sku_key(row: InventorySku) -> tuple[str]:
    return (row.sku,)


async def unknown_sku(_request: Request, exc: Exception) -> JSONResponse:
    """store.UnknownSku, from any route: 404 with the reason (app.py installs it)."""
    return Problem(404, "not-found", str(exc)).response()
