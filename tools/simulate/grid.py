"""The what-if grid (`--grid`): every combination of pickers, stock depth and carrier capacity run
on simulated time, `--jobs` at a time, against one Kafka broker (each run has its own topic
prefix, services and databases); then the recommendation (recommend.py) printed and the side-by-side
report written (grid_report.py).

Each run is the ordinary one-run simulator in a child process (`python -m tools.simulate` with the
same options and the run's set-up), so a grid run is exactly what `make demo` would do with that
set-up, and a run that dies takes nothing else with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tools.simulate import recommend
from tools.simulate.progress import say

# Options the grid sets per run (or for itself), with how many values each takes ("+": several).
OWN_OPTIONS = {"--grid": "+", "--jobs": 1, "--out": 1, "--pickers": 1, "--stock-factor": 1,
               "--carrier-capacity-factor": 1, "--progress": 0, "--no-progress": 0, "--sla-only": 0}


def child_options(argv: list[str]) -> list[str]:
    """The command line without the options the grid sets itself."""
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        name = token.split("=", 1)[0]
        if name not in OWN_OPTIONS:
            out.append(token)
            i += 1
            continue
        i += 1
        if "=" in token:
            continue
        if OWN_OPTIONS[name] == "+":
            while i < len(argv) and not argv[i].startswith("--"):
                i += 1
        else:
            i += OWN_OPTIONS[name]
    return out


def run_name(setup: dict[str, float]) -> str:
    return f"p{setup['pickers']:g}-s{setup['stock']:g}-c{setup['carriers']:g}"


def run_grid(argv: list[str], args: argparse.Namespace) -> int:
    from tools.simulate.cli import DEMO_DIR
    from tools.simulate.grid_report import write_report

    axes = {"pickers": [args.pickers], "stock": [args.stock_factor], "carriers": [args.carrier_capacity_factor],
            **args.grid_axes}
    tz = ZoneInfo(args.time_zone)
    out = (args.out or DEMO_DIR / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-grid-s{args.seed}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs = [{"setup": s, "name": run_name(s), "dir": out / "runs" / run_name(s)} for s in recommend.setups(axes)]
    base = child_options(argv)
    say(f"grid: {len(runs)} runs ({', '.join(f'{a} {v}' for a, v in axes.items())}), {args.jobs} at a time; "
        f"report in {out}")
    started = time.monotonic()
    cluster = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    try:
        if not bootstrap:
            from deploy import localkafka

            say("starting a local Kafka broker for every run ...")
            cluster = localkafka.start(port=None, brokers=1, base_dir=out / "kafka")
            bootstrap = cluster.bootstrap_servers
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        bar = GridProgress(len(runs), args.progress)
        with ThreadPoolExecutor(args.jobs, thread_name_prefix="grid") as pool:
            futures = {pool.submit(one_run, run, base, env, args, bar): run for run in runs}
            for future in as_completed(futures):
                run = futures[future]
                run.update(future.result())
                bar.done(run)
        bar.close()
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(out / "kafka", ignore_errors=True)
    wall = round(time.monotonic() - started, 1)
    advice = recommend.recommend(runs, axes, tz)
    summary = {"axes": axes, "time_zone": args.time_zone, "wall_s": wall, "jobs": args.jobs,
               "recommendation": advice, "runs": [_slim(r) for r in runs]}
    (out / "grid.json").write_text(json.dumps(summary, indent=2, default=str))
    write_report(summary, runs, out)
    print("\n".join(advice["lines"]))
    print(f"grid: {len(runs)} runs in {wall:.0f} s ({args.jobs} at a time); report {out / 'grid.html'}")
    return 0 if all(r["figures"] is not None and r["exit"] in (0, 1) for r in runs) else 1


def one_run(run: dict[str, Any], base: list[str], env: dict[str, str], args: argparse.Namespace,
            bar: GridProgress) -> dict[str, Any]:
    s = run["setup"]
    run["dir"].mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tools.simulate", *base, "--pickers", f"{s['pickers']:g}",
               "--stock-factor", f"{s['stock']:g}", "--carrier-capacity-factor", f"{s['carriers']:g}",
               "--out", str(run["dir"]), "--no-progress", "--sla-only"]
    bar.starting(run)
    started = time.monotonic()
    with (run["dir"] / "simulate.log").open("w") as log:
        try:
            done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=args.max_wall_s + 300)
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = -1
    report = run["dir"] / "report.json"
    figures = json.loads(report.read_text()) if report.exists() else None
    return {"exit": code, "figures": figures, "wall_s": round(time.monotonic() - started, 1)}


def _slim(run: dict[str, Any]) -> dict[str, Any]:
    f = run["figures"]
    return {"name": run["name"], "setup": run["setup"], "exit": run["exit"], "wall_s": run["wall_s"],
            "meets": run["meets"], "misses": run["misses"], "binds": run["binds"], "spans": run["spans"],
            "shares": recommend.shares(f) if f else None, "report": f"runs/{run['name']}/report.md"}


class GridProgress:
    """tqdm over the runs on a terminal (or when --progress); otherwise a line per finished run."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        self.lock = threading.Lock()
        self.total, self.finished, self.running = total, 0, []
        self.bar = None
        if sys.stderr.isatty() if enabled is None else enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="run", desc="what-if grid", file=sys.stderr,
                            bar_format="{desc} {n_fmt}/{total_fmt} runs |{bar}| {elapsed}<{remaining} {postfix}")

    def starting(self, run: dict[str, Any]) -> None:
        with self.lock:
            self.running.append(run["name"])
            if self.bar is not None:
                self.bar.set_postfix_str("running " + ", ".join(self.running))

    def done(self, run: dict[str, Any]) -> None:
        with self.lock:
            self.finished += 1
            if run["name"] in self.running:
                self.running.remove(run["name"])
            met = recommend.meets(run["figures"])
            text = f"{run['name']}: {'meets both targets' if met else 'misses ' + ', '.join(recommend.misses(run['figures']))}"
            if self.bar is not None:
                self.bar.update(1)
                self.bar.write(text, file=sys.stderr)
                self.bar.set_postfix_str("running " + ", ".join(self.running) if self.running else "")
            else:
                say(f"[{self.finished}/{self.total}] {text} ({run['wall_s']:.0f} s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
