"""The inventory's use cases, shared by Kafka handlers (handlers.py) and HTTP routes (api.py).

Each takes `(uow, message, policy)` and reads load -> decide -> save -> publish: the store's named
reads, the domain's pure decisions (domain.py; an order's reservation: reservation.py), the
store's conditional writes and ledger lines, then `uow.publish`. Then it reacts to the new stock
levels it left: waiting orders filled in rank, replenishment requests, the sell-out playbook.
Every ledger line names `uow.actor`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.inventory import store
from services.inventory.catalog import CatalogEntry, parse_entry
from services.inventory.domain import (
    ChangeMode,
    InventoryPolicy,
    RequestReplenishment,
    ReservationDecision,
    back_in_stock,
    check_catalog_edit,
    check_catalog_fields,
    decide_after_refusal,
    decide_reservation,
    needed_per_sku,
    on_hand_after,
    plan_fills,
    reconcile,
    set_by_operator,
    shelf_short,
    shipped_after_release,
    stock_signals,
    unknown_skus,
)
from services.inventory.reservation import SKU_UNKNOWN, dispatch, fill, release
from services.inventory.schemas import SkuEdit, StockCount
from shared.events import (
    OrderAccepted,
    OrderCancelled,
    OrderLine,
    ReplenishmentRequested,
    ReturnReceived,
    ShipmentDispatched,
    SkuModeChanged,
    SkuQuantity,
    StockBackordered,
    StockReleased,
    StockReserved,
    StockSkuUnknown,
    SupplierDelivery,
)
from shared.unit_of_work import UnitOfWork


# ---------------------------------------------------------------------------------------------
# Orders: reserve (all lines or none), release on cancellation, ship, fill waiting orders


def reserve_order(uow: UnitOfWork, order: OrderAccepted, policy: InventoryPolicy) -> str:
    """All lines or none (R7): reserved, backordered, sku_unknown (a sku the catalogue lacks:
    refused, nothing waits), or duplicate (decided before, or cancelled before it arrived)."""
    session, now = uow.session, uow.now
    needs = needed_per_sku((line.sku, line.quantity) for line in order.lines)
    outlook = store.order_outlook(session, order.order_id, needs, order.priority_rank)
    if outlook.decided:
        return "duplicate"

    stock = outlook.stock
    unknown = unknown_skus(needs, stock)
    if unknown:
        store.add_reservation(session, order, needs, status=SKU_UNKNOWN, presale=False, now=now)
        uow.publish(StockSkuUnknown(order_id=order.order_id, skus=unknown, found_at=now), key=order.order_id)
        return SKU_UNKNOWN
    decision = decide_reservation(needs, stock, outlook.ahead)

    fresh: dict[str, Any] = {}  # the skus as the conditional updates left them
    if decision.reserve:
        short, fresh = store.try_reserve(session, needs)
        if short is not None:  # another transaction took the stock since it was read
            stock = store.sku_views(session, needs)
            decision = decide_after_refusal(needs, stock, outlook.ahead)
    store.add_reservation(session, order, needs, status=decision.status, presale=decision.presale, now=now)
    if decision.reserve:
        record_reserved(uow, order.order_id, needs)
    else:
        store.add_to_queue(session, order.order_id, order.priority_rank, needs)

    uow.publish(decided(order, decision, now), key=order.order_id)

    sold_out = shelf_short(needs, decision.missing, stock)
    for sku in sorted(set(needs) & set(stock)):
        react_to_level(uow, policy, sku, sold_out_hint=sku in sold_out, row=fresh.get(sku))
    return decision.status


def release_order(uow: UnitOfWork, cancellation: OrderCancelled, policy: InventoryPolicy) -> str:
    """Cancellation before dispatch gives reserved stock back (R4); idempotent."""
    session, now, order_id = uow.session, uow.now, cancellation.order_id
    reservation = store.load_reservation(session, order_id)
    move = release(reservation.status if reservation is not None else None)

    if move.remember:
        store.add_early_cancellation(session, order_id, now=now)
        return move.outcome
    if move.status is None:
        return move.outcome
    needs = store.needs_of(reservation)
    if move.give_back:
        for sku, quantity in sorted(needs.items()):
            store.release(session, sku, quantity)
            record(uow, sku, "release", reference=order_id, reserved_delta=-quantity)
    if move.leave_queue:
        store.remove_from_queue(session, order_id)
    store.save_status(session, order_id, move.status, now=now)

    if move.give_back:
        lines = [SkuQuantity(sku=s, quantity=q) for s, q in sorted(needs.items())]
        uow.publish(StockReleased(order_id=order_id, lines=lines, released_at=now), key=order_id)
    fill_waiting_orders(uow, policy)  # what it held, or held the line for, may let others through
    return move.outcome


def ship_order(uow: UnitOfWork, dispatched: ShipmentDispatched, policy: InventoryPolicy) -> str:
    """Handed to a carrier: the reserved units leave on hand (so a stock count matches the
    shelf); idempotent. A cancellation that crossed the hand-over released the units, yet the
    parcel left: they leave on hand now; if they were promised again meanwhile the shelf is
    short, and a person must know (Unbookable: a dead letter with the reason)."""
    session, now, order_id = uow.session, uow.now, dispatched.order_id
    reservation = (store.load_reservation(session, order_id)
                   if dispatched.replacement_for_case is None else None)
    move = dispatch(reservation.status if reservation is not None else None,
                    replacement=dispatched.replacement_for_case is not None)
    if move.status is None:
        return move.outcome

    for sku, quantity in sorted(store.needs_of(reservation).items()):
        if move.take_reserved:
            store.ship_out(session, sku, quantity)
            record(uow, sku, "dispatch", reference=order_id, on_hand_delta=-quantity, reserved_delta=-quantity)
        else:
            try:
                store.change_on_hand(session, sku, -quantity)
            except ValueError as exc:
                raise shipped_after_release(order_id, sku, quantity, str(exc)) from exc
            record(uow, sku, "dispatch_after_release", reference=order_id, on_hand_delta=-quantity)
    store.save_status(session, order_id, move.status, now=now)
    return move.outcome


def fill_waiting_orders(uow: UnitOfWork, policy: InventoryPolicy) -> list[str]:
    """Reserve waiting orders that stock now covers, strictly in priority rank (R11)."""
    session = uow.session
    waiting = store.waiting_backorders(session)
    if not waiting:
        return []
    skus = {sku for order in waiting for sku in order.needs}
    available = {sku: view.available for sku, view in store.sku_views(session, skus).items()}

    filled: list[str] = []
    for order_id in plan_fills(waiting, available):
        reservation = store.load_reservation(session, order_id)
        status = fill(reservation.status)
        if status is None:
            continue  # another instance filled it since the queue was read
        needs = store.needs_of(reservation)
        if store.try_reserve(session, needs)[0] is not None:
            break  # figures moved under us; the rest waits for the next change, still in rank
        store.remove_from_queue(session, order_id)
        store.save_status(session, order_id, status, now=uow.now)
        record_reserved(uow, order_id, needs)
        lines = [OrderLine.model_validate(line) for line in json.loads(reservation.lines_json)]
        uow.publish(stock_reserved(reservation, lines, uow.now, reservation.awaiting_balance), key=order_id)
        filled.append(order_id)

    touched = {sku for order in waiting if order.order_id in filled for sku in order.needs}
    for sku in sorted(touched):
        react_to_level(uow, policy, sku, sold_out_hint=False)
    return filled


def record_reserved(uow: UnitOfWork, order_id: str, needs: dict[str, int]) -> None:
    actor = str(uow.actor)
    for sku, quantity in sorted(needs.items()):
        store.record(uow.session, sku, "reservation", at=uow.now, actor=actor, reference=order_id,
                     reserved_delta=quantity)


def decided(order: OrderAccepted, decision: ReservationDecision, at: datetime) -> StockReserved | StockBackordered:
    if decision.reserve:
        return stock_reserved(order, list(order.lines), at, order.balance_due_by is not None)
    return StockBackordered(order_id=order.order_id, presale=decision.presale, expected_date=decision.expected_date,
                            missing=[SkuQuantity(sku=s, quantity=q) for s, q in sorted(decision.missing.items())],
                            backordered_at=at)


def stock_reserved(order: Any, lines: list[OrderLine], at: datetime, awaiting_balance: bool = False) -> StockReserved:
    """`order`: the incoming order, or a waiting one's reservation row: both carry these fields.
    `awaiting_balance`: a deposit presale's stock, held until its balance (logistics does not pick it)."""
    return StockReserved(order_id=order.order_id, order_type=order.order_type, priority_class=order.priority_class,
                         priority_rank=order.priority_rank, lines=lines, region=order.region, paid_at=order.paid_at,
                         reserved_at=at, awaiting_balance=awaiting_balance)


