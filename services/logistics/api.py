"""HTTP routes for warehouse staff, support and the dashboards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Session

from services.logistics import forecast, operations, store
from services.logistics.carriers import CarrierRefused, warehouse_day
from services.logistics.domain import (
    PRIORITY_CLASSES,
    SlaTargets,
    StepRefused,
    at_risk,
    hourly_buckets,
    logistics_report,
    sla_counts,
)
from services.logistics.models import PickWave, Shipment
from services.logistics.operations import CarrierDesk
from services.logistics.settings import LogisticsSettings
from shared.events import Note
from shared.service import ServiceRuntime

StaffId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Tracking = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$",
                                description="The carrier's tracking number.")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WaveRequest(Body):
    size: int = Field(gt=0, description="How many shipments the picker wants in this wave.")
    picker_id: StaffId


class PackRequest(Body):
    picker_id: StaffId | None = None


class ShipRequest(Body):
    tracking_number: Tracking
    carrier: str | None = Field(default=None, max_length=16, description="Omit to take the suggested carrier.")


class Handover(Body):
    shipment_id: str = Field(min_length=1, max_length=200)
    tracking_number: Tracking
    carrier: str | None = Field(default=None, max_length=16)


class HandoverBatch(Body):
    """A carrier's collection: every parcel scanned onto the truck, recorded at once."""

    carrier: str | None = Field(default=None, max_length=16, description="Default carrier of the parcels.")
    parcels: list[Handover] = Field(min_length=1, max_length=5000)


class DeliveredRequest(Body):
    delivered_at: AwareDatetime | None = None


class ExceptionRequest(Body):
    kind: Literal["delayed", "damaged", "lost"]
    note: Note = ""  # type: ignore[valid-type]  # the contract's type: shipment.exception carries it
    reported_by: StaffId | None = None


