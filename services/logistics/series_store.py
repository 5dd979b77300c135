"""Statements of the war room's dispatch series (issue 30): shipments dispatched and orders paid
and shipped on time, grouped into minute or hour buckets in SQL (sla_series.py does the sums).

An order split over warehouses (issue 34) counts once, as in GET /sla: paid by its first counted
part (by id), shipped on time by the part that completes it (the last counted part handed over,
the id breaking a tie). A whole order's shipment (`order_parts = 1`, every shipment before
warehouses) is its order without looking further; only parts of several look at their order's
other parts (by order id)."""

from __future__ import annotations

from typing import Any

from datetime import datetime

from sqlalchemy import and_, exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from services.logistics.domain import AWAITING_BALANCE, hour_floor
from services.logistics.models import Shipment, SlaPaidHour
from services.logistics.sla_series import Before, PerBucket
from shared.time_buckets import BucketRange, bucket_index_sql


HOUR_SECONDS = 3600


def _sla_orders() -> list[Any]:
    """The orders the SLA counts (store.sla_orders): no replacements, no withdrawn orders, no
    deposit presale awaiting its balance."""
    return [col(Shipment.replacement_for_case).is_(None), col(Shipment.withdrawn_at).is_(None),
            col(Shipment.status) != AWAITING_BALANCE]


_OTHER = aliased(Shipment)


def _other_counted_part(*conditions: Any) -> Any:
    return exists(select(_OTHER.shipment_id).where(
        _OTHER.order_id == Shipment.order_id, _OTHER.shipment_id != Shipment.shipment_id,
        col(_OTHER.replacement_for_case).is_(None), col(_OTHER.withdrawn_at).is_(None),
        _OTHER.status != AWAITING_BALANCE, *conditions))


def _order_paid() -> Any:
    """The part an order is counted paid by: a whole order's, or its first counted part."""
    return or_(col(Shipment.order_parts) == 1, ~_other_counted_part(_OTHER.shipment_id < Shipment.shipment_id))


def _order_shipped() -> Any:
    """The hand-over an order is counted shipped at: a whole order's, or its last counted part's."""
    return or_(col(Shipment.order_parts) == 1, ~_other_counted_part(or_(
        col(_OTHER.shipped_at).is_(None), _OTHER.shipped_at > Shipment.shipped_at,
        and_(_OTHER.shipped_at == Shipment.shipped_at, _OTHER.shipment_id > Shipment.shipment_id))))


def _on_time(deadline: Any) -> Any:
    return col(Shipment.shipped_at).is_not(None) & (col(Shipment.shipped_at) <= deadline)


def counts_before(session: Session, buckets: BucketRange) -> Before:
    start = buckets.since
    whole_hours = hour_floor(start)
    paid = _paid_in_whole_hours(session, None, whole_hours) + session.exec(
        select(func.count()).select_from(Shipment)
        .where(*_sla_orders(), _order_paid(), col(Shipment.paid_at) >= whole_hours,
               col(Shipment.paid_at) < start)).one()
    within = {}
    for name, deadline in (("within_24h", Shipment.deadline_24h), ("within_48h", Shipment.deadline_48h)):
        within[name] = session.exec(select(func.count()).select_from(Shipment)
                                    .where(*_sla_orders(), _on_time(deadline), col(Shipment.shipped_at) < start,
                                           _order_shipped())).one()
    return Before(paid=int(paid), **{k: int(v) for k, v in within.items()})


def _grouped(session: Session, buckets: BucketRange, column: Any, *conditions: Any) -> dict[int, int]:
    index = bucket_index_sql(column, buckets.seconds, session.get_bind().dialect.name).label("b")
    rows = session.exec(select(index, func.count()).select_from(Shipment)
                        .where(col(column) >= buckets.since, col(column) < buckets.until, *conditions)
                        .group_by(index)).all()
    return {int(b): int(n) for b, n in rows}


def _paid_in_whole_hours(session: Session, since: datetime | None, until: datetime) -> int:
    """The SLA's orders paid in whole hours before `until`, from the running totals (sla_tally.py)
    instead of a count over every shipment paid then."""
    query = select(func.coalesce(func.sum(SlaPaidHour.paid), 0)).where(col(SlaPaidHour.paid_hour) < until)
    if since is not None:
        query = query.where(col(SlaPaidHour.paid_hour) >= since)
    return int(session.exec(query).one())


def _paid_per_hour(session: Session, buckets: BucketRange) -> dict[int, int]:
    rows = session.exec(select(SlaPaidHour.paid_hour, func.sum(SlaPaidHour.paid))
                        .where(col(SlaPaidHour.paid_hour) >= buckets.since, col(SlaPaidHour.paid_hour) < buckets.until)
                        .group_by(col(SlaPaidHour.paid_hour))).all()
    return {int(hour.timestamp()) // buckets.seconds: int(n) for hour, n in rows if n}


def per_bucket(session: Session, buckets: BucketRange) -> PerBucket:
    """Dispatched counts every parcel handed over (replacements too: they are dispatch work);
    paid and on time count the SLA's orders only. Hour buckets take the orders paid from the
    running totals, which are kept per hour."""
    paid = (_paid_per_hour(session, buckets) if buckets.seconds == HOUR_SECONDS
            else _grouped(session, buckets, Shipment.paid_at, *_sla_orders(), _order_paid()))
    return PerBucket(
        dispatched=_grouped(session, buckets, Shipment.shipped_at, col(Shipment.withdrawn_at).is_(None)),
        paid=paid,
        within_24h=_grouped(session, buckets, Shipment.shipped_at, *_sla_orders(), _on_time(Shipment.deadline_24h),
                            _order_shipped()),
        within_48h=_grouped(session, buckets, Shipment.shipped_at, *_sla_orders(), _on_time(Shipment.deadline_48h),
                            _order_shipped()))
