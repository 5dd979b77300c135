"""The what-if grid's judgement, with no I/O: which runs meet 80%/24h and 95%/48h for every priority
class, the smallest set-up that does, and what binds (stock, pickers or carriers) and when.

- A run meets the targets when every class with orders (presale counted from its balance payment,
  as logistics' GET /sla counts it) and the overall figure reach both targets.
- "Smallest" set-up: the fewest steps up the grid's axes (the sum of each value's position in its
  sorted axis), then the fewest pickers, the least carrier capacity, the least stock.
- What binds: one step below the recommended set-up on an axis (the same set-up with that axis one
  value lower) misses a target, so that resource binds. When: the simulated hours in which that
  run's binding resource held the warehouse back (pickers: the hour's picks used up with orders still
  queued; carriers: parcels refused because every suitable carrier was full for the day; stock:
  orders waiting for a supplier's delivery), in the warehouse's local time.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tools.simulate.inputs import InputInvalid

AXES = ("pickers", "stock", "carriers")
AXIS_NOUN = {"pickers": "pickers", "stock": "stock depth", "carriers": "carrier capacity"}
CLASSES = ("presale", "high_value", "standard")
MAX_RUNS = 64


def parse_grid(tokens: list[str]) -> dict[str, list[float]]:
    """`pickers=4,6,8 stock=0.8,1.0 carriers=0.8,1.0` -> values per axis, sorted, without repeats."""
    axes: dict[str, list[float]] = {}
    for token in tokens:
        name, sep, values = token.partition("=")
        name = name.strip()
        if not sep or name not in AXES:
            raise InputInvalid(f"--grid {token!r}: expected AXIS=V1,V2,... with AXIS one of {', '.join(AXES)}")
        if name in axes:
            raise InputInvalid(f"--grid: {name} given twice")
        try:
            numbers = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise InputInvalid(f"--grid {token!r}: the values must be numbers") from None
        if not numbers:
            raise InputInvalid(f"--grid {token!r}: no values")
        if name == "pickers" and any(v != int(v) or v < 1 or v > 10_000 for v in numbers):
            raise InputInvalid(f"--grid {token!r}: pickers are whole numbers from 1 to 10000")
        if name != "pickers" and any(not 0 < v <= 100 for v in numbers):
            raise InputInvalid(f"--grid {token!r}: {name} factors must be above 0 and at most 100")
        axes[name] = sorted({int(v) if name == "pickers" else v for v in numbers})
    runs = 1
    for values in axes.values():
        runs *= len(values)
    if runs > MAX_RUNS:
        raise InputInvalid(f"--grid: {runs} runs; at most {MAX_RUNS} (fewer values per axis)")
    return axes


def setups(axes: dict[str, list[float]]) -> list[dict[str, float]]:
    names = [a for a in AXES if a in axes]
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[a] for a in names))]


def label(setup: dict[str, float]) -> str:
    return f"{_pickers(setup['pickers'])}, stock x{setup['stock']:g}, carriers x{setup['carriers']:g}"


def _pickers(n: float) -> str:
    return f"{n:g} picker" + ("" if n == 1 else "s")


def shares(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    d = figures["dispatch"]
    return {"overall": d["overall"], **{k: d["by_class"][k] for k in CLASSES if k in d["by_class"]}}


def misses(figures: dict[str, Any] | None) -> list[str]:
    """What a run missed, e.g. 'presale 24h 76.0% < 80%' (a run without figures misses everything)."""
    if figures is None:
        return ["the run failed"]
    t = figures["dispatch"]["targets"]
    out = []
    for name, g in shares(figures).items():
        if not g["orders_paid"]:
            continue
        for window, key in (("24h", "within_24h_pct"), ("48h", "within_48h_pct")):
            pct = g[key] or 0.0
            if pct < t[key]:
                out.append(f"{name.replace('_', '-')} {window} {pct:.1f}% < {t[key]}%")
    return out


def meets(figures: dict[str, Any] | None) -> bool:
    return figures is not None and not misses(figures)


def spans(figures: dict[str, Any], tz: ZoneInfo) -> dict[str, dict[str, Any]]:
    """Per resource, the simulated hours it held the warehouse back, from the run's per-tick series."""
    start = datetime.fromisoformat(figures["run"]["start"])
    tick_h = figures["run"]["tick_minutes"] / 60
    test = {"pickers": lambda p: p.get("picker_bound", 0) > 0,
            "carriers": lambda p: p.get("carrier_refused", 0) > 0,
            "stock": lambda p: p.get("waiting_for_stock", 0) > 0}
    out = {}
    for resource, binds in test.items():
        hours = [p["h"] for p in figures["dispatch"]["backlog"] if binds(p)]
        if hours:
            out[resource] = {"from": local(start + timedelta(hours=hours[0] - tick_h), tz),
                             "to": local(start + timedelta(hours=hours[-1]), tz),
                             "hours": round(len(hours) * tick_h, 1)}
    return out