def _pct(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _counts_json(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: _pct(v) if isinstance(v, Decimal) else v for k, v in counts.items()}


def build_router(runtime: ServiceRuntime, settings: LogisticsSettings, desk: CarrierDesk) -> APIRouter:
    router = APIRouter(tags=["logistics"])
    targets = SlaTargets(settings.target_within_24h_pct, settings.target_within_48h_pct)

    def publisher(session: Session) -> operations.Publish:
        return lambda spec, type_, payload, key: runtime.outbox.publish(session, spec, type_, payload, key=key)

    @contextmanager
    def shipment_step(shipment_id: str) -> Iterator[tuple[Session, Shipment]]:
        """A unit of work on one shipment; refused steps answer 409 with the reason."""
        try:
            with runtime.transaction() as session:
                shipment = session.get(Shipment, shipment_id)
                if shipment is None:
                    raise HTTPException(404, f"no shipment {shipment_id}")
                yield session, shipment
        except (StepRefused, CarrierRefused) as exc:
            raise HTTPException(409, f"shipment {shipment_id}: {exc}") from exc

    def describe(session: Session, shipment: Shipment, now: datetime, *, full: bool = False,
                 used: dict[str, int] | None = None) -> dict[str, Any]:
        """`used`: today's carrier capacity used, when the caller describes many shipments at once."""
        body: dict[str, Any] = {
            "shipment_id": shipment.shipment_id, "order_id": shipment.order_id,
            "status": operations.effective_status(shipment, now), "priority_class": shipment.priority_class,
            "priority_rank": shipment.priority_rank, "region": shipment.region,
            "paid_at": shipment.paid_at.isoformat(), "deadline_24h": shipment.deadline_24h.isoformat(),
            "deadline_48h": shipment.deadline_48h.isoformat(),
            "weight_kg": f"{shipment.weight_kg:.2f}", "volume_l": f"{shipment.volume_l:.2f}",
            "replacement_for_case": shipment.replacement_for_case,
        }
        if shipment.status in ("queued", "picking", "packed"):
            used = used if used is not None else desk.used_today(session, now)
            body["suggested_carrier"] = desk.table.suggest(operations.parcel(shipment), used).as_dict()
        if full:
            body.update({
                "order_type": shipment.order_type, "lines": operations.lines_of(shipment),
                "wave_id": shipment.wave_id, "picker_id": shipment.picker_id,
                "claimed_until": _iso(shipment.claimed_until), "packed_at": _iso(shipment.packed_at),
                "carrier": shipment.carrier, "tracking_number": shipment.tracking_number,
                "shipped_at": _iso(shipment.shipped_at), "delivered_at": _iso(shipment.delivered_at),
                "withdrawn_at": _iso(shipment.withdrawn_at), "withdraw_reason": shipment.withdraw_reason,
                "shipped_within_24h": None if shipment.shipped_at is None else shipment.shipped_at <= shipment.deadline_24h,
                "exceptions": [{"kind": i.kind, "note": i.note, "reported_by": i.reported_by,
                                "reported_at": i.reported_at.isoformat()}
                               for i in store.incidents(session, shipment.shipment_id)],
            })
        return body

    # -- waves (R13, R16) ----------------------------------------------------------------

    @router.post("/waves", status_code=201)
    def request_wave(request: WaveRequest) -> dict[str, Any]:
        """The next pick wave: the highest-priority shipments nobody holds, claimed for this picker
        until the lease ends."""
        if request.size > settings.max_wave_size:
            raise HTTPException(422, f"size {request.size} is above the largest wave ({settings.max_wave_size})")
        now = runtime.clock.now()
        lease_until = operations.lease_end(now, settings.wave_lease_s)
        wave_id = f"W-{uuid.uuid4().hex[:12]}"
        with runtime.transaction() as session:
            claimed = store.claim_wave(session, wave_id=wave_id, picker_id=request.picker_id, size=request.size,
                                       now=now, lease_until=lease_until)
            session.add(PickWave(wave_id=wave_id, picker_id=request.picker_id, requested_size=request.size,
                                 claimed=len(claimed), created_at=now, lease_until=lease_until))
            session.flush()
            shipments = [session.get(Shipment, sid) for sid in claimed]
            used = desk.used_today(session, now)
            items = [describe(session, s, now, used=used) | {"lines": operations.lines_of(s)} for s in shipments if s]
        return {"wave_id": wave_id, "picker_id": request.picker_id, "lease_until": lease_until.isoformat(),
                "size": len(items), "shipments": items}

    @router.get("/waves/{wave_id}")
    def get_wave(wave_id: str) -> dict[str, Any]:
        """A wave and where its shipments are now (a shipment released after the lease may be in
        a later wave)."""
        now = runtime.clock.now()
        with Session(runtime.engine) as session:
            wave = session.get(PickWave, wave_id)
            if wave is None:
                raise HTTPException(404, f"no wave {wave_id}")
            held = store.shipments_of_wave(session, wave_id)
            return {"wave_id": wave.wave_id, "picker_id": wave.picker_id, "requested_size": wave.requested_size,
                    "claimed": wave.claimed, "created_at": wave.created_at.isoformat(),
                    "lease_until": wave.lease_until.isoformat(), "lease_expired": wave.lease_until < now,
                    "still_in_this_wave": [{"shipment_id": s.shipment_id, "status": operations.effective_status(s, now)}
                                           for s in held]}

    @router.get("/queue")
    def get_queue(limit: int = Query(default=100, ge=1, le=5000)) -> dict[str, Any]:
        """Shipments waiting for a wave, in the order waves will take them."""
        now = runtime.clock.now()
        with Session(runtime.engine) as session:
            waiting = store.queue(session, now, limit)
            counts = store.queue_counts(session, now)
            used = desk.used_today(session, now)
            return {
                "now": now.isoformat(),
                "waiting": sum(counts.values()),
                "waiting_by_class": {klass: counts.get(klass, 0) for klass in PRIORITY_CLASSES},
                "in_waves": store.in_waves_count(session, now),
                "shipments": [describe(session, s, now, used=used) for s in waiting],
            }

    # -- shipments (R16, R17) -------------------------------------------------------------

    @router.get("/shipments/{shipment_id}")
    def get_shipment(shipment_id: str) -> dict[str, Any]:
        now = runtime.clock.now()
        with Session(runtime.engine) as session:
            shipment = session.get(Shipment, shipment_id)
            if shipment is None:
                raise HTTPException(404, f"no shipment {shipment_id}")
            return describe(session, shipment, now, full=True)

    @router.post("/shipments/{shipment_id}/pack")
    def pack(shipment_id: str, request: PackRequest | None = None) -> dict[str, Any]:
        now = runtime.clock.now()
        with shipment_step(shipment_id) as (session, shipment):
            changed = operations.pack(session, shipment, picker_id=request.picker_id if request else None, now=now)
            body = describe(session, shipment, now)
        return body | {"changed": changed}

    @router.post("/shipments/{shipment_id}/ship")
    def ship(shipment_id: str, request: ShipRequest) -> dict[str, Any]:
        """Hand-over to a carrier with its tracking number; publishes shipment.dispatched."""
        now = runtime.clock.now()
        with shipment_step(shipment_id) as (session, shipment):
            changed = operations.ship(session, shipment, carrier=request.carrier,
                                      tracking_number=request.tracking_number, now=now, desk=desk,
                                      publish=publisher(session))
            body = describe(session, shipment, now, full=True)
        return body | {"changed": changed}

    @router.post("/shipments/ship-batch")
    def ship_batch(request: HandoverBatch) -> dict[str, Any]:
        """A carrier collection scanned at the dock: each parcel is handed over or refused with
        its reason; one refusal does not hold back the truck."""
        now = runtime.clock.now()
        shipped: list[dict[str, Any]] = []
        refused: list[dict[str, str]] = []
        with runtime.transaction() as session:
            for parcel in request.parcels:
                shipment = session.get(Shipment, parcel.shipment_id)
                if shipment is None:
                    refused.append({"shipment_id": parcel.shipment_id, "reason": "no such shipment"})
                    continue
                try:
                    operations.ship(session, shipment, carrier=parcel.carrier or request.carrier,
                                    tracking_number=parcel.tracking_number, now=now, desk=desk,
                                    publish=publisher(session))
                except (StepRefused, CarrierRefused) as exc:
                    refused.append({"shipment_id": parcel.shipment_id, "reason": str(exc)})
                    continue
                shipped.append({"shipment_id": shipment.shipment_id, "carrier": shipment.carrier,
                                "tracking_number": shipment.tracking_number})
        return {"shipped_at": now.isoformat(), "shipped": shipped, "refused": refused}

    @router.post("/shipments/{shipment_id}/delivered")
    def delivered(shipment_id: str, request: DeliveredRequest | None = None) -> dict[str, Any]:
        """Delivery confirmed by staff; publishes shipment.delivered."""
        now = runtime.clock.now()
        at = request.delivered_at if request and request.delivered_at else now
        if at > now:
            raise HTTPException(422, f"delivered_at {at.isoformat()} is in the future (now {now.isoformat()})")
        with shipment_step(shipment_id) as (session, shipment):
            if shipment.shipped_at is not None and at < shipment.shipped_at:
                raise HTTPException(422, f"delivered_at {at.isoformat()} is before the hand-over "
                                         f"({shipment.shipped_at.isoformat()})")
            changed = operations.deliver(session, shipment, delivered_at=at, publish=publisher(session))
            body = describe(session, shipment, now, full=True)
        return body | {"changed": changed}

    @router.post("/shipments/{shipment_id}/exception", status_code=201)
    def report_exception(shipment_id: str, request: ExceptionRequest) -> dict[str, Any]:
        """Flag a delayed, damaged or lost shipment; publishes shipment.exception."""
        now = runtime.clock.now()
        with shipment_step(shipment_id) as (session, shipment):
            operations.report_exception(session, shipment, kind=request.kind, note=request.note,
                                        reported_by=request.reported_by, now=now, publish=publisher(session))
            body = describe(session, shipment, now, full=True)
        return body

    # -- the target (R14), the forecast (R18), the reports (R17) ----------------------------

    @router.get("/sla")
    def get_sla(horizon_h: float | None = Query(default=None, gt=0, le=24 * 7),
                at_risk_limit: int = Query(default=500, ge=0, le=100_000)) -> dict[str, Any]:
        now = runtime.clock.now()
        horizon = timedelta(hours=horizon_h if horizon_h is not None else settings.at_risk_horizon_h)
        with Session(runtime.engine) as session:
            orders = store.sla_orders(session)
        risky = at_risk(orders, now, horizon)
        return {
            "now": now.isoformat(),
            "targets": {"within_24h_pct": targets.within_24h_pct, "within_48h_pct": targets.within_48h_pct},
            "overall": _counts_json(sla_counts(orders, now, targets)),
            "by_class": {klass: _counts_json(sla_counts([o for o in orders if o.priority_class == klass], now, targets))
                         for klass in PRIORITY_CLASSES},
            "at_risk": {
                "horizon_h": horizon.total_seconds() / 3600,
                "count": len(risky),
                "orders": [{"order_id": o.order_id, "shipment_id": o.shipment_id, "priority_class": o.priority_class,
                            "status": o.status, "paid_at": o.paid_at.isoformat(),
                            "deadline_24h": o.deadline_24h.isoformat(),
                            "hours_left": round((o.deadline_24h - now).total_seconds() / 3600, 2)}
                           for o in risky[:at_risk_limit]],
            },
            "hourly": hourly_buckets(orders, now, settings.sla_chart_hours),
        }

    @router.get("/capacity")
    def get_capacity(pickers: int | None = Query(default=None, ge=0, le=100_000),
                     picks_per_hour: int | None = Query(default=None, gt=0, le=10_000),
                     horizon_h: float | None = Query(default=None, gt=0, le=24 * 14)) -> dict[str, Any]:
        """Projection from the queue and the arrival rate so far: the share shipping within 24h
        with this many pickers, and the pickers needed for the target."""
        now = runtime.clock.now()
        pickers = settings.default_pickers if pickers is None else pickers
        per_picker = picks_per_hour or settings.default_picks_per_hour
        horizon = horizon_h or settings.forecast_horizon_h
        with Session(runtime.engine) as session:
            orders = store.sla_orders(session)
            queue_deadlines = store.unshipped_deadlines_in_dispatch_order(session, now)
        shipped = [o for o in orders if o.shipped_at is not None]
        first_paid = min((o.paid_at for o in orders), default=now)
        span_h = max((now - first_paid).total_seconds() / 3600, 1.0)  # at least an hour, or one burst looks endless
        rate = len(orders) / span_h
        data = forecast.ForecastInput(
            now=now, queue_deadlines=queue_deadlines,
            shipped_within_24h=sum(1 for o in shipped if o.shipped_at <= o.deadline_24h),
            shipped_late=sum(1 for o in shipped if o.shipped_at > o.deadline_24h),
            arrivals_per_hour=rate, horizon_h=horizon,
        )
        needed = forecast.pickers_needed(data, per_picker, targets.within_24h_pct, settings.max_pickers)
        throughput = pickers * per_picker
        return {
            "now": now.isoformat(),
            "pickers": pickers, "picks_per_hour": per_picker, "throughput_per_hour": throughput,
            "queue": len(queue_deadlines),
            "arrival_rate_per_hour": round(rate, 2), "horizon_h": horizon,
            "expected_arrivals": forecast.expected_arrivals(rate, horizon),
            "queue_cleared_in_h": round(len(queue_deadlines) / throughput, 2) if throughput else None,
            "projected_within_24h_pct": _pct(forecast.projected_share(data, throughput)),
            "target_pct": targets.within_24h_pct,
            "pickers_needed_for_target": needed,
            "target_reachable": needed is not None,
        }

    @router.get("/reports")
    def get_reports() -> dict[str, Any]:
        """Dispatch speed, delivery time and damage rate (R17)."""
        with Session(runtime.engine) as session:
            report = logistics_report(store.shipment_facts(session))
        return _decimals_to_float(report)

    @router.get("/carriers")
    def get_carriers() -> dict[str, Any]:
        """The rules table, and today's capacity used per carrier."""
        now = runtime.clock.now()
        with Session(runtime.engine) as session:
            used = desk.used_today(session, now)
        return {
            "day": warehouse_day(now, desk.utc_offset_h).isoformat(),
            "carriers": [{"code": c.code, "name": c.name, "daily_capacity": c.daily_capacity,
                          "used_today": used.get(c.code, 0),
                          "remaining_today": max(c.daily_capacity - used.get(c.code, 0), 0),
                          "max_weight_kg": _dec(c.max_weight_kg), "max_volume_l": _dec(c.max_volume_l),
                          "regions": sorted(c.regions) if c.regions is not None else "nationwide"}
                         for c in desk.table.carriers.values()],
            "rules": [{"name": r.name, "carriers": list(r.carriers),
                       "regions": sorted(r.regions) if r.regions is not None else "any",
                       "min_weight_kg": _dec(r.min_weight_kg), "max_weight_kg": _dec(r.max_weight_kg),
                       "min_volume_l": _dec(r.min_volume_l), "max_volume_l": _dec(r.max_volume_l)}
                      for r in desk.table.rules],
        }

    return router


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _decimals_to_float(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _decimals_to_float(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals_to_float(v) for v in value]
    return value
