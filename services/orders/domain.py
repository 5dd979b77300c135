"""Order rules with no I/O (R1-R6): intake (validation with a specific reason, priority, telling a
harmless re-send from a tampering attempt) and the order aggregate's lifecycle, which alone
decides an order's next state; use cases save what it decides.

Lifecycle events reach the service on several topics (inventory, logistics, aftersales), each in
order per order id but in any order relative to each other. So the rules follow the furthest
evidence: an event that moves the order forward applies even if an earlier step has not been
seen yet (`shipment.dispatched` before `stock.reserved`), and an earlier step arriving after a
later one is recorded in the timeline as late without moving the order back. What contradicts
the order's history (a return or refund after a confirmed cancellation, a release of stock that
was never cancelled) is refused and logged. A hand-over that crossed a cancellation is the one
exception: the goods did leave, so the order follows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from services.orders import presale
from services.orders.presale import AWAITING_BALANCE, BALANCE_UNPAID
from services.orders.timeline_notes import describe, parts_left, replacement_case
from services.orders.attention import ATTENTION_STATES, HELD, NEEDS_ATTENTION, SKU_UNKNOWN, attention_step
from shared.events import PRIORITY_CLASSES, OrderPlaced

ORDER_TYPES = ("standard", "presale")


class OrderInvalid(ValueError):
    """An order that must be rejected; the message is the reason given back to the platform."""


@dataclass(frozen=True)
class OrderPolicy:
    high_value_threshold: Decimal
    accepted_currencies: frozenset[str]
    presale: presale.PresaleTerms = field(default_factory=presale.PresaleTerms)


def validate_order(order: OrderPlaced, policy: OrderPolicy) -> None:
    """Business checks beyond the contract's shape and bounds. Raises OrderInvalid with the first reason."""
    if order.order_type not in ORDER_TYPES:
        raise OrderInvalid(f"unknown order_type {order.order_type!r}: expected 'standard' or 'presale'")
    if order.currency not in policy.accepted_currencies:
        raise OrderInvalid(f"currency {order.currency!r} is not accepted here "
                           f"(accepted: {', '.join(sorted(policy.accepted_currencies))})")
    # Quantities, amounts, ids and text are bounded by the contract itself (shared/events.py).
    if all(line.gift for line in order.lines):
        raise OrderInvalid("order has only gift lines: a gift comes with a purchase")
    total = lines_total(order)
    expected = total - order.discount
    if order.paid_amount != expected and presale.pays_deposit(order):
        try:  # the first payment of a deposit presale (presale.py)
            presale.balance_due(order, policy.presale, total)
        except presale.DepositRefused as exc:
            raise OrderInvalid(str(exc)) from None
        return
    if order.paid_amount != expected:
        raise OrderInvalid(f"paid_amount {order.paid_amount} does not equal lines total "
                           f"{total} minus discount {order.discount} = {expected}")
    if order.order_type == "presale":
        _validate_presale(order)


def _validate_presale(order: OrderPlaced) -> None:
    if order.deposit is None:
        raise OrderInvalid("presale order without its presale fields: `deposit` is required")
    if order.deposit <= 0:
        raise OrderInvalid(f"presale deposit must be positive, got {order.deposit}")
    if order.deposit > order.paid_amount:
        raise OrderInvalid(f"presale deposit {order.deposit} exceeds paid_amount {order.paid_amount}")
    if order.balance_paid_at is not None and order.balance_paid_at < order.paid_at:
        raise OrderInvalid("presale balance_paid_at is before paid_at: the final payment follows the deposit")


def lines_total(order: OrderPlaced) -> Decimal:
    return sum((line.unit_price * line.quantity for line in order.lines), Decimal("0.00"))


def deposit_due(order: OrderPlaced, policy: OrderPolicy) -> presale.BalanceDue | None:
    """A valid order's balance still to pay when it is a deposit presale's deposit; None for any
    other order (a presale paid in full is today's one-phase presale)."""
    if not presale.pays_deposit(order):
        return None
    total = lines_total(order)
    return None if order.paid_amount == total - order.discount else presale.balance_due(order, policy.presale, total)


