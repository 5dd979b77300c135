"""The SLA gauges coloured by where the target is heading (logistics' GET /sla `projection`):
green on track, amber at risk, red missed, with the projection's words under the bar. The share
achieved so far is still drawn; its colour no longer says "behind" at the start of every spike."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

STATE_WORDS = {"on_track": "on track", "at_risk": "at risk", "missed": "missed"}


def projected_gauge(value: float | None, target: float, label: str, key: str,
                    projection: dict[str, Any] | None) -> Markup:
    """One horizontal bar with the target marked, coloured by the projection's state (a logistics
    without projections: the old rule, achieved share against the target)."""
    w, h = 320, 22
    achieved = "no orders yet" if value is None else f"{value:g}%"
    state = (projection or {}).get("state")
    if state not in STATE_WORDS:
        state = "on_track" if value is not None and value >= target else "at_risk"
        words = ""
    else:
        words = str((projection or {}).get("words") or "")
    said = Markup('<span class="gauge-words">{}</span>').format(words) if words else ""
    fill = 0 if value is None else w * min(max(value, 0), 100) / 100
    tx = w * target / 100
    return Markup(
        f'<div class="gauge gauge-{state}" data-key="{key}" data-state="{state}" '
        f'data-value="{"" if value is None else value}" data-target="{target:g}">'
        f'<span class="gauge-label">{escape(label)}</span>'
        f'<svg viewBox="0 0 {w} {h}" class="gauge-bar" role="img" aria-label="{escape(label)}: {achieved}, '
        f'target {target:g}%, {STATE_WORDS[state]}"><rect class="gauge-bg" x="0" y="0" width="{w}" height="{h}"/>'
        f'<rect class="gauge-fill gauge-fill-{state}" x="0" y="0" width="{fill:.1f}" height="{h}"/>'
        f'<line class="gauge-target" x1="{tx:.1f}" x2="{tx:.1f}" y1="0" y2="{h}"/></svg>'
        f'<span class="gauge-value">{achieved}</span> <span class="muted">target {target:g}%</span> '
        f'<span class="gauge-state state-{state}">{STATE_WORDS[state]}</span>'
        f'{said}</div>')
