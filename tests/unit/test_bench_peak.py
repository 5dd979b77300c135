"""The bench's new report pieces (issue 31): the databases against the broker's own figures and
side by side, the scale-out's per-instance figures and verdict, the sizing from them, and the
HTTP load generator's counting, bound and target reading (against a stand-in transport)."""

from __future__ import annotations

import asyncio
import time

import httpx

from tools.bench.http_load import Endpoint, Load, endpoint_summary, intake_target, plan, Tally
from tools.bench.report import (against_ceiling, run_summary, run_verdict, scale_out_verdict, side_by_side, sizing,
                                verdict)
from tools.bench.scale_out import consumed_from_metrics, per_instance

CLEAN = {"lost": 0, "not_queued": 0, "duplicated_events": 0}
NO_DUPLICATES = {"accepted": 0, "rejected": 0, "reserved": 0, "backordered": 0}


def _database(rate: int, p50: float, p99: float, cpu_ms: float, checks: dict | None = None) -> dict:
    section = {"burst": {"orders": 1000, "end_to_end_orders_per_s": rate, "all_queued_s": 1000 / rate,
                         "checks": CLEAN, "cpu": {"ms_per_order": cpu_ms,
                                                  "ms_per_order_by_process": {"orders": cpu_ms / 2, "broker": 0.1}}},
               "steady": {"rate_per_s": 100, "kept_up": True, "checks": checks or CLEAN,
                          "to_stock_reserved_ms": {"p50": p50, "p99": p99}},
               "stock": {"oversold_skus": []}}
    section["verdict"] = verdict(section)
    return section


CEILING = {"round_trip_msgs_per_s": 50_000, "cpu_ms_per_msg": 0.05, "paced": {"latency_ms": {"p50": 5.0, "p99": 20.0}}}


def test_each_database_is_stated_as_a_fraction_of_the_broker_alone() -> None:
    fractions = against_ceiling(_database(2500, 50.0, 200.0, 1.0), CEILING)
    assert fractions == {"burst_rate": 0.05, "steady_p50": 0.1, "steady_p99": 0.1, "burst_cpu_ms_per_order": 0.05}


def test_a_run_without_a_steady_phase_or_a_broker_cpu_figure_leaves_those_fractions_out() -> None:
    section = _database(2500, 50.0, 200.0, 1.0)
    del section["steady"]
    assert against_ceiling(section, {"round_trip_msgs_per_s": 50_000}) == {"burst_rate": 0.05}


def _run(**databases: dict) -> dict:
    for section in databases.values():
        section["against_ceiling"] = against_ceiling(section, CEILING)
    return {"databases": databases, "ceiling": CEILING}


def test_the_databases_are_printed_side_by_side_one_column_each() -> None:
    table = side_by_side(_run(sqlite=_database(2800, 70.0, 130.0, 1.2), postgres=_database(1400, 90.0, 240.0, 2.4)))
    assert table[0] == "| | SQLite (WAL) | PostgreSQL |"
    rows = {line.split(" | ")[0].lstrip("| ").strip(): line.split(" | ")[1:] for line in table[2:]}
    assert rows["burst, orders/s end to end"] == ["2800", "1400 |"]
    assert rows["steady p99 paid -> reserved, ms"] == ["130", "240 |"]
    assert rows["orders"] == ["0.6", "1.2 |"]  # CPU ms an order by process
    assert rows["as a fraction of the broker's round-trip rate"] == ["0.056", "0.028 |"]


def _scale(doubled: int = 0, lost: int = 0) -> dict:
    scale = {"orders": 1000, "end_to_end_orders_per_s": 500, "all_queued_s": 2.0, "completed": True,
             "checks": {**CLEAN, "lost": lost}, "stock": {"oversold_skus": []}, "doubled_shipments": doubled,
             "instances_per_service": 2, "partitions": 12, "database": "PostgreSQL",
             "cpu": {"ms_per_order_by_process": {"postgres": 0.9, "broker": 0.2}},
             "instances": {"orders a": {"handled": 600, "share": 0.6, "orders_per_s": 300, "cpu_s": 1.2,
                                        "cpu_ms_per_handled_order": 2.0},
                           "orders b": {"handled": 400, "share": 0.4, "orders_per_s": 200, "cpu_s": 1.0,
                                        "cpu_ms_per_handled_order": 2.5},
                           "inventory a": {"handled": 1000, "share": 1.0, "orders_per_s": 500, "cpu_s": 1.0,
                                           "cpu_ms_per_handled_order": 1.0},
                           "inventory b": {"handled": 0, "share": 0.0, "orders_per_s": 0, "cpu_s": 0.1,
                                           "cpu_ms_per_handled_order": None}}}
    scale["verdict"] = scale_out_verdict(scale)
    return scale


