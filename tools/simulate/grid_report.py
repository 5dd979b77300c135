"""The what-if grid's report: `grid.html` in the grid's folder, the runs side by side in the
warehouse's local time, with ECharts charts. The ECharts file vendored for the console
(console/static/vendor/echarts) is copied next to the page and the page's script is a file of its
own (grid_report.js), so the report opens from disk with no network and no inline script."""

from __future__ import annotations

import html
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.settings import REPO_ROOT
from tools.simulate.recommend import CLASSES, label

ECHARTS = REPO_ROOT / "console" / "static" / "vendor" / "echarts" / "echarts.min.js"
SCRIPT = Path(__file__).with_name("grid_report.js")
GROUPS = ("overall", *CLASSES)


def chart_data(summary: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the charts draw, with every time already in the warehouse's local time."""
    tz = ZoneInfo(summary["time_zone"])
    done = [r for r in runs if r["figures"]]
    names = [r["name"] for r in done]
    shares = {window: {g: [_share(r["figures"], g, window) for r in done] for g in GROUPS}
              for window in ("within_24h_pct", "within_48h_pct")}
    backlog_points: dict[str, str] = {}
    hourly_points: dict[str, str] = {}
    backlog, hourly = [], []
    for r in done:
        start = datetime.fromisoformat(r["figures"]["run"]["start"])
        points = []
        for p in r["figures"]["dispatch"]["backlog"]:
            moment = start + timedelta(hours=p["h"])
            key = backlog_points.setdefault(moment.isoformat(), _local(moment, tz))
            points.append([key, p["waiting_to_ship"] + p["waiting_for_stock"]])
        backlog.append({"name": r["name"], "data": points})
        points = []
        for b in r["figures"]["dispatch"]["hourly"]:
            if b["paid"]:
                moment = datetime.fromisoformat(b["hour"])
                key = hourly_points.setdefault(moment.isoformat(), _local(moment, tz))
                points.append([key, round(b["paid_shipped_within_24h"] / b["paid"] * 100, 1)])
        hourly.append({"name": r["name"], "data": points})
    targets = done[0]["figures"]["dispatch"]["targets"] if done else {"within_24h_pct": 80, "within_48h_pct": 95}
    return {"runs": names, "groups": list(GROUPS), "shares": shares, "targets": targets,
            "backlog_axis": [backlog_points[k] for k in sorted(backlog_points)], "backlog": backlog,
            "hourly_axis": [hourly_points[k] for k in sorted(hourly_points)], "hourly": hourly,
            "time_zone": summary["time_zone"]}


def write_report(summary: dict[str, Any], runs: list[dict[str, Any]], out: Path) -> Path:
    shutil.copyfile(ECHARTS, out / "echarts.min.js")
    shutil.copyfile(SCRIPT, out / "grid_report.js")
    data = json.dumps(chart_data(summary, runs)).replace("</", "<\\/")
    advice = summary["recommendation"]
    tz = summary["time_zone"]
    first = next((r["figures"] for r in runs if r["figures"]), None)
    period = ""
    if first:
        start = datetime.fromisoformat(first["run"]["start"])
        period = (f"Event from {_local(start, ZoneInfo(tz))} for {first['run']['event_hours']:g} h, "
                  f"{first['orders']['published']} orders per run. ")
    rows = "\n".join(_row(r, ZoneInfo(tz)) for r in sorted(runs, key=lambda r: r["name"]))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>What-if grid: {html.escape(advice_title(advice))}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 12px 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; vertical-align: top; }}
