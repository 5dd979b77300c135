"""The simulator's report: figures read from the services' own endpoints and from the topics,
checks that they agree with each other, a Markdown page, a JSON file and PNG charts."""

from __future__ import annotations

import json
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.simulate import Simulation

CLASSES = ("presale", "high_value", "standard")
CLASS_LABEL = {"presale": "presale", "high_value": "high-value", "standard": "standard", "overall": "overall"}
COLORS = {"presale": "#7b3fa0", "high_value": "#d1832b", "standard": "#3a7ebf", "overall": "#444444"}
CHARTS = ("orders_by_class.png", "arrivals_dispatch.png", "stock.png", "sla.png", "returns.png", "dead_letters.png")


# ---------------------------------------------------------------------------------------------
# Figures


def quiet(sim: "Simulation", quiet_s: float = 1.5, limit_s: float = 60.0) -> None:
    """Wait until no new event has shown up on the topics for `quiet_s` (bounded)."""
    deadline = time.monotonic() + limit_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        with sim.watcher.lock:
            seen = sum(sim.watcher.types.values()) + sum(sim.watcher.dead_letters.values())
        if seen != last:
            last, since = seen, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.2)


def collect(sim: "Simulation") -> dict[str, Any]:
    sim.producer.flush(60)
    quiet(sim)
    get = lambda service, path, **params: sim.call(service, "GET", path, params=params).json()  # noqa: E731
    stats = get("orders-admin", "/stats")
    sla = get("logistics", "/sla", at_risk_limit=0, horizon_h=4)
    reports = get("logistics", "/reports")
    case_sla = get("aftersales", "/cases/sla")
    cases = get("aftersales", "/cases", include_closed="true")["cases"]
    stock = get("inventory", "/stock")["skus"]
    w = sim.watcher
    with w.lock:
        accepted = dict(w.accepted)
        rejected = dict(w.rejected)
        first = dict(w.first_outcome)
        reserved, backordered = set(w.reserved), set(w.backordered)
        presale_backorders, released, cancelled = set(w.presale_backorders), set(w.released), set(w.cancelled)
        replenishments = list(w.replenishments)
        mode_changes = list(w.mode_changes)
        refunds = list(w.refunds)
        dead = dict(w.dead_letters)
        dead_reasons = dict(w.dead_letter_reasons.most_common(10))
        types = dict(w.types)
    tier_of = sim.tier_of
    filled_later = {o for o in backordered if o in reserved}
    still_waiting = {o for o in backordered if o not in reserved and o not in cancelled}
    switched = [m for m in mode_changes if m["mode"] in ("presale", "deposit_presale")]
    oversold = [s["sku"] for s in stock if s["reserved"] > s["on_hand"] or s["available"] < 0 or s["on_hand"] < 0]
    by_kind: dict[str, Counter[str]] = {}
    for case in cases:
        by_kind.setdefault(case["kind"], Counter())[case["status"]] += 1
    handled_late = sum(1 for c in cases if c["handled_at"] and c["deadline_at"] and c["handled_at"] > c["deadline_at"])

    figures: dict[str, Any] = {
        "run": {
            "seed": sim.scenario.seed, "orders": sim.scenario.orders, "event_hours": sim.scenario.event_hours,
            "start": sim.start_at.isoformat(), "end": sim.now.isoformat(),
            "simulated_hours": round(sim.hours(sim.now), 1), "ticks": sim.counts["ticks"],
            "tick_minutes": sim.actors.tick_minutes, "topic_prefix": sim.prefix, "bootstrap": sim.bootstrap,
            "warnings": sim.warnings, "settle_timeouts": sim.counts["settle_timeouts"],
            "wall_s_by_phase": {k: round(v, 1) for k, v in sim.timing.most_common()},
            "actors": {"pickers": sim.actors.pickers, "picks_per_hour": sim.actors.picks_per_hour,
                       "wave_size": sim.actors.wave_size, "agents": sim.actors.agents,
                       "cases_per_agent_hour": sim.actors.cases_per_agent_hour,
                       "lead_time_h": sim.actors.lead_time_h, "delivery_h": list(sim.actors.delivery_h),
                       "delay_rate": sim.actors.delay_rate, "damage_rate": sim.actors.damage_rate,
                       "return_rate": sim.actors.return_rate},
        },
        "orders": {
            "published": sim.counts["published"],
            "published_by_intended_class": {k: sim.published_by_class.get(k, 0) for k in CLASSES},
            "accepted": len(accepted), "rejected": len(rejected),
            "accepted_by_class": {k: sum(1 for v in accepted.values() if v == k) for k in CLASSES},
            "cancel_requests": sim.counts["cancel_requests"], "cancelled": stats["cancelled"],
            "total": stats["orders"],
            "by_class": {k: stats["by_class"].get(k, {"orders": 0})["orders"] for k in CLASSES},
            "gmv": stats["gmv"], "average_basket": stats["average_basket"],
            "by_state": {k: v["orders"] for k, v in stats["by_state"].items()},
        },
        "stock": {
            "reserved_at_once": sum(1 for v in first.values() if v == "reserved"),
            "backordered": len(backordered), "backordered_presale": len(presale_backorders & backordered),
            "filled_later": len(filled_later), "still_waiting": len(still_waiting),
            "released_on_cancel": len(released),
            "presale_switches": len(switched),
            "presale_switched": [{"sku": m["sku"], "tier": tier_of.get(m["sku"], "?"), "mode": m["mode"],
                                  "at_h": round(sim.hours(_dt(m["changed_at"])), 1)} for m in switched],
            "back_in_stock": sum(1 for m in mode_changes if m["mode"] == "in_stock"),
            "replenishment_requests": len(replenishments),
            "replenishment_urgent": sum(1 for r in replenishments if r["urgent"]),
            "replenishment_by_tier": {t: {"normal": sum(1 for r in replenishments if tier_of.get(r["sku"]) == t and not r["urgent"]),
                                          "urgent": sum(1 for r in replenishments if tier_of.get(r["sku"]) == t and r["urgent"])}
                                      for t in ("traffic_driver", "profit", "hot")},
            "replenishment_units": sum(r["quantity"] for r in replenishments),
            "supplier_deliveries": sim.counts["supplier_deliveries"], "supplier_units": sim.counts["supplier_units"],
            "oversold_skus": oversold,
            "skus": [{"sku": s["sku"], "tier": tier_of.get(s["sku"], s["tier"]), "planned": s["planned_stock"],
                      "on_hand": s["on_hand"], "reserved": s["reserved"], "available": s["available"],
                      "mode": s["mode"], "waiting_orders": s["waiting_orders"]} for s in stock],
        },
        "dispatch": {
            "targets": sla["targets"], "overall": sla["overall"], "by_class": sla["by_class"],
            # A backordered order waits for a supplier's delivery (lead times of a day or more)
            # whatever the dispatch order: the first thing to look at when a class misses.
            "backordered_at_first": _backordered_at_first(first, accepted, cancelled),
            "hourly": sla["hourly"], "backlog": sim.series,
            "waves": sim.counts["waves"], "shipped_by_staff": sim.counts["shipped"],
            "carrier_deliveries": sim.counts["carrier_deliveries"],
            "exceptions": {"delayed": sim.counts["exceptions_delayed"], "damaged": sim.counts["exceptions_damaged"]},
            "report": reports.get("overall", {}),
        },
        "returns": {
            "returns_requested": sim.counts["cases_opened_by_customers"],
            "by_kind": {k: sim.counts[f"requested_{k}"] for k in ("return", "exchange")},
            "cases": case_sla["cases"], "handled": case_sla["handled"],
            "handled_within_48h": case_sla["handled_within_48h"], "handled_late": handled_late,
            "overdue_unhandled": case_sla["overdue_unhandled"],
            "share_handled_within_48h": _float(case_sla["share_handled_within_48h"]),
            "cases_by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
            "refunds": len(refunds), "refunded_amount": f"{sum(refunds, Decimal('0.00')):.2f}",
            "agent_steps": {k[5:]: v for k, v in sim.counts.items() if k.startswith("case_")},
        },
        "dead_letters": {"total": sum(dead.values()), "by_topic": dead, "reasons": dead_reasons},
        "refusals": dict(sim.refusals.most_common(20)),
        "event_counts": types,
    }
    figures["checks"] = checks(figures)
    return figures