def test_an_order_shipped_twice_by_two_instances_fails_the_scale_out_and_the_run() -> None:
    assert _scale()["verdict"]["ok"] is True
    doubled = _scale(doubled=1)
    assert doubled["verdict"]["ok"] is False
    report = _run(postgres=_database(1400, 90.0, 240.0, 2.4))
    report["scale_out"] = doubled
    reading = run_verdict(report)
    assert reading["doubled_shipments"] == 1 and reading["ok"] is False


def test_a_lost_order_in_any_database_fails_the_run_even_when_the_other_is_clean() -> None:
    report = _run(sqlite=_database(2800, 70.0, 130.0, 1.2),
                  postgres=_database(1400, 90.0, 240.0, 2.4, checks={**CLEAN, "lost": 1}))
    reading = run_verdict(report)
    assert reading["lost"] == 1 and reading["ok"] is False


def test_a_lost_order_of_the_http_phase_fails_its_database() -> None:
    section = _database(2800, 70.0, 130.0, 1.2)
    section["http"] = {"checks": {**CLEAN, "lost": 2}}
    assert verdict(section)["lost"] == 2 and verdict(section)["ok"] is False


def test_the_summary_has_a_line_per_database_and_ends_with_the_verdict() -> None:
    report = _run(sqlite=_database(2800, 70.0, 130.0, 1.2), postgres=_database(1400, 90.0, 240.0, 2.4))
    report["scale_out"] = _scale()
    report["verdict"] = run_verdict(report)
    lines = run_summary(report).splitlines()
    assert lines[0].startswith("sqlite: burst 1000 orders: 2800 orders/s")
    assert lines[1].startswith("postgres: burst 1000 orders: 1400 orders/s")
    assert lines[2].startswith("scale-out (2 instances each, 12 partitions, PostgreSQL)")
    assert lines[-1] == "verdict: lost 0, not queued 0, duplicated 0, doubled shipments 0, oversold 0"


def test_each_instance_gets_its_share_its_rate_over_its_stage_and_its_cpu_per_order() -> None:
    class Instance:
        def __init__(self, name: str) -> None:
            self.name = name

    services = {"orders a": Instance("orders"), "orders b": Instance("orders"), "logistics a": Instance("logistics")}
    figures = per_instance(services, {"orders a": 0, "orders b": 10, "logistics a": 0},
                           {"orders a": 600, "orders b": 410, "logistics a": 0},
                           {"orders a": 1.5, "orders b": 1.0, "logistics a": 0.2},
                           {"orders": 1000, "all_accepted_s": 2.0, "all_queued_s": 4.0})
    assert figures["orders a"] == {"handled": 600, "share": 0.6, "orders_per_s": 300, "cpu_s": 1.5,
                                   "cpu_ms_per_handled_order": 2.5}
    assert figures["orders b"]["handled"] == 400 and figures["orders b"]["orders_per_s"] == 200
    assert figures["logistics a"]["cpu_ms_per_handled_order"] is None  # handled nothing: no cost per order


def test_an_instance_s_orders_are_its_consumed_events_of_its_main_topic_and_type() -> None:
    text = "\n".join([
        '# HELP peak_events_consumed_total Events consumed, by topic and type',
        'peak_events_consumed_total{topic="p.orders.events",type="order.accepted"} 250.0',
        'peak_events_consumed_total{topic="p.orders.events",type="order.cancelled"} 3.0',
        'peak_events_consumed_total{topic="p.other.orders.events",type="order.accepted"} 99.0',
        'events_consumed_created{topic="p.orders.events",type="order.accepted"} 1.7e9'])
    assert consumed_from_metrics(text, "p.orders.events", "order.accepted") == 250


