"""Allocation across warehouses (issue 34, R7 stays: all lines or none). Pure.

For an order's needs, its warehouses ranked for the customer's region (warehouses.Ranked) and
the units each warehouse may give it (`usable`: available minus what waiting orders ranked
ahead hold there, the protection rule), the decision is one of:
1. the whole order from the first warehouse serving the region that can fill every line;
2. else the whole order from the nearest warehouse that can (any rank; `own_region`: none);
3. else split per the order's policy (shared/event_parts.py SplitPolicy):
   - `fewest_shipments`: the fewest warehouses that together hold every line, the customer's
     region's first (subsets tried by size, each size in rank order); a line may be split
     over the chosen warehouses, taken from them in rank order;
   - `fastest`: each line from the nearest warehouse that holds it all (else spread over the
     nearest ones in rank order), however many parts that makes;
   - `own_region`: as `fewest_shipments`, among the serving warehouses only;
4. else nothing (the order waits). A split exists exactly when every sku's units over the
   allowed warehouses cover its need, so the skus that do not are the order's `missing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from services.inventory.warehouses import Ranked

FEWEST, FASTEST, OWN_REGION = "fewest_shipments", "fastest", "own_region"
SUBSET_BUDGET = 20_000
"""Subsets tried for `fewest_shipments` before falling back to the greedy cover (many
warehouses, an order no small set fills): a decision stays bounded in time."""

Usable = Mapping[str, Mapping[str, int]]  # warehouse -> sku -> units this order may take


@dataclass(frozen=True)
class Part:
    warehouse: str
    lines: tuple[tuple[str, int], ...]  # (sku, units), by sku


Parts = tuple[Part, ...]


def allowed(ranked: Sequence[Ranked], policy: str) -> list[str]:
    """The warehouses the policy lets this order take from, in rank order."""
    return [r.warehouse for r in ranked if r.serving or policy != OWN_REGION]


def missing(needs: Mapping[str, int], ranked: Sequence[Ranked], usable: Usable, policy: str) -> dict[str, int]:
    """The skus whose units over the allowed warehouses fall short of the need (empty: it fits)."""
    candidates = allowed(ranked, policy)
    return {sku: q for sku, q in needs.items() if sum(_has(usable, w, sku) for w in candidates) < q}


def allocate(needs: Mapping[str, int], ranked: Sequence[Ranked], usable: Usable, policy: str) -> Parts | None:
    """The parts to reserve (one when whole, by rank), or None when the order must wait."""
    if not needs:
        return None
    candidates = allowed(ranked, policy)
    for r in ranked:
        if r.serving and _fills(usable, r.warehouse, needs):
            return (_whole(r.warehouse, needs),)
    if policy != OWN_REGION:
        for w in candidates:
            if _fills(usable, w, needs):
                return (_whole(w, needs),)
    if missing(needs, ranked, usable, policy):
        return None
    if policy == FASTEST:
        return _nearest_per_line(needs, candidates, usable)
    return _fewest(needs, candidates, usable)


def _has(usable: Usable, warehouse: str, sku: str) -> int:
    return max(usable.get(warehouse, {}).get(sku, 0), 0)


def _fills(usable: Usable, warehouse: str, needs: Mapping[str, int]) -> bool:
    return all(_has(usable, warehouse, sku) >= q for sku, q in needs.items())


def _whole(warehouse: str, needs: Mapping[str, int]) -> Part:
    return Part(warehouse, tuple(sorted(needs.items())))


def _fewest(needs: Mapping[str, int], candidates: list[str], usable: Usable) -> Parts:
    """Smallest subset first; within a size, combinations come in rank order, so the first that
    covers is the customer's region's first. A minimal cover uses every warehouse in it."""
    tried = 0
    for size in range(2, len(candidates) + 1):
        for subset in combinations(candidates, size):
            tried += 1
            if all(sum(_has(usable, w, sku) for w in subset) >= q for sku, q in needs.items()):
                return _take_in_order(needs, list(subset), usable)
            if tried >= SUBSET_BUDGET:
                return _greedy(needs, candidates, usable)
    raise AssertionError("a split exists when nothing is missing")  # pragma: no cover


def _greedy(needs: Mapping[str, int], candidates: list[str], usable: Usable) -> Parts:
    """The warehouse covering most of what is left, repeatedly (ties: rank)."""
    left, chosen = dict(needs), []
    while any(left.values()):
        pool = [w for w in candidates if w not in chosen]
        best = max(pool, key=lambda w: (sum(min(_has(usable, w, s), q) for s, q in left.items()),
                                        -candidates.index(w)))
        chosen.append(best)
        for sku in left:
            left[sku] -= min(_has(usable, best, sku), left[sku])
    return _take_in_order(needs, [w for w in candidates if w in chosen], usable)


def _take_in_order(needs: Mapping[str, int], warehouses: list[str], usable: Usable) -> Parts:
    """Each sku's units from the given warehouses in rank order."""
    taken: dict[str, dict[str, int]] = {}
    for sku, quantity in sorted(needs.items()):
        _spread(sku, quantity, warehouses, usable, taken)
    return tuple(Part(w, tuple(sorted(taken[w].items()))) for w in warehouses if w in taken)


