"""Carrier capacity booked ahead of the peak (R15), from the plan's forecast. No I/O.

- Proposal: each day's parcels of each region (plan_forecast.capacity_needed) go to the carriers
  serving that region, in proportion to their usual daily capacity (the rules table's), rounded
  so the sum stays exact; summed per carrier and day. The system proposes, an admin confirms.
- A confirmed booking replaces the table's daily capacity of that carrier on that warehouse day
  (carrier choice, carriers.py, sees a table with the booked figures).
- Risks: a day whose forecast parcels exceed the capacity of that day (booked where booked,
  else the table's), over all carriers, and per region over the carriers serving it (an upper
  bound: a nationwide carrier's capacity counts for every region).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from services.logistics.carriers import Carrier, CarrierTable
from services.logistics.plan_forecast import split

ALL_REGIONS = "all regions"  # the forecast's one region when neither the plan nor the orders say


@dataclass(frozen=True)
class Risk:
    kind: str  # "day_capacity" or "region_capacity"
    day: date
    needed: int
    booked: int
    region: str | None = None

    @property
    def words(self) -> str:
        where = f"{self.region}, " if self.region else ""
        scope = "" if self.region else " (all carriers)"
        return f"{where}{self.day.day} {self.day:%b}: {self.needed:,} parcels forecast, {self.booked:,} booked{scope}"

    def as_dict(self) -> dict[str, object]:
        answer: dict[str, object] = {"kind": self.kind, "day": self.day, "needed": self.needed,
                                     "booked": self.booked, "words": self.words}
        if self.region is not None:
            answer["region"] = self.region
        return answer


def serves(carrier: Carrier, region: str) -> bool:
    return region == ALL_REGIONS or carrier.regions is None or region in carrier.regions


def propose(needed: Iterable[tuple[date, str, int]], table: CarrierTable) -> dict[tuple[date, str], int]:
    """Parcels to book per (day, carrier code), from (day, region, parcels)."""
    booked: dict[tuple[date, str], int] = {}
    for day, region, parcels in needed:
        weights = {c.code: c.daily_capacity for c in table.carriers.values() if serves(c, region)}
        if sum(weights.values()) == 0:
            # Nobody serves it (or all at 0): still propose it to the serving carriers evenly,
            # else nothing at all; the risk list says so either way.
            weights = {code: 1 for code in weights}
        for code, count in split(parcels, weights).items():
            if count:
                booked[(day, code)] = booked.get((day, code), 0) + count
    return booked


def table_for_day(table: CarrierTable, booked: Mapping[str, int]) -> CarrierTable:
    """The rules table with a day's confirmed bookings as those carriers' capacity."""
    if not booked:
        return table
    carriers = {code: replace(c, daily_capacity=booked[code]) if code in booked else c
                for code, c in table.carriers.items()}
    return CarrierTable(carriers=carriers, rules=table.rules)


def risks(needed: Iterable[tuple[date, str, int]], table: CarrierTable,
          booked_by_day: Mapping[date, Mapping[str, int]], from_day: date) -> list[Risk]:
    """Days (from `from_day`) whose forecast needs more than the capacity booked: per day over all
    carriers, then per region over the carriers serving it."""
    per_day: dict[date, int] = {}
    per_region: dict[tuple[date, str], int] = {}
    for day, region, parcels in needed:
        if day < from_day:
            continue
        per_day[day] = per_day.get(day, 0) + parcels
        per_region[(day, region)] = per_region.get((day, region), 0) + parcels
    found: list[Risk] = []
    for day in sorted(per_day):
        carriers = table_for_day(table, booked_by_day.get(day, {})).carriers.values()
        total = sum(c.daily_capacity for c in carriers)
        if per_day[day] > total:
            found.append(Risk("day_capacity", day, per_day[day], total))
        for (when, region), parcels in sorted(per_region.items()):
            if when != day or region == ALL_REGIONS:
                continue
            room = sum(c.daily_capacity for c in carriers if serves(c, region))
            if parcels > room:
                found.append(Risk("region_capacity", day, parcels, room, region))
    return found