def _backordered_at_first(first: dict[str, str], accepted: dict[str, str], cancelled: set[str]) -> dict[str, int]:
    """Kept orders whose first stock outcome was a backorder: overall and per priority class."""
    kept_backorders = [accepted.get(o) for o, outcome in first.items() if outcome == "backordered" and o not in cancelled]
    return {"overall": len(kept_backorders), **{k: kept_backorders.count(k) for k in CLASSES}}


def checks(f: dict[str, Any]) -> dict[str, Any]:
    """The report's figures must agree with each other; `ok` says whether all of them do."""
    o, d, s, r = f["orders"], f["dispatch"], f["stock"], f["returns"]
    found: dict[str, bool] = {
        "orders_by_class_sum_to_total": sum(o["by_class"].values()) == o["total"],
        "every_order_accepted_or_rejected": o["accepted"] + o["rejected"] == o["published"],
        "accepted_orders_all_kept": o["total"] + o["cancelled"] == o["accepted"],
        "every_accepted_order_has_a_stock_outcome": s["reserved_at_once"] + s["backordered"] >= o["accepted"] - o["cancelled"],
        "no_sku_oversold": not s["oversold_skus"],
        "within_24h_le_48h_le_shipped": all(
            g["shipped_within_24h"] <= g["shipped_within_48h"] <= g["shipped"] <= g["orders_paid"]
            for g in [d["overall"], *d["by_class"].values()]),
        "kept_orders_are_the_orders_logistics_counts": d["overall"]["orders_paid"] == o["total"],
        "classes_sum_to_overall_sla": sum(g["orders_paid"] for g in d["by_class"].values()) == d["overall"]["orders_paid"],
        "cases_handled_within_48h_le_handled": r["handled_within_48h"] <= r["handled"] <= r["cases"],
        "no_dead_letters": f["dead_letters"]["total"] == 0,
    }
    return {"ok": all(found.values()), **found}


