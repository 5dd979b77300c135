"""What the routes answer: read through store.py, figured by domain.py and forecast.py, shaped as
schemas.py's models. Nothing here writes."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from services.logistics import (booked_desk, domain, forecast, notifications, plan_usecases, projection, sla_store,
                                sla_tally, store)
from services.logistics.carriers import CarrierDesk, parcel_of_shipment
from services.logistics.models import Shipment
from services.logistics.schemas import (CapacityView, CarriersView, CollectionAnswer, PackAnswer, QueuePage, Reports,
                                        ShipmentDetail, ShipmentSummary, SlaView, StepAnswer, WaveAnswer, WaveShipment,
                                        WaveView)
from services.logistics.settings import LogisticsPolicy
from services.logistics.usecases import ClaimedWave, Collection, Step
from shared.db import read_session
from shared.http_problems import Problem
from shared.pagination import PageRequest, next_cursor

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Shipments


def _summary(session: Session, shipment: Shipment, now: datetime, desk: CarrierDesk,
             used: dict[str, int] | None = None) -> dict[str, Any]:
    """`used`: today's carrier capacity used, when the caller describes many shipments at once."""
    fields: dict[str, Any] = {
        "shipment_id": shipment.shipment_id, "order_id": shipment.order_id,
        "status": domain.effective_status(shipment, now), "priority_class": shipment.priority_class,
        "priority_rank": shipment.priority_rank, "region": shipment.region, "paid_at": shipment.paid_at,
        "deadline_24h": shipment.deadline_24h, "deadline_48h": shipment.deadline_48h,
        "weight_kg": shipment.weight_kg, "volume_l": shipment.volume_l,
        "replacement_for_case": shipment.replacement_for_case, "warehouse": shipment.warehouse,
        "order_parts": shipment.order_parts,
    }
    if shipment.status == domain.AWAITING_BALANCE:  # no clock runs before the balance
        fields["deadline_24h"] = fields["deadline_48h"] = None
    if shipment.status in domain.NOT_YET_SHIPPED:
        used = used if used is not None else store.used_capacity(session, desk.day(now))
        table = booked_desk.table_on(session, desk, now)
        fields["suggested_carrier"] = table.suggest(parcel_of_shipment(shipment), used).as_dict()
    return fields


def summaries(session: Session, shipments: list[Shipment], now: datetime, desk: CarrierDesk) -> list[ShipmentSummary]:
    used = store.used_capacity(session, desk.day(now))
    return [ShipmentSummary(**_summary(session, s, now, desk, used)) for s in shipments]


def _detail(session: Session, shipment: Shipment, now: datetime, desk: CarrierDesk) -> dict[str, Any]:
    return _summary(session, shipment, now, desk) | {
        "order_type": shipment.order_type, "lines": json.loads(shipment.lines_json),
        "wave_id": shipment.wave_id, "picker_id": shipment.picker_id, "claimed_until": shipment.claimed_until,
        "packed_at": shipment.packed_at, "carrier": shipment.carrier, "tracking_number": shipment.tracking_number,
        "shipped_at": shipment.shipped_at, "delivered_at": shipment.delivered_at,
        "withdrawn_at": shipment.withdrawn_at, "withdraw_reason": shipment.withdraw_reason,
        "deposit_paid_at": shipment.deposit_paid_at, "balance_paid_at": shipment.balance_paid_at,
        "shipped_within_24h": None if shipment.shipped_at is None else shipment.shipped_at <= shipment.deadline_24h,
        "exceptions": _exceptions(session, shipment.shipment_id),
    }


def _exceptions(session: Session, shipment_id: str) -> list[dict[str, Any]]:
    """Each exception, with whether the customer's notification was published yet."""
    found = store.incidents(session, shipment_id)
    states = store.outbox_states(session, [i.notification_event_id for i in found if i.notification_event_id])
    return [{"kind": i.kind, "note": i.note, "reported_by": i.reported_by, "reported_at": i.reported_at,
             # Asked for but not in the table yet: written as this very transaction commits.
             "customer_notification": notifications.notification_state(
                 states.get(i.notification_event_id, "not_published") if i.notification_event_id else None)}
            for i in found]


def shipment_detail(session: Session, shipment_id: str, now: datetime, desk: CarrierDesk) -> ShipmentDetail:
    shipment = store.shipment(session, shipment_id)
    if shipment is None:
        raise Problem(404, "not-found", f"no shipment {shipment_id}")
    return ShipmentDetail(**_detail(session, shipment, now, desk))


