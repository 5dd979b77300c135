"""The plan, its forecast and the carrier bookings made from it (issue 32): load -> decide
(plan.py, plan_forecast.py, bookings.py) -> save (plan_store.py)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from services.logistics import bookings, plan_forecast, plan_store
from services.logistics.models import CarrierBooking
from services.logistics.plan import Plan, planned_hours
from services.logistics.settings import LogisticsPolicy
from shared.http_problems import Problem
from shared.unit_of_work import UnitOfWork


_LAST_RISKS: dict[int, tuple[float, list[dict[str, Any]]]] = {}  # per policy: (monotonic time, risks)
NO_PLAN = "no plan is loaded: PUT /plan, or start the service with LOGISTICS_PLAN_PATH"


def put_plan(uow: UnitOfWork, plan: Plan) -> Plan:
    plan_store.save_plan(uow.session, plan.name, plan.model_dump_json(), uow.now, uow.actor.name)
    _LAST_RISKS.clear()  # GET /sla's risks follow a new plan at once (this instance)
    return plan


def current_plan(session: Session, policy: LogisticsPolicy) -> tuple[Plan | None, str]:
    """The plan an admin put last, else the file's (LOGISTICS_PLAN_PATH), else none."""
    row = plan_store.saved_plan(session)
    if row is not None:
        return Plan.model_validate_json(row.body_json), "http"
    if policy.plan is not None:
        return policy.plan, "file"
    return None, "none"


def _plan_or_404(session: Session, policy: LogisticsPolicy) -> Plan:
    plan, _ = current_plan(session, policy)
    if plan is None:
        raise Problem(404, "not-found", NO_PLAN)
    return plan


@dataclass(frozen=True)
class PlanForecast:
    plan: Plan
    forecast: plan_forecast.Forecast
    needed: list[tuple[date, str, int]]
    region_source: str  # "plan", "orders" or "none"
    risks: list[bookings.Risk]
    scale_factor: Any


def region_weights(plan: Plan, session: Session) -> tuple[dict[str, int], str]:
    """The plan's region mix when it gives one, else the regions of the orders so far, else one
    region for all."""
    if plan.regions:
        return {k: v for k, v in plan.regions.items() if v > 0}, "plan"
    seen = plan_store.regions_seen(session)
    if seen:
        return seen, "orders"
    return {bookings.ALL_REGIONS: 1}, "none"


def forecast_of(session: Session, now: datetime, policy: LogisticsPolicy, plan: Plan, scale: bool = False,
                with_pickers: bool = True) -> PlanForecast:
    settings = policy.settings
    planned = planned_hours(plan)
    actual = plan_store.arrivals_per_hour(session)
    hours = plan_forecast.timeline(planned, actual, plan_store.shipped_per_hour(session), now,
                                   settings.default_pickers * settings.default_picks_per_hour, scale)
    waits = [(w.from_hour, w.share_pct, w.hours) for w in plan.stock_waits or []]
    result = plan_forecast.forecast(hours, settings.default_picks_per_hour,
                                    (policy.targets.within_24h_pct, policy.targets.within_48h_pct), with_pickers,
                                    waits)
    weights, source = region_weights(plan, session)
    per_day = plan_forecast.parcels_per_day(hours, result.run.shipped, settings.warehouse_utc_offset_h)
    needed = plan_forecast.capacity_needed(per_day, weights)
    booked = plan_store.confirmed(session, per_day)
    risks = bookings.risks(needed, policy.desk.table, booked, policy.desk.day(now))
    factor = plan_forecast.scale_factor(planned, actual, now) if scale else None
    return PlanForecast(plan, result, needed, source, risks, factor)


def forecast(session: Session, now: datetime, policy: LogisticsPolicy, scale: bool = False) -> PlanForecast:
    return forecast_of(session, now, policy, _plan_or_404(session, policy), scale)


def capacity_risks(session: Session, now: datetime, policy: LogisticsPolicy) -> list[dict[str, Any]]:
    """The booking shortfalls ahead, for GET /sla (empty without a plan). Worked out again at
    most every `projection_refresh_s` like the gauges' projection (it counts shipments per
    region); every time on a settable clock."""
    refresh_s = 0.0 if policy.settings.clock == "settable" else policy.settings.projection_refresh_s
    kept = _LAST_RISKS.get(id(policy))
    if kept is not None and time.monotonic() - kept[0] < refresh_s:
        return kept[1]
    plan, _ = current_plan(session, policy)
    risks = [] if plan is None else [r.as_dict() for r in forecast_of(session, now, policy, plan, with_pickers=False).risks]
    _LAST_RISKS[id(policy)] = (time.monotonic(), risks)
    return risks


def propose(uow: UnitOfWork, policy: LogisticsPolicy, margin_pct: int = 0) -> list[CarrierBooking]:
    """Bookings per carrier and day (from today) for the forecast's parcels, plus `margin_pct`;
    earlier proposals not confirmed for those days are replaced."""
    session, now = uow.session, uow.now
    result = forecast(session, now, policy)
    today = policy.desk.day(now)
    wanted = bookings.propose([row for row in result.needed if row[0] >= today], policy.desk.table)
    plan_store.drop_proposals(session, {day for day, _ in wanted})
    rows = []
    for (day, carrier), parcels in sorted(wanted.items()):
        row = CarrierBooking(booking_id=f"BK-{uuid.uuid4().hex[:12]}", carrier=carrier, day=day.isoformat(),
                             parcels=bookings.with_margin(parcels, margin_pct), status=plan_store.PROPOSED,
                             proposed_at=now)
        plan_store.add_booking(session, row)
        rows.append(row)
    return rows


def confirm(uow: UnitOfWork, booking_id: str, parcels: int | None) -> tuple[CarrierBooking, bool]:
    """Confirms a proposal (optionally with another figure); False when it already was, with the
    same figure. A confirmed booking cannot be confirmed with another figure, nor a superseded one."""
    row = plan_store.booking(uow.session, booking_id)
    if row is None:
        raise Problem(404, "not-found", f"no carrier booking {booking_id}")
    if row.status == plan_store.CONFIRMED:
        if parcels is not None and parcels != row.parcels:
            raise Problem(409, "conflict", f"booking {booking_id} is already confirmed for {row.parcels} parcels; "
                                           "propose again to change it")
        return row, False
    if row.status != plan_store.PROPOSED:
        raise Problem(409, "conflict", f"booking {booking_id} is {row.status}: a later confirmation replaced it")
    if parcels is not None:
        row.parcels = parcels
    row.status, row.confirmed_at, row.confirmed_by = plan_store.CONFIRMED, uow.now, uow.actor.name
    plan_store.supersede(uow.session, row.carrier, row.day, keep=row.booking_id)
    uow.session.add(row)
    _LAST_RISKS.clear()  # GET /sla's risks follow the new booking at once (this instance)
    return row, True


def plan_json(plan: Plan) -> dict[str, Any]:
    return json.loads(plan.model_dump_json(exclude_none=True))
