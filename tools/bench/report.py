"""What a run says: the verdict on lost, unqueued, duplicated and oversold orders, the summary
lines, the databases side by side against the broker's own figures, the sizing from the
scaled-out instances' measured cost, and docs/benchmarks.md."""

from __future__ import annotations

import json
import math

from shared.settings import REPO_ROOT

DATABASE_LABELS = {"sqlite": "SQLite (WAL)", "postgres": "PostgreSQL"}
PHASES = ("burst", "steady", "http")


def verdict(section: dict) -> dict:
    """No order lost, duplicated or oversold in any phase of one database's run (issue 8's third
    target)."""
    phases = [section[name]["checks"] for name in PHASES if name in section]
    lost = sum(p["lost"] for p in phases)
    unfinished = sum(p.get("unfinished", 0) for p in phases)
    not_queued = sum(p["not_queued"] for p in phases)
    duplicated = sum(p["duplicated_events"] for p in phases)
    oversold = section["stock"]["oversold_skus"]
    return {"lost": lost, "unfinished": unfinished, "not_queued": not_queued, "duplicated_events": duplicated,
            "oversold_skus": oversold,
            "ok": lost == 0 and unfinished == 0 and not_queued == 0 and duplicated == 0 and not oversold}


def scale_out_verdict(scale: dict) -> dict:
    """The scaled-out burst's checks, plus orders given two shipments by two instances."""
    reading = verdict({"burst": scale, "stock": scale["stock"]})
    reading["doubled_shipments"] = scale["doubled_shipments"]
    reading["ok"] = reading["ok"] and scale["doubled_shipments"] == 0 and scale["completed"]
    return reading


def warehouses_verdict(burst: dict) -> dict:
    """The three-warehouse burst's checks (its rate against one warehouse's is a figure, not a check)."""
    reading = verdict({"burst": burst, "stock": burst["stock"]})
    reading["ok"] = reading["ok"] and burst["completed"]
    return reading


def run_verdict(report: dict) -> dict:
    """Every database's verdict and the scale-out's, summed."""
    readings = [s["verdict"] for s in report["databases"].values()]
    if "scale_out" in report:
        readings.append(report["scale_out"]["verdict"])
    if "warehouses" in report:
        readings.append(warehouses_verdict(report["warehouses"]))
    return {"lost": sum(r["lost"] for r in readings), "unfinished": sum(r.get("unfinished", 0) for r in readings),
            "not_queued": sum(r["not_queued"] for r in readings),
            "duplicated_events": sum(r["duplicated_events"] for r in readings),
            "doubled_shipments": sum(r.get("doubled_shipments", 0) for r in readings),
            "oversold_skus": sorted({sku for r in readings for sku in r["oversold_skus"]}),
            "ok": bool(readings) and all(r["ok"] for r in readings)}


def against_ceiling(section: dict, ceiling: dict) -> dict:
    """The database's figures next to the broker's alone, measured in the same run, as fractions
    that are 1.0 when the services would add nothing to the broker: the burst rate over the
    broker's round-trip rate; the broker's paced round-trip latency over the steady phase's
    paid -> reserved latency; the broker's CPU per message over the platform's CPU per order."""
    out: dict = {}
    rate = section["burst"].get("end_to_end_orders_per_s")
    if rate and ceiling.get("round_trip_msgs_per_s"):
        out["burst_rate"] = round(rate / ceiling["round_trip_msgs_per_s"], 4)
    paced = (ceiling.get("paced") or {}).get("latency_ms") or {}
    steady = (section.get("steady") or {}).get("to_stock_reserved_ms") or {}
    for q in ("p50", "p99"):
        if paced.get(q) and steady.get(q):
            out[f"steady_{q}"] = round(paced[q] / steady[q], 4)
    broker_ms = ceiling.get("cpu_ms_per_msg")
    burst_ms = section["burst"]["cpu"].get("ms_per_order")
    if broker_ms and burst_ms:
        out["burst_cpu_ms_per_order"] = round(broker_ms / burst_ms, 4)
    return out


