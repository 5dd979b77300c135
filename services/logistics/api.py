"""HTTP routes for warehouse staff, support and the dashboards. Roles: access.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.logistics import usecases, views
from services.logistics.carriers import CarrierRefused
from services.logistics.domain import StepRefused
from services.logistics.schemas import (CapacityView, CarriersView, CollectionAnswer, DeliveredRequest,
                                        ExceptionRequest, HandoverBatch, PackAnswer, PackRequest, QueuePage, Reports,
                                        ShipmentDetail, ShipRequest, SlaView, StepAnswer, WaveAnswer, WaveRequest,
                                        WaveView)
from services.logistics.settings import LogisticsPolicy
from shared.db import read_session
from shared.http_app import RuntimeDep, Work, service_policy
from shared.events import DEFAULT_WAREHOUSE
from shared.http_problems import Problem, problem_responses
from shared.limits import ID_PATTERN
from shared.idempotency import IdempotencyKey, create_once
from shared.pagination import PageRequest, page_request_within
from shared.unit_of_work import UnitOfWork

router = APIRouter(tags=["logistics"])


Policy = Annotated[LogisticsPolicy, Depends(service_policy)]
"""The service's settings and carrier desk (set by app.py)."""


QUEUE_DEFAULT_LIMIT, QUEUE_MAX_LIMIT = 100, 5000


# The queue always answered up to 5,000 rows, 100 by default, and its callers rely on that.
queue_page = page_request_within(QUEUE_DEFAULT_LIMIT, QUEUE_MAX_LIMIT)


@contextmanager
def _refusals_as_conflict(shipment_id: str) -> Iterator[None]:
    """A step that does not fit the shipment's state answers 409 with the reason."""
    try:
        yield
    except (StepRefused, CarrierRefused) as exc:
        raise Problem(409, "conflict", f"shipment {shipment_id}: {exc}") from exc


@router.post("/waves", status_code=201, response_model=WaveAnswer)
def request_wave(request: WaveRequest, work: Work, policy: Policy, key: IdempotencyKey) -> Any:
    """The next pick wave: the highest-priority shipments nobody holds, claimed for this picker
    until the lease ends. Honours `Idempotency-Key`."""
    def create(uow: UnitOfWork) -> WaveAnswer:
        wave = usecases.request_wave(uow, request, policy)
        return views.wave_answer(uow.session, wave, uow.now, policy.desk)

    return create_once(work, "request-wave", key, request, 201, create)


@router.get("/waves/{wave_id}", response_model=WaveView)
def get_wave(wave_id: str, runtime: RuntimeDep) -> WaveView:
    """A wave and where its shipments are now (a shipment released after the lease may be in a
    later wave)."""
    with read_session(runtime.engine) as session:
        return views.wave_view(session, wave_id, runtime.clock.now())


WarehouseQuery = Annotated[str, Query(pattern=ID_PATTERN, max_length=64,
                                      description="A warehouse id (issue 34); absent: `main`.")]


@router.get("/queue", response_model=QueuePage, responses=problem_responses(400))
def get_queue(runtime: RuntimeDep, policy: Policy, page: PageRequest = Depends(queue_page),
              warehouse: WarehouseQuery = DEFAULT_WAREHOUSE) -> QueuePage:
    """A warehouse's shipments waiting for a wave, in the order waves will take them, a page at
    a time."""
    with read_session(runtime.engine) as session:
        return views.queue_page(session, runtime.clock.now(), policy.desk, page, warehouse)


# -- shipments (R16, R17) -----------------------------------------------------------------------


@router.get("/shipments/{shipment_id}", response_model=ShipmentDetail)
def get_shipment(shipment_id: str, runtime: RuntimeDep, policy: Policy) -> ShipmentDetail:
    with read_session(runtime.engine) as session:
        return views.shipment_detail(session, shipment_id, runtime.clock.now(), policy.desk)


@router.post("/shipments/{shipment_id}/pack", response_model=PackAnswer)
def pack(shipment_id: str, work: Work, policy: Policy, request: PackRequest | None = None) -> PackAnswer:
    """Packed by the picker; a repeat changes nothing (`changed: false`)."""
    with _refusals_as_conflict(shipment_id), work() as uow:
        step = usecases.pack(uow, shipment_id, request)
        return views.pack_answer(uow.session, step, uow.now, policy.desk)


