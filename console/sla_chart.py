"""The SLA chart (R14), drawn server-side as inline SVG from logistics' GET /sla: no chart library.

Per hour of the event: bars for orders paid and shipments dispatched, and a line for the share
of the orders paid so far that shipped within 24 hours, against the target line (80% by default).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 48, 16, 40


def _f(value: float) -> str:
    return f"{value:.1f}"


def cumulative_share(hourly: list[dict[str, Any]]) -> list[float | None]:
    paid = within = 0
    shares: list[float | None] = []
    for bucket in hourly:
        paid += bucket["paid"]
        within += bucket["paid_shipped_within_24h"]
        shares.append(round(100 * within / paid, 1) if paid else None)
    return shares


def sla_chart(sla: dict[str, Any]) -> Markup:
    hourly: list[dict[str, Any]] = sla.get("hourly") or []
    target = float(sla.get("targets", {}).get("within_24h_pct", 80))
    if not hourly:
        return Markup('<p class="muted">No orders paid in the chart window yet.</p>')
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_count = max(max(b["paid"], b["dispatched"]) for b in hourly) or 1
    slot = plot_w / len(hourly)
    bar_w = max(min(slot * 0.4, 18), 1)

    def y_count(n: float) -> float:
        return TOP + plot_h - plot_h * n / top_count

    def y_pct(p: float) -> float:
        return TOP + plot_h - plot_h * p / 100

    out = [f'<svg id="sla-chart" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="Orders paid and dispatched per hour, and share shipped within 24 hours" '
           f'data-hours="{len(hourly)}" data-paid-total="{sum(b["paid"] for b in hourly)}" '
           f'data-dispatched-total="{sum(b["dispatched"] for b in hourly)}">']
    # grid and axes
    for p in (0, 25, 50, 75, 100):
        y = y_pct(p)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(y)}" y2="{_f(y)}"/>')
        out.append(f'<text class="axis" x="{WIDTH - RIGHT + 6}" y="{_f(y + 4)}">{p}%</text>')
    for n in sorted({0, top_count // 2, top_count}):
        out.append(f'<text class="axis" text-anchor="end" x="{LEFT - 6}" y="{_f(y_count(n) + 4)}">{n}</text>')
    # bars
    label_every = max(1, round(len(hourly) / 12))
    for i, bucket in enumerate(hourly):
        x0 = LEFT + i * slot + (slot - 2 * bar_w) / 2
        hour = datetime.fromisoformat(bucket["hour"])
        when = hour.strftime("%d %b %H:00")
        for klass, key, x in (("bar-paid", "paid", x0), ("bar-dispatched", "dispatched", x0 + bar_w)):
            n = bucket[key]
            y = y_count(n)
            out.append(f'<rect class="{klass}" x="{_f(x)}" y="{_f(y)}" width="{_f(bar_w)}" '
                       f'height="{_f(TOP + plot_h - y)}" data-{key}="{n}" data-hour="{escape(bucket["hour"])}">'
                       f'<title>{escape(when)} UTC: {n} {key}</title></rect>')
        if i % label_every == 0:
            out.append(f'<text class="axis" text-anchor="middle" x="{_f(LEFT + (i + 0.5) * slot)}" '
                       f'y="{HEIGHT - BOTTOM + 16}">{escape(hour.strftime("%H:00"))}</text>')
    first = datetime.fromisoformat(hourly[0]["hour"]).strftime("%d %b")
    out.append(f'<text class="axis" x="{LEFT}" y="{HEIGHT - 6}">hours (UTC) from {escape(first)}</text>')
    # target line
    ty = y_pct(target)
    out.append(f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(ty)}" y2="{_f(ty)}"/>')
    out.append(f'<text class="target-label" x="{LEFT + 4}" y="{_f(ty - 4)}">target {target:g}% within 24 h</text>')
    # share line
    points = [(LEFT + (i + 0.5) * slot, y_pct(s)) for i, s in enumerate(cumulative_share(hourly)) if s is not None]
    if points:
        out.append('<polyline class="share" points="' + " ".join(f"{_f(x)},{_f(y)}" for x, y in points) + '"/>')
        for x, y in points:
            out.append(f'<circle class="share-dot" cx="{_f(x)}" cy="{_f(y)}" r="2.5"/>')
    out.append("</svg>")
    return Markup("".join(out))


def gauge(value: float | None, target: float, label: str, key: str) -> Markup:
    """One horizontal bar: the share achieved, with the target marked."""
    w, h = 320, 22
    achieved = "no orders yet" if value is None else f"{value:g}%"
    ok = value is not None and value >= target
    fill = 0 if value is None else w * min(max(value, 0), 100) / 100
    tx = w * target / 100
    return Markup(
        f'<div class="gauge" data-key="{key}" data-value="{"" if value is None else value}" data-target="{target:g}">'
        f'<span class="gauge-label">{escape(label)}</span>'
        f'<svg viewBox="0 0 {w} {h}" class="gauge-bar" role="img" aria-label="{escape(label)}: {achieved}, '
        f'target {target:g}%"><rect class="gauge-bg" x="0" y="0" width="{w}" height="{h}"/>'
        f'<rect class="{"gauge-ok" if ok else "gauge-low"}" x="0" y="0" width="{_f(fill)}" height="{h}"/>'
        f'<line class="gauge-target" x1="{_f(tx)}" x2="{_f(tx)}" y1="0" y2="{h}"/></svg>'
        f'<span class="gauge-value">{achieved}</span> <span class="muted">target {target:g}%</span></div>')
