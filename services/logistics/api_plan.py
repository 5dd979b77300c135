"""The event's plan, the forecast from it and the carrier bookings made from that (issue 32;
R15, R18). Who may call what: access.py; rules: plan.py, plan_forecast.py, bookings.py."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from services.logistics import plan_store, plan_usecases
from services.logistics.models import CarrierBooking
from services.logistics.plan import MAX_ORDERS_PER_HOUR, Plan, planned_hours
from services.logistics.schemas import CapacityRisk, Moment
from services.logistics.settings import LogisticsPolicy
from shared.db import read_session
from shared.http_app import RuntimeDep, Work, service_policy
from shared.http_problems import ContractRoute, Problem, problem_responses
from shared.idempotency import IdempotencyKey, create_once
from shared.unit_of_work import UnitOfWork

router = APIRouter(tags=["plan"], route_class=ContractRoute)
Policy = Annotated[LogisticsPolicy, Depends(service_policy)]


class PlanView(BaseModel):
    name: str
    source: Literal["http", "file"] = Field(description="Put by an admin, or read from LOGISTICS_PLAN_PATH")
    start: Moment
    hours: int
    planned_orders: int
    plan: dict[str, Any] = Field(description="The plan as loaded")


class ForecastHourView(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    hour_start: Moment
    planned_arrivals: int
    actual_arrivals: int | None
    """Orders paid in the hour; null for hours not started"""
    backlog: int
    """Orders waiting to ship at the hour's end (in the dispatch queue)"""
    waiting_for_stock: int = 0
    """Orders arrived but still waiting for stock at the hour's end (the plan's stock_waits)"""
    shipped: int
    share_24h: float | None
    """Of the orders arrived up to this hour, % projected to ship within 24h (one decimal)"""
    share_48h: float | None
    pickers_needed_80_24h: int | None
    """Fewest pickers from this hour on to get each hour's orders 80% out within 24h; null when over"""
    pickers_needed_95_48h: int | None


class CapacityNeed(BaseModel):
    day: date
    region: str
    parcels: int


RiskView = CapacityRisk


class ForecastView(BaseModel):
    plan: str
    generated_at: Moment
    pickers: int = Field(description="Pickers assumed for the hours to come (LOGISTICS_DEFAULT_PICKERS)")
    picks_per_hour: int
    regions_from: Literal["plan", "orders", "none"] = Field(
        description="How parcels are split over regions: the plan's mix, the orders so far, or not at all")
    scaled_by: float | None = Field(description="actual/planned so far applied to later hours (scale=true)")
    hours: list[ForecastHourView]
    carrier_capacity_needed: list[CapacityNeed]
    risks: list[RiskView]


class BookingView(BaseModel):
    booking_id: str
    carrier: str
    day: date
    parcels: int
    status: Literal["proposed", "confirmed", "superseded"]
    proposed_at: Moment
    confirmed_at: Moment | None
    confirmed_by: str | None


class BookingList(BaseModel):
    bookings: list[BookingView]


class ConfirmAnswer(BookingView):
    changed: bool


class ProposalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    margin_pct: Annotated[StrictInt, Field(ge=0, le=100)] = Field(
        default=0, description="Headroom on each proposal, in %, rounded up")


class ConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parcels: Annotated[StrictInt, Field(ge=0, le=MAX_ORDERS_PER_HOUR)] | None = Field(
        default=None, description="Book this many instead of the proposal's figure")


