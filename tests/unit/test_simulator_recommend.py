"""The what-if grid's judgement (tools/simulate/recommend.py) on made-up run figures: targets per
class at their exact boundaries, the smallest set-up, what binds and when (local time)."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from tools.simulate import recommend
from tools.simulate.inputs import InputInvalid

TZ = ZoneInfo("Asia/Shanghai")
START = "2026-11-10T16:00:00+00:00"  # midnight of 11 November in Shanghai


def group(pct24: float | None, pct48: float | None, orders: int = 100) -> dict:
    return {"orders_paid": orders, "within_24h_pct": pct24, "within_48h_pct": pct48}


def figures(presale=(90.0, 99.0), high_value=(90.0, 99.0), standard=(90.0, 99.0), overall=(90.0, 99.0),
            backlog=(), backordered=None) -> dict:
    return {"run": {"start": START, "tick_minutes": 60},
            "dispatch": {"targets": {"within_24h_pct": 80, "within_48h_pct": 95}, "overall": group(*overall),
                         "by_class": {"presale": group(*presale), "high_value": group(*high_value),
                                      "standard": group(*standard)},
                         "backlog": list(backlog), "backordered_at_first": backordered or {}}}


def test_targets_are_met_at_exactly_80_and_95_for_every_class() -> None:
    assert recommend.meets(figures(presale=(80.0, 95.0)))
    assert recommend.misses(figures(presale=(79.9, 95.0))) == ["presale 24h 79.9% < 80%"]
    assert recommend.misses(figures(high_value=(80.0, 94.9))) == ["high-value 48h 94.9% < 95%"]
    assert recommend.misses(figures(overall=(79.0, 90.0))) == ["overall 24h 79.0% < 80%", "overall 48h 90.0% < 95%"]
    assert not recommend.meets(None) and recommend.misses(None) == ["the run failed"]


def test_a_class_without_orders_neither_meets_nor_misses() -> None:
    f = figures()
    f["dispatch"]["by_class"]["presale"] = group(None, None, orders=0)
    assert recommend.meets(f)


def test_the_grid_is_parsed_sorted_and_bounded() -> None:
    axes = recommend.parse_grid(["pickers=8,4,6,4", "stock=1.2,0.8", "carriers=1"])
    assert axes == {"pickers": [4, 6, 8], "stock": [0.8, 1.2], "carriers": [1.0]}
    assert len(recommend.setups(axes)) == 6
    for bad, words in [(["vans=2"], "AXIS"), (["pickers=1.5"], "whole"), (["pickers=0"], "whole"),
                       (["stock=0"], "above 0"), (["stock=x"], "numbers"), (["pickers=1", "pickers=2"], "twice"),
                       (["pickers=" + ",".join(map(str, range(1, 10))), "stock=" + ",".join(str(i / 10) for i in range(1, 9))],
                        "at most 64")]:
        with pytest.raises(InputInvalid, match=words):
            recommend.parse_grid(bad)


def run(pickers, stock, carriers, f) -> dict:
    return {"setup": {"pickers": pickers, "stock": stock, "carriers": carriers}, "figures": f}


def test_the_smallest_setup_meeting_both_targets_is_recommended_and_the_step_below_says_what_binds() -> None:
    busy = [{"h": h, "waiting_to_ship": 50, "waiting_for_stock": 0, "picker_bound": 1 if 1 <= h <= 10 else 0,
             "carrier_refused": 0} for h in range(1, 30)]
    axes = {"pickers": [2, 3, 4], "stock": [1.0], "carriers": [0.8, 1.0]}
    runs = [run(2, 1.0, 0.8, figures(presale=(60.0, 80.0), backlog=busy)),
            run(2, 1.0, 1.0, figures(standard=(70.0, 96.0), backlog=busy)),
            run(3, 1.0, 0.8, figures(presale=(85.0, 94.0),
                                     backlog=[{"h": 30, "waiting_to_ship": 5, "waiting_for_stock": 0,
                                               "picker_bound": 0, "carrier_refused": 12}])),
            run(3, 1.0, 1.0, figures()),
            run(4, 1.0, 0.8, figures()),
            run(4, 1.0, 1.0, figures())]
    advice = recommend.recommend(runs, axes, TZ)
    assert advice["recommended"] == {"pickers": 3, "stock": 1.0, "carriers": 1.0}
    text = "\n".join(advice["lines"])
    assert "Recommended: 3 pickers, stock x1, carriers x1" in text
    assert "pickers binds: one step below (2 pickers) misses standard 24h 70.0% < 80%" in text
    # the 2-picker run's pickers were busy from tick 1 (00:00-01:00 local) to tick 10
    assert "from Wed 11 Nov 00:00 to Wed 11 Nov 10:00 local time (10 h in all)" in text
    assert "carrier capacity binds: one step below (carriers x0.8) misses presale 48h 94.0% < 95%" in text
    assert "Thu 12 Nov 05:00 to Thu 12 Nov 06:00" in text  # carriers refused parcels in the tick ending at 30 h
    assert "stock depth: the least tried (1) is enough" in text
    assert {b["resource"] for b in advice["binding"]} == {"pickers", "carriers"}


def test_with_several_passing_setups_the_fewest_steps_win_then_fewer_pickers() -> None:
    axes = {"pickers": [2, 3], "stock": [0.8, 1.0], "carriers": [1.0]}
    runs = [run(2, 0.8, 1.0, figures(presale=(10.0, 10.0))), run(2, 1.0, 1.0, figures()),
            run(3, 0.8, 1.0, figures()), run(3, 1.0, 1.0, figures())]
    assert recommend.recommend(runs, axes, TZ)["recommended"] == {"pickers": 2, "stock": 1.0, "carriers": 1.0}


def test_when_nothing_meets_the_closest_run_and_its_binding_resource_are_named() -> None:
    waiting = [{"h": h, "waiting_to_ship": 0, "waiting_for_stock": 30 if h < 40 else 0, "picker_bound": 0,
                "carrier_refused": 0} for h in range(1, 60)]
    axes = {"pickers": [2, 3], "stock": [1.0], "carriers": [1.0]}
    runs = [run(2, 1.0, 1.0, figures(presale=(40.0, 50.0), backlog=waiting, backordered={"presale": 30})),
            run(3, 1.0, 1.0, figures(presale=(60.0, 70.0), backlog=waiting, backordered={"presale": 30})),
            {"setup": {"pickers": 4, "stock": 1.0, "carriers": 1.0}, "figures": None}]
    advice = recommend.recommend(runs, {**axes, "pickers": [2, 3, 4]}, TZ)
    assert advice["recommended"] is None
    text = "\n".join(advice["lines"])
    assert "No set-up in the grid meets" in text and "Closest: 3 pickers" in text
    assert "stock depth held the warehouse back from Wed 11 Nov 00:00 to Thu 12 Nov 15:00" in text
    assert "Try more of stock depth" in text
    assert runs[2]["misses"] == ["the run failed"]


def test_diagnosis_names_stock_only_when_the_missing_class_waited_for_stock() -> None:
    waiting = [{"h": 1, "waiting_to_ship": 0, "waiting_for_stock": 3, "picker_bound": 1, "carrier_refused": 0}]
    assert recommend.diagnose(figures(standard=(70.0, 99.0), backlog=waiting, backordered={"presale": 3}), TZ) == ["pickers"]
    assert recommend.diagnose(figures(standard=(70.0, 99.0), backlog=waiting, backordered={"standard": 3}), TZ) == [
        "stock", "pickers"]


def test_the_grid_report_puts_the_runs_side_by_side_in_local_time(tmp_path) -> None:
    from tools.simulate.grid_report import write_report

    def full(f: dict) -> dict:
        f["run"]["event_hours"] = 3
        f["orders"] = {"published": 240}
        f["dispatch"]["hourly"] = [{"hour": START, "paid": 80, "dispatched": 10, "paid_shipped_within_24h": 60}]
        return f

    busy = [{"h": 1.0, "waiting_to_ship": 40, "waiting_for_stock": 0, "picker_bound": 1, "carrier_refused": 0}]
    runs = [{**run(1, 1.0, 1.0, full(figures(standard=(60.0, 99.0), backlog=busy))), "name": "p1-s1-c1", "wall_s": 90.0},
            {**run(2, 1.0, 1.0, full(figures(backlog=busy))), "name": "p2-s1-c1", "wall_s": 80.0},
            {**run(3, 1.0, 1.0, None), "name": "p3-s1-c1", "wall_s": 5.0}]
    advice = recommend.recommend(runs, {"pickers": [1, 2, 3], "stock": [1.0], "carriers": [1.0]}, TZ)
    summary = {"time_zone": "Asia/Shanghai", "wall_s": 200.0, "jobs": 2, "recommendation": advice}
    page = write_report(summary, runs, tmp_path).read_text()
    assert 'class="recommended" data-run="p2-s1-c1"' in page and 'class="misses" data-run="p3-s1-c1"' in page
    assert '<span class="miss">60.0%</span>' in page  # the standard class of the 1-picker run
    assert "pickers Wed 11 Nov 00:00 - Wed 11 Nov 01:00 (1 h)" in page  # local time, not UTC
    assert "Recommended: 2 pickers" in page and "Asia/Shanghai" in page
    assert (tmp_path / "echarts.min.js").stat().st_size > 500_000 and (tmp_path / "grid_report.js").exists()
    assert "<script>" not in page  # no inline script: data in a JSON block, code in grid_report.js
    data = json.loads(page.split('id="grid-data">')[1].split("</script>")[0])
    assert data["runs"] == ["p1-s1-c1", "p2-s1-c1"] and data["hourly_axis"] == ["Wed 11 Nov 00:00"]
    assert data["shares"]["within_24h_pct"]["standard"] == [60.0, 90.0]