def summary(section: dict, label: str = "", ceiling_rate: int | None = None) -> str:
    b = section["burst"]
    s = section.get("steady", {})
    p50 = s.get("to_stock_reserved_ms", {}).get("p50")
    p99 = s.get("to_stock_reserved_ms", {}).get("p99")
    if not s:
        steady = "steady skipped; "
    elif s.get("kept_up", True):
        steady = f"steady {s['rate_per_s']}/s p50/p99 paid->reserved {p50}/{p99} ms; "
    else:
        steady = (f"steady {s['rate_per_s']}/s not kept up (handled {s.get('handled_per_s')}/s), "
                  f"p50/p99 paid->reserved {p50}/{p99} ms; ")
    ceiling = ceiling_rate or section.get("ceiling", {}).get("round_trip_msgs_per_s")
    v = section["verdict"]
    return (f"{label + ': ' if label else ''}burst {b['orders']} orders: {b.get('end_to_end_orders_per_s')} orders/s "
            f"end to end ({b.get('all_queued_s')} s), broker ceiling {ceiling} msgs/s; "
            f"{steady}"
            f"lost {v['lost']}, {unfinished(v)}not queued {v['not_queued']}, duplicated {v['duplicated_events']}, "
            f"oversold {len(v['oversold_skus'])}")


def unfinished(v: dict) -> str:
    """Said only when a phase ran out of its time limit with orders still on their way."""
    n = v.get("unfinished", 0)
    return f"unfinished {n} (no outcome within the phase's time limit), " if n else ""


def run_summary(report: dict) -> str:
    """One line per database, the scale-out and the HTTP load; the last line is the verdict."""
    ceiling = report["ceiling"]["round_trip_msgs_per_s"]
    lines = [summary(s, name, ceiling) for name, s in report["databases"].items()]
    if "scale_out" in report:
        so = report["scale_out"]
        lines.append(f"scale-out ({so['instances_per_service']} instances each, {so['partitions']} partitions, "
                     f"{so['database']}): burst {so['orders']} orders: {so.get('end_to_end_orders_per_s')} orders/s "
                     f"end to end ({so.get('all_queued_s')} s); doubled shipments {so['doubled_shipments']}")
    if "warehouses" in report:
        w = report["warehouses"]
        lines.append(f"sqlite, {len(w['warehouses'])} warehouses: burst {w['orders']} orders: "
                     f"{w.get('end_to_end_orders_per_s')} orders/s end to end ({w.get('all_queued_s')} s), "
                     f"x{w['rate_against_one_warehouse']} of one warehouse's {w['one_warehouse_orders_per_s']} "
                     f"(bound x0.8: {'within' if w['within_bound'] else 'outside'})")
    for name, s in report["databases"].items():
        if "http" in s:
            post = s["http"]["intake_target"]
            lines.append(f"{name} http: POST /orders {post['requests_per_s']}/s p99 {post['p99_ms']} ms "
                         f"(target {'met' if post['met'] else 'not met'}), most concurrent connections "
                         f"{s['http']['most_concurrent_connections']}")
    v = report["verdict"]
    lines.append(f"verdict: lost {v['lost']}, {unfinished(v)}not queued {v['not_queued']}, "
                 f"duplicated {v['duplicated_events']}, "
                 f"doubled shipments {v['doubled_shipments']}, oversold {len(v['oversold_skus'])}")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def side_by_side(report: dict) -> list[str]:
    """The databases in columns: burst rate, steady latency, CPU per order by process, and each
    against the broker's own figure of the same run."""
    names = list(report["databases"])
    sections = [report["databases"][n] for n in names]
    rows: list[tuple[str, list]] = [
        ("burst, orders/s end to end", [s["burst"].get("end_to_end_orders_per_s") for s in sections]),
        ("burst, seconds end to end", [s["burst"].get("all_queued_s") for s in sections]),
        ("  as a fraction of the broker's round-trip rate",
         [s["against_ceiling"].get("burst_rate") for s in sections]),
        ("steady p50 paid -> reserved, ms", [s.get("steady", {}).get("to_stock_reserved_ms", {}).get("p50")
                                             for s in sections]),
        ("  broker's own p50 as a fraction of it", [s["against_ceiling"].get("steady_p50") for s in sections]),
        ("steady p99 paid -> reserved, ms", [s.get("steady", {}).get("to_stock_reserved_ms", {}).get("p99")
                                             for s in sections]),
        ("  broker's own p99 as a fraction of it", [s["against_ceiling"].get("steady_p99") for s in sections]),
        ("steady kept up", [s.get("steady", {}).get("kept_up") for s in sections]),
        ("burst CPU ms an order, all processes", [s["burst"]["cpu"]["ms_per_order"] for s in sections]),
        ("  broker's own CPU ms a message as a fraction of it",
         [s["against_ceiling"].get("burst_cpu_ms_per_order") for s in sections]),
    ]
    processes = sorted({p for s in sections for p in s["burst"]["cpu"]["ms_per_order_by_process"]},
                       key=lambda p: (p.startswith("bench"), p))
    for process in processes:
        rows.append((f"  {process}", [s["burst"]["cpu"]["ms_per_order_by_process"].get(process) for s in sections]))
    rows.append(("lost / not queued / duplicated / oversold",
                 [f"{s['verdict']['lost']} / {s['verdict']['not_queued']} / {s['verdict']['duplicated_events']} / "
                  f"{len(s['verdict']['oversold_skus'])}" for s in sections]))
    out = ["| | " + " | ".join(DATABASE_LABELS.get(n, n) for n in names) + " |",
           "|---|" + "---|" * len(names)]
    out += [f"| {label} | " + " | ".join(_cell(v) for v in values) + " |" for label, values in rows]
    return out


