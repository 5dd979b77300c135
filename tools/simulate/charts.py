"""The simulator's PNG charts (matplotlib, imported only when charts are drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.simulate.report import CLASS_LABEL, CLASSES, COLORS

CHARTS = ("orders_by_class.png", "arrivals_dispatch.png", "stock.png", "sla.png", "returns.png", "dead_letters.png")


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


