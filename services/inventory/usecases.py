"""The inventory's order use cases, shared by Kafka handlers (handlers.py) and HTTP routes:
reserve (all lines or none, across warehouses), release on cancellation, ship a part, fill
waiting orders in rank. Goods in, counts and the catalogue: usecases_goods.py; what a new stock
level sets off: levels.py.

Each takes `(uow, message, policy)` and reads load -> decide -> save -> publish: the store's named
reads, the domain's pure decisions (domain.py; the allocation: allocation.py; an order's
reservation: reservation.py), the store's conditional writes and ledger lines, then
`uow.publish`. Every ledger line names `uow.actor` and the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.inventory import store
from services.inventory.allocation import Parts, Waiting, plan_fills, usable_after_protection
from services.inventory.domain import (
    InventoryPolicy,
    ReservationDecision,
    Unbookable,
    decide_order,
    needed_per_sku,
    shelf_short,
    shipped_after_release,
    unknown_skus,
)
from services.inventory.levels import react_to_level, record
from services.inventory.reservation import SKU_UNKNOWN, dispatch, fill, release
from services.inventory.store.stock import Fresh
from shared.event_parts import DEFAULT_WAREHOUSE
from shared.events import (
    OrderAccepted,
    OrderCancelled,
    OrderLine,
    ShipmentDispatched,
    SkuQuantity,
    StockBackordered,
    StockReleased,
    StockReserved,
    StockSkuUnknown,
)
from shared.unit_of_work import UnitOfWork

__all__ = ["fill_waiting_orders", "release_order", "reserve_order", "ship_order", "stock_reserved"]

# ---------------------------------------------------------------------------------------------
# Orders: reserve (all lines or none), release on cancellation, ship, fill waiting orders


def flat(parts: Parts) -> list[tuple[str, str, int]]:
    """(warehouse, sku, units) of every part."""
    return [(part.warehouse, sku, units) for part in parts for sku, units in part.lines]


def reserve_order(uow: UnitOfWork, order: OrderAccepted, policy: InventoryPolicy) -> str:
    """All lines or none (R7), whole from one warehouse or split (allocation.py), every part in
    one transaction: reserved, backordered, sku_unknown (a sku the catalogue lacks: refused,
    nothing waits), or duplicate (decided before, or cancelled before it arrived)."""
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
    ranking = store.ranking(session)
    ranked = ranking(order.region)
    decision = decide_order(needs, stock, usable_after_protection(outlook.available, outlook.ahead), ranked,
                            order.split_policy)

    fresh = Fresh({}, {})  # the rows as the conditional updates left them
    allocated = flat(decision.parts)  # (warehouse, sku, units): reserved, stored, in the ledger
    if decision.reserve:
        short, fresh = store.try_reserve(session, allocated)
        if short is not None:  # another transaction took the stock since it was read: once more, on fresh figures
            stock = store.sku_views(session, needs)
            usable = usable_after_protection(store.available_by_warehouse(session, needs), outlook.ahead)
            decision = decide_order(needs, stock, usable, ranked, order.split_policy)
            allocated = flat(decision.parts)
            if decision.reserve:
                short, fresh = store.try_reserve(session, allocated)
                if short is not None:  # refused twice: it waits, every line missing
                    decision = ReservationDecision(reserve=False, missing=dict(needs))
    store.add_reservation(session, order, needs, status=decision.status, presale=decision.presale, now=now)
    if decision.reserve:
        store.add_allocation(session, order.order_id, allocated)
        record_reserved(uow, order.order_id, allocated)
    else:
        store.add_to_queue(session, order.order_id, order.priority_rank, needs,
                           home=ranking.home(order.region, order.split_policy))

    uow.publish(decided(order, decision, now), key=order.order_id)

    sold_out = shelf_short(needs, decision.missing, stock)
    touched = touched_warehouses(decision.parts)
    for sku in sorted(set(needs) & set(stock)):
        react_to_level(uow, policy, sku, sold_out_hint=sku in sold_out, row=fresh.totals.get(sku),
                       warehouses=touched.get(sku) if decision.reserve else None, here=fresh.here.get(sku))
    return decision.status


def touched_warehouses(parts: Parts) -> dict[str, list[str]]:
    touched: dict[str, list[str]] = {}
    for part in parts:
        for sku, _units in part.lines:
            touched.setdefault(sku, []).append(part.warehouse)
    return touched


def allocation_rows(session: Any, reservation: Any) -> list[Any]:
    """The order's stored allocation; an order reserved before allocations were stored (and
    not migrated) holds its needs in `main`."""
    rows = store.allocation_of(session, reservation.order_id)
    if rows:
        return rows
    state = {"reserved": "reserved", "released": "released"}.get(reservation.status, "shipped")
    return [_Legacy(None, reservation.order_id, DEFAULT_WAREHOUSE, sku, q, state)
            for sku, q in sorted(store.needs_of(reservation).items())]


class _Legacy:
    __slots__ = ("id", "order_id", "warehouse", "sku", "quantity", "state")

    def __init__(self, id: int | None, order_id: str, warehouse: str, sku: str, quantity: int, state: str) -> None:
        self.id, self.order_id, self.warehouse, self.sku, self.quantity, self.state = (
            id, order_id, warehouse, sku, quantity, state)


def set_state(session: Any, rows: Iterable[Any], state: str) -> None:
    store.set_allocation_state(session, [r.id for r in rows if r.id is not None], state)


def release_order(uow: UnitOfWork, cancellation: OrderCancelled, policy: InventoryPolicy) -> str:
    """Cancellation before dispatch gives reserved stock back (R4), every part not shipped yet,
    each to its warehouse; idempotent."""
    session, now, order_id = uow.session, uow.now, cancellation.order_id
    reservation = store.load_reservation(session, order_id)
    move = release(reservation.status if reservation is not None else None)

    if move.remember:
        store.add_early_cancellation(session, order_id, now=now)
        return move.outcome
    if move.status is None:
        return move.outcome
    given: dict[str, int] = {}
    if move.give_back:
        rows = [r for r in allocation_rows(session, reservation) if r.state == "reserved"]
        store.release(session, [(r.warehouse, r.sku, r.quantity) for r in rows])
        for r in sorted(rows, key=lambda r: (r.sku, r.warehouse)):
            record(uow, r.sku, "release", reference=order_id, warehouse=r.warehouse, reserved_delta=-r.quantity)
            given[r.sku] = given.get(r.sku, 0) + r.quantity
        set_state(session, rows, "released")
    if move.leave_queue:
        store.remove_from_queue(session, order_id)
    store.save_status(session, order_id, move.status, now=now)

    if given:
        lines = [SkuQuantity(sku=s, quantity=q) for s, q in sorted(given.items())]
        uow.publish(StockReleased(order_id=order_id, lines=lines, released_at=now), key=order_id)
    fill_waiting_orders(uow, policy)  # what it held, or held the line for, may let others through
    return move.outcome


def ship_order(uow: UnitOfWork, dispatched: ShipmentDispatched, policy: InventoryPolicy) -> str:
    """Handed to a carrier: the reserved units of the part that left (`warehouse`; absent: every
    part) leave on hand there (so a stock count matches the shelf); the order is shipped with its
    last part; idempotent. A cancellation that crossed the hand-over released the units, yet the
    parcel left: they leave on hand now; if they were promised again meanwhile the shelf is
    short, and a person must know (Unbookable: a dead letter with the reason)."""
    session, now, order_id = uow.session, uow.now, dispatched.order_id
    if dispatched.warehouse is not None and not store.is_warehouse(session, dispatched.warehouse):
        raise Unbookable(f"shipment {dispatched.shipment_id} left warehouse {dispatched.warehouse!r}, which is not "
                         "a known warehouse (GET /warehouses)")
    reservation = (store.load_reservation(session, order_id)
                   if dispatched.replacement_for_case is None else None)
    move = dispatch(reservation.status if reservation is not None else None,
                    replacement=dispatched.replacement_for_case is not None)
    if move.status is None:
        return move.outcome

    rows = allocation_rows(session, reservation)
    if dispatched.warehouse is not None and all(r.warehouse != dispatched.warehouse for r in rows):
        raise Unbookable(f"order {order_id} has no part in warehouse {dispatched.warehouse!r} "
                         f"(its parts: {', '.join(sorted({r.warehouse for r in rows}))})")
    held = "reserved" if move.take_reserved else "released"
    part = [r for r in rows if r.state == held and dispatched.warehouse in (None, r.warehouse)]
    if not part:
        return "duplicate"  # this part left before
    if move.take_reserved:
        store.ship_out(session, [(r.warehouse, r.sku, r.quantity) for r in part])
    for r in sorted(part, key=lambda r: (r.sku, r.warehouse)):
        if move.take_reserved:
            record(uow, r.sku, "dispatch", reference=order_id, warehouse=r.warehouse, on_hand_delta=-r.quantity,
                   reserved_delta=-r.quantity)
        else:
            try:
                store.change_on_hand(session, r.warehouse, r.sku, -r.quantity)
            except ValueError as exc:
                raise shipped_after_release(order_id, r.sku, r.quantity, str(exc)) from exc
            record(uow, r.sku, "dispatch_after_release", reference=order_id, warehouse=r.warehouse,
                   on_hand_delta=-r.quantity)
    set_state(session, part, "shipped")
    if any(r.state != "shipped" for r in rows if r not in part):
        return "part_shipped"  # the order is shipped with its last part
    store.save_status(session, order_id, move.status, now=now)
    return move.outcome


def fill_waiting_orders(uow: UnitOfWork, policy: InventoryPolicy) -> list[str]:
    """Reserve waiting orders that stock now covers, strictly in priority rank (R11), each by
    the allocation rules of its region and split policy (allocation.plan_fills)."""
    session = uow.session
    rows = store.waiting_backorders(session)
    if not rows:
        return []
    ranking = store.ranking(session)
    waiting = [Waiting(order_id=r.order_id, priority_rank=r.priority_rank, needs=store.needs_of(r),
                       ranked=ranking(r.region), policy=r.split_policy,
                       home=ranking.home(r.region, r.split_policy)) for r in rows]
    available = store.available_by_warehouse(session, {sku for order in waiting for sku in order.needs})

    filled: list[str] = []
    touched: dict[str, set[str]] = {}
    for order_id, parts in plan_fills(waiting, available):
        reservation = store.load_reservation(session, order_id)
        status = fill(reservation.status)
        if status is None:
            continue  # another instance filled it since the queue was read
        allocated = flat(parts)
        if store.try_reserve(session, allocated)[0] is not None:
            break  # figures moved under us; the rest waits for the next change, still in rank
        store.remove_from_queue(session, order_id)
        store.save_status(session, order_id, status, now=uow.now)
        store.add_allocation(session, order_id, allocated)
        record_reserved(uow, order_id, allocated)
        lines = [OrderLine.model_validate(line) for line in json.loads(reservation.lines_json)]
        uow.publish(stock_reserved(reservation, lines, uow.now, reservation.awaiting_balance, parts), key=order_id)
        filled.append(order_id)
        for sku, warehouses in touched_warehouses(parts).items():
            touched.setdefault(sku, set()).update(warehouses)

    for sku in sorted(touched):
        react_to_level(uow, policy, sku, sold_out_hint=False, warehouses=touched[sku])
    return filled


def record_reserved(uow: UnitOfWork, order_id: str, allocated: list[tuple[str, str, int]]) -> None:
    """A ledger line per (warehouse, sku, units) reserved, by (sku, warehouse)."""
    actor = str(uow.actor)
    for warehouse, sku, quantity in (allocated if len(allocated) == 1 else
                                     sorted(allocated, key=lambda p: (p[1], p[0]))):
        store.record(uow.session, sku, "reservation", at=uow.now, actor=actor, reference=order_id,
                     reserved_delta=quantity, warehouse=warehouse)


def decided(order: OrderAccepted, decision: ReservationDecision, at: datetime) -> StockReserved | StockBackordered:
    if decision.reserve:
        return stock_reserved(order, list(order.lines), at, order.balance_due_by is not None, decision.parts)
    return StockBackordered(order_id=order.order_id, presale=decision.presale, expected_date=decision.expected_date,
                            missing=[SkuQuantity(sku=s, quantity=q) for s, q in sorted(decision.missing.items())],
                            backordered_at=at)


def stock_reserved(order: Any, lines: list[OrderLine], at: datetime, awaiting_balance: bool = False,
                   parts: Parts = ()) -> StockReserved:
    """`order`: the incoming order, or a waiting one's reservation row: both carry these fields.
    `awaiting_balance`: a deposit presale's stock, held until its balance (logistics does not pick it).
    `parts`: where each part is reserved (one when whole), one shipment each."""
    return StockReserved(order_id=order.order_id, order_type=order.order_type, priority_class=order.priority_class,
                         priority_rank=order.priority_rank, lines=lines, region=order.region, paid_at=order.paid_at,
                         reserved_at=at, awaiting_balance=awaiting_balance,
                         # as plain dicts: validated into ShipmentPart/SkuQuantity in the event's own
                         # validation, without a model built in Python for each
                         parts=[{"warehouse": p.warehouse, "lines": [{"sku": s, "quantity": q} for s, q in p.lines]}
                                for p in parts])
