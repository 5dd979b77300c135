"""The promotion-day simulator (`make demo`): a small run end to end against the real broker, and
the scenario it generates. The figures of the report must agree with each other."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from services.orders.domain import OrderPolicy, priority_class, validate_order
from shared.events import OrderPlaced
from tools.simulate import model
from tools.processes import REPO_ROOT
from tools.simulate.charts import CHARTS

# A whole simulated promotion day (four services, a broker, the report): `make test-slow`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ORDERS = 240
START = datetime(2026, 11, 10, 16, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("demo") / "run"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    done = subprocess.run(
        [sys.executable, "-m", "tools.simulate", "--orders", str(ORDERS), "--seed", "11", "--out", str(out),
         "--no-progress", "--max-wall-s", "300"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=420)
    return done, out


def report_of(demo_run) -> dict:
    done, out = demo_run
    assert (out / "report.json").exists(), f"no report; exit {done.returncode}\n{done.stderr[-3000:]}"
    return json.loads((out / "report.json").read_text())


def test_the_simulator_runs_a_promotion_day_and_its_report_is_consistent(demo_run) -> None:
    done, out = demo_run
    figures = report_of(demo_run)
    assert done.returncode == 0, (figures["checks"], done.stderr[-3000:])
    assert figures["checks"]["ok"], figures["checks"]
    assert not figures["run"]["warnings"], figures["run"]["warnings"]

    orders = figures["orders"]
    assert orders["published"] == ORDERS
    assert orders["accepted"] + orders["rejected"] == ORDERS
    assert sum(orders["by_class"].values()) == orders["total"]
    assert orders["total"] + orders["cancelled"] == orders["accepted"]
    # The simulator builds baskets whose class the orders service decides the same way.
    assert orders["accepted_by_class"] == orders["published_by_intended_class"]
    assert all(orders["by_class"][k] > 0 for k in ("presale", "high_value", "standard"))

    sla = figures["dispatch"]
    for group in [sla["overall"], *sla["by_class"].values()]:
        assert group["shipped_within_24h"] <= group["shipped_within_48h"] <= group["shipped"] <= group["orders_paid"]
    assert sum(g["orders_paid"] for g in sla["by_class"].values()) == sla["overall"]["orders_paid"]
    # Every kept order was shipped by the simulated staff before the run ended.
    assert sla["overall"]["orders_paid"] == orders["total"]
    assert sla["overall"]["shipped"] == orders["total"]
    assert sum(b["paid"] for b in sla["hourly"]) == orders["total"]
    late_stock = sla["backordered_at_first"]
    assert late_stock["overall"] == sum(late_stock[k] for k in ("presale", "high_value", "standard")) > 0

    stock = figures["stock"]
    assert stock["oversold_skus"] == []
    assert stock["reserved_at_once"] + stock["backordered"] == orders["accepted"]
    assert stock["still_waiting"] == 0 and stock["filled_later"] <= stock["backordered"]
    # The viral traffic driver sold out and switched to presale; suppliers answered the requests.
    assert any(m["tier"] == "traffic_driver" and m["mode"] == "presale" for m in stock["presale_switched"])
    assert stock["replenishment_requests"] > 0
    assert 0 < stock["supplier_deliveries"] <= stock["replenishment_requests"]

    # Profit items were given to inventory by forecast only; it stocked them at 120% of it (R8).
    forecast = {row["sku"]: int(row["forecast"]) for row in csv.DictReader((out / "catalog.csv").open())
                if row["tier"] == "profit"}
    planned = {row["sku"]: row["planned"] for row in stock["skus"] if row["sku"] in forecast}
    assert planned == {sku: -(-f * 12 // 10) for sku, f in forecast.items()}

    returns = figures["returns"]
    assert returns["handled_within_48h"] <= returns["handled"] <= returns["cases"]
    assert returns["returns_requested"] == sum(returns["by_kind"].values())
    assert figures["dead_letters"]["total"] == 0


def test_the_report_is_written_as_markdown_with_png_charts(demo_run) -> None:
    done, out = demo_run
    figures = report_of(demo_run)
    text = (out / "report.md").read_text()
    for name in CHARTS:
        chart = out / name
        assert chart.exists(), name
        data = chart.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, name
        assert f"]({name})" in text, name
    assert sorted(figures["charts"]) == sorted(CHARTS)
    for heading in ("## Orders by class", "## Shipped within 24h and 48h", "## Returns handled within 48h",
                    "## Dead letters"):
        assert heading in text
    assert "checks ok" in done.stdout  # the one-line summary printed at the end


def test_a_seed_gives_the_same_scenario_with_consistent_amounts_and_classes() -> None:
    scenario = model.Scenario(seed=5, orders=400)
    orders, catalog = model.generate(scenario, START)
    again, catalog_again = model.generate(model.Scenario(seed=5, orders=400), START)
    assert [o.as_data() for o in orders] == [o.as_data() for o in again]
    assert model.catalog_csv(catalog) == model.catalog_csv(catalog_again)

    policy = OrderPolicy(high_value_threshold=scenario.high_value_threshold, accepted_currencies=frozenset({"CNY"}))
    for order in orders:
        placed = OrderPlaced.model_validate(order.as_data())
        validate_order(placed, policy)  # paid_amount = sum(lines) - discount, presale deposit rules
        assert placed.paid_amount == sum((l.unit_price * l.quantity for l in placed.lines), Decimal("0")) - placed.discount
        assert priority_class(placed, policy) == order.intended_class
    times = [o.paid_at for o in orders]
    assert times == sorted(times) and START <= times[0] and times[-1] < START.replace(day=13, hour=16)
    # the midnight spike: the first two hours carry far more than an average two hours
    spike = sum(1 for t in times if (t - START).total_seconds() < 2 * 3600)
    assert spike > 0.2 * len(orders)

    tiers = {row.sku.tier for row in catalog}
    assert tiers == {"traffic_driver", "profit", "hot"}
    for row in catalog:
        if row.sku.tier == "profit":
            assert row.planned_stock == -(-row.forecast * 12 // 10)  # 120% of forecast, rounded up (R8)