def local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def diagnose(figures: dict[str, Any] | None, tz: ZoneInfo) -> list[str]:
    """What held a run back, most likely first: stock when the missing classes' late orders had
    waited for a supplier, then carriers (parcels refused), then pickers (hours used up)."""
    if figures is None:
        return []
    found = spans(figures, tz)
    late_stock = figures["dispatch"].get("backordered_at_first", {})
    missed_classes = {m.split()[0].replace("-", "_") for m in misses(figures)}
    out = ["stock"] if "stock" in found and any(late_stock.get(k, 0) for k in missed_classes) else []
    return out + [r for r in ("carriers", "pickers") if r in found]


def cost(setup: dict[str, float], axes: dict[str, list[float]]) -> tuple:
    steps = sum(axes[a].index(setup[a]) for a in AXES if a in axes)
    return (steps, setup["pickers"], setup["carriers"], setup["stock"])


def recommend(runs: list[dict[str, Any]], axes: dict[str, list[float]], tz: ZoneInfo) -> dict[str, Any]:
    """runs: [{"setup": {...}, "figures": report.json or None}] -> the recommendation and its reasons."""
    for run in runs:
        run["meets"] = meets(run["figures"])
        run["misses"] = misses(run["figures"])
        run["binds"] = diagnose(run["figures"], tz)
        run["spans"] = spans(run["figures"], tz) if run["figures"] else {}
    by_setup = {tuple(sorted(r["setup"].items())): r for r in runs}
    passing = sorted((r for r in runs if r["meets"]), key=lambda r: cost(r["setup"], axes))
    if not passing:
        scored = [r for r in runs if r["figures"]]
        best = max(scored, key=lambda r: _worst_share(r["figures"]), default=None)
        lines = ["No set-up in the grid meets 80%/24h and 95%/48h for every class."]
        if best is not None:
            lines.append(f"Closest: {label(best['setup'])} (misses {', '.join(best['misses'])}).")
            lines += [_bind_line(res, best, f"in that run {AXIS_NOUN[res]} held the warehouse back")
                      for res in best["binds"]]
            lines.append("Try more of " + " and ".join(AXIS_NOUN[r] for r in best["binds"] or AXES) + ".")
        return {"recommended": None, "lines": lines, "binding": [
            {"resource": res, **best["spans"][res]} for res in (best["binds"] if best else []) if res in best["spans"]]}
    chosen = passing[0]
    lines = [f"Recommended: {label(chosen['setup'])} - every class meets 80%/24h and 95%/48h "
             f"({_share_text(chosen['figures'])})."]
    binding = []
    for axis in AXES:
        values = axes.get(axis, [chosen["setup"][axis]])
        at = values.index(chosen["setup"][axis])
        if at == 0:
            lines.append(f"- {AXIS_NOUN[axis]}: the least tried ({chosen['setup'][axis]:g}) is enough.")
            continue
        below = by_setup.get(tuple(sorted({**chosen["setup"], axis: values[at - 1]}.items())))
        if below is None:
            continue
        what = _pickers(values[at - 1]) if axis == "pickers" else f"{axis} x{values[at - 1]:g}"
        lines.append(f"- {AXIS_NOUN[axis]} binds: one step below ({what}) misses {', '.join(below['misses'])}.")
        if axis in below["spans"]:
            lines.append("  " + _bind_line(axis, below, "there it held the warehouse back"))
            binding.append({"resource": axis, "below": below["setup"], **below["spans"][axis]})
        else:
            binding.append({"resource": axis, "below": below["setup"]})
    if axes.get("pickers") and chosen["setup"]["pickers"] == axes["pickers"][0] and "pickers" in chosen["spans"]:
        lines.append("  " + _bind_line("pickers", chosen, "even so, pickers were the busiest"))
    return {"recommended": chosen["setup"], "lines": lines, "binding": binding}


def _bind_line(resource: str, run: dict[str, Any], lead: str) -> str:
    span = run["spans"].get(resource)
    if not span:
        return f"{lead}."
    return f"{lead} from {span['from']} to {span['to']} local time ({span['hours']:g} h in all)."


def _worst_share(figures: dict[str, Any]) -> float:
    t = figures["dispatch"]["targets"]
    gaps = [min((g["within_24h_pct"] or 0) - t["within_24h_pct"], (g["within_48h_pct"] or 0) - t["within_48h_pct"])
            for g in shares(figures).values() if g["orders_paid"]]
    return min(gaps, default=0.0)


def _share_text(figures: dict[str, Any]) -> str:
    return "; ".join(f"{name.replace('_', '-')} {g['within_24h_pct']:.1f}% / {g['within_48h_pct']:.1f}%"
                     for name, g in shares(figures).items() if g["orders_paid"])
