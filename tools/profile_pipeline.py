"""Where does a service's time go? Drives orders -> inventory -> logistics, and the orders
service's lifecycle update on stock.reserved, in one process without a broker: each service's
own handlers (the ones `subscribe()` wired) on its own SQLite file, fed in consumer-sized
batches with the events the previous service wrote to its outbox.

    python -m tools.profile_pipeline --orders 5000 --batch 500
    python -m tools.profile_pipeline --orders 5000 --profile inventory   # cProfile of one stage

It prints each stage's events/s: the CPU cost of the service's own work (decode, handler,
database, outbox), i.e. the most that service can do on one core whatever Kafka allows.
`make bench` measures the real thing end to end.

    python -m tools.profile_pipeline --orders 2000 --tracing compare

runs the pipeline in fresh processes with tracing off, at the default sampling (parent-based,
1 in 100 orders, spans written by the JSON-lines exporter) and with every order sampled,
alternating, and prints the CPU ms an order costs all four stages together in each (process
CPU time, not wall time: it holds on a machine shared with other work) and the ratio to off.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import json
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio.to_thread
from sqlmodel import Session, col, select

from shared import tracing
from shared.messaging import OutboxMessage, Record
from shared.service import ServiceRuntime, tune_garbage_collector
from shared.settings import KafkaSettings
from tools.bench import SKUS, order_event, write_catalog

SETTINGS_CLASS = {"orders": "OrdersSettings", "inventory": "InventorySettings", "logistics": "LogisticsSettings"}


def build_runtime(name: str, directory: Path, extra_env: dict[str, str]) -> ServiceRuntime:
    prefix = name.upper()
    os.environ[f"{prefix}_DATABASE_URL"] = f"sqlite:///{directory / name}.sqlite"
    os.environ[f"{prefix}_RELAY_ENABLED"] = "false"
    os.environ[f"{prefix}_LOG_LEVEL"] = "WARNING"
    os.environ.update(extra_env)
    settings = getattr(importlib.import_module(f"services.{name}.settings"), SETTINGS_CLASS[name])()
    app = importlib.import_module(f"services.{name}.app").build_app(settings, KafkaSettings(topic_prefix=""))
    runtime: ServiceRuntime = app.state.runtime
    runtime.migrate()
    for hook in runtime.on_start:
        hook()
    return runtime


def outbox_records(runtime: ServiceRuntime, topic: str) -> list[Record]:
    """What the service would have published on `topic`, as the next service's consumer sees it."""
    with Session(runtime.engine) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.topic == topic)
                            .order_by(col(OutboxMessage.id))).all()
    return [Record(topic=topic, partition=0, offset=n, key=(r.key or "").encode(), value=r.value,
                   trace=_trace_of(r.headers_json))
            for n, r in enumerate(rows)]


def _trace_of(headers_json: str) -> dict[str, str] | None:
    """The trace headers the relay would have put on the record, as the consumer reads them."""
    if not tracing.ENABLED:
        return None
    return tracing.carrier_from_headers([(k, v.encode()) for k, v in json.loads(headers_json).items()])


async def feed(runtime: ServiceRuntime, topic: str, records: list[Record], batch: int) -> float:
    handlers, on_invalid = runtime.handlers[topic]
    started = time.perf_counter()
    for i in range(0, len(records), batch):
        outcomes = await runtime.consumer.process_batch(records[i:i + batch], handlers, on_invalid)
        unexpected = [o for o in outcomes if o not in ("handled", "ignored")]
        if unexpected:
            raise SystemExit(f"{runtime.name}: unexpected outcomes {sorted(set(unexpected))}")
    return time.perf_counter() - started