def scale_out_table(scale: dict) -> list[str]:
    out = ["| instance | orders handled | share | orders/s over its stage | CPU-s | CPU ms an order it handled |",
           "|---|---|---|---|---|---|"]
    for key, figures in scale["instances"].items():
        out.append(f"| {key} | {figures['handled']} | {_cell(figures['share'])} | {_cell(figures['orders_per_s'])} | "
                   f"{_cell(figures['cpu_s'])} | {_cell(figures['cpu_ms_per_handled_order'])} |")
    return out


def http_table(http: dict) -> list[str]:
    out = ["| endpoint | offered/s | answered/s | requests sent of planned | p50 ms | p99 ms | max ms | error rate | "
           "p99 behind schedule ms |", "|---|---|---|---|---|---|---|---|---|"]
    for name, e in http["endpoints"].items():
        lat = e["latency_ms"]
        out.append(f"| {name} | {_cell(e['offered_per_s'])} | {_cell(e['requests_per_s'])} | "
                   f"{e['requests']} of {e.get('planned', '-')} | "
                   f"{_cell(lat['p50'])} | {_cell(lat['p99'])} | {_cell(lat['max'])} | {_cell(e['error_rate'])} | "
                   f"{_cell(e['behind_schedule_ms_p99'])} |")
    return out


def service_cost(scale: dict) -> dict[str, float]:
    """CPU ms an order each service costs per instance when scaled out (the dearer of its
    instances), and the database server's and the broker's over the whole burst."""
    cost: dict[str, float] = {}
    for key, figures in scale["instances"].items():
        service = key.split(" ", 1)[0]
        if figures["cpu_ms_per_handled_order"] is not None:
            cost[service] = max(cost.get(service, 0.0), figures["cpu_ms_per_handled_order"])
    for shared in ("postgres", "broker"):
        ms = scale["cpu"]["ms_per_order_by_process"].get(shared)
        if ms is not None:
            cost[shared] = ms
    return cost


