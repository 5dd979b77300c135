"""`make bench` at a small scale through the real broker and the three services it drives: the
run completes both phases, every order gets its outcome once and reaches the dispatch queue, and
the report carries every figure issue 8 asks for. Timings are not checked; they are what the
full run measures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.processes import REPO_ROOT

pytestmark = pytest.mark.e2e

BURST = 400
RATE, SECONDS = 100, 3


@pytest.fixture(scope="module")
def bench_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict]:
    run_dir = tmp_path_factory.mktemp("bench") / "run"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--orders", str(BURST), "--rate", str(RATE),
         "--steady-seconds", str(SECONDS), "--timeout", "120", "--run-dir", str(run_dir)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400)
    out = done.stdout
    assert "{" in out, f"no report; exit {done.returncode}\n{done.stderr[-3000:]}"
    report = json.loads(out[out.index("{\n"):out.rindex("\n}") + 2])
    return done, report


def test_the_bench_runs_both_phases_and_finds_nothing_lost_duplicated_or_oversold(bench_run) -> None:
    done, report = bench_run
    assert done.returncode == 0, (report.get("verdict"), done.stderr[-3000:])
    assert report["verdict"] == {"lost": 0, "not_queued": 0, "duplicated_events": 0, "oversold_skus": [],
                                 "ok": True}
    burst, steady = report["burst"], report["steady"]
    assert burst["completed"] is True
    assert burst["accepted"] == burst["reserved"] == burst["queued"] == BURST  # the catalog covers every order
    assert steady["sent"] == steady["reserved"] == steady["shipments_created"] == RATE * SECONDS
    assert report["stock"]["reserved_units"] == BURST + RATE * SECONDS
    summary_line = done.stdout.rstrip().splitlines()[-1]
    assert summary_line.startswith(f"burst {BURST} orders: ")
    assert summary_line.endswith("lost 0, not queued 0, duplicated 0, oversold 0")


def test_the_report_has_every_figure_issue_8_asks_for(bench_run) -> None:
    _done, report = bench_run
    burst, steady = report["burst"], report["steady"]
    assert set(burst["stage_orders_per_s"]) == {
        "orders (accepted)", "inventory (reserved or backordered)", "logistics (in the dispatch queue)"}
    assert all(rate > 0 for rate in burst["stage_orders_per_s"].values())
    assert set(report["peak_memory_mib"]) == {"orders", "inventory", "logistics"}
    assert all(mib > 0 for mib in report["peak_memory_mib"].values())
    for latency in (steady["to_stock_reserved_ms"], steady["to_shipment_created_ms"]):
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert report["ceiling"]["consumed"] == report["ceiling"]["messages"] == BURST
    assert 0 < report["fraction_of_broker_ceiling"]
    assert report["machine"]["cpus"] >= 1 and report["machine"]["cpu_reference_s"] > 0
