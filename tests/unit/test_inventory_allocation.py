"""The allocation across warehouses (issue 34, services/inventory/allocation.py), pure: property
tests with hypothesis, and the rules by example."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.inventory.allocation import Waiting, allocate, missing, plan_fills, usable_after_protection
from services.inventory.domain import SkuView, decide_order
from services.inventory.warehouses import Ranked, Warehouse, rank_for_region

WAREHOUSES = ("north", "east", "south", "west")
SKUS = ("A", "B", "C")
POLICIES = ("fewest_shipments", "fastest", "own_region")


@st.composite
def situations(draw):
    """Some warehouses ranked for a region (a prefix of them serving it), what each holds, an
    order's needs and its policy."""
    names = draw(st.permutations(WAREHOUSES))[:draw(st.integers(1, len(WAREHOUSES)))]
    serving = draw(st.integers(0, len(names)))
    ranked = tuple(Ranked(w, i < serving) for i, w in enumerate(names))
    usable = {w: {s: draw(st.integers(0, 6)) for s in SKUS} for w in names}
    needs = draw(st.dictionaries(st.sampled_from(SKUS), st.integers(1, 8), min_size=1, max_size=3))
    return ranked, usable, needs, draw(st.sampled_from(POLICIES))


def fills(usable, warehouse, needs) -> bool:
    return all(usable[warehouse].get(s, 0) >= q for s, q in needs.items())


@settings(max_examples=600, deadline=None)
@given(situations())
def test_the_allocation_never_takes_more_than_a_warehouse_holds_and_its_parts_sum_to_the_needs(case) -> None:
    ranked, usable, needs, policy = case
    parts = allocate(needs, ranked, usable, policy)
    serving = [r.warehouse for r in ranked if r.serving]
    allowed = serving if policy == "own_region" else [r.warehouse for r in ranked]
    if parts is None:
        # It waits only when some sku's units over the allowed warehouses fall short.
        assert missing(needs, ranked, usable, policy)
        assert not any(fills(usable, w, needs) for w in allowed)
        return
    assert not missing(needs, ranked, usable, policy)
    taken: dict[str, int] = {}
    for part in parts:
        assert part.lines, part
        for sku, units in part.lines:
            assert 0 < units <= usable[part.warehouse][sku], (part, usable)
            taken[sku] = taken.get(sku, 0) + units
    assert taken == needs  # every part together: exactly the needs, no more, no less
    assert len({p.warehouse for p in parts}) == len(parts)  # one part per warehouse
    if policy == "own_region":
        assert all(p.warehouse in serving for p in parts)  # never a warehouse outside the region
    # Whole from the customer's region whenever a serving warehouse can: the first that can.
    first_serving = next((w for w in serving if fills(usable, w, needs)), None)
    if first_serving is not None:
        assert [(p.warehouse, dict(p.lines)) for p in parts] == [(first_serving, needs)]
    # Whole from the nearest warehouse that can, before any split (own_region: serving only).
    nearest = next((w for w in allowed if fills(usable, w, needs)), None)
    if nearest is not None:
        assert len(parts) == 1 and parts[0].warehouse == (first_serving or nearest)
    else:
        assert len(parts) >= 2  # splits only when no single warehouse can fill the order
    if policy != "fastest" and len(parts) >= 2:
        # fewest shipments: no smaller set of allowed warehouses holds every line.
        from itertools import combinations
        for subset in combinations(allowed, len(parts) - 1):
            assert any(sum(usable[w].get(s, 0) for w in subset) < q for s, q in needs.items())


