"""An order's parts (issue 34): the order's lines cut to what each warehouse reserved, the
shipment ids of the parts, and carriers that collect from some warehouses only."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.logistics import domain, parts
from services.logistics.carriers import CarrierRefused, CarrierTable, CarrierTableInvalid, Parcel, parcel_of
from shared.event_parts import OrderLine, ShipmentPart, SkuQuantity




def line(sku: str, quantity: int, *, kg: str = "0.50", litres: str = "1.00", gift: bool = False) -> OrderLine:
    return OrderLine(sku=sku, quantity=quantity, unit_price="0.00" if gift else "10.00", gift=gift,
                     weight_kg=Decimal(kg), volume_l=Decimal(litres))


def part(warehouse: str, **quantities: int) -> ShipmentPart:
    return ShipmentPart(warehouse=warehouse, lines=[SkuQuantity(sku=sku, quantity=q) for sku, q in quantities.items()])


def test_no_parts_is_the_whole_order_from_main_under_the_id_it_always_had() -> None:
    lines = [line("A", 2)]
    [whole] = parts.cut("O1", lines, [])
    assert (whole.shipment_id, whole.warehouse, whole.lines) == ("SHP-O1", "main", lines)
    assert whole.shipment_id == domain.shipment_id_for_order("O1")


def test_one_part_keeps_the_whole_orders_id_and_names_its_warehouse() -> None:
    [whole] = parts.cut("O1", [line("A", 2)], [part("east", A=2)])
    assert (whole.shipment_id, whole.warehouse) == ("SHP-O1", "east")


def test_a_line_split_over_two_warehouses_appears_in_both_with_its_own_quantity_and_weight() -> None:
    lines = [line("A", 5, kg="2.00", litres="3.00"), line("B", 1)]
    east, north = parts.cut("O1", lines, [part("east", A=3, B=1), part("north", A=2)])
    assert (east.shipment_id, north.shipment_id) == ("SHP:2:O1:east", "SHP:2:O1:north")
    assert [(l.sku, l.quantity) for l in east.lines] == [("A", 3), ("B", 1)]
    assert [(l.sku, l.quantity) for l in north.lines] == [("A", 2)]
    assert north.lines[0].unit_price == lines[0].unit_price and north.lines[0].weight_kg == Decimal("2.00")
    weigh = lambda p: parcel_of("Shanghai", ((l.quantity, l.weight_kg, l.volume_l) for l in p.lines))  # noqa: E731
    assert weigh(east).weight_kg == Decimal("6.50") and weigh(north).weight_kg == Decimal("4.00")
    assert weigh(east).volume_l == Decimal("10.00") and weigh(north).volume_l == Decimal("6.00")


def test_a_sku_on_a_paid_line_and_a_gift_line_is_cut_line_by_line_and_reported_once_per_sku() -> None:
    lines = [line("A", 2), line("A", 1, gift=True)]
    east, north = parts.cut("O1", lines, [part("east", A=1), part("north", A=2)])
    assert [(l.quantity, l.gift) for l in east.lines] == [(1, False)]
    assert [(l.quantity, l.gift) for l in north.lines] == [(1, False), (1, True)]
    assert parts.part_contents(north.lines) == [SkuQuantity(sku="A", quantity=2)]


@pytest.mark.parametrize("given_parts, words", [
    ([part("east", A=1), part("north", A=1)], "A: 3 ordered, 2 in the parts"),
    ([part("east", A=3), part("north", B=1)], "B is not in the order"),
    ([part("east", A=2), part("east", A=1)], "more than one part"),
    ([part("east", A=4)], "A: 3 ordered, 4 in the parts"),
])
def test_parts_that_do_not_hold_exactly_the_order_are_refused_with_the_reason(given_parts, words) -> None:
    with pytest.raises(parts.PartsRefused, match=words):
        parts.cut("O1", [line("A", 3)], given_parts)


@st.composite
def orders_and_parts(draw):
    skus = draw(st.lists(st.sampled_from("ABCDE"), min_size=1, max_size=6))
    lines = [line(sku, draw(st.integers(1, 20)), kg=str(draw(st.integers(0, 500))) + ".00") for sku in skus]
    warehouses = draw(st.lists(st.sampled_from(["main", "east", "north", "south"]), min_size=1, max_size=4,
                               unique=True))
    held: dict[str, dict[str, int]] = {w: {} for w in warehouses}
    totals: dict[str, int] = {}
    for l in lines:
        totals[l.sku] = totals.get(l.sku, 0) + l.quantity
    for sku, quantity in totals.items():
        while quantity:
            w = draw(st.sampled_from(warehouses))
            take = draw(st.integers(1, quantity))
            held[w][sku] = held[w].get(sku, 0) + take
            quantity -= take
    given_parts = [part(w, **q) for w, q in held.items() if q]
    return lines, given_parts


@given(orders_and_parts())
def test_the_parts_quantities_add_up_to_each_line_and_weights_follow(case) -> None:
    lines, given_parts = case
    cut = parts.cut("O1", lines, given_parts)
    assert [p.warehouse for p in cut] == [p.warehouse for p in given_parts]
    for found, wanted in zip(cut, given_parts, strict=True):
        assert {q.sku: q.quantity for q in parts.part_contents(found.lines)} == {
            q.sku: q.quantity for q in wanted.lines}
    for sku in {l.sku for l in lines}:
        assert sum(l.quantity for p in cut for l in p.lines if l.sku == sku) == sum(
            l.quantity for l in lines if l.sku == sku)
    weight = lambda ls: sum((l.quantity * l.weight_kg for l in ls), Decimal(0))  # noqa: E731
    assert sum((weight(p.lines) for p in cut), Decimal(0)) == weight(lines)
    assert len({p.shipment_id for p in cut}) == len(cut)


@given(orders_and_parts(), st.booleans())
def test_one_part_naming_the_orders_lines_one_for_one_cuts_as_the_general_cut_does(case, line_for_line) -> None:
    """The whole order from one warehouse skips the per-sku cut (parts.py): the same lines, the
    same id, whether the part names the order's lines one for one or per sku."""
    lines, _ = case
    quantities = [SkuQuantity(sku=l.sku, quantity=l.quantity) for l in lines]
    whole = ShipmentPart(warehouse="east", lines=quantities if line_for_line else
                         [SkuQuantity(sku=q.sku, quantity=q.quantity) for q in parts.part_contents(lines)])
    [found] = parts.cut("O1", lines, [whole])
    with patch.object(parts, "_holds_line_for_line", lambda *_: False):
        [general] = parts.cut("O1", lines, [whole])
    assert (found.shipment_id, found.warehouse) == ("SHP-O1", "east")
    assert (found.shipment_id, found.warehouse, found.lines) == (general.shipment_id, general.warehouse, general.lines)


