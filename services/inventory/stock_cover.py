"""Stock for the business (R12), the pure part: how fast a sku sells, how many hours its
available stock covers at that pace, which 2-hour slot a moment falls in and when a snapshot is
due, and how a CSV cell is kept from being run as a spreadsheet formula. No I/O here.

The sell rate is the units reserved over the last `window` (ledger lines `reservation`), net of
the units released in the same window (`release`: cancellations, unpaid deposit balances),
per hour. A window where releases outweigh reservations sells nothing (rate 0), never a
negative pace. Dispatches do not count: a dispatched unit was counted when it was reserved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Slots are counted from here, so every instance cuts time the same way: with a 2-hour period
they start at even hours UTC (even hours in Shanghai too, UTC+8)."""

SELLING_CAUSES = ("reservation", "release")
"""The ledger causes the sell rate sums (their reserved_delta: + reserved, - released)."""


def sell_rate_per_hour(net_reserved: int, window: timedelta) -> float:
    """Units per hour over `window`; 0 when the window gave back more than it took."""
    hours = window.total_seconds() / 3600
    if hours <= 0:
        raise ValueError("the sell-rate window must be longer than zero")
    if net_reserved <= 0:
        return 0.0
    return round(net_reserved / hours, 4)


def cover_hours(available: int, rate_per_hour: float) -> float | None:
    """Hours the available units last at `rate_per_hour`; None when nothing sells (no end in sight)."""
    if rate_per_hour <= 0:
        return None
    return round(max(available, 0) / rate_per_hour, 2)


def slot_start(moment: datetime, period: timedelta) -> datetime:
    """The start of the period-long slot `moment` falls in (slots counted from EPOCH)."""
    if period <= timedelta(0):
        raise ValueError("the snapshot period must be longer than zero")
    return moment - (moment - EPOCH) % period


def snapshot_due(now: datetime, *, last_slot: datetime | None, first_record: datetime | None,
                 period: timedelta) -> datetime | None:
    """The slot to snapshot now, or None. Due when the last snapshot's slot is a period old or
    more; before any snapshot, once a whole period has passed since stock was first recorded
    (the ledger's first line), so a fresh event gets its first snapshot 2 hours in. Nothing
    recorded yet: nothing to snapshot."""
    since = last_slot if last_slot is not None else first_record
    if since is None or now - since < period:
        return None
    return slot_start(now, period)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell a spreadsheet would run as a formula starts with one of these (CSV injection)."""


def csv_text(value: str) -> str:
    """A text cell as a spreadsheet shows it and never runs it: a leading ' disarms a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