th {{ background: #f3f3f3; }} td.l, th.l {{ text-align: left; }}
tr.meets td {{ background: #eef8ee; }} tr.recommended td {{ background: #cfeccf; font-weight: 600; }}
.miss {{ color: #b03a2e; }} .chart {{ width: 100%; max-width: 1100px; height: 360px; margin: 16px 0; }}
pre {{ background: #f7f7f7; padding: 10px; white-space: pre-wrap; }}
</style></head><body>
<h1>What-if grid: pickers x stock depth x carrier capacity</h1>
<p>{html.escape(period)}{len(runs)} runs in {summary['wall_s']:.0f} s of wall time, {summary['jobs']} at a time.
Times are the warehouse's local time ({html.escape(tz)}). Targets: {html.escape(_targets(first))} shipped, for every
priority class (presale counted from the balance payment).</p>
<h2>Recommendation</h2>
<pre>{html.escape(chr(10).join(advice['lines']))}</pre>
<h2>Runs side by side</h2>
<table><thead><tr><th class="l">run</th><th>pickers</th><th>stock x</th><th>carriers x</th><th class="l">targets</th>
{''.join(f'<th>{g.replace("_", "-")}<br>24h / 48h</th>' for g in GROUPS)}<th class="l">what held it back (local time)</th>
<th>wall s</th><th class="l">report</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<h2>Charts</h2>
<div class="chart" id="chart-24h"></div>
<div class="chart" id="chart-48h"></div>
<div class="chart" id="chart-backlog"></div>
<div class="chart" id="chart-hourly"></div>
<script type="application/json" id="grid-data">{data}</script>
<script src="echarts.min.js"></script>
<script src="grid_report.js"></script>
</body></html>
"""
    page = page.replace(f'<tr class="meets" data-run="{_name(advice)}">', f'<tr class="recommended" data-run="{_name(advice)}">')
    path = out / "grid.html"
    path.write_text(page)
    return path


def advice_title(advice: dict[str, Any]) -> str:
    return label(advice["recommended"]) if advice["recommended"] else "no set-up meets the targets"


def _name(advice: dict[str, Any]) -> str:
    from tools.simulate.grid import run_name

    return run_name(advice["recommended"]) if advice["recommended"] else ""


def _row(run: dict[str, Any], tz: ZoneInfo) -> str:
    s, f = run["setup"], run["figures"]
    cells = []
    for g in GROUPS:
        if f is None:
            cells.append("<td>-</td>")
            continue
        a, b = _share(f, g, "within_24h_pct"), _share(f, g, "within_48h_pct")
        t = f["dispatch"]["targets"]
        cells.append(f"<td><span{_miss(a, t['within_24h_pct'])}>{_pct(a)}</span> / "
                     f"<span{_miss(b, t['within_48h_pct'])}>{_pct(b)}</span></td>")
    held = "; ".join(f"{res} {span['from']} - {span['to']} ({span['hours']:g} h)"
                     for res, span in run["spans"].items() if res in run["binds"]) or "-"
    verdict = "meets both" if run["meets"] else "misses " + ", ".join(run["misses"])
    klass = "meets" if run["meets"] else "misses"
    return (f'<tr class="{klass}" data-run="{run["name"]}"><td class="l">{run["name"]}</td><td>{s["pickers"]:g}</td>'
            f'<td>{s["stock"]:g}</td><td>{s["carriers"]:g}</td><td class="l">{html.escape(verdict)}</td>'
            f'{"".join(cells)}<td class="l">{html.escape(held)}</td><td>{run["wall_s"]:.0f}</td>'
            f'<td class="l"><a href="runs/{run["name"]}/report.md">report.md</a></td></tr>')


def _share(figures: dict[str, Any], group: str, key: str) -> float | None:
    d = figures["dispatch"]
    g = d["overall"] if group == "overall" else d["by_class"].get(group)
    return None if not g or not g["orders_paid"] else g[key]


def _miss(value: float | None, target: float) -> str:
    return ' class="miss"' if value is not None and value < target else ""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _targets(figures: dict[str, Any] | None) -> str:
    t = figures["dispatch"]["targets"] if figures else {"within_24h_pct": 80, "within_48h_pct": 95}
    return f"{t['within_24h_pct']}% within 24h and {t['within_48h_pct']}% within 48h of payment"


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")