def detail_of(session: Session, shipment: Shipment, now: datetime, desk: CarrierDesk) -> ShipmentDetail:
    return ShipmentDetail(**_detail(session, shipment, now, desk))


def pack_answer(session: Session, step: Step, now: datetime, desk: CarrierDesk) -> PackAnswer:
    return PackAnswer(**_summary(session, step.shipment, now, desk), changed=step.changed)


def step_answer(session: Session, step: Step, now: datetime, desk: CarrierDesk) -> StepAnswer:
    return StepAnswer(**_detail(session, step.shipment, now, desk), changed=step.changed)


def collection_answer(collection: Collection, now: datetime) -> CollectionAnswer:
    return CollectionAnswer(
        shipped_at=now,
        shipped=[{"shipment_id": s.shipment_id, "carrier": s.carrier, "tracking_number": s.tracking_number}
                 for s in collection.shipped],
        refused=[{"shipment_id": sid, "reason": reason} for sid, reason in collection.refused])


# ---------------------------------------------------------------------------------------------
# Waves and the queue


def wave_answer(session: Session, wave: ClaimedWave, now: datetime, desk: CarrierDesk) -> WaveAnswer:
    used = store.used_capacity(session, desk.day(now))
    items = [WaveShipment(**_summary(session, s, now, desk, used), lines=json.loads(s.lines_json))
             for s in wave.shipments]
    return WaveAnswer(wave_id=wave.wave_id, picker_id=wave.picker_id, warehouse=wave.warehouse,
                      lease_until=wave.lease_until, size=len(items), shipments=items)


def wave_view(session: Session, wave_id: str, now: datetime) -> WaveView:
    wave = store.wave(session, wave_id)
    if wave is None:
        raise Problem(404, "not-found", f"no wave {wave_id}")
    return WaveView(
        wave_id=wave.wave_id, picker_id=wave.picker_id, warehouse=wave.warehouse,
        requested_size=wave.requested_size, claimed=wave.claimed,
        created_at=wave.created_at, lease_until=wave.lease_until, lease_expired=wave.lease_until < now,
        still_in_this_wave=[{"shipment_id": s.shipment_id, "status": domain.effective_status(s, now)}
                            for s in store.shipments_of_wave(session, wave_id)])


def queue_page(session: Session, now: datetime, desk: CarrierDesk, page: PageRequest, warehouse: str) -> QueuePage:
    """The warehouse's shipments waiting for a wave, in the order waves will take them, a page
    at a time."""
    rows = store.queue(session, now, page.fetch_limit, page.after_matching(int, datetime, str, str), warehouse)
    counts = store.queue_counts(session, now, warehouse)
    used = store.used_capacity(session, desk.day(now))
    return QueuePage(
        now=now, warehouse=warehouse, waiting=sum(counts.values()),
        waiting_by_class={klass: counts.get(klass, 0) for klass in domain.PRIORITY_CLASSES},
        in_waves=store.in_waves_count(session, now, warehouse),
        shipments=[ShipmentSummary(**_summary(session, s, now, desk, used)) for s in rows[:page.limit]],
        next_cursor=next_cursor(rows, page.limit, store.queue_key))


# ---------------------------------------------------------------------------------------------
# The SLA (R14), the forecast (R18), the reports (R17), the carriers (R15)


