"""An order's reservation, the aggregate: the statuses it moves through and what each move does
to the stock. Pure: these functions decide the new status, the store saves it."""

from __future__ import annotations

from dataclasses import dataclass

RESERVED, BACKORDERED, RELEASED, CANCELLED, SHIPPED = "reserved", "backordered", "released", "cancelled", "shipped"
SKU_UNKNOWN = "sku_unknown"
"""Refused: a sku of the order is not in the catalogue (stock.sku_unknown). Nothing was reserved
and nothing waits, so a cancellation or a hand-over finds nothing to do."""


@dataclass(frozen=True)
class Release:
    """What a cancellation does to an order's reservation."""

    outcome: str
    status: str | None = None  # the new status; None: nothing changes
    remember: bool = False  # no reservation yet: kept as cancelled, so the late order reserves nothing
    give_back: bool = False  # the reserved units go back to available
    leave_queue: bool = False  # it was waiting: out of the queue


def release(status: str | None) -> Release:
    """Cancellation before dispatch gives reserved stock back (R4); idempotent."""
    if status is None:
        return Release(CANCELLED, CANCELLED, remember=True)
    if status == RESERVED:
        return Release(RELEASED, RELEASED, give_back=True)
    if status == BACKORDERED:
        return Release(CANCELLED, CANCELLED, leave_queue=True)
    return Release(status)


@dataclass(frozen=True)
class Dispatch:
    """What a hand-over to a carrier does to an order's reservation."""

    outcome: str
    status: str | None = None  # the new status; None: nothing changes
    take_reserved: bool = False  # the reserved units leave on hand and reserved
    take_released: bool = False  # a cancellation crossed the hand-over: the released units leave on hand


def dispatch(status: str | None, *, replacement: bool) -> Dispatch:
    """Once per order; exchange replacements were never reserved here."""
    if replacement:
        return Dispatch("replacement")
    if status == RELEASED:
        return Dispatch(SHIPPED, SHIPPED, take_released=True)
    if status is None:
        return Dispatch("ignored")
    if status != RESERVED:
        return Dispatch(status)
    return Dispatch(SHIPPED, SHIPPED, take_reserved=True)


def fill(status: str) -> str | None:
    """A waiting order that stock now covers is reserved; None: it is not waiting any more."""
    return RESERVED if status == BACKORDERED else None