@router.post("/shipments/{shipment_id}/ship", response_model=StepAnswer)
def ship(shipment_id: str, request: ShipRequest, work: Work, policy: Policy) -> StepAnswer:
    """Hand-over to a carrier with its tracking number; publishes shipment.dispatched. The same
    hand-over again changes nothing (`changed: false`)."""
    with _refusals_as_conflict(shipment_id), work() as uow:
        step = usecases.ship(uow, shipment_id, request, policy)
        return views.step_answer(uow.session, step, uow.now, policy.desk)


@router.post("/shipments/ship-batch", response_model=CollectionAnswer)
def ship_batch(request: HandoverBatch, work: Work, policy: Policy) -> CollectionAnswer:
    """A carrier collection scanned at the dock: each parcel is handed over or refused with
    its reason; one refusal does not hold back the truck. A parcel scanned again is harmless."""
    with work() as uow:
        return views.collection_answer(usecases.ship_collection(uow, request, policy), uow.now)


@router.post("/shipments/{shipment_id}/delivered", response_model=StepAnswer)
def delivered(shipment_id: str, work: Work, policy: Policy, request: DeliveredRequest | None = None) -> StepAnswer:
    """Delivery confirmed by staff; publishes shipment.delivered. A repeat changes nothing."""
    with _refusals_as_conflict(shipment_id), work() as uow:
        step = usecases.confirm_delivery(uow, shipment_id, request)
        return views.step_answer(uow.session, step, uow.now, policy.desk)


@router.post("/shipments/{shipment_id}/exception", status_code=201, response_model=ShipmentDetail)
def report_exception(shipment_id: str, request: ExceptionRequest, work: Work, policy: Policy,
                     key: IdempotencyKey) -> Any:
    """Flag a delayed, damaged or lost shipment; publishes shipment.exception. Each call records
    a new exception: send an `Idempotency-Key` to make a retry safe."""
    def create(uow: UnitOfWork) -> ShipmentDetail:
        shipment = usecases.report_exception(uow, shipment_id, request)
        return views.detail_of(uow.session, shipment, uow.now, policy.desk)

    with _refusals_as_conflict(shipment_id):
        return create_once(work, "report-exception", key, (shipment_id, request), 201, create)


# -- the target (R14), the forecast (R18), the reports (R17), the carriers (R15) -----------------


@router.get("/sla", response_model=SlaView)
def get_sla(runtime: RuntimeDep, policy: Policy,
            horizon_h: float | None = Query(default=None, gt=0, le=24 * 7),
            at_risk_limit: int = Query(default=500, ge=0, le=100_000),
            warehouse: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)] = None) -> SlaView:
    """The 24h/48h figures (R14): every order, shipped with its last part, with each warehouse's
    parts in `by_warehouse`; with `?warehouse=`, that warehouse's parts, each by its own hand-over."""
    with read_session(runtime.engine) as session:
        return views.sla_view(session, runtime.clock.now(), policy, horizon_h, at_risk_limit, warehouse)


@router.get("/capacity", response_model=CapacityView)
def get_capacity(runtime: RuntimeDep, policy: Policy,
                 pickers: int | None = Query(default=None, ge=0, le=100_000),
                 picks_per_hour: int | None = Query(default=None, gt=0, le=10_000),
                 horizon_h: float | None = Query(default=None, gt=0, le=24 * 14)) -> CapacityView:
    """Projection from the queue and the arrival rate so far: the share shipping within 24h
    with this many pickers, and the pickers needed for the target."""
    with read_session(runtime.engine) as session:
        return views.capacity_view(session, runtime.clock.now(), policy, pickers, picks_per_hour, horizon_h)


@router.get("/reports", response_model=Reports)
def get_reports(runtime: RuntimeDep) -> Reports:
    """Dispatch speed, delivery time and damage rate (R17)."""
    with read_session(runtime.engine) as session:
        return views.reports(session)


@router.get("/carriers", response_model=CarriersView)
def get_carriers(runtime: RuntimeDep, policy: Policy) -> CarriersView:
    """The rules table, and today's capacity used per carrier."""
    with read_session(runtime.engine) as session:
        return views.carriers_view(session, runtime.clock.now(), policy.desk)