# ---------------------------------------------------------------------------------------------
# Goods in and counted: supplier deliveries, restocked returns, physical counts (R11, R12, R23)


def receive_delivery(uow: UnitOfWork, delivery: SupplierDelivery, policy: InventoryPolicy) -> str:
    """Goods from a supplier: on hand, close the open request, fill waiting orders in rank
    (R11), end presale once there is stock to sell. Counted once per delivery id."""
    session, now, sku = uow.session, uow.now, delivery.sku
    if store.delivery_known(session, delivery.delivery_id):
        return "duplicate"
    row = store.require_sku(session, sku)
    # Refused before anything is written: a delivery past the stock limit is not booked at all.
    on_hand_after(sku, row.on_hand, delivery.quantity, f"delivery {delivery.delivery_id}")

    store.add_delivery(session, delivery_id=delivery.delivery_id, sku=sku, quantity=delivery.quantity,
                       delivered_at=delivery.delivered_at, now=now)
    store.change_on_hand(session, sku, delivery.quantity)
    record(uow, sku, "delivery", reference=delivery.delivery_id, on_hand_delta=delivery.quantity)
    closed = store.close_replenishment(session, sku)
    if closed is not None:
        store.close_request(session, closed, at=now, by=f"delivery {delivery.delivery_id}")

    fill_waiting_orders(uow, policy)
    change = back_in_stock(store.sku_state(store.require_sku(session, sku)))
    if change is not None:
        change_mode(uow, sku, change)
    react_to_level(uow, policy, sku, sold_out_hint=False)
    return "received"


