"""The HTTP contract of the logistics service: request bodies and answers, as /openapi.json shows
them. Times are tz-aware ISO 8601 as `datetime.isoformat()` writes them (`+00:00`), weights and
volumes decimal strings with two places, never floats; the SLA, forecast and report figures
are JSON numbers, as they always were."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from shared.events import DEFAULT_WAREHOUSE, Note, OrderLine, WarehouseId

StaffId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Tracking = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$",
                                description="The carrier's tracking number.")]
Moment = Annotated[AwareDatetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
                   WithJsonSchema({"type": "string", "format": "date-time"})]
Measure = Annotated[Decimal, PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
                    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{2}$", "description": "decimal string"})]
Status = Literal["queued", "picking", "packed", "shipped", "delivered", "lost", "withdrawn", "awaiting_balance"]

# ---------------------------------------------------------------------------------------------
# Requests


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WaveRequest(Body):
    size: int = Field(gt=0, description="How many shipments the picker wants in this wave.")
    picker_id: StaffId
    warehouse: WarehouseId = Field(default=DEFAULT_WAREHOUSE,
                                   description="The warehouse the picker works in: a wave is one warehouse's.")


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


# ---------------------------------------------------------------------------------------------
# Shipments


class PassedOver(BaseModel):
    carrier: str
    reason: str


class SuggestedCarrier(BaseModel):
    carrier: str | None = Field(description="None: no carrier can take the parcel today.")
    rule: str
    passed_over: list[PassedOver]


class ShipmentSummary(BaseModel):
    shipment_id: str
    order_id: str
    status: Status = Field(description="`queued` also for a shipment whose wave's lease ran out.")
    priority_class: str
    priority_rank: str
    region: str
    paid_at: Moment = Field(description="When the order was paid; a deposit presale's: when its balance was "
                                        "(its deposit's until then).")
    deadline_24h: Moment | None = Field(description="None while a deposit presale awaits its balance: no clock runs.")
    deadline_48h: Moment | None = Field(description="None while a deposit presale awaits its balance.")
    weight_kg: Measure
    volume_l: Measure
    replacement_for_case: str | None
    warehouse: str = Field(default=DEFAULT_WAREHOUSE, description="The warehouse it leaves from.")
    order_parts: int = Field(default=1, description="Shipments its order was split into (1: the whole order).")
    suggested_carrier: SuggestedCarrier | None = Field(
        default=None, description="While the shipment is in the warehouse (queued, picking, packed).")


class Incident(BaseModel):
    kind: str
    note: str
    reported_by: str | None
    reported_at: Moment
    customer_notification: Literal["published", "queued", "refused"] | None = Field(
        default=None, description="The customer's notification (customer.notification_requested): `published` "
                                  "once the broker has it, `queued` while it waits in the outbox, `refused` when "
                                  "the broker refused it; none for exceptions recorded before notifications.")


class ShipmentDetail(ShipmentSummary):
    order_type: str
    lines: list[OrderLine]
    wave_id: str | None
    picker_id: str | None
    claimed_until: Moment | None
    packed_at: Moment | None
    carrier: str | None
    tracking_number: str | None
    shipped_at: Moment | None
    delivered_at: Moment | None
    withdrawn_at: Moment | None
    withdraw_reason: str | None
    deposit_paid_at: Moment | None = Field(default=None, description="A deposit presale's: when its deposit was paid.")
    balance_paid_at: Moment | None = Field(default=None, description="A deposit presale's: when its balance was paid "
                                                                     "(none while it awaits it).")
    shipped_within_24h: bool | None = Field(description="None until handed over.")
    exceptions: list[Incident]


class PackAnswer(ShipmentSummary):
    changed: bool = Field(description="False: it was packed already (nothing changed).")


class StepAnswer(ShipmentDetail):
    changed: bool = Field(description="False: a repeat of a step already recorded (nothing changed, "
                                      "nothing published).")


class Shipped(BaseModel):
    shipment_id: str
    carrier: str | None
    tracking_number: str | None


class Refused(BaseModel):
    shipment_id: str
    reason: str


class CollectionAnswer(BaseModel):
    shipped_at: Moment
    shipped: list[Shipped]
    refused: list[Refused]


# ---------------------------------------------------------------------------------------------
# Waves and the queue


class WaveShipment(ShipmentSummary):
    lines: list[OrderLine]


class WaveAnswer(BaseModel):
    wave_id: str
    picker_id: str
    warehouse: str = DEFAULT_WAREHOUSE
    lease_until: Moment
    size: int = Field(description="Shipments claimed: fewer than asked when the queue ran short.")
    shipments: list[WaveShipment]


class HeldShipment(BaseModel):
    shipment_id: str
    status: Status


class WaveView(BaseModel):
    wave_id: str
    picker_id: str
    warehouse: str = DEFAULT_WAREHOUSE
    requested_size: int
    claimed: int
    created_at: Moment
    lease_until: Moment
    lease_expired: bool
    still_in_this_wave: list[HeldShipment] = Field(
        description="Its shipments not yet released (a shipment released after the lease may be in a later wave).")


class QueuePage(BaseModel):
    now: Moment
    warehouse: str = Field(default=DEFAULT_WAREHOUSE, description="Whose queue this is (`?warehouse=`).")
    waiting: int = Field(description="All shipments waiting for a wave, not only this page's.")
    waiting_by_class: dict[str, int]
    in_waves: int
    shipments: list[ShipmentSummary] = Field(description="A page of the waiting shipments, in wave order.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


# ---------------------------------------------------------------------------------------------
# The SLA, the forecast, the reports, the carriers


class Targets(BaseModel):
    within_24h_pct: int
    within_48h_pct: int


class SlaCounts(BaseModel):
    orders_paid: int
    shipped: int
    shipped_within_24h: int
    shipped_within_48h: int
    not_yet_shipped: int
    missed_24h: int
    missed_48h: int
    within_24h_pct: float | None
    within_48h_pct: float | None
    meets_24h_target: bool
    meets_48h_target: bool


class OrderAtRisk(BaseModel):
    order_id: str
    shipment_id: str
    priority_class: str
    status: Status
    paid_at: Moment
    deadline_24h: Moment
    hours_left: float


class AtRisk(BaseModel):
    horizon_h: float
    count: int
    orders: list[OrderAtRisk] = Field(description="The most urgent first, at most `at_risk_limit`.")


class HourBucket(BaseModel):
    hour: Moment
    paid: int
    dispatched: int
    paid_shipped_within_24h: int


class GaugeProjection(BaseModel):
    state: Literal["on_track", "at_risk", "missed"]
    words: str


class SlaProjection(BaseModel):
    """Where each target is heading (projection.py): missed only when it can no longer be
    reached, at risk when the capacity forecast says the queue will not clear in time."""

    within_24h: GaugeProjection
    within_48h: GaugeProjection


class CapacityRisk(BaseModel):
    """A day the plan's forecast needs more carrier capacity than is booked (issue 32)."""

    kind: Literal["day_capacity", "region_capacity"]
    day: date
    region: str | None = None
    carrier: str | None = None
    needed: int
    booked: int
    words: str


