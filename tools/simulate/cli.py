"""Command line of `python -m tools.simulate` (`make demo`): one run, or a what-if grid (--grid)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.settings import REPO_ROOT
from tools.simulate import __doc__ as PACKAGE_DOC, model
from tools.simulate import inputs, warehouses
from tools.simulate.actors import Actors
from tools.simulate.inputs import InputInvalid
from tools.simulate.progress import Progress, say
from tools.simulate.recommend import parse_grid

DEMO_DIR = REPO_ROOT / "var" / "demo"
DEFAULT_START = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # midnight of 11 November in Beijing (UTC+8)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, model.Scenario, Actors]:
    p = argparse.ArgumentParser(prog="python -m tools.simulate", allow_abbrev=False,  # the grid passes options on by name
                                description=PACKAGE_DOC.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("orders")
    g.add_argument("--seed", type=int, default=1, help="same seed, same scenario")
    g.add_argument("--orders", type=int, default=3000)
    g.add_argument("--hours", type=float, default=72.0, help="length of the event (simulated hours)")
    g.add_argument("--start", type=_aware, default=None,
                   help=f"simulated start (midnight of the event); default the plan's starts_at, else {DEFAULT_START:%Y-%m-%dT%H:%MZ}")
    g.add_argument("--spike-share", type=float, default=0.30, help="share of orders in the midnight spike")
    g.add_argument("--spike-hours", type=float, default=2.0)
    g.add_argument("--presale-share", type=float, default=0.10)
    g.add_argument("--high-value-share", type=float, default=0.15)
    g.add_argument("--high-value-threshold", type=Decimal, default=Decimal("1000.00"))
    g.add_argument("--gift-rate", type=float, default=0.30)
    g.add_argument("--first-order-rate", type=float, default=0.15)
    g.add_argument("--cancel-rate", type=float, default=0.01)
    g = p.add_argument_group("catalog and suppliers")
    g.add_argument("--traffic-skus", type=int, default=6)
    g.add_argument("--profit-skus", type=int, default=8)
    g.add_argument("--hot-skus", type=int, default=3)
    g.add_argument("--traffic-depth", type=float, default=2.0, help="traffic drivers' planned stock x forecast")
    g.add_argument("--hot-stock", type=float, default=0.6, help="hot items' planned stock x forecast")
    g.add_argument("--forecast-error", type=float, default=0.25)
    g.add_argument("--viral-factor", type=float, default=2.6, help="one traffic driver sells this x its forecast")
    g.add_argument("--lead-time-h", type=_tiers, default="traffic_driver=36,profit=24,hot=72",
                   help="supplier lead time per tier (simulated hours)")
    g.add_argument("--urgent-lead-factor", type=float, default=0.5, help="urgent requests arrive this much sooner")
    g = p.add_argument_group("warehouse and carriers")
    g.add_argument("--pickers", type=int, default=6)
    g.add_argument("--picks-per-hour", type=int, default=30, help="orders one picker completes per hour")
    g.add_argument("--wave-size", type=int, default=40)
    g.add_argument("--delivery-h", type=_range, default="18-60", help="carrier transit time range")
    g.add_argument("--delay-rate", type=float, default=0.04)
    g.add_argument("--damage-rate", type=float, default=0.015)
    g.add_argument("--carrier-capacity-factor", type=float, default=1.0,
                   help="scale the carriers' daily capacity (services/logistics/carriers.json)")
    g.add_argument("--stock-factor", type=float, default=1.0,
                   help="stock depth: every sku's planned and opening stock x this")
    g = p.add_argument_group("your own files (docs/simulator.md; samples in deploy/samples/)")
    g.add_argument("--catalog", type=Path, default=None,
                   help="inventory catalogue CSV (services/inventory/sample_catalog.csv format) instead of the built-in one")
    g.add_argument("--plan", type=Path, default=None,
                   help="event plan JSON: orders per hour and class (replaces --orders, --hours and the arrival curve)")
    g.add_argument("--plan-scale", type=float, default=1.0,
                   help="multiply the plan's orders per hour by this (e.g. 0.01 to run a 90,000-order plan as 900)")
    g.add_argument("--carriers", type=Path, default=None,
                   help="carrier rules table JSON (services/logistics/carriers.json format)")
    g.add_argument("--warehouses", type=Path, default=None,
                   help="warehouses JSON (inventory's format, deploy/samples/warehouses.json): stock spread over "
                        "them by their regions' demand, pickers per warehouse (their `pickers`, else --pickers "
                        "spread evenly)")
    g = p.add_argument_group("what-if grid")
    g.add_argument("--grid", nargs="+", default=None, metavar="AXIS=V1,V2",
                   help="run every combination of pickers=..., stock=... (stock factor), carriers=... (carrier "
                        "capacity factor) and recommend the smallest set-up meeting 80%%/24h and 95%%/48h")
    g.add_argument("--jobs", type=int, default=2, help="grid runs at the same time (each starts four services)")
    g.add_argument("--time-zone", default=os.environ.get("CONSOLE_TIME_ZONE", "Asia/Shanghai"),
                   help="the warehouse's local time for the grid report and the recommendation")
    g = p.add_argument_group("customers and support")
    g.add_argument("--return-rate", type=float, default=0.08)
    g.add_argument("--exchange-share", type=float, default=0.2)
    g.add_argument("--dispute-rate", type=float, default=0.05)
    g.add_argument("--inspection-pass-rate", type=float, default=0.9)
    g.add_argument("--agents", type=int, default=3)
    g.add_argument("--cases-per-agent-hour", type=float, default=6.0, help="case steps one agent does per hour")
    g = p.add_argument_group("run")
    g.add_argument("--tick-minutes", type=float, default=60.0, help="simulated minutes per step")
    g.add_argument("--tail-tick-minutes", type=float, default=180.0,
                   help="tick once every order's 48 hours are over (returns and refunds)")
    g.add_argument("--partitions", type=int, default=3)
    g.add_argument("--out", type=Path, default=None, help="run directory (default var/demo/<timestamp>-s<seed>)")
    g.add_argument("--max-wall-s", type=float, default=1800.0, help="stop the simulation after this (wall clock)")
    g.add_argument("--max-tail-h", type=float, default=24.0 * 14, help="simulated hours allowed after the event")
    g.add_argument("--max-ticks", type=int, default=5000)
    g.add_argument("--settle-timeout-s", type=float, default=30.0)
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")
    g.add_argument("--sla-only", action="store_true",
                   help="stop once every order's 48 hours are over (the grid's runs: returns are not played out)")
    g.add_argument("--keep-data", action="store_true", help="keep the services' databases and logs")
    args = p.parse_args(argv)
    for name in ("orders", "pickers", "picks_per_hour", "wave_size", "agents", "partitions", "max_ticks"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    for name in ("presale_share", "high_value_share", "gift_rate", "first_order_rate", "cancel_rate", "delay_rate",
                 "damage_rate", "return_rate", "exchange_share", "dispute_rate", "inspection_pass_rate", "spike_share"):
        if not 0 <= getattr(args, name) <= 1:
            p.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.presale_share + args.high_value_share > 1:
        p.error("--presale-share + --high-value-share must not exceed 1")
    if args.hours <= 0 or args.tick_minutes <= 0:
        p.error("--hours and --tick-minutes must be positive")
    if args.stock_factor <= 0 or args.carrier_capacity_factor <= 0:
        p.error("--stock-factor and --carrier-capacity-factor must be positive")
    if not 1 <= args.jobs <= 8:
        p.error("--jobs must be from 1 to 8 (each run starts four services)")
    try:
        ZoneInfo(args.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        p.error(f"--time-zone {args.time_zone!r} is not a time zone (e.g. Asia/Shanghai)")
    try:
        load_inputs(args)
        if args.grid:
            args.grid_axes = parse_grid(args.grid)
    except InputInvalid as exc:
        p.error(str(exc))
    scenario = model.Scenario(
        seed=args.seed, orders=args.plan_data.orders if args.plan_data else args.orders,
        event_hours=args.plan_data.event_hours if args.plan_data else args.hours, spike_share=args.spike_share,
        spike_hours=args.spike_hours, presale_share=args.presale_share, high_value_share=args.high_value_share,
        high_value_threshold=args.high_value_threshold, gift_rate=args.gift_rate,
        first_order_rate=args.first_order_rate, cancel_rate=args.cancel_rate, traffic_skus=args.traffic_skus,
        profit_skus=args.profit_skus, hot_skus=args.hot_skus, traffic_depth=args.traffic_depth,
        hot_stock=args.hot_stock, forecast_error=args.forecast_error, viral_factor=args.viral_factor)
    actors = Actors(
        tick_minutes=args.tick_minutes, lead_time_h=args.lead_time_h, urgent_lead_factor=args.urgent_lead_factor,
        pickers=args.pickers, picks_per_hour=args.picks_per_hour, wave_size=args.wave_size,
        delivery_h=args.delivery_h, delay_rate=args.delay_rate, damage_rate=args.damage_rate,
        return_rate=args.return_rate, exchange_share=args.exchange_share, dispute_rate=args.dispute_rate,
        inspection_pass_rate=args.inspection_pass_rate, agents=args.agents,
        cases_per_agent_hour=args.cases_per_agent_hour)
    return args, scenario, actors


def load_inputs(args: argparse.Namespace) -> None:
    """The user's files, read and checked before anything starts (InputInvalid names file and line)."""
    if not 0 < args.plan_scale <= 100:
        raise InputInvalid("--plan-scale must be above 0 and at most 100")
    args.plan_data = inputs.load_plan(args.plan, args.plan_scale, args.seed) if args.plan else None
    args.catalog_rows = inputs.load_catalog(args.catalog) if args.catalog else None
    args.carrier_table = inputs.load_carriers(args.carriers) if args.carriers else None
    args.warehouses_data = load_warehouses_file(args.warehouses) if args.warehouses else None
    if args.catalog_rows is not None and args.plan_data is not None and args.plan_scale != 1.0:
        # a plan run at a fraction of its size keeps its proportions: the stock too (the carriers'
        # capacity is scaled with it where the table is written, platform.py)
        args.catalog_rows = inputs.scaled_stock(args.catalog_rows, args.plan_scale)
    if args.catalog_rows is not None:
        inputs.check_catalog_serves_plan(args.catalog_rows, args.plan_data, args.catalog, args.plan,
                                         args.presale_share, args.high_value_share)
    if args.start is None:
        args.start = args.plan_data.starts_at if args.plan_data else DEFAULT_START


