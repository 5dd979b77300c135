"""The simulator's report as Markdown, and its one-line summary."""

from __future__ import annotations

from typing import Any

from tools.simulate.report import CLASS_LABEL, CLASSES, _pct



# ---------------------------------------------------------------------------------------------
# Markdown


def markdown(f: dict[str, Any]) -> str:
    run, o, s, d, r, dl = f["run"], f["orders"], f["stock"], f["dispatch"], f["returns"], f["dead_letters"]
    t = d["targets"]
    lines = [
        f"# Promotion-day simulation (seed {run['seed']})",
        "",
        f"{run['orders']} orders over a {run['event_hours']:g}-hour event starting {run['start']}, simulated until "
        f"{run['end']} ({run['simulated_hours']} simulated hours in {run.get('wall_s', '?')} s of wall time, "
        f"{run['ticks']} ticks of {run['tick_minutes']:g} min). Staff: {run['actors']['pickers']} pickers x "
        f"{run['actors']['picks_per_hour']} picks/h, {run['actors']['agents']} support agents x "
        f"{run['actors']['cases_per_agent_hour']:g} steps/h. Broker {run['bootstrap']}, topic prefix "
        f"`{run['topic_prefix']}`.",
        "",
        f"**Checks: {'all consistent' if f['checks']['ok'] else 'FAILED'}** - "
        + ", ".join(f"{k.replace('_', ' ')}: {'yes' if v else 'NO'}" for k, v in f["checks"].items() if k != "ok"),
        "",
    ]
    for warning in run["warnings"]:
        lines.append(f"> warning: {warning}")
    lines += [
        "## Orders by class",
        "",
        "![orders by class](orders_by_class.png)",
        "",
        "| class | published (intended) | accepted (orders service) | kept (not cancelled) |",
        "|---|---:|---:|---:|",
    ]
    for k in CLASSES:
        lines.append(f"| {CLASS_LABEL[k]} | {o['published_by_intended_class'][k]} | {o['accepted_by_class'][k]} | "
                     f"{o['by_class'][k]} |")
    lines += [
        f"| **total** | {o['published']} | {o['accepted']} | {o['total']} |",
        "",
        f"Rejected {o['rejected']}, cancellation requests {o['cancel_requests']}, cancelled {o['cancelled']}. "
        f"GMV {o['gmv']} CNY, average basket {o['average_basket']} CNY.",
        "",
        "## Arrivals and dispatch",
        "",
        "![arrivals and dispatch per hour](arrivals_dispatch.png)",
        "",
        "## Stock: reserved, backordered, presale",
        "",
        "![stock outcomes and replenishment](stock.png)",
        "",
        f"- reserved at once: {s['reserved_at_once']}; backordered: {s['backordered']} "
        f"(of which presale {s['backordered_presale']}), filled later from supplier deliveries in priority order: "
        f"{s['filled_later']}, still waiting at the end: {s['still_waiting']}; released on cancellation: "
        f"{s['released_on_cancel']}",
        f"- switched to presale (sku.mode_changed): {s['presale_switches']}"
        + ("" if not s["presale_switched"] else " - " + ", ".join(
            f"{m['sku']} ({m['tier']}, {m['mode']}, at {m['at_h']} h)" for m in s["presale_switched"])),
        f"- back in stock after a delivery: {s['back_in_stock']}",
        f"- replenishment requests: {s['replenishment_requests']} ({s['replenishment_urgent']} urgent, "
        f"{s['replenishment_units']} units); supplier deliveries: {s['supplier_deliveries']} ({s['supplier_units']} units)",
        f"- oversold skus: {len(s['oversold_skus'])}",
        "",
        "| sku | tier | planned | on hand | reserved | available | mode | waiting orders |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for k in s["skus"]:
        lines.append(f"| {k['sku']} | {k['tier']} | {k['planned']} | {k['on_hand']} | {k['reserved']} | "
                     f"{k['available']} | {k['mode']} | {k['waiting_orders']} |")
    lines += [
        "",
        f"## Shipped within 24h and 48h (targets {t['within_24h_pct']}% / {t['within_48h_pct']}%)",
        "",
        "![SLA by class](sla.png)",
        "",
        "| | orders | backordered at payment | shipped | within 24h | within 48h | 24h target | 48h target |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, g in [("overall", d["overall"]), *d["by_class"].items()]:
        lines.append(f"| {CLASS_LABEL.get(name, name)} | {g['orders_paid']} | {d['backordered_at_first'].get(name, 0)} | "
                     f"{g['shipped']} | "
                     f"{g['shipped_within_24h']} ({_pct(g['within_24h_pct'])}) | "
                     f"{g['shipped_within_48h']} ({_pct(g['within_48h_pct'])}) | "
                     f"{'met' if g['meets_24h_target'] else 'missed'} | {'met' if g['meets_48h_target'] else 'missed'} |")
    if len(d.get("by_warehouse", {})) > 1:  # several warehouses: each one's parts by their own hand-over
        parts = sum(g["orders_paid"] for g in d["by_warehouse"].values())
        lines += ["", f"Per warehouse, each part by its own hand-over: {parts} parts for the "
                      f"{d['overall']['orders_paid']} orders above (an order split over two warehouses is two parts; "
                      "the table above counts it once, at its last part).",
                  "", "| warehouse | parts | shipped | within 24h | within 48h | 24h target | 48h target |",
                  "|---|---:|---:|---:|---:|---|---|"]
        for name, g in sorted(d["by_warehouse"].items()):
            lines.append(f"| {name} | {g['orders_paid']} | {g['shipped']} | "
                         f"{g['shipped_within_24h']} ({_pct(g['within_24h_pct'])}) | "
                         f"{g['shipped_within_48h']} ({_pct(g['within_48h_pct'])}) | "
                         f"{'met' if g['meets_24h_target'] else 'missed'} | "
                         f"{'met' if g['meets_48h_target'] else 'missed'} |")
    fc = f.get("forecast")
    if fc:
        lines += ["", f"Forecast before the first order (logistics GET /forecast from the plan, {fc['pickers']} pickers x "
                      f"{fc['picks_per_hour']}/h): within 24h {_pct(fc['share_24h'])}, within 48h {_pct(fc['share_48h'])}; "
                      f"pickers needed from the first hour: {fc['pickers_needed_80_24h']} for 80%/24h, "
                      f"{fc['pickers_needed_95_48h']} for 95%/48h; at most {fc.get('most_waiting_for_stock', 0)} "
                      f"orders waiting for stock at once (the plan's estimate); carrier risks seen: {len(fc['risks'])}."]
    rep = d["report"]
    speed, delivery = rep.get("dispatch_speed", {}), rep.get("delivery_time", {})
    lines += [
        "",
        "An order backordered at payment can ship only after a supplier's delivery (lead times "
        f"{', '.join(f'{t} {h:g} h' for t, h in run['actors']['lead_time_h'].items())}); the second column "
        "counts, per class, the kept orders that waited for stock that way.",
        "",
        f"Waves {d['waves']}, handed over by staff {d['shipped_by_staff']}, carrier deliveries {d['carrier_deliveries']}; "
        f"exceptions reported: delayed {d['exceptions']['delayed']}, damaged {d['exceptions']['damaged']}. "
        f"Dispatch speed (payment to hand-over) median {speed.get('median_h')} h, p90 {speed.get('p90_h')} h; "
        f"delivery time median {delivery.get('median_h')} h; damage rate {_pct(rep.get('damaged_rate_pct'))} "
        "(logistics GET /reports).",
        "",
        "## Returns handled within 48h",
        "",
        "![returns](returns.png)",
        "",
        f"Return and exchange requests {r['returns_requested']} (returns {r['by_kind']['return']}, exchanges "
        f"{r['by_kind']['exchange']}); cases in aftersales {r['cases']} (shipment-exception cases included), "
        f"handled {r['handled']}, within 48h {r['handled_within_48h']} "
        f"({_pct(None if r['share_handled_within_48h'] is None else r['share_handled_within_48h'] * 100)}), "
        f"overdue and unhandled {r['overdue_unhandled']}. Refunds {r['refunds']} for {r['refunded_amount']} CNY.",
        "",
        "| kind | " + " | ".join(sorted({st for v in r["cases_by_kind"].values() for st in v})) + " |",
        "|---|" + "---:|" * len({st for v in r["cases_by_kind"].values() for st in v}),
    ]
    statuses = sorted({st for v in r["cases_by_kind"].values() for st in v})
    for kind, counts in r["cases_by_kind"].items():
        lines.append(f"| {kind} | " + " | ".join(str(counts.get(st, 0)) for st in statuses) + " |")
    lines += [
        "",
        "## Dead letters",
        "",
        "![dead letters](dead_letters.png)",
        "",
        f"{dl['total']} dead letters" + (": " + ", ".join(f"{k} {v}" for k, v in dl["by_topic"].items()) if dl["total"] else "."),
    ]
    for reason, n in dl["reasons"].items():
        lines.append(f"- {n} x {reason}")
    if f["refusals"]:
        lines += ["", "## Refused steps (the services said no, with a reason)", ""]
        lines += [f"- {n} x {reason}" for reason, n in f["refusals"].items()]
    lines.append("")
    return "\n".join(lines)


def summary(f: dict[str, Any]) -> str:
    o, d, r = f["orders"], f["dispatch"]["overall"], f["returns"]
    return (f"{o['total']} orders ({', '.join(f'{CLASS_LABEL[k]} {v}' for k, v in o['by_class'].items())}); "
            f"shipped within 24h {_pct(d['within_24h_pct'])}, within 48h {_pct(d['within_48h_pct'])}; "
            f"backordered {f['stock']['backordered']}, presale switches {f['stock']['presale_switches']}, "
            f"replenishment requests {f['stock']['replenishment_requests']}; cases {r['cases']}, handled within 48h "
            f"{_pct(None if r['share_handled_within_48h'] is None else r['share_handled_within_48h'] * 100)}; "
            f"dead letters {f['dead_letters']['total']}; checks {'ok' if f['checks']['ok'] else 'FAILED'}")


