"""An injectable clock, so time-based rules (SLA deadlines, return windows) can be tested and simulated."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock:
    """A clock tests and the simulator move by hand; it never moves on its own."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = ensure_utc(start) if start else datetime.now(UTC)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = ensure_utc(moment)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def ensure_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in this system is timezone-aware")
    return moment.astimezone(UTC)


def make_clock(kind: str) -> Clock:
    if kind == "system":
        return SystemClock()
    if kind == "settable":
        return SettableClock()
    raise ValueError(f"unknown clock kind {kind!r} (expected 'system' or 'settable')")