def _dt(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.1f}%"


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


# ---------------------------------------------------------------------------------------------
# Charts


def charts(f: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    plt.rcParams.update({"figure.dpi": 110, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.titleweight": "bold", "font.size": 10})
    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        path = out / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)

    def label_bars(ax, bars, fmt="{:.0f}") -> None:
        for bar in bars:
            h = bar.get_height()
            ax.annotate(fmt.format(h), (bar.get_x() + bar.get_width() / 2, h), ha="center", va="bottom",
                        fontsize=9, xytext=(0, 2), textcoords="offset points")

    o = f["orders"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bars = ax.bar([CLASS_LABEL[k] for k in CLASSES], [o["by_class"][k] for k in CLASSES],
                  color=[COLORS[k] for k in CLASSES])
    label_bars(ax, bars)
    ax.set_title(f"Orders by priority class ({o['total']} kept, {o['cancelled']} cancelled, {o['rejected']} rejected)")
    ax.set_ylabel("orders")
    ax.margins(y=0.15)
    save(fig, "orders_by_class.png")

    d = f["dispatch"]
    hourly = d["hourly"]
    start_h = 0
    xs = list(range(start_h, start_h + len(hourly)))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, height_ratios=[3, 2])
    active = [x for x, b in zip(xs, hourly) if b["paid"] or b["dispatched"]]
    last_h = (max(active) if active else len(xs)) + 3
    top.bar(xs, [b["paid"] for b in hourly], width=1.0, color="#9cc3e6", label="orders paid")
    top.plot(xs, [b["dispatched"] for b in hourly], color="#d1832b", lw=1.4, label="handed over to carriers")
    top.set_ylabel("orders per hour")
    top.set_title("Arrivals (the midnight spike) and dispatch, per simulated hour")
    handles, labels = top.get_legend_handles_labels()
    if d["backlog"]:
        twin = top.twinx()
        twin.plot([p["h"] for p in d["backlog"]], [p["waiting_to_ship"] for p in d["backlog"]], color="#555555",
                  lw=1.1, ls="--", label="reserved, waiting to ship (right axis)")
        twin.plot([p["h"] for p in d["backlog"]], [p["waiting_for_stock"] for p in d["backlog"]], color="#7b3fa0",
                  lw=1.1, ls=":", label="backordered, waiting for stock (right axis)")
        twin.set_ylabel("orders waiting")
        twin.set_ylim(bottom=0)
        twin.spines["right"].set_visible(True)
        more_h, more_l = twin.get_legend_handles_labels()
        handles, labels = handles + more_h, labels + more_l
    top.legend(handles, labels, loc="upper right", frameon=False)
    top.set_xlim(-1, last_h)
    share = [(b["paid_shipped_within_24h"] / b["paid"] * 100) if b["paid"] else None for b in hourly]
    bottom.plot([x for x, v in zip(xs, share) if v is not None], [v for v in share if v is not None],
                marker=".", lw=1, color=COLORS["overall"], label="paid in this hour: shipped within 24h")
    bottom.axhline(d["targets"]["within_24h_pct"], color="#c0392b", ls="--", lw=1,
                   label=f"target {d['targets']['within_24h_pct']}%")
    bottom.set_ylim(0, 105)
    bottom.set_ylabel("% within 24h")
    bottom.set_xlabel("hours since the event started")
    bottom.legend(loc="lower right", frameon=False)
    save(fig, "arrivals_dispatch.png")

    s = f["stock"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4), width_ratios=[3, 2])
    names = ["reserved\nat once", "back-\nordered", "for presale\nstock", "filled\nlater", "still\nwaiting",
             "released\n(cancelled)"]
    values = [s["reserved_at_once"], s["backordered"], s["backordered_presale"], s["filled_later"],
              s["still_waiting"], s["released_on_cancel"]]
    bars = left.bar(names, values, color=["#4c9a5b", "#d1832b", "#7b3fa0", "#3a7ebf", "#c0392b", "#999999"])
    label_bars(left, bars)
    left.set_title("Reservation outcomes per order")
    left.set_ylabel("orders")
    left.margins(y=0.15)
    tiers = ["traffic_driver", "profit", "hot"]
    tier_names = ["traffic\ndrivers", "profit\nitems", "hot\nitems"]
    normal = [s["replenishment_by_tier"][t]["normal"] for t in tiers]
    urgent = [s["replenishment_by_tier"][t]["urgent"] for t in tiers]
    switched = [sum(1 for m in s["presale_switched"] if m["tier"] == t) for t in tiers]
    width = 0.27
    pos = range(len(tiers))
    b1 = right.bar([p - width for p in pos], normal, width, color="#3a7ebf", label="replenishment (below 20%)")
    b2 = right.bar(list(pos), urgent, width, color="#c0392b", label="urgent replenishment (sold out)")
    b3 = right.bar([p + width for p in pos], switched, width, color="#7b3fa0", label="switched to presale")
    for group in (b1, b2, b3):
        label_bars(right, group)
    right.set_xticks(list(pos), tier_names)
    right.set_title("Per tier: replenishment, presale")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_ylabel("events")
    right.legend(frameon=False, fontsize=8, loc="upper left")
    right.margins(y=0.35)
    save(fig, "stock.png")

    groups = ["overall", *CLASSES]
    data = [d["overall"], *[d["by_class"][k] for k in CLASSES]]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.38
    pos = list(range(len(groups)))
    v24 = [g["within_24h_pct"] or 0 for g in data]
    v48 = [g["within_48h_pct"] or 0 for g in data]
    b24 = ax.bar([p - width / 2 for p in pos], v24, width, color="#3a7ebf", label="shipped within 24h")
    b48 = ax.bar([p + width / 2 for p in pos], v48, width, color="#9cc3e6", label="shipped within 48h")
    label_bars(ax, b24, "{:.1f}%")
    label_bars(ax, b48, "{:.1f}%")
    ax.axhline(d["targets"]["within_24h_pct"], color="#c0392b", ls="--", lw=1.2,
               label=f"24h target {d['targets']['within_24h_pct']}%")
    ax.axhline(d["targets"]["within_48h_pct"], color="#7b1f1f", ls=":", lw=1.4,
               label=f"48h target {d['targets']['within_48h_pct']}%")
    ax.set_xticks(pos, [f"{CLASS_LABEL[g]}\n({x['orders_paid']} orders)" for g, x in zip(groups, data)])
    ax.set_ylim(0, 118)
    ax.set_ylabel("% of orders paid")
    ax.set_title("Shipped within 24h and 48h of payment (logistics GET /sla)")
    ax.legend(frameon=False, fontsize=8, loc="upper center", ncol=4)
    save(fig, "sla.png")

    r = f["returns"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), width_ratios=[3, 2])
    kinds = list(r["cases_by_kind"]) or ["return"]
    statuses = sorted({st for v in r["cases_by_kind"].values() for st in v}) or ["none"]
    bottom_vals = [0] * len(kinds)
    palette = ["#4c9a5b", "#3a7ebf", "#d1832b", "#7b3fa0", "#c0392b", "#999999", "#2c3e50", "#e6b0aa"]
    shown = {"rejected": "rejected / closed", "approved": "approved (open)", "requested": "requested (open)"}
    for i, status in enumerate(statuses):
        vals = [r["cases_by_kind"].get(k, {}).get(status, 0) for k in kinds]
        left.bar([k.replace("_", " ") for k in kinds], vals, bottom=bottom_vals, color=palette[i % len(palette)],
                 label=shown.get(status, status), width=0.6)
        bottom_vals = [a + b for a, b in zip(bottom_vals, vals)]
    left.set_title("Aftersales cases by kind and final status")
    left.set_ylabel("cases")
    left.margins(y=0.1)
    left.legend(frameon=False, fontsize=8)
    share = (r["share_handled_within_48h"] or 0) * 100
    bars = right.bar(["handled\nwithin 48h"], [share], color="#4c9a5b", width=0.4)
    right.set_xlim(-0.8, 0.8)
    label_bars(right, bars, "{:.1f}%")
    right.axhline(100, color="#c0392b", ls="--", lw=1, label="green channel: every case in 48h")
    right.set_ylim(0, 115)
    right.set_title(f"Green channel ({r['handled_within_48h']} of {r['handled'] + r['overdue_unhandled']} judged)")
    right.legend(frameon=False, fontsize=8, loc="lower center")
    save(fig, "returns.png")

    dl = f["dead_letters"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if dl["total"]:
        bars = ax.barh(list(dl["by_topic"]), list(dl["by_topic"].values()), color="#c0392b")
        ax.set_xlabel("messages")
    else:
        ax.text(0.5, 0.5, "no dead letters on any <topic>.dlq", ha="center", va="center", fontsize=13,
                color="#4c9a5b", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(f"Dead letters: {dl['total']}")
    save(fig, "dead_letters.png")
    return written


def write(f: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    f["charts"] = [p.name for p in charts(f, out)]
    (out / "report.json").write_text(json.dumps(f, indent=2, default=str))
    (out / "report.md").write_text(markdown(f))
    return summary(f)
