"""CPU instructions the logistics stage alone spends on a `stock.reserved`, counted, not timed.

    python -m tools.logistics_instructions                    # 500 and 2500 events
    python -m tools.logistics_instructions --small 500 --large 3000 --batch 500

`tools.instructions` counts the four stages of `tools.profile_pipeline` together, so a change in
one service hides in the others' (and another helper's edits to one service move everyone's
figure). This builds the reservations once, outside valgrind (orders -> inventory of
`tools.profile_pipeline`, in this process), keeps them in a file, then counts under cachegrind
two processes that only build the logistics service and feed it the first `--small` and the
first `--large` of them in consumer batches (decode, handler, SQLite, outbox, commit: what
`profile_pipeline`'s logistics stage does). The difference per event cancels start-up, imports
and migrations. Run it from the root of the tree to count (a worktree of an older commit too:
copy this file there), as `tools.instructions` is.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

TOPIC = "inventory.reservations"


def prepare(orders: int, batch: int, out: Path) -> int:
    """The reservations inventory publishes for `orders` bench orders, kept in `out`."""
    from tools.bench import SKUS, order_event, write_catalog
    from tools.profile_pipeline import build_runtime, feed, outbox_records
    from shared.messaging import Record

    with tempfile.TemporaryDirectory(prefix="logistics-instructions-") as tmp:
        directory = Path(tmp)
        catalog = directory / "catalog.csv"
        write_catalog(catalog, units_per_sku=orders // len(SKUS) + 10)
        paid = datetime(2026, 11, 11, tzinfo=UTC)
        placed = [Record(topic="platform.orders", partition=0, offset=n, key=f"P{n:07d}".encode(),
                         value=order_event(f"P{n:07d}", SKUS[n % len(SKUS)],
                                           (paid + timedelta(milliseconds=n)).isoformat()))
                  for n in range(orders)]
        orders_rt = build_runtime("orders", directory, {})
        inventory = build_runtime("inventory", directory, {"INVENTORY_CATALOG_PATH": str(catalog)})
        asyncio.run(feed(orders_rt, "platform.orders", placed, batch))
        asyncio.run(feed(inventory, "orders.events", outbox_records(orders_rt, "orders.events"), batch))
        reserved = outbox_records(inventory, TOPIC)
        out.write_text(json.dumps([{"key": r.key.decode(), "value": base64.b64encode(r.value).decode()}
                                   for r in reserved]))
        for runtime in (orders_rt, inventory):
            runtime.engine.dispose()
    return len(reserved)


def feed_logistics(records_file: Path, events: int, batch: int) -> None:
    """Only the logistics service, fed the first `events` reservations of `records_file`."""
    from tools.profile_pipeline import build_runtime, feed
    from shared.messaging import Record
    from shared.service import tune_garbage_collector

    kept = json.loads(records_file.read_text())[:events]
    if len(kept) < events:
        raise SystemExit(f"{records_file} holds {len(kept)} reservations, fewer than {events}")
    records = [Record(topic=TOPIC, partition=0, offset=n, key=r["key"].encode(), value=base64.b64decode(r["value"]),
                      trace=None) for n, r in enumerate(kept)]
    with tempfile.TemporaryDirectory(prefix="logistics-feed-") as tmp:
        logistics = build_runtime("logistics", Path(tmp), {})
        tune_garbage_collector()
        asyncio.run(feed(logistics, TOPIC, records, batch))
        logistics.engine.dispose()


def count(records_file: Path, events: int, batch: int, out_dir: Path) -> int:
    out = out_dir / f"cachegrind.{events}"
    run = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", sys.executable,
         "-m", "tools.logistics_instructions", "--feed", str(records_file), "--events", str(events),
         "--batch", str(batch)],
        capture_output=True, text=True, check=False,
        # One hash seed for every counted run: sets and dicts of strings then lay out and grow the
        # same way each time (a random seed moved the figure by up to 1%).
        env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"the logistics feed under valgrind failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.logistics_instructions")
    parser.add_argument("--small", type=int, default=500, help="reservations in the first run")
    parser.add_argument("--large", type=int, default=2500, help="reservations in the second run")
    parser.add_argument("--batch", type=int, default=500, help="records per consumer batch")
    parser.add_argument("--feed", type=Path, help=argparse.SUPPRESS)  # one counted run (under valgrind)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.feed is not None:
        feed_logistics(args.feed, args.events, args.batch)
        return 0
    if args.large <= args.small:
        parser.error("--large must be more than --small")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="logistics-instructions-") as tmp, ThreadPoolExecutor(2) as pool:
        records_file = Path(tmp) / "reserved.json"
        made = prepare(args.large, args.batch, records_file)
        if made < args.large:
            raise SystemExit(f"inventory reserved {made} of {args.large} orders")
        small, large = pool.map(lambda n: count(records_file, n, args.batch, Path(tmp)), (args.small, args.large))
    per_event = (large - small) / (args.large - args.small)
    print(f"{small:,} instructions with {args.small} reservations, {large:,} with {args.large}: "
          f"{per_event / 1e3:.1f} k instructions a stock.reserved (the logistics stage alone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
