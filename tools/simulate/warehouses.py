"""Several warehouses in the simulator (issue 34): `--warehouses FILE` (inventory's format,
docs/inventory.md "Several warehouses") runs the platform with them. Each sku's stock is spread
over the warehouses by the demand of the regions each is first in line for (inventory's own
ranking), each warehouse has its own pickers and takes waves of its own shipments, and a supplier
answers a replenishment request with a delivery to the warehouse that asked."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.inventory.warehouses import Warehouse, load_warehouses, rank_for_region
from shared.event_parts import DEFAULT_WAREHOUSE
from tools.simulate import model
from tools.simulate.actors import Budget


@dataclass
class Staffed:
    """One warehouse's staff this run: its pickers' hours, and whether its queue looked empty."""

    warehouse: str
    pickers: int
    pick: Budget
    queue_looks_empty: bool = False


def load(path: Path) -> list[Warehouse]:
    """The file as inventory reads it (the same validation, the same errors)."""
    return load_warehouses(path)


def demand_shares(warehouses: Sequence[Warehouse], region_weights: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Each warehouse's share of the orders: the weight of the regions it is ranked first for."""
    shares = {w.id: 0.0 for w in warehouses}
    for region, weight in region_weights:
        ranked = rank_for_region(warehouses, region)
        if ranked:
            shares[ranked[0].warehouse] += weight
    total = sum(shares.values())
    if total <= 0:  # no region named by the plan is served: spread evenly
        return {w.id: 1 / len(warehouses) for w in warehouses}
    return {w: s / total for w, s in shares.items()}


def apportion(units: int, shares: dict[str, float]) -> dict[str, int]:
    """Whole units in proportion to `shares`, adding up to `units` (largest remainders first)."""
    exact = {w: units * s for w, s in shares.items()}
    whole = {w: int(x) for w, x in exact.items()}
    left = units - sum(whole.values())
    for w in sorted(exact, key=lambda w: (-(exact[w] - whole[w]), w))[:left]:
        whole[w] += 1
    return whole


def catalog_csv(rows: Sequence[model.CatalogRow], shares: dict[str, float]) -> str:
    """One row per sku and warehouse, planned and opening stock apportioned by the shares; a
    warehouse whose share is nothing still gets its row (a delivery or transfer can stock it)."""
    out = ["sku,name,tier,planned_stock,on_hand,forecast,threshold_percent,warehouse"]
    for row in rows:
        name = row.sku.name.replace(",", " ")
        planned, on_hand = apportion(row.planned_stock, shares), apportion(row.on_hand, shares)
        for warehouse in shares:
            out.append(f"{row.sku.sku},{name},{row.sku.tier},{planned[warehouse]},{on_hand[warehouse]},,,{warehouse}")
    return "\n".join(out) + "\n"


def staff(warehouses: Sequence[Warehouse] | None, pickers: int, picks_per_hour: int) -> list[Staffed]:
    """Each warehouse's pickers: its own `pickers` when the file gives them, else `pickers`
    spread evenly (at least one each); without a file, the one warehouse `main`."""
    if not warehouses:
        return [Staffed(DEFAULT_WAREHOUSE, pickers, Budget(pickers * picks_per_hour))]
    given = [w.pickers for w in warehouses]
    if not any(given):
        given = [max(1, n) for n in apportion(pickers, {w.id: 1 / len(warehouses) for w in warehouses}).values()]
    return [Staffed(w.id, n, Budget(n * picks_per_hour)) for w, n in zip(warehouses, given)]

