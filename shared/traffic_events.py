"""Traffic from the platform (topic platform.traffic): how many visitors a window of time had,
so the war room can show conversion = orders / visitors (issue 30).

Part of the one published contract (shared/events.py re-exports it); the same rules hold:
changes are additive, a breaking change is a new model under the next version."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.envelope import Contract, UtcDatetime

MAX_WINDOW_SECONDS = 86_400
"""A traffic window is at most one day: longer figures say nothing about a minute or an hour."""
MAX_VISITORS = 1_000_000_000
"""Visitors in one window: far above any real shop, low enough for every database's integer."""

WindowSeconds = Annotated[int, Field(ge=1, le=MAX_WINDOW_SECONDS, strict=True)]
Visitors = Annotated[int, Field(ge=0, le=MAX_VISITORS, strict=True)]


class TrafficCounted(Contract):
    """Visitors the platform counted in one window `[window_start, window_start + window_seconds)`.

    A window is named by its start and its length. Another event for the same window (a new
    event id) is a corrected figure: it replaces the count kept for it. The same event id again
    is a duplicate and changes nothing. Windows of different lengths are kept side by side; the
    war room counts, for a bucket, the windows lying wholly inside it."""

    window_start: UtcDatetime = Field(description="Start of the window; timezone-aware (naive times are refused).",
                                      examples=["2026-11-11T00:00:00Z"])
    window_seconds: WindowSeconds = Field(description=f"Length of the window: 1 to {MAX_WINDOW_SECONDS:,} seconds.",
                                          examples=[60])
    visitors: Visitors = Field(description=f"Distinct visitors counted in the window: 0 to {MAX_VISITORS:,}.",
                               examples=[1200])
