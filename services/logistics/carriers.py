"""Carrier choice (R15): a rules table by region, weight and volume, with daily capacity. No I/O.

The table is data (`carriers.json` by default). The first rule matching a parcel names the
carriers to try, in order of preference; a carrier is passed over when it cannot carry the
parcel (region, weight, volume), does not collect from the parcel's warehouse (`warehouses`,
absent: every one; issue 34) or its capacity for the day is used up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any


class CarrierTableInvalid(ValueError):
    """The rules table cannot be used; the message says which entry and why."""


class CarrierRefused(ValueError):
    """Staff chose a carrier that cannot take this parcel now; the message says why."""


@dataclass(frozen=True)
class Parcel:
    region: str
    weight_kg: Decimal
    volume_l: Decimal
    warehouse: str = "main"


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    daily_capacity: int
    max_weight_kg: Decimal | None = None
    max_volume_l: Decimal | None = None
    regions: frozenset[str] | None = None  # None: nationwide
    warehouses: frozenset[str] | None = None  # None: collects from every warehouse

    def why_not(self, parcel: Parcel) -> str | None:
        """None when this carrier can carry the parcel, else the reason it cannot."""
        if self.warehouses is not None and parcel.warehouse not in self.warehouses:
            return f"{self.code} does not collect from warehouse {parcel.warehouse}"
        if self.regions is not None and parcel.region not in self.regions:
            return f"{self.code} does not serve {parcel.region}"
        if self.max_weight_kg is not None and parcel.weight_kg > self.max_weight_kg:
            return f"{self.code} takes parcels up to {self.max_weight_kg} kg, this one weighs {parcel.weight_kg} kg"
        if self.max_volume_l is not None and parcel.volume_l > self.max_volume_l:
            return f"{self.code} takes parcels up to {self.max_volume_l} l, this one is {parcel.volume_l} l"
        return None


@dataclass(frozen=True)
class CarrierRule:
    name: str
    carriers: tuple[str, ...]
    regions: frozenset[str] | None = None
    min_weight_kg: Decimal | None = None
    max_weight_kg: Decimal | None = None
    min_volume_l: Decimal | None = None
    max_volume_l: Decimal | None = None

    def matches(self, parcel: Parcel) -> bool:
        if self.regions is not None and parcel.region not in self.regions:
            return False
        if self.min_weight_kg is not None and parcel.weight_kg < self.min_weight_kg:
            return False
        if self.max_weight_kg is not None and parcel.weight_kg > self.max_weight_kg:
            return False
        if self.min_volume_l is not None and parcel.volume_l < self.min_volume_l:
            return False
        if self.max_volume_l is not None and parcel.volume_l > self.max_volume_l:
            return False
        return True


@dataclass(frozen=True)
class Suggestion:
    carrier: str | None
    rule: str
    passed_over: tuple[tuple[str, str], ...]  # (carrier, why), in the order tried

    def as_dict(self) -> dict[str, Any]:
        return {"carrier": self.carrier, "rule": self.rule,
                "passed_over": [{"carrier": c, "reason": r} for c, r in self.passed_over]}


@dataclass(frozen=True)
class CarrierTable:
    carriers: Mapping[str, Carrier]  # in table order
    rules: tuple[CarrierRule, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], capacity_overrides: Mapping[str, int] | None = None) -> CarrierTable:
        carriers: dict[str, Carrier] = {}
        for i, raw in enumerate(data.get("carriers") or []):
            where = f"carriers.{i}"
            code = _text(raw, "code", where)
            if code in carriers:
                raise CarrierTableInvalid(f"{where}: carrier {code} listed twice")
            capacity = raw.get("daily_capacity")
            if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 0:
                raise CarrierTableInvalid(f"{where}.daily_capacity: a whole number >= 0 is required")
            carriers[code] = Carrier(
                code=code, name=raw.get("name") or code, daily_capacity=capacity,
                max_weight_kg=_decimal(raw, "max_weight_kg", where), max_volume_l=_decimal(raw, "max_volume_l", where),
                regions=_regions(raw, where), warehouses=_names(raw, "warehouses", where, "warehouse ids"),
            )
        if not carriers:
            raise CarrierTableInvalid("carriers: at least one carrier is required")
        for code, capacity in (capacity_overrides or {}).items():
            if code not in carriers:
                raise CarrierTableInvalid(f"capacity given for unknown carrier {code!r} "
                                          f"(known: {', '.join(carriers)})")
            if capacity < 0:
                raise CarrierTableInvalid(f"capacity of {code} must be >= 0, got {capacity}")
            carriers[code] = replace(carriers[code], daily_capacity=capacity)
        rules = []
        for i, raw in enumerate(data.get("rules") or []):
            where = f"rules.{i}"
            names = raw.get("carriers")
            if not isinstance(names, list) or not names:
                raise CarrierTableInvalid(f"{where}.carriers: a non-empty list of carrier codes is required")
            unknown = [n for n in names if n not in carriers]
            if unknown:
                raise CarrierTableInvalid(f"{where}.carriers: unknown carrier(s) {', '.join(map(str, unknown))}")
            rules.append(CarrierRule(
                name=raw.get("name") or f"rule {i}", carriers=tuple(names), regions=_regions(raw, where),
                min_weight_kg=_decimal(raw, "min_weight_kg", where), max_weight_kg=_decimal(raw, "max_weight_kg", where),
                min_volume_l=_decimal(raw, "min_volume_l", where), max_volume_l=_decimal(raw, "max_volume_l", where),
            ))
        return cls(carriers=carriers, rules=tuple(rules))

    def preference(self, parcel: Parcel) -> tuple[str, tuple[str, ...]]:
        """The first matching rule and its carriers; every carrier in table order when none matches."""
        for rule in self.rules:
            if rule.matches(parcel):
                return rule.name, rule.carriers
        return "no rule matched: all carriers", tuple(self.carriers)

    def suggest(self, parcel: Parcel, used_today: Mapping[str, int]) -> Suggestion:
        """The first carrier of the matching rule that can carry the parcel and is not full today;
        when all of those are unavailable, any other carrier that can, in table order, so a
        parcel never waits only because its preferred carriers are full."""
        rule, codes = self.preference(parcel)
        fallback = tuple(code for code in self.carriers if code not in codes)
        passed_over: list[tuple[str, str]] = []
        for code in (*codes, *fallback):
            reason = self.why_not(code, parcel, used_today)
            if reason is None:
                label = rule if code in codes else f"{rule}, then any carrier with room"
                return Suggestion(code, label, tuple(passed_over))
            passed_over.append((code, reason))
        return Suggestion(None, rule, tuple(passed_over))

    def why_not(self, code: str, parcel: Parcel, used_today: Mapping[str, int]) -> str | None:
        carrier = self.carriers.get(code)
        if carrier is None:
            return f"unknown carrier {code!r} (known: {', '.join(self.carriers)})"
        reason = carrier.why_not(parcel)
        if reason is not None:
            return reason
        if used_today.get(code, 0) >= carrier.daily_capacity:
            return f"{code} is full today ({carrier.daily_capacity} parcels booked)"
        return None

    def check_choice(self, code: str, parcel: Parcel, used_today: Mapping[str, int]) -> None:
        """Staff may override the suggestion, but not with a carrier that cannot take the parcel."""
        reason = self.why_not(code, parcel, used_today)
        if reason is not None:
            raise CarrierRefused(reason)

    def choose(self, parcel: Parcel, used_today: Mapping[str, int], chosen: str | None) -> str:
        """The carrier of a hand-over: staff's choice when given (checked), else the suggestion."""
        if chosen is None:
            suggestion = self.suggest(parcel, used_today)
            if suggestion.carrier is None:
                raise CarrierRefused("no carrier can take this parcel today: "
                                     + "; ".join(reason for _, reason in suggestion.passed_over))
            chosen = suggestion.carrier
        self.check_choice(chosen, parcel, used_today)
        return chosen


