"""The catalog file: per sku its tier, planned stock and opening stock, as CSV or JSON.

CSV header: sku,name,tier,planned_stock,on_hand[,forecast][,threshold_percent][,bin][,warehouse]
JSON: a list of objects with the same fields. `warehouse` (absent or empty: `main`) says which
warehouse the row's stock, planned stock and threshold are for: a sku may have a row per
warehouse, and its name, tier and bin must then agree across its rows (a sku is one
product). When `planned_stock` is empty and `forecast` is
given, planned stock follows the tier's stocking rule (profit items at 120% of forecast, R8).
Every figure is a whole number from 0 to MAX_STOCK_UNITS (shared/limits.py). `bin` is where the
sku is kept in the warehouse (e.g. A-03-2), printed on pick lists: letters, digits and . _ / -,
at most 32 characters; empty means no bin.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.inventory.domain import TIERS, planned_stock_for
from shared.contract_types import id_problem
from shared.event_parts import DEFAULT_WAREHOUSE
from shared.limits import ID_PATTERN, MAX_STOCK_UNITS


@dataclass(frozen=True)
class CatalogEntry:
    sku: str
    tier: str
    planned_stock: int
    on_hand: int | None = None
    name: str = ""
    threshold_percent: int | None = None
    bin: str | None = None  # None: not given (an edit keeps the bin); "": no bin
    warehouse: str = DEFAULT_WAREHOUSE


BIN_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,30}[A-Za-z0-9])?$"
"""A bin location as labels and scanners spell it: 1 to 32 characters, no spaces or symbols
beyond . _ / -, starting and ending with a letter or digit."""


class CatalogInvalid(ValueError):
    pass


def load_catalog(path: Path) -> list[CatalogEntry]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogInvalid(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from exc
        if not isinstance(records, list):
            raise CatalogInvalid(f"{path}: expected a JSON list of skus")
        where = [f"{path} item {i + 1}" for i in range(len(records))]
    else:
        records = list(csv.DictReader(io.StringIO(text)))
        where = [f"{path} line {i + 2}" for i in range(len(records))]
    entries = [parse_entry(record, place) for record, place in zip(records, where)]
    seen: set[tuple[str, str]] = set()
    first: dict[str, CatalogEntry] = {}
    for entry, place in zip(entries, where):
        if (entry.sku, entry.warehouse) in seen:
            raise CatalogInvalid(f"{place}: sku {entry.sku} appears twice for warehouse {entry.warehouse}")
        seen.add((entry.sku, entry.warehouse))
        other = first.setdefault(entry.sku, entry)
        for name in ("name", "tier", "bin"):
            if getattr(entry, name) != getattr(other, name):
                raise CatalogInvalid(f"{place}: sku {entry.sku} has {name} {getattr(entry, name)!r} here and "
                                     f"{getattr(other, name)!r} in its row for warehouse {other.warehouse}: a sku's "
                                     f"rows must agree on name, tier and bin")
    return entries


def parse_entry(record: Any, place: str = "entry") -> CatalogEntry:
    if not isinstance(record, dict):
        raise CatalogInvalid(f"{place}: expected an object with sku, tier, planned_stock, on_hand")
    sku = str(record.get("sku") or "").strip()
    if not sku:
        raise CatalogInvalid(f"{place}: sku is required")
    if re.fullmatch(ID_PATTERN, sku) is None:
        raise CatalogInvalid(f"{place}: sku {sku!r} is not a valid sku: {id_problem(sku)}")
    tier = str(record.get("tier") or "").strip()
    if tier not in TIERS:
        raise CatalogInvalid(f"{place}: tier {tier!r} is not one of {', '.join(TIERS)}")
    on_hand = _count(record.get("on_hand"), "on_hand", place)
    planned = _count(record.get("planned_stock"), "planned_stock", place)
    if planned is None:
        forecast = _count(record.get("forecast"), "forecast", place)
        if forecast is None:
            raise CatalogInvalid(f"{place}: planned_stock or forecast is required")
        planned = planned_stock_for(tier, forecast)
        if planned > MAX_STOCK_UNITS:
            raise CatalogInvalid(f"{place}: planned_stock from forecast {forecast} ({tier}) would be {planned}, "
                                 f"above the limit of {MAX_STOCK_UNITS} units per sku")
    threshold = _count(record.get("threshold_percent"), "threshold_percent", place)
    if threshold is not None and threshold > 100:
        raise CatalogInvalid(f"{place}: threshold_percent must be between 0 and 100, got {threshold}")
    warehouse = str(record.get("warehouse") or "").strip() or DEFAULT_WAREHOUSE
    if re.fullmatch(ID_PATTERN, warehouse) is None:
        raise CatalogInvalid(f"{place}: warehouse {warehouse[:70]!r} is not a warehouse id: {id_problem(warehouse)}")
    return CatalogEntry(sku=sku, tier=tier, planned_stock=planned, on_hand=on_hand,
                        name=str(record.get("name") or "").strip(), threshold_percent=threshold,
                        bin=_bin(record.get("bin"), place), warehouse=warehouse)


def _bin(value: Any, place: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if text and re.fullmatch(BIN_PATTERN, text) is None:
        raise CatalogInvalid(f"{place}: bin {text[:40]!r} is not a bin location: use 1 to 32 letters, digits "
                             "and . _ / - (e.g. A-03-2)")
    return text


def _count(value: Any, name: str, place: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or isinstance(value, float):
        raise CatalogInvalid(f"{place}: {name} must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise CatalogInvalid(f"{place}: {name} must be a whole number, got {value!r}") from exc
    if number < 0:
        raise CatalogInvalid(f"{place}: {name} must not be negative, got {number}")
    if number > MAX_STOCK_UNITS:
        raise CatalogInvalid(f"{place}: {name} must be at most {MAX_STOCK_UNITS} (units per sku), got {number}")
    return number