@settings(max_examples=300, deadline=None)
@given(situations(), st.lists(situations(), min_size=1, max_size=6))
def test_filling_waiting_orders_never_gives_out_more_than_each_warehouse_holds(first, others) -> None:
    ranked, available, _needs, _policy = first
    waiting = [Waiting(order_id=f"O-{i}", priority_rank=f"{i:03d}", needs=needs, ranked=ranked, policy=policy,
                       home=ranked[0].warehouse) for i, (_r, _u, needs, policy) in enumerate(others)]
    planned = plan_fills(waiting, available)
    given_out: dict[tuple[str, str], int] = {}
    for order_id, parts in planned:
        order = next(o for o in waiting if o.order_id == order_id)
        assert {s: sum(q for p in parts for sku, q in p.lines if sku == s) for s in order.needs} == dict(order.needs)
        for part in parts:
            for sku, units in part.lines:
                given_out[(part.warehouse, sku)] = given_out.get((part.warehouse, sku), 0) + units
    for (warehouse, sku), units in given_out.items():
        assert units <= available[warehouse][sku]


def test_the_policies_by_example() -> None:
    ranked = (Ranked("north", True), Ranked("east", False), Ranked("south", False))
    usable = {"north": {"A": 1, "B": 0}, "east": {"A": 0, "B": 2}, "south": {"A": 2, "B": 2}}
    needs = {"A": 2, "B": 2}
    # Whole from the nearest that can (south) before any split.
    assert [(p.warehouse, p.lines) for p in allocate(needs, ranked, usable, "fewest_shipments")] == [
        ("south", (("A", 2), ("B", 2)))]
    # own_region: north alone cannot: it waits.
    assert allocate(needs, ranked, usable, "own_region") is None
    assert missing(needs, ranked, usable, "own_region") == {"A": 2, "B": 2}
    # No single warehouse: fewest shipments takes two; fastest takes each line from the nearest that has it.
    usable = {"north": {"A": 2, "B": 0}, "east": {"A": 0, "B": 1}, "south": {"A": 0, "B": 2}}
    assert [(p.warehouse, p.lines) for p in allocate(needs, ranked, usable, "fewest_shipments")] == [
        ("north", (("A", 2),)), ("south", (("B", 2),))]
    needs = {"A": 2, "B": 1}
    assert [(p.warehouse, p.lines) for p in allocate(needs, ranked, usable, "fastest")] == [
        ("north", (("A", 2),)), ("east", (("B", 1),))]


def test_warehouses_are_ranked_serving_first_then_by_reach_then_by_position() -> None:
    warehouses = [Warehouse("main", regions=("*",), position=9),
                  Warehouse("north", regions=("beijing", "tianjin"), reaches=("shanghai",), position=0),
                  Warehouse("east", regions=("shanghai",), reaches=("beijing",), position=1),
                  Warehouse("south", regions=("shenzhen",), position=2)]
    assert rank_for_region(warehouses, "beijing") == (
        Ranked("north", True), Ranked("main", True), Ranked("east", False), Ranked("south", False))
    assert rank_for_region(warehouses, "shanghai") == (
        Ranked("east", True), Ranked("main", True), Ranked("north", False), Ranked("south", False))
    assert [r.warehouse for r in rank_for_region(warehouses, "tianjin")][:2] == ["north", "main"]


def test_protection_keeps_what_waiting_orders_ahead_hold_in_their_home_warehouse() -> None:
    usable = usable_after_protection({"north": {"A": 5}, "east": {"A": 5}}, {"north": {"A": 4}})
    assert usable == {"north": {"A": 1}, "east": {"A": 5}}
    ranked = (Ranked("north", True), Ranked("east", False))
    # An order ranked first waits for 9 A in north: a later one cannot take north's 5, but east's.
    waiting = [Waiting("O-1", "1", {"A": 9}, ranked, "own_region", "north"),
               Waiting("O-2", "2", {"A": 3}, ranked, "fewest_shipments", "north")]
    assert [(o, [(p.warehouse, p.lines) for p in parts]) for o, parts in plan_fills(waiting, usable)] == [
        ("O-2", [("east", (("A", 3),))])]


def test_a_sku_in_presale_makes_the_order_wait_whatever_the_warehouses_hold() -> None:
    ranked = (Ranked("main", True),)
    decision = decide_order({"A": 1}, {"A": SkuView(available=5, mode="presale")}, {"main": {"A": 5}}, ranked,
                            "fewest_shipments")
    assert not decision.reserve and decision.presale and decision.missing == {"A": 1}
