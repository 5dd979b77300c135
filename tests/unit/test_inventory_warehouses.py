"""The warehouses file (issue 34): strict, every error with its place; and the catalogue's
`warehouse` column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.inventory.catalog import CatalogInvalid, load_catalog
from services.inventory.warehouses import WarehousesInvalid, load_warehouses

GOOD = [{"id": "north", "name": "North DC", "regions": ["beijing"], "reaches": ["shanghai"], "carriers": ["SF"],
         "pickers": 40},
        {"id": "east", "regions": ["shanghai"], "pickers": 30, "position": 5}]


def write(tmp_path: Path, content: object, raw: bytes | None = None) -> Path:
    path = tmp_path / "warehouses.json"
    path.write_bytes(raw if raw is not None else json.dumps(content).encode())
    return path


def test_a_good_file_loads_with_positions_from_the_file_unless_given(tmp_path: Path) -> None:
    north, east = load_warehouses(write(tmp_path, GOOD))
    assert (north.id, north.name, north.regions, north.reaches, north.carriers, north.pickers, north.position) == (
        "north", "North DC", ("beijing",), ("shanghai",), ("SF",), 40, 0)
    assert (east.name, east.position) == ("east", 5)


@pytest.mark.parametrize("content, raw, expected", [
    (None, b"\xff\xfe not utf-8", "not UTF-8"),
    (None, b"[{", "not JSON"),
    ({"id": "x"}, None, "non-empty JSON list"),
    ([], None, "non-empty JSON list"),
    ([{"id": "x", "regions": [], "colour": "red"}], None, "unknown field(s) colour"),
    ([{"regions": []}], None, "id is required"),
    ([{"id": "bad id", "regions": []}], None, "item 1: id is required and must be an id"),
    ([{"id": "x"}], None, "regions must be a list"),
    ([{"id": "x", "regions": "north"}], None, "regions must be a list"),
    ([{"id": "x", "regions": ["a", "a"]}], None, "lists 'a' twice"),
    ([{"id": "x", "regions": [{"deep": ["nest"]}]}], None, "regions must hold names"),
    ([{"id": "x", "regions": ["a"], "reaches": ["a"]}], None, "both served and reached"),
    ([{"id": "x", "regions": ["a"], "pickers": -1}], None, "pickers must be between 0"),
    ([{"id": "x", "regions": ["a"], "pickers": 2.5}], None, "pickers must be a whole number"),
    ([{"id": "x", "regions": ["a"], "pickers": True}], None, "pickers must be a whole number"),
    ([{"id": "x", "regions": ["a"], "carriers": ["S F"]}], None, "is not a code"),
    ([{"id": "x", "regions": ["a"]}, {"id": "x", "regions": ["b"]}], None, "item 2: warehouse x appears twice"),
    ([{"id": f"w{i}", "regions": []} for i in range(51)], None, "at most 50"),
])
def test_a_bad_file_is_refused_with_the_reason_and_place(tmp_path: Path, content, raw, expected) -> None:
    with pytest.raises(WarehousesInvalid) as refused:
        load_warehouses(write(tmp_path, content, raw))
    assert expected in str(refused.value)


def test_the_catalogue_takes_a_row_per_warehouse_whose_names_and_tiers_agree(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("sku,name,tier,planned_stock,on_hand,warehouse\nTEA,Tea,profit,10,10,north\n"
                    "TEA,Tea,profit,20,5,east\nCUP,Cup,hot,5,5,\n")
    entries = load_catalog(path)
    assert [(e.sku, e.warehouse, e.planned_stock) for e in entries] == [
        ("TEA", "north", 10), ("TEA", "east", 20), ("CUP", "main", 5)]
    path.write_text("sku,name,tier,planned_stock,on_hand,warehouse\nTEA,Tea,profit,10,10,north\n"
                    "TEA,Tea,hot,20,5,east\n")
    with pytest.raises(CatalogInvalid, match="must agree on name, tier and bin"):
        load_catalog(path)
    path.write_text("sku,name,tier,planned_stock,on_hand,warehouse\nTEA,Tea,profit,10,10,north\n"
                    "TEA,Tea,profit,20,5,north\n")
    with pytest.raises(CatalogInvalid, match="appears twice for warehouse north"):
        load_catalog(path)


def test_the_sample_files_load() -> None:
    root = Path(__file__).resolve().parents[2] / "services" / "inventory"
    warehouses = load_warehouses(root / "sample_warehouses.json")
    entries = load_catalog(root / "sample_catalog_warehouses.csv")
    assert {e.warehouse for e in entries} <= {w.id for w in warehouses}
    assert {e.sku for e in entries} == {e.sku for e in load_catalog(root / "sample_catalog.csv")}
