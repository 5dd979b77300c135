"""The user's own files for a simulated event: the inventory catalogue (CSV), the event plan (JSON)
and the carrier rules table (JSON). Each is checked before any service starts, and a mistake is
reported with the file and the line it is on (`InputInvalid`), so a typo costs seconds, not a run.

- catalogue: the inventory service's CSV (services/inventory/catalog.py; docs/inventory.md), read
  by inventory's own parser so the simulator accepts exactly what the service accepts. Optional
  extra columns the simulator uses to build baskets: `price` (CNY), `weight_kg`, `volume_l`, and
  `gift` (true for a free gift with purchase; a name containing "gift" counts too).
- plan: logistics' plan (PUT /plan, LOGISTICS_PLAN_PATH; services/logistics/plan.py, sample
  deploy/samples/plan.json): {"name", "start", "phases": [{"name", "hours", "orders_per_hour":
  {"presale", "high_value", "standard"}}] or "previous": {"hours": [...], "factor"}, "regions"},
  checked by logistics' own parser. The orders paid per hour and class; a presale order counts in
  the hour its balance is paid (the hour its 24h/48h clock starts).
- carriers: the logistics carrier table (services/logistics/carriers.json), checked by logistics'
  own parser.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tools.simulate import model

PLAN_CLASSES = ("presale", "high_value", "standard")
MAX_PLAN_HOURS = 24 * 31          # a month-long event is the longest plan taken
MAX_PLAN_ORDERS = 2_000_000       # bounds what one run publishes
MAX_PRICE = Decimal("1000000.00")
# Baskets need a price, a weight and a volume per sku; a catalogue without those columns gets the
# middle of the built-in scenario's range for the tier.
TIER_DEFAULTS = {"traffic_driver": (Decimal("24.90"), Decimal("0.50"), Decimal("1.00")),
                 "profit": (Decimal("349.00"), Decimal("2.00"), Decimal("8.00")),
                 "hot": (Decimal("2999.00"), Decimal("1.00"), Decimal("3.00")),
                 "gift": (Decimal("0.00"), Decimal("0.20"), Decimal("0.50"))}


class InputInvalid(ValueError):
    """A user file the simulator cannot use; the message names the file and the line."""


@dataclass(frozen=True)
class Plan:
    name: str
    starts_at: datetime
    hours: tuple[tuple[int, dict[str, int]], ...]   # (hour of the event, orders per class), hours with orders
    regions: dict[str, int]                          # the plan's mix of regions (weights), empty: the built-in one

    @property
    def orders(self) -> int:
        return sum(sum(by_class.values()) for _, by_class in self.hours)

    @property
    def event_hours(self) -> int:
        return max(hour for hour, _ in self.hours) + 1

    def by_class(self) -> dict[str, int]:
        return {k: sum(c.get(k, 0) for _, c in self.hours) for k in PLAN_CLASSES}


# ---------------------------------------------------------------------------------------------
# Where a JSON value sits in its file


def json_lines(text: str) -> dict[str, int]:
    """Line number of every value in a JSON text, by dotted path ("hours.3.orders.presale"; "" is
    the document). Python's json module gives no positions, so the text is scanned once."""
    lines: dict[str, int] = {}
    stack: list[list[Any]] = []    # [kind, path, next index or pending key]
    line, i, n = 1, 0, len(text)
    expecting_key = False

    def here() -> str:
        if not stack:
            return ""
        kind, path, slot = stack[-1]
        part = str(slot)
        return f"{path}.{part}" if path else part

    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            value = text[i + 1:j]
            if stack and stack[-1][0] == "{" and expecting_key:
                stack[-1][2] = value
                expecting_key = False
            else:
                lines.setdefault(here(), line)
            i = j
        elif ch in "{[":
            path = here()
            lines.setdefault(path, line)
            stack.append([ch, path, 0 if ch == "[" else None])
            expecting_key = ch == "{"
        elif ch in "}]":
            if stack:
                stack.pop()
            expecting_key = False
        elif ch == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][2] += 1
            expecting_key = bool(stack) and stack[-1][0] == "{"
        elif ch not in " \t\r:" and stack:
            lines.setdefault(here(), line)
        i += 1
    return lines


def _where(path: Path, lines: dict[str, int], at: str) -> str:
    """`file line N` for the longest known prefix of the dotted path `at`."""
    parts = at.split(".") if at else []
    for k in range(len(parts), -1, -1):
        key = ".".join(parts[:k])
        if key in lines:
            return f"{path} line {lines[key]}"
    return str(path)