# ---------------------------------------------------------------------------------------------
# Priority (R2): decided once at acceptance, carried on order.accepted.

_RANK_ORIGIN = datetime(1, 1, 1, tzinfo=UTC)


def priority_class(order: OrderPlaced, policy: OrderPolicy) -> str:
    if order.order_type == "presale":
        return "presale"
    if order.paid_amount >= policy.high_value_threshold:
        return "high_value"
    return "standard"


def priority_rank(klass: str, paid_at: datetime, order_id: str) -> str:
    """Sortable as a plain string: class first, then earlier payment, then order id to break ties.

    Microseconds are counted from year 1 rather than 1970 so the number is never negative and the
    fixed-width field always sorts like the instant it encodes."""
    elapsed = paid_at.astimezone(UTC) - _RANK_ORIGIN
    micros = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
    return f"{PRIORITY_CLASSES.index(klass)}-{micros:018d}-{order_id}"


# ---------------------------------------------------------------------------------------------
# Re-sends (R3): the same content is harmless, different content is a conflict.


def order_content(order: OrderPlaced) -> dict[str, Any]:
    """The order as canonical JSON values: equal content gives equal dicts, however the
    sender formatted amounts ("49.9" vs "49.90") or time zones."""
    return order.model_dump(mode="json")


def content_json(order: OrderPlaced) -> str:
    """The order as the text stored with it: fields in the model's order, so equal content gives
    equal text (the contracts have no free-form dicts). Pydantic writes it in one call; json.dumps
    of `order_content` with sorted keys, as before, was 8% of the intake. Re-sends are compared as
    parsed values (`content_differences`), so rows stored the older way compare the same."""
    return order.model_dump_json()


ADDED_FIELD_DEFAULTS: dict[str, Any] = OrderPlaced.model_construct().model_dump(
    mode="json", include={name for name, field in OrderPlaced.model_fields.items() if not field.is_required()})
"""Each optional field of OrderPlaced with its default, as stored JSON: an order stored before the
contract gained a field (e.g. `split_policy`) has that value, so its re-send with the default is
the same order, not a conflict."""


def content_differences(accepted: dict[str, Any], resent: dict[str, Any]) -> list[str]:
    """What a re-send would change, one entry per top-level field, e.g. `paid_amount: 89.80 -> 9.80`.
    Empty when the re-send is the same order."""
    changes = []
    for name in sorted(set(accepted) | set(resent)):
        # A field added to the contract after the order was stored reads as its default then.
        before, after = accepted.get(name, ADDED_FIELD_DEFAULTS.get(name)), resent.get(name)
        if before != after:
            changes.append(f"{name}: {_short(before)} -> {_short(after)}")
    return changes


def conflict_reason(order_id: str, changes: list[str]) -> str:
    return (f"conflict: order {order_id} was already accepted with different content "
            f"({'; '.join(changes)}); the accepted order stands")


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# The lifecycle

ACCEPTED = "accepted"
BACKORDERED = "backordered"
RESERVED = "reserved"
PARTLY_SHIPPED = "partly_shipped"  # a part of a split order left; others are still to ship (issue 34)
SHIPPED = "shipped"
DELIVERED = "delivered"
RETURN_REQUESTED = "return_requested"
RETURNED = "returned"
PARTIALLY_REFUNDED = "partially_refunded"  # refunds so far less than what was paid (a partial return)
REFUNDED = "refunded"  # refunded in full
CANCELLED = "cancelled"
REJECTED = "rejected"  # never an OrderRecord state: refused orders are kept apart

# The forward path; a later position means more evidence of progress.
FORWARD: tuple[str, ...] = (ACCEPTED, BACKORDERED, RESERVED, PARTLY_SHIPPED, SHIPPED, DELIVERED, RETURN_REQUESTED,
                            RETURNED, PARTIALLY_REFUNDED, REFUNDED)
