"""The simulator's several warehouses (issue 34): stock spread by the demand of the regions each
warehouse is first in line for, whole units adding up, pickers per warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.inventory.warehouses import Warehouse
from tools.simulate import model
from tools.simulate.warehouses import apportion, catalog_csv, demand_shares, load, staff

NORTH = Warehouse(id="north", regions=("Beijing",), reaches=("Shanghai",), position=0)
EAST = Warehouse(id="east", regions=("Shanghai", "Jiangsu"), position=1)


def test_a_warehouse_gets_the_demand_of_the_regions_it_is_first_for() -> None:
    shares = demand_shares([NORTH, EAST], [("Beijing", 1), ("Shanghai", 2), ("Jiangsu", 1), ("Tibet", 0)])
    assert shares == {"north": 0.25, "east": 0.75}


def test_a_region_nobody_serves_goes_to_the_first_ranked_warehouse() -> None:
    # Sichuan: served by neither, reached by neither: the rest by position, north first.
    assert demand_shares([NORTH, EAST], [("Sichuan", 1)]) == {"north": 1.0, "east": 0.0}


@given(st.integers(0, 10**9), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8))
def test_apportioned_units_add_up_and_follow_the_shares(units: int, weights: list[float]) -> None:
    total = sum(weights)
    shares = {f"w{i}": (w / total if total else 1 / len(weights)) for i, w in enumerate(weights)}
    whole = apportion(units, shares)
    assert sum(whole.values()) == units
    assert all(abs(whole[w] - units * s) < 1 for w, s in shares.items())


def test_every_sku_gets_a_row_in_every_warehouse_with_its_stock_apportioned() -> None:
    sku = model.Sku(sku="SKU-1", name="Tea, green", tier="traffic_driver", price=model.Decimal("9.90"),
                    weight_kg=model.Decimal("0.3"), volume_l=model.Decimal("0.6"))
    text = catalog_csv([model.CatalogRow(sku=sku, forecast=0, planned_stock=10, on_hand=7)], {"north": 0.25, "east": 0.75})
    assert text.splitlines() == ["sku,name,tier,planned_stock,on_hand,forecast,threshold_percent,warehouse",
                                 "SKU-1,Tea  green,traffic_driver,2,2,,,north",  # 2.5 and 7.5: a tie, by id
                                 "SKU-1,Tea  green,traffic_driver,8,5,,,east"]


def test_pickers_per_warehouse_from_the_file_else_spread() -> None:
    assert [(s.warehouse, s.pickers) for s in staff(None, 6, 30)] == [("main", 6)]
    spread = staff([NORTH, EAST], 5, 30)
    assert sorted(s.pickers for s in spread) == [2, 3] and spread[0].pick.per_hour == spread[0].pickers * 30
    own = staff([Warehouse(id="a", regions=("*",), pickers=4), Warehouse(id="b", regions=("x",), pickers=1)], 6, 10)
    assert [(s.warehouse, s.pickers) for s in own] == [("a", 4), ("b", 1)]


def test_the_sample_file_loads_with_inventorys_rules() -> None:
    path = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "warehouses.json"
    loaded = load(path)
    assert [w.id for w in loaded] == [w["id"] for w in json.loads(path.read_text())]
    served = {r for w in loaded for r in w.regions}
    assert {region for region, _ in model.REGIONS} <= served  # every region of the built-in mix is served


def test_a_bad_file_is_refused_with_inventorys_reason(tmp_path: Path) -> None:
    from services.inventory.warehouses import WarehousesInvalid

    bad = tmp_path / "w.json"
    bad.write_text('[{"id": "x"}]')
    with pytest.raises(WarehousesInvalid):
        load(bad)