def _pct(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _plan_view(plan: Plan, source: str) -> PlanView:
    hours = planned_hours(plan)
    return PlanView(name=plan.name, source=source, start=plan.start, hours=len(hours),  # type: ignore[arg-type]
                    planned_orders=sum(h.total for h in hours), plan=plan_usecases.plan_json(plan))


def _booking(row: CarrierBooking) -> BookingView:
    return BookingView(booking_id=row.booking_id, carrier=row.carrier, day=date.fromisoformat(row.day),
                       parcels=row.parcels, status=row.status,  # type: ignore[arg-type]
                       proposed_at=row.proposed_at, confirmed_at=row.confirmed_at, confirmed_by=row.confirmed_by)


@router.put("/plan", response_model=PlanView, responses=problem_responses(400, 413))
def put_plan(plan: Plan, work: Work) -> PlanView:
    """Loads the event's plan (replacing the one before, and the file's). 422 names the field of
    a plan that cannot be used."""
    with work() as uow:
        plan_usecases.put_plan(uow, plan)
    return _plan_view(plan, "http")


@router.get("/plan", response_model=PlanView, responses=problem_responses(404))
def get_plan(runtime: RuntimeDep, policy: Policy) -> PlanView:
    with read_session(runtime.engine) as session:
        plan, source = plan_usecases.current_plan(session, policy)
    if plan is None:
        raise Problem(404, "not-found", plan_usecases.NO_PLAN)
    return _plan_view(plan, source)


@router.get("/forecast", response_model=ForecastView, responses=problem_responses(404))
def get_forecast(runtime: RuntimeDep, policy: Policy,
                 scale: bool = Query(default=False, description="Multiply the hours to come by actual/planned "
                                                                "of the hours over")) -> ForecastView:
    """Hour by hour from the plan, before any order, with actual arrivals blended in as they come:
    arrivals, backlog, shipped, the shares projected within 24h/48h, the pickers needed; the
    carrier capacity needed per region and day, and the days booked short."""
    now = runtime.clock.now()
    with read_session(runtime.engine) as session:
        result = plan_usecases.forecast(session, now, policy, scale)
    settings = policy.settings
    return ForecastView(
        plan=result.plan.name, generated_at=now, pickers=settings.default_pickers,
        picks_per_hour=settings.default_picks_per_hour, regions_from=result.region_source,  # type: ignore[arg-type]
        scaled_by=None if result.scale_factor is None else float(result.scale_factor),
        hours=[ForecastHourView(hour_start=h.start, planned_arrivals=h.planned, actual_arrivals=h.actual,
                                backlog=h.backlog, shipped=h.shipped, share_24h=_pct(h.share_24h),
                                share_48h=_pct(h.share_48h), pickers_needed_80_24h=h.pickers_80_24h,
                                pickers_needed_95_48h=h.pickers_95_48h, waiting_for_stock=h.waiting_for_stock)
               for h in result.forecast.hours],
        carrier_capacity_needed=[CapacityNeed(day=d, region=r, parcels=p) for d, r, p in result.needed],
        risks=[RiskView(**r.as_dict()) for r in result.risks])  # type: ignore[arg-type]


@router.post("/carrier-bookings/proposals", status_code=201, response_model=BookingList,
             responses=problem_responses(404))
def propose_bookings(work: Work, policy: Policy, key: IdempotencyKey,
                     request: ProposalRequest | None = None) -> Any:
    """Bookings per carrier and warehouse day proposed from the forecast's parcels, replacing
    earlier proposals not confirmed for those days. Honours `Idempotency-Key`."""
    margin = request.margin_pct if request else 0

    def create(uow: UnitOfWork) -> BookingList:
        return BookingList(bookings=[_booking(r) for r in plan_usecases.propose(uow, policy, margin)])

    return create_once(work, "propose-carrier-bookings", key, margin, 201, create)


@router.post("/carrier-bookings/{booking_id}/confirm", response_model=ConfirmAnswer,
             responses=problem_responses(404, 409))
def confirm_booking(booking_id: Annotated[str, Field(max_length=100)], work: Work,
                    request: ConfirmRequest | None = None) -> ConfirmAnswer:
    """Confirms a proposed booking: from then on its figure is the carrier's capacity that day.
    A repeat changes nothing (`changed: false`)."""
    with work() as uow:
        row, changed = plan_usecases.confirm(uow, booking_id, request.parcels if request else None)
        return ConfirmAnswer(**_booking(row).model_dump(), changed=changed)


@router.get("/carrier-bookings", response_model=BookingList)
def list_bookings(runtime: RuntimeDep, day: date | None = Query(default=None, description="Warehouse-local day"),
                  limit: int = Query(default=500, ge=1, le=5000)) -> BookingList:
    with read_session(runtime.engine) as session:
        return BookingList(bookings=[_booking(r) for r in plan_store.bookings(session, day, limit)])