def test_sizing_takes_the_dearer_instance_of_each_service_and_the_shared_servers() -> None:
    lines = sizing({"scale_out": _scale()}, peak_rate=1700, headroom=0.6)
    rows = {line.split(" | ")[0].strip("| "): line for line in lines if line.startswith("| ") and "---" not in line}
    assert rows["orders"] == "| orders | 2.5 | 8 |"  # ceil(1700 x 2.5 / 600) = ceil(7.08)
    assert rows["inventory"] == "| inventory | 1 | 3 |"
    assert rows["postgres"] == "| postgres | 0.9 | 3 |"
    assert sizing({})[2].startswith("No completed scale-out burst")


def test_the_intake_target_needs_the_rate_the_p99_and_no_errors() -> None:
    def post(rate: float, p99: float, errors: int = 0) -> dict:
        return {"POST /orders": {"requests_per_s": rate, "latency_ms": {"p99": p99}, "errors": errors,
                                 "error_rate": errors / 1000}}

    assert intake_target(post(500, 100.0))["met"] is True
    assert intake_target(post(475, 99.0))["met"] is True  # 5% slack on the paced rate
    assert intake_target(post(470, 50.0))["met"] is False
    assert intake_target(post(500, 100.1))["met"] is False
    assert intake_target(post(500, 50.0, errors=1))["met"] is False
    assert intake_target({})["met"] is False


def test_an_endpoint_s_summary_counts_errors_and_rates() -> None:
    tally = Tally()
    for i in range(10):
        tally.add(100.0 + i / 10, 100.0 + i / 10 + 0.02, "202" if i < 9 else "500", ok=i < 9)
    reading = endpoint_summary(tally, offered_rate=10, seconds=1.0)
    assert reading["requests"] == 10 and reading["errors"] == 1 and reading["error_rate"] == 0.1
    assert reading["planned"] == 10
    assert reading["statuses"] == {"202": 9, "500": 1}
    assert reading["requests_per_s"] == 10.0
    assert reading["latency_ms"]["p50"] == 20.0


def test_the_generator_paces_each_endpoint_counts_answers_and_stays_in_its_bound() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sla":
            return httpx.Response(503)
        return httpx.Response(202 if request.method == "POST" else 200, json={})

    endpoints = [Endpoint("POST /orders", "orders", "POST", 40, (202,)),
                 Endpoint("GET /orders/{id}", "orders", "GET", 20, (200,)),
                 Endpoint("GET /sla", "logistics", "GET", 10, (200,))]
    load = Load({"orders": "http://orders", "logistics": "http://logistics"}, "token", endpoints, seconds=0.5,
                max_connections=8, timeout_s=2.0, read_ids=["B0000001"], transport=httpx.MockTransport(answer))
    started = time.monotonic()
    result = asyncio.run(load.run())
    assert time.monotonic() - started < 5
    figures = result["endpoints"]
    assert figures["POST /orders"]["requests"] == 20 and figures["POST /orders"]["errors"] == 0
    assert figures["GET /orders/{id}"]["requests"] == 10
    assert figures["GET /sla"]["error_rate"] == 1.0 and figures["GET /sla"]["statuses"] == {"503": 5}
    assert sorted(result["accepted_order_ids"]) == [f"H{i:07d}" for i in range(20)]
    assert 1 <= result["most_concurrent_connections"] <= 35
    assert result["unfinished_requests"] == 0


def test_the_mix_offers_reads_in_proportion_to_the_intake() -> None:
    rates = {e.name: e.rate for e in plan(500)}
    assert rates == {"POST /orders": 500, "GET /orders/{id}": 250, "GET /sla": 20, "GET /queue": 20}


def test_requests_still_unanswered_at_the_bound_are_counted_as_errors() -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    load = Load({"orders": "http://orders"}, "token", [Endpoint("GET /orders/{id}", "orders", "GET", 10, (200,))],
                seconds=0.3, max_connections=4, timeout_s=0.2, read_ids=["B0000001"],
                transport=httpx.MockTransport(never))
    started = time.monotonic()
    result = asyncio.run(load.run())
    assert time.monotonic() - started < 10
    reading = result["endpoints"]["GET /orders/{id}"]
    assert reading["requests"] == 3 and reading["errors"] == 3 and reading["error_rate"] == 1.0
