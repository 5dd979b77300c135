"""The run's orders and catalogue, with no I/O: the built-in scenario (model.generate) unless the
user gave a plan or a catalogue, and the stock depth of a what-if run applied on top.

With a plan, the orders per hour and class are the plan's (paid at random moments inside their
hour); with a catalogue, baskets are filled from its skus by tier, with the built-in scenario's
basket, gift and discount rules (model.basket, add_gifts, apply_discounts). Same seed, same
orders."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tools.simulate import model
from tools.simulate.inputs import Plan, scaled_stock


@dataclass(frozen=True)
class Built:
    orders: list[model.Order]
    catalog: list[model.CatalogRow]
    catalog_text: str           # the CSV inventory loads


def build(s: model.Scenario, start: datetime, plan: Plan | None = None,
          user_catalog: list[model.CatalogRow] | None = None, stock_factor: float = 1.0) -> Built:
    if plan is None and user_catalog is None:
        orders, rows = model.generate(s, start)
        rows = scaled_stock(rows, stock_factor)
        return Built(orders, rows, model.catalog_csv(rows))
    rng = random.Random(s.seed)
    tiers = _tiers_of(user_catalog) if user_catalog is not None else model.build_skus(s, rng)
    weights = {tier: model.popularity(rng, skus) for tier, skus in tiers.items() if skus}
    slots = plan_slots(plan, start, rng) if plan is not None else _curve_slots(s, start, rng)
    regions, region_w = zip(*(plan.regions.items() if plan is not None and plan.regions else model.REGIONS))
    customers = max(10, int(len(slots) * 0.8))
    seen: set[str] = set()
    orders = []
    for i, (paid_at, klass) in enumerate(slots):
        customer = f"C-{rng.randrange(customers):06d}"
        first = customer not in seen and rng.random() < s.first_order_rate
        seen.add(customer)
        returning = not first and rng.random() < s.returning_rate
        order = model.Order(order_id=f"O-{s.seed}-{i + 1:06d}", customer_id=customer, intended_class=klass,
                            order_type="presale" if klass == "presale" else "standard", lines=[], paid_at=paid_at,
                            region=rng.choices(regions, weights=region_w)[0], first_order=first)
        _basket(s, rng, tiers, weights, order)
        model.add_gifts(s, rng, tiers, order)
        model.apply_discounts(rng, order, returning)
        if rng.random() < s.cancel_rate:
            order.cancel_after_h = rng.uniform(0.75, 3.0)
        orders.append(order)
    if user_catalog is not None:
        rows = scaled_stock(user_catalog, stock_factor)
        return Built(orders, rows, catalog_csv_explicit(rows))
    rows = scaled_stock(model.plan_catalog(s, rng, tiers, orders), stock_factor)
    return Built(orders, rows, model.catalog_csv(rows))


def plan_slots(plan: Plan, start: datetime, rng: random.Random) -> list[tuple[datetime, str]]:
    """(payment time, class) of every planned order, sorted: each inside its planned hour."""
    slots = []
    for hour, by_class in plan.hours:
        for klass, count in by_class.items():
            slots += [(start + timedelta(hours=hour + rng.random()), klass) for _ in range(count)]
    slots.sort(key=lambda slot: slot[0])
    return slots


def _curve_slots(s: model.Scenario, start: datetime, rng: random.Random) -> list[tuple[datetime, str]]:
    classes = ["presale", "high_value", "standard"]
    class_w = [s.presale_share, s.high_value_share, max(0.0, 1 - s.presale_share - s.high_value_share)]
    return [(paid_at, rng.choices(classes, weights=class_w)[0]) for paid_at in model.arrival_times(s, rng, start)]


def _tiers_of(rows: list[model.CatalogRow]) -> dict[str, list[model.Sku]]:
    tiers: dict[str, list[model.Sku]] = {"gift": [], "traffic_driver": [], "profit": [], "hot": []}
    for row in rows:
        tiers["gift" if row.sku.is_gift else row.sku.tier].append(row.sku)
    return tiers


def _basket(s: model.Scenario, rng: random.Random, tiers: dict[str, list[model.Sku]],
            weights: dict[str, list[float]], order: model.Order) -> None:
    """model.basket, when the catalogue has the tiers it draws from; a catalogue short of a tier
    (inputs.check_catalog_serves_plan lets through what can still be filled) gets the nearest one."""
    have = {tier for tier, skus in tiers.items() if skus and tier != "gift"}
    if {"traffic_driver", "profit", "hot"} <= have:
        model.basket(s, rng, tiers, weights, order)
        return
    stand_in = {"hot": ["hot", "profit"], "profit": ["profit", "hot", "traffic_driver"],
                "traffic_driver": ["traffic_driver", "profit"]}
    filled = {t: next((o for o in stand_in[t] if o in have), None) for t in stand_in}
    pick = lambda tier: rng.choices(tiers[filled[tier]], weights=weights[filled[tier]])[0]  # noqa: E731
    if order.intended_class == "presale":
        model._add(order, pick("hot"), 1)
        return
    if order.intended_class == "high_value":
        for _ in range(40):  # bounded: items until the basket is high-value
            if order.lines_total >= s.high_value_threshold + 60:
                break
            model._add(order, pick("profit"), 1)
        return
    model._add(order, pick("traffic_driver"), 1)
    while order.lines_total >= s.high_value_threshold and order.lines[0].quantity > 1:
        order.lines[0].quantity -= 1


def catalog_csv_explicit(rows: list[model.CatalogRow]) -> str:
    """The user's catalogue as inventory loads it, every planned stock written out (a profit item's
    planned stock was already decided by inventory's own rule when the file was read)."""
    out = ["sku,name,tier,planned_stock,on_hand,forecast,threshold_percent"]
    for row in rows:
        name = row.sku.name.replace(",", " ")
        out.append(f"{row.sku.sku},{name},{row.sku.tier},{row.planned_stock},{row.on_hand},{row.forecast},")
    return "\n".join(out) + "\n"