def load_warehouses_file(path: Path) -> list:
    """The warehouses file, checked by inventory's own rules before anything starts."""
    from services.inventory.warehouses import WarehousesInvalid

    try:
        return warehouses.load(path)
    except (OSError, WarehousesInvalid) as exc:
        raise InputInvalid(str(exc)) from exc


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a timezone, e.g. 2026-11-10T16:00:00Z")
    return moment.astimezone(UTC)


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        lo, hi = float(low), float(high or low)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX hours, got {text!r}") from exc
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX, got {text!r}")
    return lo, hi


def _tiers(text: str) -> dict[str, float]:
    out = dict(Actors().lead_time_h)
    for part in text.split(","):
        tier, _, hours = part.partition("=")
        if tier.strip() not in out:
            raise argparse.ArgumentTypeError(f"unknown tier {tier!r}: traffic_driver, profit or hot")
        out[tier.strip()] = float(hours)
    return out


def main(argv: list[str] | None = None) -> int:
    from tools.simulate import report
    from tools.simulate.engine import Simulation

    args, scenario, actors = parse_args(argv)
    if args.grid:
        from tools.simulate.grid import run_grid

        return run_grid(list(sys.argv[1:] if argv is None else argv), args)
    run_dir = args.out or DEMO_DIR / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-s{args.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    sim = Simulation(args, scenario, actors, run_dir)
    say(f"simulate: {scenario.orders} orders over {scenario.event_hours:g} simulated hours, seed {scenario.seed}; "
        f"{actors.pickers} pickers x {actors.picks_per_hour}/h, {actors.agents} agents; run {run_dir}")
    wall = time.monotonic()
    try:
        sim.start_platform()
        sim.run(Progress(sim, args.progress))
        figures = report.collect(sim)
    finally:
        sim.stop_platform()
        if not args.keep_data:
            shutil.rmtree(run_dir / "db", ignore_errors=True)
    figures["run"]["wall_s"] = round(time.monotonic() - wall, 1)
    text = report.write(figures, run_dir)
    print(text)
    say(f"report: {run_dir / 'report.md'}")
    return 0 if figures["checks"]["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