def restock_return(uow: UnitOfWork, received: ReturnReceived, policy: InventoryPolicy) -> str:
    """Returned goods that passed inspection go back on hand (R23); once per case."""
    session = uow.session
    if store.restock_known(session, received.case_id):
        return "duplicate"
    store.add_restock(session, case_id=received.case_id, order_id=received.order_id,
                      restocked=received.inspection_passed, now=uow.now)
    if not received.inspection_passed:
        return "not_restocked"
    for sku, quantity in sorted(needed_per_sku((line.sku, line.quantity) for line in received.lines).items()):
        on_hand_after(sku, store.require_sku(session, sku).on_hand, quantity, f"return {received.case_id}")
        store.change_on_hand(session, sku, quantity)
        record(uow, sku, "return", reference=received.case_id, on_hand_delta=quantity)
    fill_waiting_orders(uow, policy)
    return "restocked"


def reconcile_counts(uow: UnitOfWork, count: StockCount, policy: InventoryPolicy) -> dict[str, Any]:
    """A physical count against the ledger (R12): differences become count adjustments and are
    reported back, under the count's reference (generated when it has none)."""
    session = uow.session
    skus = [line.sku for line in count.counts]
    if len(set(skus)) != len(skus):
        raise ValueError("a sku appears twice in the count")
    reference = count.reference or f"COUNT-{uuid.uuid4().hex[:10]}"

    lines: list[dict[str, Any]] = []
    grew = False
    for line in count.counts:
        row = store.require_sku(session, line.sku)
        ledger_on_hand, _ = store.ledger_totals(session, line.sku)
        result = reconcile(row.on_hand, line.quantity, row.reserved, line.sku)
        if result.difference:
            store.change_on_hand(session, line.sku, result.difference)
            record(uow, line.sku, "count_adjustment", reference=reference, on_hand_delta=result.difference)
            grew = grew or result.difference > 0
        lines.append({"sku": line.sku, "recorded_on_hand": result.recorded, "ledger_on_hand": ledger_on_hand,
                      "counted": line.quantity, "difference": result.difference, "adjusted": result.difference != 0})

    if grew:
        fill_waiting_orders(uow, policy)
    for line in count.counts:
        react_to_level(uow, policy, line.sku, sold_out_hint=False)
    return {"reference": reference, "lines": lines}


# ---------------------------------------------------------------------------------------------
# The catalogue: skus edited by an admin, or loaded from the catalog file at start-up


def edit_sku(uow: UnitOfWork, edit: SkuEdit, policy: InventoryPolicy) -> str:
    """PUT /skus/{sku}: create a sku, or change its catalog fields (tier, planned stock,
    threshold, mode). Returns created or updated."""
    row = store.load_sku(uow.session, edit.sku)
    planned = edit.planned_stock
    if planned is None and edit.forecast is None:
        if row is None:
            raise ValueError("planned_stock or forecast is required for a new sku")
        planned = row.planned_stock
    entry = parse_entry({"sku": edit.sku, "tier": edit.tier, "planned_stock": planned, "forecast": edit.forecast,
                         "on_hand": edit.on_hand, "threshold_percent": edit.threshold_percent,
                         "name": edit.name or "", "bin": edit.bin}, place="body")
    return upsert_sku(uow, policy, entry, row=row, mode=edit.mode)


def load_catalog(uow: UnitOfWork, entries: Iterable[CatalogEntry], policy: InventoryPolicy) -> list[str]:
    """The catalog file at start-up: new skus with their opening stock; existing ones get their
    catalog fields and keep their stock figures."""
    return [upsert_sku(uow, policy, entry, row=store.load_sku(uow.session, entry.sku), from_catalog=True)
            for entry in entries]