def _pct(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _counts(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: _pct(v) if isinstance(v, Decimal) else v for k, v in counts.items()}


def sla_view(session: Session, now: datetime, policy: LogisticsPolicy, horizon_h: float | None,
             at_risk_limit: int, warehouse: str | None = None) -> SlaView:
    """From the running totals (sla_tally.py) and two index ranges, not a pass over every shipment.
    Every order, shipped with its last part, and each warehouse's parts; or (`warehouse`) that
    warehouse's parts only. The projection is always the whole platform's."""
    horizon = timedelta(hours=horizon_h if horizon_h is not None else policy.settings.at_risk_horizon_h)
    targets = policy.targets
    whole_hours = sla_store.paid_hours(session)
    hours = whole_hours if warehouse is None else sla_store.warehouse_paid_hours(session, warehouse).get(warehouse, [])
    cut_24h, cut_48h = sla_tally.late_cuts(now)
    late = (sla_store.late_cut(session, cut_24h, warehouse), sla_store.late_cut(session, cut_48h, warehouse))
    risky_count, risky = sla_store.at_risk(session, now, horizon, at_risk_limit, warehouse)
    chart_hours = policy.settings.sla_chart_hours
    dispatched = sla_store.dispatched_per_hour(session, domain.hour_floor(now) - timedelta(hours=chart_hours - 1),
                                               warehouse)
    overall = sla_tally.summarise(hours, *late, targets)
    whole = overall if warehouse is None else sla_tally.summarise(
        whole_hours, sla_store.late_cut(session, cut_24h), sla_store.late_cut(session, cut_48h), targets)
    return SlaView(
        now=now, warehouse=warehouse,
        targets={"within_24h_pct": targets.within_24h_pct, "within_48h_pct": targets.within_48h_pct},
        overall=_counts(overall),
        by_class={klass: _counts(sla_tally.summarise(hours, *late, targets, priority_class=klass))
                  for klass in domain.PRIORITY_CLASSES},
        by_warehouse={} if warehouse is not None else _per_warehouse(session, now, targets),
        at_risk={
            "horizon_h": horizon.total_seconds() / 3600, "count": risky_count,
            "orders": [{"order_id": o.order_id, "shipment_id": o.shipment_id, "priority_class": o.priority_class,
                        "status": o.status, "paid_at": o.paid_at, "deadline_24h": o.deadline_24h,
                        "hours_left": round((o.deadline_24h - now).total_seconds() / 3600, 2)}
                       for o in risky],
        },
        hourly=sla_tally.hourly_from_totals(hours, dispatched, now, chart_hours),
        projection=_projection(session, now, policy, whole_hours, whole),
        capacity_risks=plan_usecases.capacity_risks(session, now, policy))


def _per_warehouse(session: Session, now: datetime, targets: domain.SlaTargets) -> dict[str, Any]:
    """Each warehouse's figures, its parts counted by their own hand-overs."""
    cut_24h, cut_48h = sla_tally.late_cuts(now)
    late_24h, late_48h = (sla_store.late_cuts_per_warehouse(session, cut) for cut in (cut_24h, cut_48h))
    return {name: _counts(sla_tally.summarise(
                hours, late_24h.get(name, sla_tally.LateCut(cut_24h, domain.hour_floor(cut_24h), {})),
                late_48h.get(name, sla_tally.LateCut(cut_48h, domain.hour_floor(cut_48h), {})), targets))
            for name, hours in sorted(sla_store.warehouse_paid_hours(session).items())}


_LAST_PROJECTION: dict[int, tuple[float, dict[str, Any]]] = {}  # per policy: (monotonic time, projection)
_REFRESHING: set[int] = set()  # policies whose projection a background thread is computing
_REFRESH_LOCK = threading.Lock()


def _projection(session: Session, now: datetime, policy: LogisticsPolicy, hours: list[sla_tally.PaidHour],
                overall: dict[str, Any]) -> dict[str, Any]:
    """The gauges' projection, from the counts and the same forecast as GET /capacity. It reads
    the whole queue, so it is computed here only the first time (and on every call with a
    settable clock); after that a request gets the last one, and one older than
    `projection_refresh_s` is recomputed in the background for the requests after it."""
    refresh_s = 0.0 if policy.settings.clock == "settable" else policy.settings.projection_refresh_s
    kept = _LAST_PROJECTION.get(id(policy))
    if kept is None or refresh_s <= 0:
        projected = _project(session, now, policy, hours, overall)
        _LAST_PROJECTION[id(policy)] = (time.monotonic(), projected)
        return projected
    if time.monotonic() - kept[0] >= refresh_s:
        _refresh_in_background(session.get_bind().engine, now, policy, hours, overall)
    return kept[1]


def _refresh_in_background(engine: Any, now: datetime, policy: LogisticsPolicy, hours: list[sla_tally.PaidHour],
                           overall: dict[str, Any]) -> None:
    """One refresh at a time per policy, in its own thread and read session, as of the request
    that asked for it: no request waits for the whole queue to be read."""
    with _REFRESH_LOCK:
        if id(policy) in _REFRESHING:
            return
        _REFRESHING.add(id(policy))

    def refresh() -> None:
        try:
            with read_session(engine) as session:
                _LAST_PROJECTION[id(policy)] = (time.monotonic(), _project(session, now, policy, hours, overall))
        except Exception:  # the last projection stays; the next request past the age tries again
            log.exception("the SLA projection could not be refreshed")
        finally:
            with _REFRESH_LOCK:
                _REFRESHING.discard(id(policy))

    threading.Thread(target=refresh, name="sla-projection", daemon=True).start()


def _project(session: Session, now: datetime, policy: LogisticsPolicy, hours: list[sla_tally.PaidHour],
             overall: dict[str, Any]) -> dict[str, Any]:
    settings = policy.settings
    paid, shipped = overall["orders_paid"], overall["shipped"]
    data = forecast.from_counts(now, paid=paid, shipped_within_24h=overall["shipped_within_24h"],
                                shipped_late=shipped - overall["shipped_within_24h"],
                                first_paid=sla_store.first_paid_at(session, hours),
                                queue_deadlines=sla_store.unshipped_deadlines_in_dispatch_order(session, now),
                                horizon_h=settings.forecast_horizon_h)
    staffing = projection.Staffing(settings.default_pickers, settings.default_picks_per_hour, settings.max_pickers)
    return {
        "within_24h": projection.project(data, paid=paid, missed=overall["missed_24h"], hours=24, staffing=staffing,
                                         target_pct=policy.targets.within_24h_pct,
                                         utc_offset_h=settings.warehouse_utc_offset_h).as_dict(),
        "within_48h": projection.project(projection.for_48h(data, shipped, overall["shipped_within_48h"]),
                                         paid=paid, missed=overall["missed_48h"],
                                         hours=48, staffing=staffing, target_pct=policy.targets.within_48h_pct,
                                         utc_offset_h=settings.warehouse_utc_offset_h).as_dict(),
    }


def capacity_view(session: Session, now: datetime, policy: LogisticsPolicy, pickers: int | None,
                  picks_per_hour: int | None, horizon_h: float | None) -> CapacityView:
    """The share shipping within 24h with this many pickers, and the pickers the target needs."""
    settings = policy.settings
    pickers = settings.default_pickers if pickers is None else pickers
    per_picker = picks_per_hour or settings.default_picks_per_hour
    horizon = horizon_h or settings.forecast_horizon_h
    orders = sla_store.sla_orders(session)
    data = forecast.from_orders(now, orders, sla_store.unshipped_deadlines_in_dispatch_order(session, now), horizon)
    needed = forecast.pickers_needed(data, per_picker, policy.targets.within_24h_pct, settings.max_pickers)
    throughput = pickers * per_picker
    queued = len(data.queue_deadlines)
    return CapacityView(
        now=now, pickers=pickers, picks_per_hour=per_picker, throughput_per_hour=throughput, queue=queued,
        arrival_rate_per_hour=round(data.arrivals_per_hour, 2), horizon_h=horizon,
        expected_arrivals=forecast.expected_arrivals(data.arrivals_per_hour, horizon),
        queue_cleared_in_h=round(queued / throughput, 2) if throughput else None,
        projected_within_24h_pct=_pct(forecast.projected_share(data, throughput)),
        target_pct=policy.targets.within_24h_pct, pickers_needed_for_target=needed,
        target_reachable=needed is not None)


def reports(session: Session) -> Reports:
    return Reports.model_validate(_floats(domain.logistics_report(store.shipment_facts(session))))


def _floats(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def carriers_view(session: Session, now: datetime, desk: CarrierDesk) -> CarriersView:
    used = store.used_capacity(session, desk.day(now))
    table = booked_desk.table_on(session, desk, now)  # today's confirmed bookings as capacity
    return CarriersView(
        day=desk.day(now),
        carriers=[{"code": c.code, "name": c.name, "daily_capacity": c.daily_capacity,
                   "used_today": used.get(c.code, 0), "remaining_today": max(c.daily_capacity - used.get(c.code, 0), 0),
                   "max_weight_kg": c.max_weight_kg, "max_volume_l": c.max_volume_l,
                   "regions": sorted(c.regions) if c.regions is not None else "nationwide",
                   "warehouses": sorted(c.warehouses) if c.warehouses is not None else "all"}
                  for c in table.carriers.values()],
        rules=[{"name": r.name, "carriers": list(r.carriers),
                "regions": sorted(r.regions) if r.regions is not None else "any",
                "min_weight_kg": r.min_weight_kg, "max_weight_kg": r.max_weight_kg,
                "min_volume_l": r.min_volume_l, "max_volume_l": r.max_volume_l}
               for r in desk.table.rules])
