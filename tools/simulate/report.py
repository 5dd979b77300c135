"""The simulator's report: figures read from the services' own endpoints and from the topics,
checks that they agree with each other; `write` saves them as JSON, Markdown (markdown.py) and
PNG charts (charts.py)."""

from __future__ import annotations

import json
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.simulate.engine import Simulation

CLASSES = ("presale", "high_value", "standard")
CLASS_LABEL = {"presale": "presale", "high_value": "high-value", "standard": "standard", "overall": "overall"}
COLORS = {"presale": "#7b3fa0", "high_value": "#d1832b", "standard": "#3a7ebf", "overall": "#444444"}



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
            # each warehouse's parts, each counted at its own hand-over (issue 34; one entry, or
            # none from a logistics before warehouses, when the run has one)
            "by_warehouse": sla.get("by_warehouse", {}),
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
    figures["forecast"] = forecast_figures(sim.forecast)
    figures["checks"] = checks(figures)
    return figures


def forecast_figures(forecast: dict[str, Any] | None) -> dict[str, Any] | None:
    """Logistics' forecast from the plan before the first order (GET /forecast): the shares it
    projected for all the plan's orders (its last hour's, which counts every arrival), the pickers
    it said were needed from the first hour, and the carrier days it saw booked short."""
    if not forecast:
        return None
    hours = forecast["hours"]
    last = lambda key: next((h[key] for h in reversed(hours) if h[key] is not None), None)  # noqa: E731
    first = hours[0] if hours else {}
    return {"plan": forecast["plan"], "pickers": forecast["pickers"], "picks_per_hour": forecast["picks_per_hour"],
            "share_24h": last("share_24h"), "share_48h": last("share_48h"),
            "pickers_needed_80_24h": first.get("pickers_needed_80_24h"),
            "pickers_needed_95_48h": first.get("pickers_needed_95_48h"),
            "carrier_parcels_needed": sum(n["parcels"] for n in forecast["carrier_capacity_needed"]),
            "most_waiting_for_stock": max((h.get("waiting_for_stock", 0) for h in hours), default=0),
            "risks": [r["words"] for r in forecast["risks"]][:20]}


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


def write(f: dict[str, Any], out: Path) -> str:
    from tools.simulate.charts import charts
    from tools.simulate.markdown import markdown, summary

    out.mkdir(parents=True, exist_ok=True)
    f["charts"] = [p.name for p in charts(f, out)]
    (out / "report.json").write_text(json.dumps(f, indent=2, default=str))
    (out / "report.md").write_text(markdown(f))
    return summary(f)