def sizing(report: dict, peak_rate: int = 1700, headroom: float = 0.6) -> list[str]:
    """docs/operations.md's rule applied to the scaled-out run's measured cost per order."""
    head = ["## Sizing from the latest run", ""]
    scale = report.get("scale_out")
    if not scale or not scale.get("completed"):
        return head + ["No completed scale-out burst in this run; no sizing figure.", ""]
    lines = head + [
        f"From the scaled-out burst ({scale['instances_per_service']} instances of each service on {scale['database']}):",
        f"the CPU each order cost each instance, and the cores that takes at {peak_rate} orders/s (100,000",
        f"orders in about a minute, R24) with every core at most {int(headroom * 100)}% busy:",
        f"`cores = ceil({peak_rate} x ms an order / (1000 x {headroom}))`; one instance per core.", "",
        "| process | CPU ms an order (measured) | cores at the peak |", "|---|---|---|"]
    for process, ms in service_cost(scale).items():
        lines.append(f"| {process} | {ms:g} | {math.ceil(peak_rate * ms / (1000 * headroom))} |")
    lines += ["", "The figures are this machine's cores; re-run `make bench` on the target hardware before sizing.", ""]
    return lines


def write_docs(report: dict) -> None:
    m = report["machine"]
    text = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (`python -m tools.bench --write-docs`); figures below are from the",
        f"run started {report['started_at']}. Re-run to refresh; numbers on another machine will differ.",
        "",
        f"Machine: {m['cpus']} cores ({m['cpu']}; a 5,000,000-step Python loop in {m.get('cpu_reference_s')} s before the run, "
        f"{m.get('cpu_reference_s_after')} s after), "
        f"{m['memory_gib']} GiB, Python {m['python']}, "
        f"Apache Kafka {m['kafka']} single broker (KRaft) on loopback, "
        f"{report['partitions']} partitions per topic, one instance of orders, inventory and logistics "
        f"on each database: {', '.join(DATABASE_LABELS.get(n, n) for n in report['databases'])}"
        f"{' (' + report['postgres'] + ')' if report.get('postgres') else ''}.",
        "",
        "```",
        run_summary(report),
        "```",
        "",
        "## The databases side by side",
        "",
        "Fractions compare with the broker alone in the same run (1.0: the services would add nothing",
        "to it): the burst's rate over the broker's round-trip rate; the broker's own latency at the",
        "steady rate over the services'; the broker's CPU a message over the whole platform's an order.",
        "",
        *side_by_side(report),
        "",
    ]
    if "scale_out" in report:
        so = report["scale_out"]
        text += ["## Scale-out", "",
                 f"The burst of {so['orders']} orders again on {so['database']} with {so['instances_per_service']} "
                 f"instances of each service in one consumer group ({so['partitions']} partitions), each pair on "
                 f"one database; {so.get('end_to_end_orders_per_s')} orders/s end to end ({so.get('all_queued_s')} s). "
                 f"Lost {so['verdict']['lost']}, not queued {so['verdict']['not_queued']}, duplicated "
                 f"{so['verdict']['duplicated_events']}, doubled shipments {so['doubled_shipments']}, oversold "
                 f"{len(so['verdict']['oversold_skus'])}. Each instance's orders are its peak_events_consumed_total "
                 "for its main topic (its /metrics).", "", *scale_out_table(so), ""]
    for name, section in report["databases"].items():
        if "http" in section:
            h = section["http"]
            target = h["intake_target"]
            text += [f"## HTTP load on {DATABASE_LABELS.get(name, name)}", "",
                     f"{h['seconds']} s of open-loop requests over at most {h['max_connections_per_service']} "
                     f"connections per service while a {h['kafka_burst']['orders']}-order Kafka burst went through "
                     f"(published in {h['kafka_burst']['publish_s']} s); the most concurrent connections held: "
                     f"{h['most_concurrent_connections']}. {target['target']}: **{'met' if target['met'] else 'not met'}** "
                     f"({target['requests_per_s']}/s, p99 {target['p99_ms']} ms).", "", *http_table(h), ""]
    text += ["## The run's figures", "", "```json", json.dumps(report, indent=2), "```", "", *sizing(report)]
    path = REPO_ROOT / "docs" / "benchmarks.md"
    # The reading against the targets is written by a person from the runs; a new run keeps it.
    kept = path.read_text().split(READING, 1) if path.exists() else []
    if len(kept) == 2:
        text += [READING + kept[1].rstrip("\n"), ""]
    path.write_text("\n".join(text))


READING = "## Against the targets of issue 8"