STATES: tuple[str, ...] = (*FORWARD, CANCELLED, HELD, NEEDS_ATTENTION)  # the last two: attention.py
ALL_STATES: tuple[str, ...] = (*STATES, AWAITING_BALANCE, BALANCE_UNPAID)
"""With a deposit presale's two (presale.py): before its balance, and closed without it."""
CLOSED: frozenset[str] = frozenset({CANCELLED, BALANCE_UNPAID})
"""Closed before dispatch: order.cancelled was published, inventory releases the stock."""
CANCELLABLE: frozenset[str] = frozenset({ACCEPTED, BACKORDERED, RESERVED, AWAITING_BALANCE, HELD, NEEDS_ATTENTION})
"""Before dispatch (R4). After it the customer returns the goods instead."""

PLACEMENT = "order.placed"
CANCEL_REQUEST = "order.cancelled"
"""The event types the timeline names for a placement and a cancellation (whichever way it came)."""
REFUND = "refund.issued"

# Which state each lifecycle event is evidence of.
TARGET: dict[str, str] = {
    "stock.backordered": BACKORDERED,
    "stock.reserved": RESERVED,
    "shipment.dispatched": SHIPPED,
    "shipment.delivered": DELIVERED,
    "return.requested": RETURN_REQUESTED,
    "return.received": RETURNED,
    REFUND: REFUNDED,
    SKU_UNKNOWN: NEEDS_ATTENTION,
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
    REFUND: "issued_at",
    SKU_UNKNOWN: "found_at",
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
    evidence: str = ""  # the state the event is evidence of, when not its type's (a partial refund)


class EventRefused(Exception):
    """An event the order cannot have had (a refund for goods never shipped): refused as a whole,
    nothing changes (handlers.py dead-letters it)."""


def apply_event(state: str, event_type: str, *, replacement: bool = False, partial_refund: bool = False,
                parts_left: bool = False) -> Transition:
    """Decide what a lifecycle event does to an order in `state`.

    `replacement` marks a shipment.dispatched that ships an exchange (it does not re-ship the
    order itself); `partial_refund` a refund.issued after which less than what was paid is
    refunded (the order is then `partially_refunded`, a later refund completing it `refunded`);
    `parts_left` a shipment.dispatched of one part of a split order with other parts still to
    leave (the order is then `partly_shipped`: no longer cancellable, shipped with its last part)."""
    if state not in ALL_STATES:
        raise ValueError(f"unknown order state {state!r}")
    if event_type not in TARGET and event_type not in NOTES:
        raise ValueError(f"{event_type!r} is not a lifecycle event")

    if state in ATTENTION_STATES or event_type == SKU_UNKNOWN:
        return Transition(*attention_step(state, event_type))  # type: ignore[arg-type]
    if state in CLOSED:
        if event_type in _STOCK_EVENTS:
            return Transition("noted", state)
        if event_type in _HAND_OVER and not replacement:
            # The cancellation and the hand-over crossed: the parcel did leave. The physical fact
            # wins, so the order follows the goods; the customer can return it (R19).
            return Transition("advanced", _hand_over_target(event_type, parts_left),
                              "handed to the carrier before the cancellation reached the warehouse")
        closed = "cancelled before dispatch" if state == CANCELLED else "closed with its balance unpaid"
        return Transition("refused", state, f"{event_type} for an order that was {closed}")
    if state == AWAITING_BALANCE and event_type not in NOTES:
        # Inventory holds a deposit's stock as presale quota; nothing else may happen before the balance.
        if event_type in _STOCK_EVENTS:
            return Transition("noted", state, "held as presale quota until the balance is paid")
        return Transition("refused", state, f"{event_type} for a deposit presale whose balance is not paid")

    if event_type == "stock.released":
        return Transition("refused", state, "stock.released for an order that was not cancelled")
    if event_type == "return.rejected":
        if state == RETURN_REQUESTED:
            return Transition("advanced", DELIVERED, "return request rejected; the customer keeps the goods")
        return Transition("noted", state)
    if event_type == "shipment.exception" or (event_type == "shipment.dispatched" and replacement):
        return Transition("noted", state)

    if event_type == REFUND and partial_refund:
        target = PARTIALLY_REFUNDED
    else:
        target = _hand_over_target(event_type, parts_left)
    here, there = FORWARD.index(state), FORWARD.index(target)
    if state == RESERVED and target == BACKORDERED:
        # Reservation is all lines or none (R7) and inventory reports per order in sequence.
        return Transition("refused", state, "stock.backordered after every line was already reserved")
    evidence = target if target != TARGET[event_type] else ""
    if there > here:
        return Transition("advanced", target, evidence=evidence)
    if there == here:
        return Transition("noted", state, f"already {state}", evidence=evidence)
    return Transition("late", state, f"arrived after the order was already {state}", evidence=evidence)


def _hand_over_target(event_type: str, parts_left: bool) -> str:
    """The state a lifecycle event is evidence of; a dispatch with parts still to leave, of
    `partly_shipped`."""
    if parts_left and event_type == "shipment.dispatched":
        return PARTLY_SHIPPED
    return TARGET[event_type]


def state_after_balance(stock_events: list[str]) -> str:
    """Where a deposit presale stands once its balance is paid: inventory's reports while it
    waited (noted, the stock held as presale quota) replayed from `accepted`, in order."""
    state = ACCEPTED
    for event_type in stock_events:
        state = apply_event(state, event_type).state
    return state


@dataclass(frozen=True)
class RefundFacts:
    """What a refund is checked against: the order's payment, its refunds so far, and whether a
    shipment exception was reported for it."""

    paid_cents: int
    refunded_cents: int
    exception_reported: bool


def decide_event(order_id: str, state: str, event_type: str, payload: Any, refund: RefundFacts | None, *,
                 strict: bool) -> Transition:
    """What a lifecycle event does to the order; `refund` is given for a refund.issued. A refund
    the order cannot have had raises EventRefused when `strict` (an event as it arrives), else it
    is a refused step (an event parked until its order came, applied then)."""
    if refund is not None:
        refusal = refund_refusal(state, amount_cents=refund_cents(payload), paid_cents=refund.paid_cents,
                                 refunded_cents=refund.refunded_cents, exception_reported=refund.exception_reported)
        if refusal:
            if strict:
                raise EventRefused(f"{event_type} for order {order_id} refused: {refusal}")
            return Transition("refused", state, refusal)
    partial = refund is not None and refund.refunded_cents + refund_cents(payload) < refund.paid_cents
    return apply_event(state, event_type, replacement=bool(replacement_case(payload)),
                       partial_refund=partial, parts_left=parts_left(event_type, payload))


def refund_cents(payload: Any) -> int:
    return int(payload.amount * 100)


def timeline_step(event_type: str, payload: Any, transition: Transition) -> tuple[str, datetime, str]:
    """The timeline's `status` (the state the event is evidence of, or its name for a note),
    when it happened by the sender's account, and a note."""
    if replacement_case(payload):
        label = "replacement_shipped"
    else:
        label = transition.evidence or TARGET.get(event_type) or event_type.replace(".", "_")
    note = "; ".join(p for p in (describe(event_type, payload), transition.reason) if p)
    return label, getattr(payload, OCCURRED_AT_FIELD[event_type]), note


@dataclass(frozen=True)
class CancelDecision:
    allowed: bool
    already_cancelled: bool = False
    reason: str = ""

    @property
    def new_state(self) -> str | None:
        """The state to save, None when nothing changes."""
        return CANCELLED if self.allowed and not self.already_cancelled else None


def decide_cancellation(state: str) -> CancelDecision:
    """Cancel before dispatch (R4); after it, refuse with the reason the customer should hear."""
    if state in CLOSED:
        return CancelDecision(allowed=True, already_cancelled=True)
    if state in CANCELLABLE:
        return CancelDecision(allowed=True)
    return CancelDecision(allowed=False, reason=(
        f"order is already {state.replace('_', ' ')}: it can no longer be cancelled; "
        "the customer can return it instead"))


# ---------------------------------------------------------------------------------------------
# Refunds (finding 10: internal topics are not trusted blindly)

NOT_SHIPPED: frozenset[str] = frozenset({ACCEPTED, BACKORDERED, RESERVED, CANCELLED, AWAITING_BALANCE,
                                        BALANCE_UNPAID, HELD, NEEDS_ATTENTION})
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
