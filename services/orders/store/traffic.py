"""Statements of traffic windows and the war room's series (issue 30): keep a window's visitors,
and group orders and visitors into minute or hour buckets in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from services.orders.domain import CLOSED
from services.orders.models import OrderRecord
from services.orders.models_traffic import OrderTrafficWindow
from services.orders.traffic import KeptFigure
from shared.db import serialise_per_key
from shared.time_buckets import BucketRange, bucket_index_sql, epoch_us

_WINDOWS = OrderTrafficWindow.__table__


def kept_figure(session: Session, window_start: datetime, window_seconds: int) -> KeptFigure | None:
    """The figure kept for a window; two events for one window are applied one after the other."""
    serialise_per_key(session, "traffic-window", f"{window_start.isoformat()}/{window_seconds}")
    row = session.exec(select(OrderTrafficWindow.visitors, OrderTrafficWindow.event_id,
                              OrderTrafficWindow.counted_at)
                       .where(OrderTrafficWindow.window_start == window_start,
                              OrderTrafficWindow.window_seconds == window_seconds)).first()
    return KeptFigure(*row) if row is not None else None


def add_window(session: Session, *, window_start: datetime, window_seconds: int, visitors: int, event_id: str,
               counted_at: datetime, now: datetime) -> None:
    start = epoch_us(window_start)
    session.execute(insert(_WINDOWS).values(
        window_start=window_start, window_seconds=window_seconds, start_us=start,
        end_us=start + window_seconds * 1_000_000, visitors=visitors, event_id=event_id, counted_at=counted_at,
        recorded_at=now, corrections=0))


def correct_window(session: Session, *, window_start: datetime, window_seconds: int, visitors: int, event_id: str,
                   counted_at: datetime, now: datetime) -> None:
    session.execute(update(_WINDOWS)
                    .where(_WINDOWS.c.window_start == window_start, _WINDOWS.c.window_seconds == window_seconds)
                    .values(visitors=visitors, event_id=event_id, counted_at=counted_at, recorded_at=now,
                            corrections=_WINDOWS.c.corrections + 1))


def orders_per_bucket(session: Session, buckets: BucketRange) -> dict[int, tuple[int, int, int]]:
    """Bucket index -> (orders, paid cents, refunded cents) of the orders paid in it; cancelled
    orders and deposits forfeited left out, as in /stats."""
    index = bucket_index_sql(OrderRecord.paid_at, buckets.seconds, session.get_bind().dialect.name).label("b")
    rows = session.exec(select(index, func.count(), func.sum(OrderRecord.paid_cents),
                               func.sum(OrderRecord.refunded_cents))
                        .where(col(OrderRecord.paid_at) >= buckets.since, col(OrderRecord.paid_at) < buckets.until,
                               col(OrderRecord.status).not_in(sorted(CLOSED)))
                        .group_by(index)).all()
    return {int(b): (int(n), int(cents or 0), int(refunded or 0)) for b, n, cents, refunded in rows}


def visitors_per_bucket(session: Session, buckets: BucketRange) -> dict[int, int]:
    """Bucket index -> visitors of the windows lying wholly inside it (a window across a bucket's
    edge belongs to neither side)."""
    size = buckets.seconds * 1_000_000
    first = _WINDOWS.c.start_us.op("/")(size)
    last = (_WINDOWS.c.end_us - 1).self_group().op("/")(size)
    rows = session.execute(select(first.label("b"), func.sum(_WINDOWS.c.visitors))
                           .where(_WINDOWS.c.start_us >= epoch_us(buckets.since),
                                  _WINDOWS.c.end_us <= epoch_us(buckets.until), first == last)
                           .group_by(first)).all()
    return {int(b): int(v or 0) for b, v in rows}
