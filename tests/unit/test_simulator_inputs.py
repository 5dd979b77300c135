"""The simulator's user files (tools/simulate/inputs.py): the samples load, and each kind of
mistake is refused with the file and the line it is on. The orders built from a plan follow it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from services.orders.domain import OrderPolicy, priority_class, validate_order
from shared.events import OrderPlaced
from tools.simulate import inputs, model, scenario
from tools.simulate.grid import child_options
from tools.simulate.inputs import InputInvalid

SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"
PLAN = {"name": "small", "start": "2026-11-11T00:00:00+08:00",
        "phases": [{"name": "burst", "hours": 2, "orders_per_hour": {"presale": 3, "high_value": 4, "standard": 20}},
                   {"name": "tail", "hours": 3, "orders_per_hour": {"standard": 5}}]}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_sample_catalogue_and_carriers_load() -> None:
    rows = inputs.load_catalog(SAMPLES / "catalog.csv")
    tiers = Counter(row.sku.tier for row in rows if not row.sku.is_gift)
    assert set(tiers) == {"traffic_driver", "profit", "hot"}
    gifts = [row for row in rows if row.sku.is_gift]
    assert gifts and all(row.sku.price == 0 for row in gifts)
    kettle = next(row for row in rows if row.sku.sku == "SKU-KETTLE-02")
    assert kettle.planned_stock == 20400 and kettle.sku.price == Decimal("159.00")  # 120% of the forecast (R8)
    table = inputs.load_carriers(SAMPLES / "carriers.json")
    assert {c["code"] for c in table["carriers"]} == {"SF", "JD", "ZTO", "YTO"}


def test_a_plan_in_logistics_format_is_unrolled_hour_by_hour(tmp_path: Path) -> None:
    plan = inputs.load_plan(write(tmp_path, "plan.json", json.dumps(PLAN)))
    assert plan.starts_at == datetime(2026, 11, 10, 16, tzinfo=UTC)
    assert plan.orders == 2 * 27 + 3 * 5 and plan.event_hours == 5
    assert plan.by_class() == {"presale": 6, "high_value": 8, "standard": 55}
    half = inputs.load_plan(write(tmp_path, "plan.json", json.dumps(PLAN)), scale=0.5, seed=3)
    assert 20 <= half.orders <= 50


@pytest.mark.parametrize(("text", "line", "words"), [
    ('{"name": "x",\n "start": "2026-11-11T00:00:00",\n "phases": []}', 2, "start"),
    ('{"name": "x",\n "start": "2026-11-11T00:00:00Z",\n "phases": [\n  {"hours": 2,\n   "orders_per_hour": {"presale": 1.5}}]}',
     5, "phases.0.orders_per_hour.presale"),
    ('{"name": "x",\n "start": "2026-11-11T00:00:00Z",\n "phases": [{"hours": 2, "orders_per_hour": {\n "vip": 3}}]}',
     4, "vip"),
    ('{"name": "x",\n "start": "2026-11-11T00:00:00Z",\n "phases": [{"hours": 2, "orders_per_hour": {}}]}', None,
     "no orders"),
    ('{"name": "x",\n "start": "2026-11-11T00:00:00Z"\n "phases": []}', 3, "not JSON"),
])
def test_a_bad_plan_is_refused_naming_file_and_line(tmp_path: Path, text: str, line: int | None, words: str) -> None:
    path = write(tmp_path, "plan.json", text)
    with pytest.raises(InputInvalid) as caught:
        inputs.load_plan(path)
    message = str(caught.value)
    assert str(path) in message and words in message
    if line is not None:
        assert f"line {line}:" in message


@pytest.mark.parametrize(("row", "words"), [
    ("SKU-A,A,traffic_driver,10,10,,,,abc,,,", "price must be a number"),
    ("SKU-A,A,traffic_driver,10,10,,,,1.999,,,", "more than 2 decimals"),
    ("SKU-A,A,traffic_driver,10,10,,,,-1,,,", "price must be from 0"),
    ("SKU-A,A gift,traffic_driver,10,10,,,,5.00,,,", "gift with purchase is free"),
    ("SKU-A,A,traffic_driver,10,10,,,,0,,,", "price must be above 0"),
    ("SKU-A,A,traffic_driver,10,10,,,,,,,maybe", "gift must be true or false"),
    ("SKU-A,A,vip,10,10,,,,,,,", "tier 'vip'"),
    ("SKU-A,A,traffic_driver,ten,10,,,,,,,", "planned_stock must be a whole number"),
])
def test_a_bad_catalogue_row_is_refused_naming_file_and_line(tmp_path: Path, row: str, words: str) -> None:
    header = "sku,name,tier,planned_stock,on_hand,forecast,threshold_percent,bin,price,weight_kg,volume_l,gift\n"
    path = write(tmp_path, "catalog.csv", header + "SKU-OK,Fine,traffic_driver,10,10,,,,9.90,,,\n" + row + "\n")
    with pytest.raises(InputInvalid) as caught:
        inputs.load_catalog(path)
    assert f"{path} line 3" in str(caught.value) and words in str(caught.value)


def test_a_catalogue_that_cannot_fill_a_planned_class_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.csv", "sku,name,tier,planned_stock,on_hand\nSKU-A,A,traffic_driver,10,10\n")
    plan_path = write(tmp_path, "plan.json", json.dumps(PLAN))
    with pytest.raises(InputInvalid, match="presale orders but the catalogue has no hot sku"):
        inputs.check_catalog_serves_plan(inputs.load_catalog(path), inputs.load_plan(plan_path), path, plan_path,
                                         0.1, 0.15)


@pytest.mark.parametrize(("change", "line", "words"), [
    ('"daily_capacity": 6000', '"daily_capacity": -1', "daily_capacity"),
    ('"carriers": ["JD", "SF"]}', '"carriers": ["JD", "DHL"]}', "unknown carrier"),
])
def test_a_bad_carrier_table_is_refused_naming_file_and_line(tmp_path: Path, change: str, line: str, words: str) -> None:
    text = (SAMPLES / "carriers.json").read_text()
    assert change in text
    bad = text.replace(change, line, 1)
    path = write(tmp_path, "carriers.json", bad)
    expected_line = bad[:bad.index(line)].count("\n") + 1
    with pytest.raises(InputInvalid) as caught:
        inputs.load_carriers(path)
    assert f"{path} line {expected_line}:" in str(caught.value) and words in str(caught.value)


def test_carrier_capacity_scales_and_stays_at_least_one() -> None:
    table = inputs.load_carriers(SAMPLES / "carriers.json")
    assert [c["daily_capacity"] for c in inputs.scaled_carriers(table, 0.5)["carriers"]] == [5000, 3000, 7000, 5000]
    assert [c["daily_capacity"] for c in inputs.scaled_carriers(table, 0.00001)["carriers"]] == [1, 1, 1, 1]
    assert table["carriers"][0]["daily_capacity"] == 10000  # the table itself is left alone


def test_orders_from_a_plan_and_a_catalogue_follow_the_plan_and_the_orders_rules(tmp_path: Path) -> None:
    plan = inputs.load_plan(write(tmp_path, "plan.json", json.dumps(PLAN)))
    rows = inputs.load_catalog(SAMPLES / "catalog.csv")
    s = model.Scenario(seed=4, orders=plan.orders, event_hours=plan.event_hours)
    built = scenario.build(s, plan.starts_at, plan, rows, stock_factor=0.5)
    assert [o.as_data() for o in built.orders] == [o.as_data() for o in scenario.build(s, plan.starts_at, plan, rows, 0.5).orders]
    per_hour = Counter((int((o.paid_at - plan.starts_at).total_seconds() // 3600), o.intended_class) for o in built.orders)
    assert per_hour[(0, "presale")] == 3 and per_hour[(1, "standard")] == 20 and per_hour[(4, "standard")] == 5
    policy = OrderPolicy(high_value_threshold=s.high_value_threshold, accepted_currencies=frozenset({"CNY"}))
    skus = {row.sku.sku for row in rows}
    for order in built.orders:
        placed = OrderPlaced.model_validate(order.as_data())
        validate_order(placed, policy)
        assert priority_class(placed, policy) == order.intended_class
        assert {line.sku for line in order.lines} <= skus
    tea = next(row for row in built.catalog if row.sku.sku == "SKU-TEA-01")
    assert tea.on_hand == 14150  # stock depth x0.5
    assert "SKU-KETTLE-02,Electric kettle,profit,10200,10200," in built.catalog_text


def test_the_plan_logistics_is_given_counts_the_orders_the_run_publishes(tmp_path: Path) -> None:
    plan = inputs.load_plan(write(tmp_path, "plan.json", json.dumps(PLAN)))
    s = model.Scenario(seed=2, orders=plan.orders, event_hours=plan.event_hours)
    built = scenario.build(s, plan.starts_at, plan)
    body = inputs.plan_for_logistics(plan, built.orders, plan.starts_at, "x")
    assert body["start"] == "2026-11-10T16:00:00+00:00" and body["name"] == "small"
    assert body["previous"]["hours"][0] == {"presale": 3, "high_value": 4, "standard": 20}
    assert sum(sum(h.values()) for h in body["previous"]["hours"]) == len(built.orders)


def test_the_grid_passes_every_option_but_its_own_to_each_run() -> None:
    argv = ["--plan", "p.json", "--grid", "pickers=1,2", "carriers=0.8,1", "--jobs", "3", "--pickers=4",
            "--out", "x", "--no-progress", "--seed", "2", "--stock-factor", "1.5"]
    assert child_options(argv) == ["--plan", "p.json", "--seed", "2"]


def test_json_lines_know_where_each_value_is() -> None:
    text = '{\n "a": [\n  {"b": 1},\n  {"b": [2,\n 3]}\n ],\n "c": "x"\n}'
    lines = inputs.json_lines(text)
    assert lines["a.0.b"] == 3 and lines["a.1.b.0"] == 4 and lines["a.1.b.1"] == 5 and lines["c"] == 7
