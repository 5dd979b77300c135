"""Rules of traffic counted by the platform (topic platform.traffic, issue 30): which figure a
window keeps, and conversion.

A window is named by its start and its length. The same event id again is a duplicate (the
consumer's inbox drops it before it gets here). Another event for the same window is a corrected
figure and replaces the count, unless it is older (by the event's own time) than the figure
kept: a correction that arrives late does not undo a newer one. Windows of other lengths over
the same time are kept beside it; the series counts, for a bucket, the windows lying wholly
inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Outcome = Literal["counted", "corrected", "stale", "unchanged"]

CONVERSION_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class KeptFigure:
    visitors: int
    event_id: str
    counted_at: datetime


def decide(kept: KeptFigure | None, visitors: int, event_id: str, counted_at: datetime) -> Outcome:
    """What an event for a window does to the figure kept for it."""
    if kept is None:
        return "counted"
    if event_id == kept.event_id:
        return "unchanged"  # already applied (the inbox normally stops it first)
    if counted_at < kept.counted_at:
        return "stale"
    return "corrected"


def conversion(orders: int, visitors: int | None) -> Decimal | None:
    """Orders per visitor, to 6 places; None when no traffic was counted or nobody visited."""
    if visitors is None or visitors <= 0:
        return None
    return (Decimal(orders) / Decimal(visitors)).quantize(CONVERSION_PLACES, rounding=ROUND_HALF_UP)