class SlaView(BaseModel):
    now: Moment
    warehouse: str | None = Field(default=None, description="`?warehouse=`: the figures are that warehouse's, "
                                                            "each part by its own hand-over; null: every order, "
                                                            "shipped with its last part.")
    targets: Targets
    overall: SlaCounts
    by_class: dict[str, SlaCounts]
    by_warehouse: dict[str, SlaCounts] = Field(default_factory=dict,
                                               description="Without `?warehouse=`: each warehouse's parts.")
    at_risk: AtRisk
    hourly: list[HourBucket]
    projection: SlaProjection
    capacity_risks: list[CapacityRisk] = Field(default_factory=list,
                                               description="Days ahead booked short of the plan's forecast "
                                                           "(GET /forecast's risks); empty without a plan")


class CapacityView(BaseModel):
    now: Moment
    pickers: int
    picks_per_hour: int
    throughput_per_hour: int
    queue: int
    arrival_rate_per_hour: float
    horizon_h: float
    expected_arrivals: int
    queue_cleared_in_h: float | None
    projected_within_24h_pct: float | None
    target_pct: int
    pickers_needed_for_target: int | None
    target_reachable: bool


class DurationStats(BaseModel):
    count: int
    mean_h: float | None
    median_h: float | None
    p90_h: float | None
    max_h: float | None


class ShipmentReport(BaseModel):
    shipped: int
    delivered: int
    dispatch_speed: DurationStats
    delivery_time: DurationStats
    damaged_rate_pct: float | None
    delayed_rate_pct: float | None
    lost_rate_pct: float | None


class Reports(BaseModel):
    overall: ShipmentReport
    by_carrier: dict[str, ShipmentReport]


class CarrierOut(BaseModel):
    code: str
    name: str
    daily_capacity: int
    used_today: int
    remaining_today: int
    max_weight_kg: Measure | None
    max_volume_l: Measure | None
    regions: list[str] | Literal["nationwide"]
    warehouses: list[str] | Literal["all"] = "all"


class RuleOut(BaseModel):
    name: str
    carriers: list[str]
    regions: list[str] | Literal["any"]
    min_weight_kg: Measure | None
    max_weight_kg: Measure | None
    min_volume_l: Measure | None
    max_volume_l: Measure | None


class CarriersView(BaseModel):
    day: date = Field(description="The warehouse's day today's capacity counts in.")
    carriers: list[CarrierOut]
    rules: list[RuleOut]