def stage(name: str, runtime: ServiceRuntime, topic: str, records: list[Record], batch: int,
          profile: bool) -> float:
    profiler = cProfile.Profile() if profile else None
    if profiler:
        # cProfile sees one thread: run the handlers' worker-thread calls inline while profiling.
        original = anyio.to_thread.run_sync

        async def inline(function, *args, **_kwargs):  # type: ignore[no-untyped-def]
            return function(*args)

        anyio.to_thread.run_sync = inline
        profiler.enable()
    cpu_started = time.process_time()
    try:
        seconds = asyncio.run(feed(runtime, topic, records, batch))
    finally:
        if profiler:
            profiler.disable()
            anyio.to_thread.run_sync = original
    cpu = time.process_time() - cpu_started
    print(f"{name:<10} {len(records):>7} events in {seconds:6.2f} s = {len(records) / seconds:7.0f} events/s"
          f" ({cpu * 1000 / max(len(records), 1):.3f} CPU ms an event)")
    if profiler:
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    return cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.profile_pipeline")
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500, help="records per consumer batch")
    parser.add_argument("--profile", choices=["orders", "inventory", "logistics", "lifecycle"],
                        help="lifecycle: the orders service applying stock.reserved")
    parser.add_argument("--tracing", choices=["off", "default", "always", "compare"], default="off",
                        help="off; the default sampling (1 in 100); every order; or compare the three")
    parser.add_argument("--rounds", type=int, default=2, help="--tracing compare: runs of each, alternating")
    args = parser.parse_args(argv)
    if args.tracing == "compare":
        return compare_tracing(args.orders, args.batch, args.rounds)

    with tempfile.TemporaryDirectory(prefix="profile-pipeline-") as tmp:
        directory = Path(tmp)
        catalog = directory / "catalog.csv"
        write_catalog(catalog, units_per_sku=args.orders // len(SKUS) + 10)
        paid = datetime(2026, 11, 11, tzinfo=UTC)
        placed = [Record(topic="platform.orders", partition=0, offset=n, key=f"P{n:07d}".encode(),
                         value=order_event(f"P{n:07d}", SKUS[n % len(SKUS)],
                                           (paid + timedelta(milliseconds=n)).isoformat()))
                  for n in range(args.orders)]
        orders = build_runtime("orders", directory, {})
        inventory = build_runtime("inventory", directory, {"INVENTORY_CATALOG_PATH": str(catalog)})
        logistics = build_runtime("logistics", directory, {})
        if args.tracing != "off":
            # As a service with an exporter configured (shared/tracing.py); one provider for the
            # process, so the three services' spans share it.
            os.environ["TRACE_SPANS_FILE"] = str(directory / "spans.jsonl")
            os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
            if args.tracing == "always":
                os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_always_on"
            else:
                os.environ.pop("OTEL_TRACES_SAMPLER", None)
            tracing.configure("pipeline")
        tune_garbage_collector()  # as each service does once it is built

        cpu = stage("orders", orders, "platform.orders", placed, args.batch, args.profile == "orders")
        accepted = outbox_records(orders, "orders.events")
        cpu += stage("inventory", inventory, "orders.events", accepted, args.batch, args.profile == "inventory")
        reserved = outbox_records(inventory, "inventory.reservations")
        cpu += stage("logistics", logistics, "inventory.reservations", reserved, args.batch,
                     args.profile == "logistics")
        # The orders service also keeps each order's lifecycle: stock.reserved moves it on.
        cpu += stage("lifecycle", orders, "inventory.reservations", reserved, args.batch, args.profile == "lifecycle")
        spans = directory / "spans.jsonl"
        traced = len(spans.read_text().splitlines()) if spans.exists() else 0
        print(f"total      {cpu * 1000 / args.orders:.3f} CPU ms an order (tracing {args.tracing}, {traced} spans written)")
        for runtime in (orders, inventory, logistics):
            runtime.engine.dispose()
    return 0


def compare_tracing(orders: int, batch: int, rounds: int) -> int:
    """Each mode in its own process (a tracer provider is for the life of a process), alternating
    so that a machine busier in one stretch does not favour one mode."""
    modes = ("off", "default", "always")
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    for round_ in range(rounds):
        for mode in modes:
            done = subprocess.run([sys.executable, "-m", "tools.profile_pipeline", "--orders", str(orders),
                                   "--batch", str(batch), "--tracing", mode],
                                  capture_output=True, text=True, check=True)
            match = re.search(r"^total +([\d.]+) CPU ms an order .*$", done.stdout, re.M)
            assert match, done.stdout + done.stderr
            results[mode].append(float(match[1]))
            print(f"round {round_ + 1} {match[0]}", flush=True)
    best = {mode: min(values) for mode, values in results.items()}  # the least disturbed run of each
    print(f"\nCPU ms an order, all four stages, {orders} orders, best of {rounds}:")
    for mode in modes:
        print(f"  tracing {mode:<8} {best[mode]:.3f} ms  x{best[mode] / best['off']:.3f} of off"
              f"  (runs: {', '.join(f'{v:.3f}' for v in results[mode])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
