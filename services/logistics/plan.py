"""The event's plan (R18) as data: expected orders per hour and priority class, before any order.

Two shapes, exactly one per plan:
- `phases`: warm-up, burst, tail... each `hours` long with `orders_per_hour` per class;
- `previous`: a previous event's hourly figures per class, multiplied by `factor`.

Validation is strict because a plan drives staffing and carrier bookings: whole counts only
(no 1.5 orders, no floats), bounded per hour, a start with its time zone, known classes only,
at most 31 days. A bad plan is a 422 over HTTP and a start-up error from a file, both naming the
field. No I/O here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from shared.events import PRIORITY_CLASSES

MAX_PLAN_HOURS = 24 * 31
MAX_ORDERS_PER_HOUR = 10_000_000  # per class: far above any peak, far below what overflows a sum
MAX_FACTOR = Decimal("1000")

Count = Annotated[StrictInt, Field(ge=0, le=MAX_ORDERS_PER_HOUR)]


class ClassCounts(BaseModel):
    """Orders per hour of each priority class (the classes logistics dispatches by)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    presale: Count = 0
    high_value: Count = 0
    standard: Count = 0

    def total(self) -> int:
        return self.presale + self.high_value + self.standard


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = Field(default="", max_length=100)
    hours: Annotated[StrictInt, Field(ge=0, le=MAX_PLAN_HOURS)]
    """Length of the phase in hours (0: a phase kept in the plan but skipped)"""
    orders_per_hour: ClassCounts


class Previous(BaseModel):
    """A previous event's orders per hour and class, scaled by `factor` (rounded half up)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    hours: list[ClassCounts] = Field(max_length=MAX_PLAN_HOURS)
    factor: Annotated[Decimal, Field(ge=0, le=MAX_FACTOR, max_digits=12, decimal_places=4)] = Decimal(1)
    """Multiplier of every figure, e.g. "1.3" for 30% more than last time"""


class StockWait(BaseModel):
    """Orders expected to wait for stock (backordered until a supplier delivery): the planner's
    estimate from planned stock against expected demand and the suppliers' lead times. Of every
    hour's orders from `from_hour` on, `share_pct` % wait `hours` before they can be picked; the
    24h/48h clocks still start at payment."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    share_pct: Annotated[Decimal, Field(gt=0, le=100, max_digits=5, decimal_places=2)]
    """Share of each hour's orders in %, e.g. "12.5" (two decimals at most)"""
    hours: Annotated[StrictInt, Field(ge=1, le=MAX_PLAN_HOURS)]
    """How long they wait for stock, whole hours"""
    from_hour: Annotated[StrictInt, Field(ge=0, le=MAX_PLAN_HOURS)] = 0
    """Hours after the plan's start from which orders wait (before it stock is expected to be there)"""


class Plan(BaseModel):
    """PUT /plan's body and the file named by LOGISTICS_PLAN_PATH."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = Field(min_length=1, max_length=200)
    start: AwareDatetime
    """First hour of the plan, with its time zone (rounded down to the hour)"""
    phases: list[Phase] | None = Field(default=None, max_length=100)
    previous: Previous | None = None
    regions: dict[Annotated[str, Field(min_length=1, max_length=100)],
                  Annotated[StrictInt, Field(ge=0, le=1_000_000)]] | None = Field(default=None, max_length=200)
    """Optional mix of parcels over regions as whole weights, e.g. {"Zhejiang": 30, "Guangdong": 20}"""
    stock_waits: list[StockWait] | None = Field(default=None, max_length=50)
    """Optional: orders expected to wait for stock; the forecast ships them only after the wait"""

    @model_validator(mode="after")
    def _one_shape(self) -> Plan:
        if (self.phases is None) == (self.previous is None):
            raise ValueError("give exactly one of `phases` or `previous`")
        hours = sum(p.hours for p in self.phases) if self.phases is not None else len(self.previous.hours)  # type: ignore[union-attr]
        if hours > MAX_PLAN_HOURS:
            raise ValueError(f"the plan covers {hours} hours; at most {MAX_PLAN_HOURS} (31 days)")
        if self.regions is not None and self.regions and sum(self.regions.values()) == 0:
            raise ValueError("regions: at least one weight must be above 0")
        if self.stock_waits:
            for hour in sorted({w.from_hour for w in self.stock_waits}):
                waiting = sum(w.share_pct for w in self.stock_waits if w.from_hour <= hour)
                if waiting > 100:
                    raise ValueError(f"stock_waits: {waiting}% of the orders from hour {hour} would wait; at most 100%")
        if self.previous is not None:
            for i, counts in enumerate(self.previous.hours):
                for klass, count in _scaled(counts, self.previous.factor).items():
                    if count > MAX_ORDERS_PER_HOUR:
                        raise ValueError(f"previous.hours.{i}.{klass} times the factor is {count:,} orders; "
                                         f"at most {MAX_ORDERS_PER_HOUR:,} an hour")
        return self


@dataclass(frozen=True)
class PlannedHour:
    start: datetime
    per_class: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.per_class.values())


def planned_hours(plan: Plan) -> list[PlannedHour]:
    """The plan unrolled hour by hour from its start (UTC, on the hour)."""
    first = plan.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if plan.previous is not None:
        per_hour = [_scaled(c, plan.previous.factor) for c in plan.previous.hours]
    else:
        per_hour = [{k: getattr(phase.orders_per_hour, k) for k in PRIORITY_CLASSES}
                    for phase in plan.phases or [] for _ in range(phase.hours)]
    return [PlannedHour(first + timedelta(hours=i), counts) for i, counts in enumerate(per_hour)]


def _scaled(counts: ClassCounts, factor: Decimal) -> dict[str, int]:
    """A previous event's hour times the factor, rounded half up (7.5 orders -> 8)."""
    return {k: int((getattr(counts, k) * factor).to_integral_value(ROUND_HALF_UP)) for k in PRIORITY_CLASSES}


class PlanInvalid(ValueError):
    """A plan that cannot be used; the message names the field."""


def plan_from_json(text: str | bytes, source: str) -> Plan:
    """A plan from JSON text (the file at start-up), or PlanInvalid naming the field."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PlanInvalid(f"{source}: not a JSON plan: {str(exc)[:200]}") from exc
    return plan_from_data(data, source)


def plan_from_data(data: Any, source: str) -> Plan:
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanInvalid(f"{source}: " + describe(exc)) from exc


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "plan"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
