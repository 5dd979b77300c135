"""The inventory's use cases, shared by Kafka handlers and HTTP routes: each runs inside the
caller's transaction and publishes through the caller's outbox.

Flow of every command: read what the rule needs -> ask the domain -> change figures with the
store's conditional updates (ledger row for each) -> publish the outcome -> react to the new
stock level (fill waiting orders, replenishment, sell-out playbook).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from services.inventory import store
from services.inventory.catalog import CatalogEntry
from services.inventory.domain import (
    MODES,
    PRESALE_MODES,
    TIERS,
    ChangeMode,
    InventoryPolicy,
    RequestReplenishment,
    back_in_stock,
    decide_reservation,
    needed_per_sku,
    on_hand_after,
    plan_fills,
    reconcile,
    stock_signals,
    within_stock_limit,
)
from services.inventory.models import (
    InventoryDelivery,
    InventoryReplenishmentRequest,
    InventoryReservation,
    InventoryRestock,
    InventorySku,
)
from shared.events import (
    Contract,
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
    SupplierDelivery,
    order_lines_json,
)
from shared.messaging import InvalidEvent
from shared.topics import INVENTORY_RESERVATIONS, INVENTORY_STOCK, TopicSpec


class Publish(Protocol):
    def __call__(self, spec: TopicSpec, type_: str, payload: Contract, *, key: str) -> Any: ...


@dataclass
class Stockkeeper:
    """One transaction's view: where to write, how to publish, what time it is, which policy,
    and who is acting (every ledger line names them: `http:<subject>(<roles>)`,
    `kafka:<topic>(source=...)`, `catalog:<file>`)."""

    session: Session
    publish: Publish
    now: datetime
    policy: InventoryPolicy
    actor: str = ""

    # -- orders -----------------------------------------------------------------------------

    def reserve_order(self, order: OrderAccepted) -> str:
        """All lines or none (R7). Returns the outcome: reserved, backordered or duplicate."""
        needs = needed_per_sku((line.sku, line.quantity) for line in order.lines)
        outlook = store.order_outlook(self.session, order.order_id, needs, order.priority_rank)
        if outlook.decided:
            return "duplicate"  # already decided, or cancelled before it arrived
        rows, ahead = outlook.rows, outlook.ahead
        decision = decide_reservation(needs, {sku: store.sku_view(row) for sku, row in rows.items()}, ahead)
        fresh: dict[str, Any] = {}
        if decision.reserve:
            short, fresh = store.try_reserve(self.session, needs)
            if short is not None:  # another transaction took the stock since we read it
                rows = store.load_skus(self.session, needs)
                decision = decide_reservation(needs, {s: store.sku_view(r) for s, r in rows.items()}, ahead)
                if decision.reserve:
                    decision = decide_reservation(needs, {})  # every line missing: stay safe

        status = "reserved" if decision.reserve else "backordered"
        store.add_reservation(self.session, {
            "order_id": order.order_id, "status": status, "order_type": order.order_type,
            "priority_class": order.priority_class, "priority_rank": order.priority_rank, "region": order.region,
            "paid_at": order.paid_at, "lines_json": order_lines_json(order.lines),
            "needs_json": json.dumps(needs), "presale": decision.presale, "created_at": self.now,
            "updated_at": self.now,
        })
        if decision.reserve:
            self._reserved(order, list(order.lines), needs)
        else:
            store.add_to_queue(self.session, order.order_id, order.priority_rank, needs)
            self.publish(INVENTORY_RESERVATIONS, "stock.backordered", StockBackordered(
                order_id=order.order_id,
                missing=[SkuQuantity(sku=s, quantity=q) for s, q in sorted(decision.missing.items())],
                presale=decision.presale, expected_date=decision.expected_date, backordered_at=self.now,
            ), key=order.order_id)

        # Sold out means the shelf itself is short, not that waiting orders have first claim on it.
        short_skus = {s for s in decision.missing
                      if s in rows and rows[s].mode not in PRESALE_MODES and rows[s].available < needs[s]}
        for sku in sorted(set(needs) & set(rows)):
            self._react_to_level(sku, sold_out_hint=sku in short_skus, row=fresh.get(sku))
        return status

    def release_order(self, cancellation: OrderCancelled) -> str:
        """Cancellation before dispatch gives reserved stock back (R4); idempotent."""
        reservation = self.session.get(InventoryReservation, cancellation.order_id)
        if reservation is None:
            # Cancelled before its acceptance reached us: remember, so the late order reserves nothing.
            self.session.add(InventoryReservation(order_id=cancellation.order_id, status="cancelled",
                                                  created_at=self.now, updated_at=self.now))
            return "cancelled"
        if reservation.status == "reserved":
            needs = store.needs_of(reservation)
            for sku, quantity in sorted(needs.items()):
                store.release(self.session, sku, quantity)
                self._record(sku, "release", reference=reservation.order_id,
                             reserved_delta=-quantity)
            reservation.status, reservation.updated_at = "released", self.now
            self.publish(INVENTORY_RESERVATIONS, "stock.released", StockReleased(
                order_id=reservation.order_id,
                lines=[SkuQuantity(sku=s, quantity=q) for s, q in sorted(needs.items())],
                released_at=self.now), key=reservation.order_id)
            self.fill_waiting_orders()
            return "released"
        if reservation.status == "backordered":
            store.remove_from_queue(self.session, reservation.order_id)
            reservation.status, reservation.updated_at = "cancelled", self.now
            self.fill_waiting_orders()  # it may have been holding the line for others
            return "cancelled"
        return reservation.status

    def ship_order(self, dispatched: ShipmentDispatched) -> str:
        """Handed to a carrier: the reserved units leave on hand (so a stock count matches the
        shelf); idempotent. Exchange replacements were never reserved here and are skipped."""
        if dispatched.replacement_for_case is not None:
            return "replacement"
        reservation = self.session.get(InventoryReservation, dispatched.order_id)
        if reservation is not None and reservation.status == "released":
            return self._ship_after_release(reservation)
        if reservation is None or reservation.status != "reserved":
            return "ignored" if reservation is None else reservation.status
        for sku, quantity in sorted(store.needs_of(reservation).items()):
            store.ship_out(self.session, sku, quantity)
            self._record(sku, "dispatch", reference=reservation.order_id,
                         on_hand_delta=-quantity, reserved_delta=-quantity)
        reservation.status, reservation.updated_at = "shipped", self.now
        return "shipped"

    def _ship_after_release(self, reservation: InventoryReservation) -> str:
        """A cancellation crossed the hand-over: the units were released, yet the parcel left.
        They leave on hand now; if they were promised again meanwhile the shelf is short, and a
        person must know: the event is dead-lettered with the reason (no silent oversell)."""
        needs = store.needs_of(reservation)
        for sku, quantity in sorted(needs.items()):
            try:
                store.change_on_hand(self.session, sku, -quantity)
            except ValueError as exc:
                raise InvalidEvent(f"order {reservation.order_id} was shipped after its cancellation released "
                                   f"{quantity} x {sku}, which were promised again: count the shelf ({exc})") from exc
            self._record(sku, "dispatch_after_release",
                         reference=reservation.order_id, on_hand_delta=-quantity)
        reservation.status, reservation.updated_at = "shipped", self.now
        return "shipped"

    # -- goods in ---------------------------------------------------------------------------

    def receive_delivery(self, delivery: SupplierDelivery) -> str:
        """Goods from a supplier: on hand, close the open request, fill waiting orders in rank
        (R11), end presale once there is stock to sell. Counted once per delivery id."""
        if self.session.get(InventoryDelivery, delivery.delivery_id) is not None:
            return "duplicate"
        row = store.require_sku(self.session, delivery.sku)
        # Refused before anything is written: a delivery past the stock limit is not booked at all.
        on_hand_after(delivery.sku, row.on_hand, delivery.quantity, f"delivery {delivery.delivery_id}")
        self.session.add(InventoryDelivery(delivery_id=delivery.delivery_id, sku=delivery.sku,
                                           quantity=delivery.quantity, delivered_at=delivery.delivered_at,
                                           received_at=self.now))
        store.change_on_hand(self.session, delivery.sku, delivery.quantity)
        self._record(delivery.sku, "delivery", reference=delivery.delivery_id,
                     on_hand_delta=delivery.quantity)
        closed = store.close_replenishment(self.session, delivery.sku)
        if closed is not None:
            self._close_request(closed, by=f"delivery {delivery.delivery_id}")
        self.fill_waiting_orders()
        change = back_in_stock(store.sku_state(store.require_sku(self.session, delivery.sku)))
        if change is not None:
            self._change_mode(delivery.sku, change)
        self._react_to_level(delivery.sku, sold_out_hint=False)
        return "received"

    def restock_return(self, received: ReturnReceived) -> str:
        """Returned goods that passed inspection go back on hand (R23); once per case."""
        if self.session.get(InventoryRestock, received.case_id) is not None:
            return "duplicate"
        self.session.add(InventoryRestock(case_id=received.case_id, order_id=received.order_id,
                                          restocked=received.inspection_passed, at=self.now))
        if not received.inspection_passed:
            return "not_restocked"
        for sku, quantity in sorted(needed_per_sku((l.sku, l.quantity) for l in received.lines).items()):
            on_hand_after(sku, store.require_sku(self.session, sku).on_hand, quantity, f"return {received.case_id}")
            store.change_on_hand(self.session, sku, quantity)
            self._record(sku, "return", reference=received.case_id,
                         on_hand_delta=quantity)
        self.fill_waiting_orders()
        return "restocked"

    def fill_waiting_orders(self) -> list[str]:
        """Reserve waiting orders that stock now covers, strictly in priority rank (R11)."""
        waiting = store.waiting_backorders(self.session)
        if not waiting:
            return []
        skus = {sku for order in waiting for sku in order.needs}
        available = {sku: row.available for sku, row in store.load_skus(self.session, skus).items()}
        filled: list[str] = []
        for order_id in plan_fills(waiting, available):
            reservation = self.session.get(InventoryReservation, order_id, populate_existing=True)
            needs = store.needs_of(reservation)
            if store.try_reserve(self.session, needs)[0] is not None:
                break  # figures moved under us; the rest waits for the next change, still in rank
            store.remove_from_queue(self.session, order_id)
            reservation.status, reservation.updated_at = "reserved", self.now
            lines = [OrderLine.model_validate(line) for line in json.loads(reservation.lines_json)]
            self._reserved(reservation, lines, needs)
            filled.append(order_id)
        touched = {sku for order in waiting if order.order_id in filled for sku in order.needs}
        for sku in sorted(touched):
            self._react_to_level(sku, sold_out_hint=False)
        return filled

    # -- catalog and counts -----------------------------------------------------------------

    def upsert_sku(self, entry: CatalogEntry, *, from_catalog: bool = False, mode: str | None = None) -> str:
        """Create a sku, or change its catalog fields. On-hand stock of an existing sku changes only
        through deliveries, returns and counts, so every change has its cause in the ledger; a
        catalog reload leaves it alone."""
        row = store.load_sku(self.session, entry.sku)
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        if entry.tier not in TIERS:
            raise ValueError(f"unknown tier {entry.tier!r}: expected one of {', '.join(TIERS)}")
        within_stock_limit(entry.planned_stock, f"planned stock of {entry.sku}")
        within_stock_limit(entry.on_hand or 0, f"on hand of {entry.sku}")
        if row is None:
            on_hand = entry.on_hand or 0
            self.session.add(InventorySku(sku=entry.sku, name=entry.name, tier=entry.tier,
                                          planned_stock=entry.planned_stock, on_hand=on_hand, reserved=0,
                                          available=on_hand, mode="in_stock",
                                          threshold_percent=entry.threshold_percent, updated_at=self.now))
            self.session.flush()
            if on_hand:
                self._record(entry.sku, "initial_stock",
                             reference="catalog" if from_catalog else "PUT /skus", on_hand_delta=on_hand)
            outcome = "created"
        else:
            if not from_catalog and entry.on_hand is not None and entry.on_hand != row.on_hand:
                raise ValueError(f"on_hand of {entry.sku} is {row.on_hand}; change stock with POST /counts "
                                 "or POST /deliveries so the ledger records why")
            row.name, row.tier, row.planned_stock = entry.name or row.name, entry.tier, entry.planned_stock
            row.threshold_percent, row.updated_at = entry.threshold_percent, self.now
            self.session.add(row)
            self.session.flush()
            outcome = "updated"
        mode_changed = False
        if mode is not None:
            current = store.require_sku(self.session, entry.sku).mode
            if current != mode:
                self._change_mode(entry.sku, ChangeMode(mode, reason="set by an operator"), from_mode=current)
                mode_changed = True
        if outcome == "created" or mode_changed:
            self.fill_waiting_orders()  # orders may be waiting for a sku the catalog lacked, or for presale to end
        self._react_to_level(entry.sku, sold_out_hint=False)
        return outcome

    def reconcile_counts(self, counts: Iterable[tuple[str, int]], reference: str) -> list[dict[str, Any]]:
        """A physical count against the ledger (R12): differences become count adjustments and
        are reported back."""
        report = []
        grew = False
        for sku, counted in counts:
            row = store.require_sku(self.session, sku)
            ledger_on_hand, _ = store.ledger_totals(self.session, sku)
            result = reconcile(row.on_hand, counted, row.reserved, sku)
            if result.difference:
                store.change_on_hand(self.session, sku, result.difference)
                self._record(sku, "count_adjustment", reference=reference,
                             on_hand_delta=result.difference)
                grew = grew or result.difference > 0
            report.append({"sku": sku, "recorded_on_hand": result.recorded, "ledger_on_hand": ledger_on_hand,
                           "counted": counted, "difference": result.difference,
                           "adjusted": result.difference != 0})
        if grew:
            self.fill_waiting_orders()
        for line in report:
            self._react_to_level(line["sku"], sold_out_hint=False)
        return report

    # -- reactions --------------------------------------------------------------------------

    def _record(self, sku: str, cause: str, *, reference: str, on_hand_delta: int = 0,
                reserved_delta: int = 0) -> None:
        store.record(self.session, sku, cause, at=self.now, actor=self.actor, reference=reference,
                     on_hand_delta=on_hand_delta, reserved_delta=reserved_delta)

    def _reserved(self, order: OrderAccepted | InventoryReservation, lines: list[OrderLine],
                  needs: dict[str, int]) -> None:
        """Ledger lines and stock.reserved for an order whose units were just reserved (`order`:
        the incoming order, or the waiting one's reservation row: both carry the fields used)."""
        for sku, quantity in sorted(needs.items()):
            self._record(sku, "reservation", reference=order.order_id,
                         reserved_delta=quantity)
        self.publish(INVENTORY_RESERVATIONS, "stock.reserved", StockReserved(
            order_id=order.order_id, order_type=order.order_type, priority_class=order.priority_class,
            priority_rank=order.priority_rank, lines=lines, region=order.region, paid_at=order.paid_at,
            reserved_at=self.now,
        ), key=order.order_id)

    def _react_to_level(self, sku: str, *, sold_out_hint: bool, row: Any = None) -> None:
        """`row`: the sku as this transaction's own UPDATE returned it, else it is read afresh."""
        row = row if row is not None else store.require_sku(self.session, sku)
        state = store.sku_state(row)
        for signal in stock_signals(state, self.now, self.policy, sold_out=sold_out_hint or row.available == 0):
            if isinstance(signal, RequestReplenishment):
                self._request_replenishment(sku, signal)
            else:
                self._change_mode(sku, signal)

    def _request_replenishment(self, sku: str, signal: RequestReplenishment) -> None:
        request_id = f"R-{uuid.uuid4().hex[:12]}"
        expires_at = self.now + self.policy.request_expiry
        replaced = store.claim_replenishment(self.session, sku, request_id=request_id, urgent=signal.urgent,
                                             now=self.now, expires_at=expires_at)
        if replaced is False:
            return  # a request is already open for this episode
        if replaced:
            self._close_request(replaced, by=f"replaced by {request_id}")
        self.session.add(InventoryReplenishmentRequest(
            request_id=request_id, sku=sku, quantity=signal.quantity, urgent=signal.urgent,
            reason=signal.reason, requested_at=self.now, expires_at=expires_at))
        self.publish(INVENTORY_STOCK, "replenishment.requested", ReplenishmentRequested(
            request_id=request_id, sku=sku, quantity=signal.quantity, urgent=signal.urgent,
            reason=signal.reason, requested_at=self.now), key=sku)

    def _close_request(self, request_id: str, *, by: str) -> None:
        request = self.session.get(InventoryReplenishmentRequest, request_id)
        if request is not None and request.closed_at is None:
            request.closed_at, request.closed_by = self.now, by
            self.session.add(request)

    def _change_mode(self, sku: str, change: ChangeMode, *, from_mode: str | None = None) -> None:
        current = from_mode or ("in_stock" if change.mode in PRESALE_MODES else
                                store.require_sku(self.session, sku).mode)
        if not store.claim_mode_change(self.session, sku, from_mode=current, to_mode=change.mode,
                                       expected_date=change.expected_date,
                                       discount_percent=change.discount_percent,
                                       discount_until=change.discount_until):
            return  # another transaction changed it first
        self.publish(INVENTORY_STOCK, "sku.mode_changed", SkuModeChanged(
            sku=sku, mode=change.mode, reason=change.reason, expected_date=change.expected_date,
            discount_percent=change.discount_percent, discount_until=change.discount_until,
            changed_at=self.now), key=sku)
