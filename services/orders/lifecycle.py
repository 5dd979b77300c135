"""An order's lifecycle as the other services report it: pure rules, no I/O.

Events reach the orders service on several topics (inventory, logistics, aftersales), each in
order per order id but in any order relative to each other. So the rules follow the furthest
evidence: an event that moves the order forward applies even if an earlier step has not been
seen yet (`shipment.dispatched` before `stock.reserved`), and an earlier step arriving after a
later one is recorded in the timeline as late without moving the order back. What contradicts
the order's history (a return or refund after a confirmed cancellation, a release of stock that
was never cancelled) is refused and logged. A hand-over that crossed a cancellation is the one
exception: the goods did leave, so the order follows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ACCEPTED = "accepted"
BACKORDERED = "backordered"
RESERVED = "reserved"
SHIPPED = "shipped"
DELIVERED = "delivered"
RETURN_REQUESTED = "return_requested"
RETURNED = "returned"
REFUNDED = "refunded"
CANCELLED = "cancelled"
REJECTED = "rejected"  # never an OrderRecord state: refused orders are kept apart

# The forward path; a later position means more evidence of progress.
FORWARD: tuple[str, ...] = (ACCEPTED, BACKORDERED, RESERVED, SHIPPED, DELIVERED, RETURN_REQUESTED,
                            RETURNED, REFUNDED)
STATES: tuple[str, ...] = (*FORWARD, CANCELLED)
CANCELLABLE: frozenset[str] = frozenset({ACCEPTED, BACKORDERED, RESERVED})
"""Before dispatch (R4). After it the customer returns the goods instead."""

# Which state each lifecycle event is evidence of.
TARGET: dict[str, str] = {
    "stock.backordered": BACKORDERED,
    "stock.reserved": RESERVED,
    "shipment.dispatched": SHIPPED,
    "shipment.delivered": DELIVERED,
    "return.requested": RETURN_REQUESTED,
    "return.received": RETURNED,
    "refund.issued": REFUNDED,
}
# The payload field that says when each lifecycle event happened.
OCCURRED_AT_FIELD: dict[str, str] = {
    "stock.reserved": "reserved_at",
    "stock.backordered": "backordered_at",
    "stock.released": "released_at",
    "shipment.dispatched": "dispatched_at",
    "shipment.delivered": "delivered_at",
    "shipment.exception": "reported_at",
    "return.requested": "requested_at",
    "return.rejected": "rejected_at",
    "return.received": "received_at",
    "refund.issued": "issued_at",
}

# Events that add to the timeline without being a step of their own.
NOTES: frozenset[str] = frozenset({"stock.released", "shipment.exception", "return.rejected"})
# Stock events after a cancellation are expected: inventory may have reserved before it saw
# the cancel, and it answers the cancel with stock.released.
_STOCK_EVENTS: frozenset[str] = frozenset({"stock.backordered", "stock.reserved", "stock.released"})
_HAND_OVER: frozenset[str] = frozenset({"shipment.dispatched", "shipment.delivered"})

Outcome = Literal["advanced", "late", "noted", "refused"]


@dataclass(frozen=True)
class Transition:
    outcome: Outcome
    state: str  # the order's state after the event
    reason: str = ""


def apply_event(state: str, event_type: str, *, replacement: bool = False) -> Transition:
    """Decide what a lifecycle event does to an order in `state`.

    `replacement` marks a shipment.dispatched that ships an exchange (it does not re-ship the
    order itself)."""
    if state not in STATES:
        raise ValueError(f"unknown order state {state!r}")
    if event_type not in TARGET and event_type not in NOTES:
        raise ValueError(f"{event_type!r} is not a lifecycle event")

    if state == CANCELLED:
        if event_type in _STOCK_EVENTS:
            return Transition("noted", state)
        if event_type in _HAND_OVER and not replacement:
            # The cancellation and the hand-over crossed: the parcel did leave. The physical fact
            # wins, so the order follows the goods; the customer can return it (R19).
            return Transition("advanced", TARGET[event_type],
                              "handed to the carrier before the cancellation reached the warehouse")
        return Transition("refused", state, f"{event_type} for an order that was cancelled before dispatch")

    if event_type == "stock.released":
        return Transition("refused", state, "stock.released for an order that was not cancelled")
    if event_type == "return.rejected":
        if state == RETURN_REQUESTED:
            return Transition("advanced", DELIVERED, "return request rejected; the customer keeps the goods")
        return Transition("noted", state)
    if event_type == "shipment.exception" or (event_type == "shipment.dispatched" and replacement):
        return Transition("noted", state)

    target = TARGET[event_type]
    here, there = FORWARD.index(state), FORWARD.index(target)
    if state == RESERVED and target == BACKORDERED:
        # Reservation is all lines or none (R7) and inventory reports per order in sequence.
        return Transition("refused", state, "stock.backordered after every line was already reserved")
    if there > here:
        return Transition("advanced", target)
    if there == here:
        return Transition("noted", state, f"already {state}")
    return Transition("late", state, f"arrived after the order was already {state}")


@dataclass(frozen=True)
class CancelDecision:
    allowed: bool
    already_cancelled: bool = False
    reason: str = ""


def decide_cancellation(state: str) -> CancelDecision:
    """Cancel before dispatch (R4); after it, refuse with the reason the customer should hear."""
    if state == CANCELLED:
        return CancelDecision(allowed=True, already_cancelled=True)
    if state in CANCELLABLE:
        return CancelDecision(allowed=True)
    return CancelDecision(allowed=False, reason=(
        f"order is already {state.replace('_', ' ')}: it can no longer be cancelled; "
        "the customer can return it instead"))


# ---------------------------------------------------------------------------------------------
# Refunds (finding 10: internal topics are not trusted blindly)

NOT_SHIPPED: frozenset[str] = frozenset({ACCEPTED, BACKORDERED, RESERVED, CANCELLED})
"""No evidence that the goods ever left: a hand-over moves even a cancelled order to shipped."""


def refund_refusal(state: str, *, amount_cents: int, paid_cents: int, refunded_cents: int,
                   exception_reported: bool) -> str:
    """Why a refund cannot apply to an order in `state` ('' when it can).

    Aftersales refunds returned goods (a return request, on the same topic, always comes first,
    so the order is at least `return_requested` by then) or a shipment with an exception (lost,
    damaged, delayed: possibly before dispatch, so a reported exception counts as evidence). All
    refunds of an order together never exceed what was paid for it."""
    if state in NOT_SHIPPED and not exception_reported:
        return f"the order was never shipped (it is {state.replace('_', ' ')}) and no shipment exception was reported"
    if refunded_cents + amount_cents > paid_cents:
        return (f"refunds would total {_cents(refunded_cents + amount_cents)}, more than the "
                f"{_cents(paid_cents)} paid" + (f" ({_cents(refunded_cents)} refunded before)" if refunded_cents else ""))
    return ""


def _cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def describe(event_type: str, payload: Any) -> str:
    """A short human note for the timeline."""
    match event_type:
        case "stock.backordered":
            missing = ", ".join(f"{m.sku} x{m.quantity}" for m in payload.missing)
            return f"missing {missing}" + (" (presale)" if payload.presale else "")
        case "stock.released":
            return "released " + ", ".join(f"{line.sku} x{line.quantity}" for line in payload.lines)
        case "shipment.dispatched":
            return f"{payload.carrier} {payload.tracking_number}"
        case "shipment.exception":
            return f"{payload.kind}: {payload.note}" if payload.note else payload.kind
        case "return.requested":
            return f"case {payload.case_id}: {payload.kind}"
        case "return.rejected":
            return f"case {payload.case_id}: {payload.reason}"
        case "return.received":
            return f"case {payload.case_id}: inspection {'passed' if payload.inspection_passed else 'failed'}"
        case "refund.issued":
            return f"case {payload.case_id}: refunded {payload.amount:.2f}"
    return ""