def test_a_shipment_row_carries_its_warehouse_and_how_many_parts_its_order_has() -> None:
    now = datetime(2026, 11, 11, tzinfo=UTC)
    row = domain.new_shipment(shipment_id="SHP:2:O1:east", order_id="O1", order_type="standard",
                              priority_class="standard", priority_rank="r", lines=[line("A", 1)], region="Shanghai",
                              paid_at=now, now=now, warehouse="east", order_parts=2)
    assert (row["warehouse"], row["order_parts"]) == ("east", 2)


# -- carriers by warehouse (R15) -------------------------------------------------------------------

REGIONAL = CarrierTable.from_dict({
    "carriers": [{"code": "NE", "daily_capacity": 10, "warehouses": ["north"]},
                 {"code": "SF", "daily_capacity": 10}],
    "rules": [{"name": "default", "carriers": ["NE", "SF"]}],
})


def test_a_carrier_restricted_to_a_warehouse_is_chosen_only_for_that_warehouses_parcels() -> None:
    north = Parcel("Shanghai", Decimal("1.00"), Decimal("1.00"), warehouse="north")
    east = Parcel("Shanghai", Decimal("1.00"), Decimal("1.00"), warehouse="east")
    assert REGIONAL.suggest(north, {}).carrier == "NE"
    suggestion = REGIONAL.suggest(east, {})
    assert suggestion.carrier == "SF"
    assert suggestion.passed_over == (("NE", "NE does not collect from warehouse east"),)
    with pytest.raises(CarrierRefused, match="does not collect from warehouse east"):
        REGIONAL.choose(east, {}, "NE")


def test_a_capacity_override_keeps_the_carriers_warehouses() -> None:
    table = CarrierTable.from_dict({"carriers": [{"code": "NE", "daily_capacity": 10, "warehouses": ["north"]}]},
                                   capacity_overrides={"NE": 3})
    assert table.carriers["NE"].warehouses == frozenset({"north"}) and table.carriers["NE"].daily_capacity == 3


def test_warehouses_must_be_a_list_of_ids() -> None:
    with pytest.raises(CarrierTableInvalid, match=r"carriers.0.warehouses"):
        CarrierTable.from_dict({"carriers": [{"code": "NE", "daily_capacity": 1, "warehouses": "north"}]})


def test_part_ids_are_valid_event_ids_and_no_two_orders_parts_share_one() -> None:
    from pydantic import TypeAdapter

    from shared.contract_types import DerivedId

    assert TypeAdapter(DerivedId).validate_python(parts.shipment_id_for_part("O" * 64, "w" * 64, 2))
    tricky = {parts.shipment_id_for_part(order, warehouse, 2)
              for order, warehouse in (("a:b", "c"), ("a", "b:c"), ("a-b", "c"), ("a", "b-c"))}
    assert len(tricky) == 4
    assert not any(sid.startswith("SHP-") for sid in tricky)  # never a whole order's or an exchange's
