"""Inventory rules with no I/O (R7-R12): all-or-nothing reservation, backorders filled in rank,
the replenishment trigger, the per-tier sell-out playbook and the stock limit (no figure past
MAX_STOCK_UNITS). Units are whole numbers throughout, never floats.

The database enforces "never below zero" with conditional updates (see store.py); these
functions decide what to attempt and what signals a stock change raises, from plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from services.inventory.allocation import Parts, Usable, allocate
from services.inventory.allocation import missing as allocation_missing
from services.inventory.reservation import BACKORDERED, RESERVED
from services.inventory.warehouses import Ranked
from shared.limits import MAX_STOCK_UNITS

Tier = Literal["traffic_driver", "profit", "hot"]
Mode = Literal["in_stock", "presale", "deposit_presale"]

TIERS: tuple[str, ...] = ("traffic_driver", "profit", "hot")
MODES: tuple[str, ...] = ("in_stock", "presale", "deposit_presale")
PRESALE_MODES: frozenset[str] = frozenset({"presale", "deposit_presale"})


# ---------------------------------------------------------------------------------------------
# Stocking and sell-out rules, as data per tier (R8, R10)


@dataclass(frozen=True)
class SellOutPlay:
    """What happens when a sku of a tier sells out."""

    switch_to_mode: Mode | None
    urgent_replenishment: bool
    presale_discount_percent: int | None = None
    discount_hours: int | None = None
    description: str = ""


SELL_OUT_PLAYBOOK: dict[str, SellOutPlay] = {
    "traffic_driver": SellOutPlay(switch_to_mode="presale", urgent_replenishment=False,
                                  presale_discount_percent=10, discount_hours=48,
                                  description="switch to presale with a time-limited discount"),
    "profit": SellOutPlay(switch_to_mode=None, urgent_replenishment=True,
                          description="urgent supplier replenishment"),
    "hot": SellOutPlay(switch_to_mode="deposit_presale", urgent_replenishment=False,
                       description="open deposit presale with the supplier"),
}

STOCKING_PERCENT: dict[str, int] = {"traffic_driver": 100, "profit": 120, "hot": 100}
"""Planned stock as a percentage of forecast demand when a catalog gives only the forecast (R8:
profit items are stocked at 120% of forecast). Whole numbers: units are never floats."""


def planned_stock_for(tier: str, forecast: int) -> int:
    return -(-forecast * STOCKING_PERCENT[tier] // 100)  # rounded up


# ---------------------------------------------------------------------------------------------
# The stock limit: no figure of a sku (on hand, planned, available, reserved) passes it


class Unbookable(ValueError):
    """What the books can never take as asked: refused as a whole (HTTP 422, or from Kafka a dead
    letter with this reason, the consumer carrying on), never stored."""


class StockLimitExceeded(Unbookable):
    """An operation would take a stock figure past `MAX_STOCK_UNITS`."""


def within_stock_limit(units: int, what: str) -> int:
    """`units` when a stock figure may hold it, else StockLimitExceeded saying what it was.
    Available and reserved are parts of on hand, so bounding on hand and planned bounds all."""
    if units > MAX_STOCK_UNITS:
        raise StockLimitExceeded(f"{what} would be {units} units, above the limit of {MAX_STOCK_UNITS} "
                                 "units per sku")
    return units


def on_hand_after(sku: str, on_hand: int, delta: int, cause: str) -> int:
    """On hand after `delta` more units (a delivery, a return, a count), checked against the limit."""
    return within_stock_limit(on_hand + delta, f"on hand of {sku} after {cause} ({on_hand} + {delta})")


def check_catalog_fields(sku: str, *, tier: str, planned_stock: int, on_hand: int | None, mode: str | None) -> None:
    """A catalog entry's figures and names, before anything is written."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}: expected one of {', '.join(TIERS)}")
    within_stock_limit(planned_stock, f"planned stock of {sku}")
    within_stock_limit(on_hand or 0, f"on hand of {sku}")


def check_catalog_edit(sku: str, *, recorded_on_hand: int, asked_on_hand: int | None, from_catalog: bool) -> None:
    """On-hand stock of an existing sku changes only through deliveries, returns and counts, so
    every change has its cause in the ledger; a catalog reload leaves it alone."""
    if not from_catalog and asked_on_hand is not None and asked_on_hand != recorded_on_hand:
        raise ValueError(f"on_hand of {sku} is {recorded_on_hand}; change stock with POST /counts "
                         "or POST /deliveries so the ledger records why")


@dataclass(frozen=True)
class InventoryPolicy:
    default_threshold_percent: int = 20
    request_expiry: timedelta = timedelta(hours=72)
    presale_lead: timedelta = timedelta(days=7)
    sell_rate_window: timedelta = timedelta(hours=1)  # the recent past a sku's sell rate is taken over


# ---------------------------------------------------------------------------------------------
# Reservation (R7)