def upsert_sku(uow: UnitOfWork, policy: InventoryPolicy, entry: CatalogEntry, *, row: Any,
               from_catalog: bool = False, mode: str | None = None) -> str:
    """`row`: the sku as it is now (None: a new one). On-hand stock of an existing sku changes
    only through deliveries, returns and counts, so every change has its cause in the ledger."""
    session, now, sku = uow.session, uow.now, entry.sku
    check_catalog_fields(sku, tier=entry.tier, planned_stock=entry.planned_stock, on_hand=entry.on_hand, mode=mode)
    if row is not None:
        check_catalog_edit(sku, recorded_on_hand=row.on_hand, asked_on_hand=entry.on_hand, from_catalog=from_catalog)

    if row is None:
        on_hand = entry.on_hand or 0
        store.add_sku(session, sku=sku, name=entry.name, tier=entry.tier, planned_stock=entry.planned_stock,
                      on_hand=on_hand, threshold_percent=entry.threshold_percent, now=now, bin=entry.bin or None)
        if on_hand:
            record(uow, sku, "initial_stock", reference="catalog" if from_catalog else "PUT /skus",
                   on_hand_delta=on_hand)
    else:
        store.save_catalog_fields(session, sku, name=entry.name or row.name, tier=entry.tier,
                                  planned_stock=entry.planned_stock, threshold_percent=entry.threshold_percent,
                                  now=now, bin=row.bin if entry.bin is None else (entry.bin or None))
    change = set_by_operator(store.require_sku(session, sku).mode, mode) if mode is not None else None
    if change is not None:
        change_mode(uow, sku, change)

    if row is None or change is not None:
        fill_waiting_orders(uow, policy)  # orders may be waiting for presale to end (or, backordered before
        # stock.sku_unknown existed, for a sku the catalog lacked)
    react_to_level(uow, policy, sku, sold_out_hint=False)
    return "created" if row is None else "updated"


# ---------------------------------------------------------------------------------------------
# What a new stock level sets off (R9, R10), and the ledger line of every change of figures


def record(uow: UnitOfWork, sku: str, cause: str, *, reference: str, on_hand_delta: int = 0,
           reserved_delta: int = 0) -> None:
    """A ledger line naming the unit of work's actor (R12)."""
    store.record(uow.session, sku, cause, at=uow.now, actor=str(uow.actor), reference=reference,
                 on_hand_delta=on_hand_delta, reserved_delta=reserved_delta)


def react_to_level(uow: UnitOfWork, policy: InventoryPolicy, sku: str, *, sold_out_hint: bool,
                   row: Any = None) -> None:
    """`row`: the sku as this transaction's own UPDATE returned it, else it is read afresh."""
    row = row if row is not None else store.require_sku(uow.session, sku)
    signals = stock_signals(store.sku_state(row), uow.now, policy, sold_out=sold_out_hint or row.available == 0)
    for signal in signals:
        if isinstance(signal, RequestReplenishment):
            request_replenishment(uow, policy, sku, signal)
        else:
            change_mode(uow, sku, signal)


def request_replenishment(uow: UnitOfWork, policy: InventoryPolicy, sku: str, signal: RequestReplenishment) -> None:
    """Once per episode: the claim on the sku's row decides which transaction asks."""
    session, now = uow.session, uow.now
    request_id = f"R-{uuid.uuid4().hex[:12]}"
    expires_at = now + policy.request_expiry
    replaced = store.claim_replenishment(session, sku, request_id=request_id, urgent=signal.urgent, now=now,
                                         expires_at=expires_at)
    if replaced is False:
        return  # a request is already open for this episode
    if replaced:
        store.close_request(session, replaced, at=now, by=f"replaced by {request_id}")
    store.add_request(session, request_id=request_id, sku=sku, quantity=signal.quantity, urgent=signal.urgent,
                      reason=signal.reason, requested_at=now, expires_at=expires_at)
    uow.publish(ReplenishmentRequested(request_id=request_id, sku=sku, quantity=signal.quantity, urgent=signal.urgent,
                                       reason=signal.reason, requested_at=now), key=sku)


def change_mode(uow: UnitOfWork, sku: str, change: ChangeMode) -> None:
    """From `change.from_mode` only: when another transaction changed it first, nothing happens."""
    if not store.claim_mode_change(uow.session, sku, from_mode=change.from_mode, to_mode=change.mode,
                                   expected_date=change.expected_date, discount_percent=change.discount_percent,
                                   discount_until=change.discount_until):
        return
    uow.publish(SkuModeChanged(sku=sku, mode=change.mode, reason=change.reason, expected_date=change.expected_date,
                               discount_percent=change.discount_percent, discount_until=change.discount_until,
                               changed_at=uow.now), key=sku)