def _read_json(path: Path) -> tuple[Any, dict[str, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputInvalid(f"{path}: cannot be read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputInvalid(f"{path} line {exc.lineno}: not JSON: {exc.msg} (column {exc.colno})") from exc
    return data, json_lines(text)


# ---------------------------------------------------------------------------------------------
# The plan


def load_plan(path: Path, scale: float = 1.0, seed: int = 1) -> Plan:
    """The plan file in logistics' own format (services/logistics/plan.py, checked by its parser),
    unrolled hour by hour. `scale` multiplies every hour's orders (a 90,000-order plan as 900 on a
    laptop); the fractions are drawn with `seed`, so the total stays `scale` x the plan's on average."""
    from pydantic import ValidationError

    from services.logistics.plan import Plan as LogisticsPlan, planned_hours

    data, lines = _read_json(path)
    try:
        plan = LogisticsPlan.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(path, lines, '.'.join(map(str, e.get('loc', ()))))}: "
                    f"{'.'.join(map(str, e.get('loc', ()))) or 'plan'}: {e.get('msg', 'invalid')}"
                    for e in exc.errors()[:5]]
        raise InputInvalid("; ".join(problems)) from exc
    rng = random.Random(f"{seed}:plan-scale")
    hours = []
    for i, hour in enumerate(planned_hours(plan)):
        counts = {k: _scaled(hour.per_class.get(k, 0), scale, rng) for k in PLAN_CLASSES}
        if any(counts.values()):
            hours.append((i, counts))
    if not hours:
        raise InputInvalid(f"{path}: the plan has no orders" + (f" at --plan-scale {scale:g}" if scale != 1 else ""))
    simulated = Plan(name=plan.name, starts_at=planned_hours(plan)[0].start, hours=tuple(hours),
                     regions=dict(plan.regions or {}))
    if simulated.orders > MAX_PLAN_ORDERS:
        raise InputInvalid(f"{path}: {simulated.orders} orders to simulate; at most {MAX_PLAN_ORDERS} "
                           "(use --plan-scale, e.g. 0.01)")
    return simulated


def _scaled(count: int, scale: float, rng: random.Random) -> int:
    whole = count * scale
    return int(whole) + (1 if rng.random() < whole - int(whole) else 0)


def plan_for_logistics(plan: Plan | None, orders: list, start: datetime, name: str) -> dict[str, Any]:
    """The plan logistics is given (PUT /plan) for its forecast: the orders this run will publish,
    counted per hour and class (`previous` shape, factor 1), so the forecast and the run start from
    the same arrivals whether they came from a plan file or from the built-in arrival curve."""
    counts: dict[int, dict[str, int]] = {}
    for order in orders:
        hour = int((order.paid_at - start).total_seconds() // 3600)
        counts.setdefault(hour, dict.fromkeys(PLAN_CLASSES, 0))[order.intended_class] += 1
    last = max(counts, default=0)
    body: dict[str, Any] = {"name": (plan.name if plan else name)[:200], "start": start.isoformat(),
                            "previous": {"hours": [counts.get(h, dict.fromkeys(PLAN_CLASSES, 0))
                                                   for h in range(last + 1)], "factor": "1"}}
    if plan is not None and plan.regions:
        body["regions"] = plan.regions
    return body


# ---------------------------------------------------------------------------------------------
# The carrier table


def load_carriers(path: Path) -> dict[str, Any]:
    """The table as data, checked by logistics' own parser; errors carry the file and line."""
    from services.logistics.carriers import CarrierTable, CarrierTableInvalid

    data, lines = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("carriers"), list):
        raise InputInvalid(f"{_where(path, lines, '')}: expected an object with a \"carriers\" list and \"rules\"")
    for i, raw in enumerate(data["carriers"]):
        if not isinstance(raw, dict):
            raise InputInvalid(f"{_where(path, lines, f'carriers.{i}')}: each carrier must be an object")
    if not isinstance(data.get("rules", []), list) or not all(isinstance(r, dict) for r in data.get("rules", [])):
        raise InputInvalid(f"{_where(path, lines, 'rules')}: \"rules\" must be a list of objects")
    try:
        CarrierTable.from_dict(data)
    except (CarrierTableInvalid, ValueError, TypeError, AttributeError) as exc:
        at = str(exc).split(":", 1)[0].strip()
        at = at if all(part.isidentifier() or part.isdigit() for part in at.split(".")) else ""
        raise InputInvalid(f"{_where(path, lines, at)}: {exc}") from exc
    return data


def scaled_carriers(table: dict[str, Any], factor: float) -> dict[str, Any]:
    """The same table with every carrier's daily capacity times `factor` (at least 1 parcel)."""
    carriers = [{**c, "daily_capacity": max(1, round(c["daily_capacity"] * factor))} for c in table["carriers"]]
    return {**table, "carriers": carriers}


# ---------------------------------------------------------------------------------------------
# The catalogue


def load_catalog(path: Path) -> list[model.CatalogRow]:
    """Rows as the scenario uses them, from the inventory CSV (inventory's parser decides what is
    valid) plus the simulator's optional price, weight_kg, volume_l and gift columns."""
    from services.inventory.catalog import CatalogInvalid, load_catalog as inventory_load

    if path.suffix.lower() != ".csv":
        raise InputInvalid(f"{path}: the catalogue must be the inventory CSV (sku,name,tier,planned_stock,on_hand,...)")
    try:
        entries = inventory_load(path)
        records = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    except CatalogInvalid as exc:
        raise InputInvalid(str(exc)) from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputInvalid(f"{path}: cannot be read: {exc}") from exc
    if not entries:
        raise InputInvalid(f"{path}: no skus")
    rows = []
    for i, (entry, record) in enumerate(zip(entries, records)):
        place = f"{path} line {i + 2}"
        gift = _flag(record.get("gift"), place) or "gift" in entry.name.lower()
        tier_key = "gift" if gift else entry.tier
        price, weight, volume = TIER_DEFAULTS[tier_key]
        price = _decimal(record.get("price"), "price", place, price, MAX_PRICE)
        if gift and price != 0:
            raise InputInvalid(f"{place}: a gift with purchase is free: price must be 0 or empty, got {price}")
        if not gift and price <= 0:
            raise InputInvalid(f"{place}: price must be above 0 for a sku that is sold")
        weight = _decimal(record.get("weight_kg"), "weight_kg", place, weight, Decimal("1000"))
        volume = _decimal(record.get("volume_l"), "volume_l", place, volume, Decimal("10000"))
        on_hand = entry.planned_stock if entry.on_hand is None else entry.on_hand
        forecast = _whole(record.get("forecast")) or entry.planned_stock
        sku = model.Sku(sku=entry.sku, name=entry.name or entry.sku, tier=entry.tier, price=price,
                        weight_kg=weight, volume_l=volume, is_gift=gift)
        rows.append(model.CatalogRow(sku=sku, forecast=forecast, planned_stock=entry.planned_stock, on_hand=on_hand))
    gifts = [row.sku.sku for row in rows if row.sku.is_gift]
    if gifts:  # profit and hot items, and every third traffic driver, bring a gift (as the built-in scenario)
        sold = [row for row in rows if not row.sku.is_gift]
        for n, row in enumerate(sold):
            if row.sku.tier in ("profit", "hot") or n % 3 == 0:
                row.sku = replace(row.sku, gift_sku=gifts[n % len(gifts)])
    return rows


def check_catalog_serves_plan(rows: list[model.CatalogRow], plan: Plan | None, path: Path, plan_path: Path | None,
                              presale_share: float, high_value_share: float) -> None:
    """Each class needs skus to fill its baskets: presale a hot item, high-value a hot or profit item,
    standard a traffic driver or a profit item."""
    tiers = {row.sku.tier for row in rows if not row.sku.is_gift}
    wanted = plan.by_class() if plan else {"presale": presale_share, "high_value": high_value_share, "standard": 1}
    needs = {"presale": {"hot"}, "high_value": {"hot", "profit"}, "standard": {"traffic_driver", "profit"}}
    for klass, count in wanted.items():
        if count and not tiers & needs[klass]:
            source = f"the plan {plan_path}" if plan else "the class shares"
            raise InputInvalid(f"{path}: {source} asks for {klass} orders but the catalogue has no "
                               f"{' or '.join(sorted(needs[klass]))} sku to fill them with")


def scaled_stock(rows: list[model.CatalogRow], factor: float) -> list[model.CatalogRow]:
    """Stock depth x `factor`: planned and opening stock, and the forecast inventory plans profit
    items from (rounded up, so a sku stocked stays stocked)."""
    if factor == 1.0:
        return rows
    return [model.CatalogRow(sku=row.sku, forecast=max(1, math.ceil(row.forecast * factor)),
                             planned_stock=math.ceil(row.planned_stock * factor),
                             on_hand=math.ceil(row.on_hand * factor)) for row in rows]


def _flag(value: Any, place: str) -> bool:
    text = str(value or "").strip().lower()
    if text in ("", "false", "no", "0"):
        return False
    if text in ("true", "yes", "1"):
        return True
    raise InputInvalid(f"{place}: gift must be true or false, got {value!r}")


def _whole(value: Any) -> int | None:
    try:
        return int(str(value).strip()) if str(value or "").strip() else None
    except ValueError:
        return None


def _decimal(value: Any, name: str, place: str, default: Decimal, most: Decimal) -> Decimal:
    text = str(value or "").strip()
    if not text:
        return default
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InputInvalid(f"{place}: {name} must be a number, got {text!r}") from None
    if not number.is_finite() or number < 0 or number > most:
        raise InputInvalid(f"{place}: {name} must be from 0 to {most}, got {text!r}")
    if number != number.quantize(Decimal("0.01")):
        raise InputInvalid(f"{place}: {name} has more than 2 decimals: {text!r}")
    return number.quantize(Decimal("0.01"))