def needed_per_sku(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Units needed per sku, gift lines included (a gift ships too); repeated skus add up."""
    needs: dict[str, int] = {}
    for sku, quantity in lines:
        if quantity <= 0:
            raise ValueError(f"line for {sku} has quantity {quantity}; quantities must be positive")
        needs[sku] = needs.get(sku, 0) + quantity
    for sku, quantity in needs.items():  # more than a sku can ever hold could only wait forever
        within_stock_limit(quantity, f"the units of {sku} the order needs")
    return needs


@dataclass(frozen=True)
class SkuView:
    """What a reservation decision needs to know about one sku."""

    available: int
    mode: str = "in_stock"
    expected_date: datetime | None = None


@dataclass(frozen=True)
class ReservationDecision:
    reserve: bool
    missing: dict[str, int] = field(default_factory=dict)
    presale: bool = False
    expected_date: datetime | None = None
    parts: Parts = ()  # where each part is reserved (allocation.py), when `reserve`

    @property
    def status(self) -> str:
        return RESERVED if self.reserve else BACKORDERED


def decide_reservation(needs: Mapping[str, int], stock: Mapping[str, SkuView],
                       protected: Mapping[str, int] | None = None) -> ReservationDecision:
    """All lines or none. A line is missing when its sku is unknown or in presale mode, or when
    what is available beyond `protected` (units that waiting orders ranked ahead of this one
    need, R11) does not cover it."""
    protected = protected or {}
    missing: dict[str, int] = {}
    presale = False
    expected: list[datetime] = []
    for sku, quantity in needs.items():
        view = stock.get(sku)
        if view is None:
            missing[sku] = quantity
        elif view.mode in PRESALE_MODES:
            missing[sku] = quantity
            presale = True
            if view.expected_date is not None:
                expected.append(view.expected_date)
        elif view.available - protected.get(sku, 0) < quantity:
            missing[sku] = quantity
    if not missing:
        return ReservationDecision(reserve=True)
    return ReservationDecision(reserve=False, missing=missing, presale=presale,
                               expected_date=max(expected) if expected else None)


def decide_order(needs: Mapping[str, int], stock: Mapping[str, SkuView], usable: Usable,
                 ranked: Sequence[Ranked], policy: str) -> ReservationDecision:
    """All lines or none, across warehouses (allocation.py): a sku in presale mode makes the
    order wait as before; else the allocation's parts, or the skus the allowed warehouses cannot
    cover (beyond what waiting orders ranked ahead hold there) as missing."""
    waits = {sku: q for sku, q in needs.items() if sku not in stock or stock[sku].mode in PRESALE_MODES}
    if waits:
        presale = [stock[sku] for sku in waits if sku in stock]
        dates = [view.expected_date for view in presale if view.expected_date is not None]
        short = allocation_missing(needs, ranked, usable, policy)
        return ReservationDecision(reserve=False, missing={**short, **waits}, presale=bool(presale),
                                   expected_date=max(dates) if dates else None)
    parts = allocate(needs, ranked, usable, policy)
    if parts is None:
        short = allocation_missing(needs, ranked, usable, policy)
        return ReservationDecision(reserve=False, missing=short or dict(needs))
    return ReservationDecision(reserve=True, parts=parts)


def unknown_skus(needs: Mapping[str, int], stock: Mapping[str, SkuView]) -> list[str]:
    """The order's skus the catalogue does not know, sorted. Such an order is not backordered:
    no delivery is ever booked for a sku that is not in the catalogue, so it would wait for ever;
    it is refused with `stock.sku_unknown` and orders puts it in front of a person."""
    return sorted(sku for sku in needs if sku not in stock)


def decide_after_refusal(needs: Mapping[str, int], stock: Mapping[str, SkuView],
                         protected: Mapping[str, int] | None = None) -> ReservationDecision:
    """Another transaction took the stock between the read and the conditional update: decided
    again on what is left, and never "reserve" (the update just refused): every line missing."""
    decision = decide_reservation(needs, stock, protected)
    return decide_reservation(needs, {}) if decision.reserve else decision


def shelf_short(needs: Mapping[str, int], missing: Mapping[str, int], stock: Mapping[str, SkuView]) -> set[str]:
    """The missing skus the shelf itself cannot cover (sold out), as opposed to ones that waiting
    orders have first claim on, or that are in presale."""
    return {sku for sku in missing
            if sku in stock and stock[sku].mode not in PRESALE_MODES and stock[sku].available < needs[sku]}


def shipped_after_release(order_id: str, sku: str, quantity: int, why: str) -> Unbookable:
    """The parcel left with units that were released and promised again: a person must count the
    shelf (no silent oversell)."""
    return Unbookable(f"order {order_id} was shipped after its cancellation released {quantity} x {sku}, "
                      f"which were promised again: count the shelf ({why})")


# ---------------------------------------------------------------------------------------------
# Backorders filled in priority rank (R11)


@dataclass(frozen=True)
class Backorder:
    order_id: str
    priority_rank: str
    needs: Mapping[str, int]


def plan_fills(waiting: Sequence[Backorder], available: Mapping[str, int]) -> list[str]:
    """The waiting orders to reserve now, in rank order (lower rank string first).

    An order that cannot be filled yet keeps what it needs protected from every order ranked
    after it: those only get the surplus beyond it, so a sku is never given out of rank, while
    a sku that is plentiful is not held up by an order waiting for something else.
    """
    left = dict(available)
    filled: list[str] = []
    for order in sorted(waiting, key=lambda b: (b.priority_rank, b.order_id)):
        fits = all(left.get(s, 0) >= q for s, q in order.needs.items())
        for sku, quantity in order.needs.items():
            left[sku] = max(left.get(sku, 0) - quantity, 0)
        if fits:
            filled.append(order.order_id)
    return filled


# ---------------------------------------------------------------------------------------------
# Replenishment trigger (R9) and sell-out playbook (R10)


@dataclass(frozen=True)
class SkuState:
    sku: str
    tier: str
    planned_stock: int
    available: int
    mode: str
    threshold_percent: int | None = None
    open_request_urgent: bool | None = None  # None: no request open
    open_request_expires_at: datetime | None = None


@dataclass(frozen=True)
class RequestReplenishment:
    quantity: int
    urgent: bool
    reason: str


@dataclass(frozen=True)
class ChangeMode:
    mode: Mode
    reason: str
    expected_date: datetime | None = None
    discount_percent: int | None = None
    discount_until: datetime | None = None
    from_mode: str = "in_stock"  # the claim's condition: another transaction's change wins


Signal = RequestReplenishment | ChangeMode


def threshold_percent(state: SkuState, policy: InventoryPolicy) -> int:
    return state.threshold_percent if state.threshold_percent is not None else policy.default_threshold_percent


def threshold(state: SkuState, policy: InventoryPolicy) -> int:
    """Available stock below this is low (R9)."""
    return -(-state.planned_stock * threshold_percent(state, policy) // 100)  # rounded up, in whole units


def is_low(state: SkuState, policy: InventoryPolicy) -> bool:
    return state.available < threshold(state, policy)


def has_open_request(state: SkuState, now: datetime) -> bool:
    """A request stays open until a delivery closes it or it expires."""
    if state.open_request_urgent is None:
        return False
    return state.open_request_expires_at is None or state.open_request_expires_at > now


def stock_signals(state: SkuState, now: datetime, policy: InventoryPolicy, *, sold_out: bool) -> list[Signal]:
    """What a change of a sku's available stock calls for. `sold_out`: nothing is left to sell,
    or an order just asked for more than is left."""
    signals: list[Signal] = []
    restore = max(state.planned_stock - state.available, 0)
    open_request = has_open_request(state, now)
    play = SELL_OUT_PLAYBOOK[state.tier]
    if sold_out and play.urgent_replenishment and not (open_request and state.open_request_urgent):
        if restore > 0:
            signals.append(RequestReplenishment(restore, urgent=True,
                                                reason=f"{state.tier} sold out: {play.description}"))
            open_request = True
    if not open_request and is_low(state, policy) and restore > 0:
        signals.append(RequestReplenishment(
            restore, urgent=False,
            reason=f"available {state.available} below {threshold(state, policy)} "
                   f"({threshold_percent(state, policy)}% of planned {state.planned_stock})"))
    if sold_out and play.switch_to_mode is not None and state.mode == "in_stock":
        signals.append(ChangeMode(
            play.switch_to_mode, reason=f"{state.tier} sold out: {play.description}",
            expected_date=now + policy.presale_lead,
            discount_percent=play.presale_discount_percent,
            discount_until=now + timedelta(hours=play.discount_hours) if play.discount_hours else None))
    return signals


def back_in_stock(state: SkuState) -> ChangeMode | None:
    """After a delivery has filled what was waiting: presale ends once there is stock to sell."""
    if state.mode in PRESALE_MODES and state.available > 0:
        return ChangeMode("in_stock", reason="supplier delivery: stock available again", from_mode=state.mode)
    return None


def set_by_operator(current: str, mode: str | None) -> ChangeMode | None:
    if mode is None or mode == current:
        return None
    return ChangeMode(mode, reason="set by an operator", from_mode=current)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Stock count reconciliation (R12)


@dataclass(frozen=True)
class CountResult:
    sku: str
    recorded: int
    counted: int
    difference: int


def reconcile(recorded_on_hand: int, counted: int, reserved: int, sku: str) -> CountResult:
    """The difference becomes a count adjustment; a count below what is promised to orders cannot
    be booked silently (it would mean reserved goods do not exist)."""
    if counted < 0:
        raise ValueError(f"{sku}: a counted quantity cannot be negative ({counted})")
    within_stock_limit(counted, f"{sku}: the counted on hand")
    if counted < reserved:
        raise ValueError(f"{sku}: counted {counted} is below the {reserved} units reserved for orders; "
                         "release or re-check those orders first")
    return CountResult(sku=sku, recorded=recorded_on_hand, counted=counted, difference=counted - recorded_on_hand)