@dataclass(frozen=True)
class CarrierDesk:
    """The carrier rules table and the warehouse day its capacities count in."""

    table: CarrierTable
    utc_offset_h: int

    def day(self, now: datetime) -> date:
        return warehouse_day(now, self.utc_offset_h)


def warehouse_day(moment: datetime, utc_offset_h: int) -> date:
    """The warehouse's calendar day of an instant: capacity is booked per local day."""
    return (moment + timedelta(hours=utc_offset_h)).date()


def parcel_of_shipment(shipment: Any) -> Parcel:
    """A shipment row's parcel (its weight and volume were summed when it was queued)."""
    return Parcel(region=shipment.region, weight_kg=shipment.weight_kg, volume_l=shipment.volume_l,
                  warehouse=shipment.warehouse)


def parcel_of(region: str, lines: Iterable[tuple[int, Decimal | None, Decimal | None]]) -> Parcel:
    """Weight and volume of a shipment from (quantity, weight per unit, volume per unit); a line
    without figures counts as zero, so a carrier is still suggested."""
    weight = Decimal("0.00")
    volume = Decimal("0.00")
    for quantity, unit_weight, unit_volume in lines:
        weight += quantity * (unit_weight or 0)
        volume += quantity * (unit_volume or 0)
    return Parcel(region=region, weight_kg=weight, volume_l=volume)


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CarrierTableInvalid(f"{where}.{key}: a non-empty string is required")
    return value.strip()


def _decimal(raw: Mapping[str, Any], key: str, where: str) -> Decimal | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, float):
        raise CarrierTableInvalid(f"{where}.{key}: write figures as decimal strings such as \"30.00\"")
    try:
        amount = Decimal(str(value))
    except Exception as exc:
        raise CarrierTableInvalid(f"{where}.{key}: not a number: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise CarrierTableInvalid(f"{where}.{key}: must be a finite number >= 0")
    return amount


def _regions(raw: Mapping[str, Any], where: str) -> frozenset[str] | None:
    return _names(raw, "regions", where, "region names")


def _names(raw: Mapping[str, Any], key: str, where: str, what: str) -> frozenset[str] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(r, str) and r for r in value):
        raise CarrierTableInvalid(f"{where}.{key}: a list of {what} is required")
    return frozenset(value)
