"""CPU instructions one service's stage alone spends on the event that starts its part of an
order, counted by cachegrind rather than timed.

    python -m tools.stage_instructions --stage inventory               # order.accepted, 300 and 1,300
    python -m tools.stage_instructions --stage logistics --small 500 --large 2500   # stock.reserved
    python -m tools.stage_instructions --stage inventory --repo /tmp/base   # another checkout

`tools.instructions` counts the four stages of `tools.profile_pipeline` together, so a change in
one service hides in the others'. This makes the stage's input once, outside valgrind, with the
counted checkout's own earlier stages (orders, then inventory for logistics; bench orders, stock
for every one in warehouse `main`), then counts two fresh processes that build only the stage's
service and feed it the first `--small` and the first `--large` records in consumer batches
(decode, handler, SQLite, outbox, commit). The difference per event leaves start-up, imports,
migrations and the catalogue out. Counted runs use one hash seed (a random one moved figures by
up to 1%). `--repo` runs the counted code from another checkout (e.g. `git worktree add
/tmp/base <commit>`): this file is run there through `runpy`, so that checkout's packages come
first on sys.path.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tools.instructions import instructions_of

REPO_ROOT = Path(__file__).resolve().parent.parent

# stage -> (the topic it consumes, the event type counted, the stages that make its input)
STAGES = {"inventory": ("orders.events", "order.accepted", ("orders",)),
          "logistics": ("inventory.reservations", "stock.reserved", ("orders", "inventory"))}


def _settings(service: str, directory: Path, orders: int) -> dict[str, str]:
    """Inventory gets a catalogue holding stock for every order (the same one in every run)."""
    if service != "inventory":
        return {}
    from tools.bench import SKUS, write_catalog

    catalog = directory / "catalog.csv"
    write_catalog(catalog, units_per_sku=orders // len(SKUS) + 10)
    return {"INVENTORY_CATALOG_PATH": str(catalog)}


def prepare(stage: str, orders: int, out: Path) -> None:
    """The stage's input for `orders` bench orders, from the earlier stages, kept in `out`."""
    from shared.messaging import Record
    from tools.bench import SKUS, order_event
    from tools.profile_pipeline import build_runtime, feed, outbox_records

    with tempfile.TemporaryDirectory(prefix="stage-instructions-") as tmp:
        directory = Path(tmp)
        paid = datetime(2026, 11, 11, tzinfo=UTC)
        records = [Record(topic="platform.orders", partition=0, offset=n, key=f"P{n:07d}".encode(),
                          value=order_event(f"P{n:07d}", SKUS[n % len(SKUS)], (paid + timedelta(milliseconds=n)).isoformat()))
                   for n in range(orders)]
        topic = "platform.orders"
        for service in STAGES[stage][2]:
            runtime = build_runtime(service, directory, _settings(service, directory, orders))
            asyncio.run(feed(runtime, topic, records, 500))
            topic = {"orders": "orders.events", "inventory": "inventory.reservations"}[service]
            records = outbox_records(runtime, topic)
            runtime.engine.dispose()
        out.write_text(json.dumps([[(r.key or b"").decode(), base64.b64encode(bytes(r.value)).decode()]
                                   for r in records]))


def run(stage: str, events: int, orders: int, records_file: Path, batch: int) -> None:
    """Only the stage's service, fed the first `events` records (this is what valgrind counts)."""
    from shared.messaging import Record
    from shared.service import tune_garbage_collector
    from tools.profile_pipeline import build_runtime, feed

    topic = STAGES[stage][0]
    kept = json.loads(records_file.read_text())[:events]
    if len(kept) < events:
        raise SystemExit(f"{records_file} holds {len(kept)} records, fewer than {events}")
    records = [Record(topic=topic, partition=0, offset=n, key=key.encode(), value=base64.b64decode(value))
               for n, (key, value) in enumerate(kept)]
    with tempfile.TemporaryDirectory(prefix="stage-instructions-") as tmp:
        runtime = build_runtime(stage, Path(tmp), _settings(stage, Path(tmp), orders))
        tune_garbage_collector()
        asyncio.run(feed(runtime, topic, records, batch))
        runtime.engine.dispose()


def _step(args: argparse.Namespace, step: str, records_file: Path, events: int = 0) -> list[str]:
    argv = [str(Path(__file__).resolve()), "--stage", args.stage, "--step", step, "--records", str(records_file),
            "--events", str(events), "--orders", str(args.large), "--batch", str(args.batch)]
    code = f"import runpy, sys; sys.argv = {argv!r}; runpy.run_path(sys.argv[0], run_name='__main__')"
    return [sys.executable, "-c", code]


def count(args: argparse.Namespace, repo: Path, records_file: Path, events: int, out_dir: Path) -> int:
    return instructions_of(_step(args, "run", records_file, events), out_dir / f"cg.{events}", args.stage,
                           cwd=repo, env={**os.environ, "PYTHONHASHSEED": "0"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stage_instructions")
    parser.add_argument("--stage", choices=sorted(STAGES), required=True)
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout to count (its code runs)")
    parser.add_argument("--small", type=int, default=300, help="events in the first counted run")
    parser.add_argument("--large", type=int, default=1300, help="events in the second counted run")
    parser.add_argument("--batch", type=int, default=500, help="records per consumer batch")
    parser.add_argument("--step", choices=["prepare", "run"], help=argparse.SUPPRESS)  # inside the counted checkout
    parser.add_argument("--records", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--orders", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare(args.stage, args.orders, args.records)
        return 0
    if args.step == "run":
        run(args.stage, args.events, args.orders, args.records, args.batch)
        return 0
    if args.large <= args.small:
        parser.error("--large must be more than --small")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory(prefix="stage-instructions-") as tmp:
        out = Path(tmp)
        records_file = out / "records.json"
        subprocess.run(_step(args, "prepare", records_file), cwd=repo, check=True, capture_output=True)
        with ThreadPoolExecutor(2) as pool:
            small, large = pool.map(lambda n: count(args, repo, records_file, n, out), (args.small, args.large))
    per_event = (large - small) / (args.large - args.small)
    print(f"{repo}: {small:,} instructions with {args.small} events, {large:,} with {args.large}: "
          f"{per_event / 1e3:.1f} k instructions per {STAGES[args.stage][1]} ({args.stage} alone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
