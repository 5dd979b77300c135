"""CPU instructions inventory's `order.accepted` handling costs, alone, counted by cachegrind.

    python -m tools.instructions_inventory                        # this checkout, 300 and 1,300 orders
    python -m tools.instructions_inventory --repo /tmp/base-tree  # another checkout (a git worktree)

`tools.instructions` counts the four stages together. This counts inventory's stage only: the
`order.accepted` records are made once, outside valgrind, by the checkout's own orders service
(tools.profile_pipeline's orders stage), then a fresh process builds inventory (catalogue with
stock for every order, one warehouse `main`) and feeds them to its consumer in batches of 500,
under valgrind. The difference between two order counts, per event, leaves start-up, imports and
the catalogue out. It works on any checkout that has tools.profile_pipeline (it runs there with
that checkout's code): `git worktree add /tmp/base <commit>` counts an older commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def prepare(orders: int, out: Path) -> None:
    """The orders stage's `orders.events` records for `orders` orders, as JSON [key, value]."""
    from shared.messaging import Record
    from tools.bench import SKUS, order_event
    from tools.profile_pipeline import build_runtime, feed, outbox_records

    with tempfile.TemporaryDirectory(prefix="instructions-inventory-") as tmp:
        paid = datetime(2026, 11, 11, tzinfo=UTC)
        placed = [Record(topic="platform.orders", partition=0, offset=n, key=f"P{n:07d}".encode(),
                         value=order_event(f"P{n:07d}", SKUS[n % len(SKUS)],
                                           (paid + timedelta(milliseconds=n)).isoformat()))
                  for n in range(orders)]
        runtime = build_runtime("orders", Path(tmp), {})
        asyncio.run(feed(runtime, "platform.orders", placed, 500))
        records = outbox_records(runtime, "orders.events")
        out.write_text(json.dumps([[(r.key or b"").decode(), bytes(r.value).decode()] for r in records]))
        runtime.engine.dispose()


def run(orders: int, records_file: Path) -> None:
    """Inventory fed with the prepared records (this is what runs under valgrind)."""
    from shared.messaging import Record
    from shared.service import tune_garbage_collector
    from tools.bench import SKUS, write_catalog
    from tools.profile_pipeline import build_runtime, feed

    with tempfile.TemporaryDirectory(prefix="instructions-inventory-") as tmp:
        catalog = Path(tmp) / "catalog.csv"
        write_catalog(catalog, units_per_sku=orders // len(SKUS) + 10)
        records = [Record(topic="orders.events", partition=0, offset=n, key=key.encode(), value=value.encode())
                   for n, (key, value) in enumerate(json.loads(records_file.read_text()))]
        runtime = build_runtime("inventory", Path(tmp), {"INVENTORY_CATALOG_PATH": str(catalog)})
        tune_garbage_collector()
        started = time.process_time()
        asyncio.run(feed(runtime, "orders.events", records, 500))
        print(f"inventory: {len(records)} events, {(time.process_time() - started) * 1000 / len(records):.3f} "
              "CPU ms an event")
        runtime.engine.dispose()


def _step(step: str, orders: int, records_file: Path) -> list[str]:
    """This file's `step` as a command run in the counted checkout: through `-c`, so that the
    checkout (not this file's folder, whose token.py would shadow the standard library's) comes
    first on sys.path."""
    argv = [str(Path(__file__).resolve()), "--step", step, "--orders", str(orders), "--records", str(records_file)]
    code = f"import runpy, sys; sys.argv = {argv!r}; runpy.run_path(sys.argv[0], run_name='__main__')"
    return [sys.executable, "-c", code]


def count(repo: Path, orders: int, records_file: Path, out_dir: Path) -> int:
    run_ = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out_dir / f'cg.{orders}'}",
         *_step("run", orders, records_file)],
        cwd=repo, capture_output=True, text=True, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", run_.stderr)
    if run_.returncode != 0 or found is None:
        raise SystemExit(f"inventory under valgrind failed ({run_.returncode}):\n{run_.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.instructions_inventory")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout to count (its code runs)")
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--large", type=int, default=1300)
    parser.add_argument("--step", choices=["prepare", "run"], help=argparse.SUPPRESS)
    parser.add_argument("--orders", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--records", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step is not None:  # inside the checkout being counted
        (prepare if args.step == "prepare" else run)(args.orders, args.records)
        return 0
    if args.large <= args.small:
        parser.error("--large must be more than --small")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory(prefix="instructions-inventory-") as tmp:
        out = Path(tmp)
        for n in (args.small, args.large):
            subprocess.run(_step("prepare", n, out / f"records.{n}.json"), cwd=repo, check=True, capture_output=True)
        with ThreadPoolExecutor(2) as pool:
            small, large = pool.map(lambda n: count(repo, n, out / f"records.{n}.json", out), (args.small, args.large))
    per_event = (large - small) / (args.large - args.small)
    print(f"{repo}: {small:,} instructions with {args.small} orders, {large:,} with {args.large}: "
          f"{per_event / 1e6:.4f} M instructions an order.accepted (inventory alone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