def _nearest_per_line(needs: Mapping[str, int], candidates: list[str], usable: Usable) -> Parts:
    taken: dict[str, dict[str, int]] = {}
    for sku, quantity in sorted(needs.items()):
        whole = next((w for w in candidates if _has(usable, w, sku) >= quantity), None)
        if whole is not None:
            taken.setdefault(whole, {})[sku] = quantity
        else:
            _spread(sku, quantity, candidates, usable, taken)
    return tuple(Part(w, tuple(sorted(taken[w].items()))) for w in candidates if w in taken)


def _spread(sku: str, quantity: int, warehouses: list[str], usable: Usable, taken: dict[str, dict[str, int]]) -> None:
    """`quantity` of `sku` from `warehouses` in their order, each giving what it has, into `taken`."""
    left = quantity
    for w in warehouses:
        units = min(_has(usable, w, sku), left)
        if units:
            taken.setdefault(w, {})[sku] = units
            left -= units
        if not left:
            return


# ---------------------------------------------------------------------------------------------
# Waiting orders filled in rank (R11), per warehouse


@dataclass(frozen=True)
class Waiting:
    order_id: str
    priority_rank: str
    needs: Mapping[str, int]
    ranked: tuple[Ranked, ...]  # its warehouses, ranked for its region
    policy: str
    home: str  # where it holds its place in line (its first-ranked warehouse)


def plan_fills(waiting: Sequence[Waiting], available: Usable) -> list[tuple[str, Parts]]:
    """The waiting orders to reserve now, in rank order, each with its parts.

    The protection rule per warehouse: an order that cannot be filled yet keeps what it needs
    in its home warehouse from every order ranked after it (they get only the surplus there),
    so a sku is never given out of rank in the warehouse that order waits on, while stock in
    other warehouses, or of a sku nobody ahead waits for, is not held up."""
    left = {w: dict(skus) for w, skus in available.items()}
    planned: list[tuple[str, Parts]] = []
    for order in sorted(waiting, key=lambda o: (o.priority_rank, o.order_id)):
        parts = allocate(order.needs, order.ranked, left, order.policy)
        if parts is None:
            home = left.setdefault(order.home, {})
            for sku, quantity in order.needs.items():
                home[sku] = max(home.get(sku, 0) - quantity, 0)
            continue
        for part in parts:
            for sku, quantity in part.lines:
                left[part.warehouse][sku] -= quantity
        planned.append((order.order_id, parts))
    return planned


def usable_after_protection(available: Usable, ahead: Usable) -> dict[str, dict[str, int]]:
    """What an incoming order may take: each warehouse's available beyond what waiting orders
    ranked ahead of it hold there."""
    return {w: {sku: max(units - ahead.get(w, {}).get(sku, 0), 0) for sku, units in skus.items()}
            for w, skus in available.items()}
