"""Warehouses as data (issue 34): what each serves and reaches, and the order in which they are
tried for a customer's region. Pure: parsing and ranking, no I/O.

The warehouses file (setting `INVENTORY_WAREHOUSES_PATH`) is a JSON list of objects:
    {"id": "north", "name": "North DC", "regions": ["north", "central"], "reaches": ["east"],
     "carriers": ["SF", "YTO"], "pickers": 40, "position": 1}
`regions`: the regions it serves, the one it serves first first; "*" serves every region.
`reaches`: other regions it can ship to, nearest first. `carriers` and `pickers` are kept for
the record and the API (logistics owns waves and carriers). `position` breaks ties (lowest
first); absent, the object's place in the file. Unknown keys are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.contract_types import id_problem
from shared.event_parts import DEFAULT_WAREHOUSE
from shared.limits import ID_PATTERN, MAX_WAREHOUSES

EVERY_REGION = "*"
MAX_REGIONS = 64
MAX_CARRIERS = 32
MAX_PICKERS = 100_000
MAX_POSITION = 1_000_000
FIELDS = ("id", "name", "regions", "reaches", "carriers", "pickers", "position")


class WarehousesInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Warehouse:
    id: str
    name: str = ""
    regions: tuple[str, ...] = ()
    reaches: tuple[str, ...] = ()
    carriers: tuple[str, ...] = ()
    pickers: int = 0
    position: int = 0

    def serves(self, region: str) -> bool:
        return EVERY_REGION in self.regions or region in self.regions

    def preference(self, region: str) -> int:
        """Lower first: where `region` stands among the regions it serves ("*" after named ones)."""
        return self.regions.index(region) if region in self.regions else len(self.regions)


DEFAULT = Warehouse(id=DEFAULT_WAREHOUSE, name="Main warehouse", regions=(EVERY_REGION,), position=0)
"""The platform's one warehouse when no file names any: it serves every region, so orders, stock
and events behave exactly as before warehouses existed."""


NO_HOME = ""
"""The home of a waiting order that may take from no warehouse: no stock row has it."""


@dataclass(frozen=True)
class Ranked:
    """A warehouse in the order it is tried for one region; `serving`: it serves the region."""

    warehouse: str
    serving: bool


@dataclass
class Ranking:
    """The warehouses ranked per region, computed once per region and kept (a pure cache)."""

    warehouses: Sequence[Warehouse]
    _by_region: dict[str, tuple[Ranked, ...]] = field(default_factory=dict)

    def __call__(self, region: str) -> tuple[Ranked, ...]:
        ranked = self._by_region.get(region)
        if ranked is None:
            ranked = self._by_region[region] = rank_for_region(self.warehouses, region)
        return ranked

    def home(self, region: str, policy: str = "fewest_shipments") -> str:
        """Where a waiting order of `region` holds its place in line (the protection rule): its
        first-ranked warehouse it may take from; NO_HOME for an `own_region` order of a region
        no warehouse serves (it protects nothing: it can take from none)."""
        ranked = [r for r in self(region) if r.serving or policy != "own_region"]
        return ranked[0].warehouse if ranked else NO_HOME


def rank_for_region(warehouses: Iterable[Warehouse], region: str) -> tuple[Ranked, ...]:
    """Serving warehouses first (by where the region stands in their `regions`, then position),
    then those that reach it (by nearness: where it stands in their `reaches`), then the rest by
    position."""
    serving, reaching, rest = [], [], []
    for w in warehouses:
        if w.serves(region):
            serving.append(((w.preference(region), w.position, w.id), w))
        elif region in w.reaches:
            reaching.append(((w.reaches.index(region), w.position, w.id), w))
        else:
            rest.append(((w.position, w.id), w))
    return (tuple(Ranked(w.id, True) for _, w in sorted(serving, key=lambda p: p[0]))
            + tuple(Ranked(w.id, False) for _, w in sorted(reaching, key=lambda p: p[0]))
            + tuple(Ranked(w.id, False) for _, w in sorted(rest, key=lambda p: p[0])))


# ---------------------------------------------------------------------------------------------
# The file and the HTTP body: strict, with the place of every error


def load_warehouses(path: Path) -> list[Warehouse]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise WarehousesInvalid(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WarehousesInvalid(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(records, list) or not records:
        raise WarehousesInvalid(f"{path}: expected a non-empty JSON list of warehouses")
    if len(records) > MAX_WAREHOUSES:
        raise WarehousesInvalid(f"{path}: {len(records)} warehouses, at most {MAX_WAREHOUSES}")
    warehouses = [parse_warehouse(record, f"{path} item {i + 1}", position=i) for i, record in enumerate(records)]
    seen: set[str] = set()
    for i, w in enumerate(warehouses):
        if w.id in seen:
            raise WarehousesInvalid(f"{path} item {i + 1}: warehouse {w.id} appears twice")
        seen.add(w.id)
    return warehouses


def parse_warehouse(record: Any, place: str, *, position: int = 0, warehouse_id: str | None = None) -> Warehouse:
    """One warehouse object. `warehouse_id`: given by the URL (PUT /warehouses/{id}): the body
    may leave `id` out, or must repeat it."""
    if not isinstance(record, dict):
        raise WarehousesInvalid(f"{place}: expected an object with id, regions, pickers")
    unknown = sorted(str(k)[:40] for k in record if k not in FIELDS)
    if unknown:
        raise WarehousesInvalid(f"{place}: unknown field(s) {', '.join(unknown)}; expected {', '.join(FIELDS)}")
    wid = record.get("id", warehouse_id)
    if warehouse_id is not None and wid != warehouse_id:
        raise WarehousesInvalid(f"{place}: id {str(wid)[:70]!r} differs from the warehouse of the path")
    if not isinstance(wid, str) or re.fullmatch(ID_PATTERN, wid) is None:
        raise WarehousesInvalid(f"{place}: id is required and must be an id: "
                                f"{id_problem(wid) if isinstance(wid, str) else 'not a string'}")
    name = record.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise WarehousesInvalid(f"{place}: name must be text of at most 200 characters")
    regions = _names(record.get("regions"), "regions", place, required=True)
    reaches = _names(record.get("reaches", []), "reaches", place, required=False)
    if EVERY_REGION in reaches:
        raise WarehousesInvalid(f"{place}: reaches cannot hold {EVERY_REGION!r} (list the regions it reaches)")
    both = sorted(set(regions) & set(reaches))
    if both:
        raise WarehousesInvalid(f"{place}: region(s) {', '.join(both)} both served and reached")
    carriers = _names(record.get("carriers", []), "carriers", place, required=False, limit=MAX_CARRIERS, ids=True)
    pickers = _whole(record.get("pickers", 0), "pickers", place, MAX_PICKERS)
    pos = _whole(record.get("position", position), "position", place, MAX_POSITION)
    return Warehouse(id=wid, name=name.strip() or wid, regions=regions, reaches=reaches, carriers=carriers,
                     pickers=pickers, position=pos)


def _names(value: Any, what: str, place: str, *, required: bool, limit: int = MAX_REGIONS,
           ids: bool = False) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list):
        raise WarehousesInvalid(f"{place}: {what} must be a list of names")
    if len(value) > limit:
        raise WarehousesInvalid(f"{place}: {what} has {len(value)} entries, at most {limit}")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > 64:
            raise WarehousesInvalid(f"{place}: {what} must hold names of 1 to 64 characters, got {str(item)[:70]!r}")
        if ids and re.fullmatch(ID_PATTERN, item) is None:
            raise WarehousesInvalid(f"{place}: {what}: {item!r} is not a code: {id_problem(item)}")
        if item in names:
            raise WarehousesInvalid(f"{place}: {what} lists {item!r} twice")
        names.append(item)
    return tuple(names)


def _whole(value: Any, what: str, place: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WarehousesInvalid(f"{place}: {what} must be a whole number, got {str(value)[:40]!r}")
    if not 0 <= value <= maximum:
        raise WarehousesInvalid(f"{place}: {what} must be between 0 and {maximum}, got {value}")
    return value


def as_record(w: Warehouse) -> dict[str, Any]:
    return {"id": w.id, "name": w.name, "regions": list(w.regions), "reaches": list(w.reaches),
            "carriers": list(w.carriers), "pickers": w.pickers, "position": w.position}
