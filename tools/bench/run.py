"""`make bench`: the run. The broker's ceiling first, then for each database (SQLite, PostgreSQL)
a fresh set of services on fresh topics: burst, steady, HTTP load during a Kafka burst; then the
PostgreSQL burst again scaled out. Prints JSON and the summary lines; with --write-docs, writes
docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from deploy import localkafka
from shared.topics import create_topics
from tools.bench.common import BENCH_DIR, SKUS, cpu_reference_s, machine, order_event, r1, say, write_catalog
from tools.bench.http_phase import http_phase
from tools.bench.kafka_io import Watcher, ceiling
from tools.bench.phases import Stack, burst, steady, stock_balances
from tools.bench.report import (DATABASE_LABELS, against_ceiling, run_summary, run_verdict, scale_out_verdict,
                                verdict, write_docs)
from tools.bench.scale_out import scale_out
from tools.bench.warehouses import warehouses_burst, write_catalog_per_warehouse, write_warehouses
from tools.processes import ServiceProcess, process_cpu_seconds

SERVICES = ("orders", "inventory", "logistics")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--steady-seconds", type=int, default=60)
    parser.add_argument("--skip-steady", action="store_true")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=600, help="longest wait for any one phase, seconds")
    parser.add_argument("--databases", default="sqlite,postgres",
                        help="comma-separated, run in this order: sqlite, postgres (default both)")
    parser.add_argument("--scale-out", type=int, default=2, metavar="INSTANCES",
                        help="instances of each service in the PostgreSQL scale-out burst; 0 skips it")
    parser.add_argument("--scale-partitions", type=int, default=12)
    parser.add_argument("--warehouses", type=int, choices=(0, 3), default=3,
                        help="3: the SQLite burst again with three warehouses (issue 34); 0 skips it")
    parser.add_argument("--scale-orders", type=int, default=0, help="the scale-out burst's size (default --orders)")
    parser.add_argument("--http-seconds", type=float, default=20, help="HTTP load phase length; 0 skips it")
    parser.add_argument("--http-rate", type=int, default=500, help="POST /orders a second (reads follow from it)")
    parser.add_argument("--http-connections", type=int, default=200, help="most connections per service")
    parser.add_argument("--http-burst", type=int, default=0,
                        help="orders of the Kafka burst during the HTTP load (default --orders / 5)")
    parser.add_argument("--postgres-fsync", choices=("on", "off"), default="on",
                        help="on: durable, as production runs it; off: as the tests' server (make test-postgres)")
    parser.add_argument("--write-docs", action="store_true", help="write docs/benchmarks.md")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="where the run's databases, logs and broker data go (default var/bench/<time>)")
    parser.add_argument("--service-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for every service, e.g. consumer_fetch_min_bytes=32768 (repeatable)")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(args.databases) - set(DATABASE_LABELS)
    if unknown or not args.databases:
        parser.error(f"--databases: {sorted(unknown) or 'none'}; choose from {', '.join(DATABASE_LABELS)}")
    args.http_burst = args.http_burst or max(1, args.orders // 5)
    return args


def orders_per_database(args) -> int:
    """Orders one stack will take: its catalogue holds that many units, so none is backordered."""
    http = (args.http_burst + int(args.http_rate * args.http_seconds)) if args.http_seconds else 0
    return max(args.orders + (0 if args.skip_steady else args.rate * args.steady_seconds) + http, args.scale_orders)


class Run:
    """The broker, PostgreSQL when asked for, and the stacks of services started on them; all
    stopped by close()."""

    def __init__(self, args) -> None:
        self.args = args
        self.run_dir = args.run_dir or BENCH_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.kafka = None
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not self.bootstrap:
            self.kafka = localkafka.start(port=None, brokers=1, base_dir=self.run_dir / "kafka")
            self.bootstrap = self.kafka.bootstrap_servers
        self.broker_pid = self.kafka.nodes[0].pid if self.kafka is not None else None
        self.postgres = None
        self.postgres_dir: Path | None = None
        self.stacks: list[Stack] = []

    def start_postgres(self):
        if self.postgres is None:
            from deploy import localpostgres

            # Not under var/: the server runs as the `postgres` user and needs a directory it may
            # enter (tests/conftest.py does the same).
            self.postgres_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
            # Durable (fsync on) by default, as production would run it; the tests' server is not.
            self.postgres = localpostgres.start(base_dir=self.postgres_dir, durable=self.args.postgres_fsync == "on")
        return self.postgres

    def postgres_version(self) -> str:
        try:
            return self.postgres.psql("show server_version").split()[0]
        except Exception:  # a figure for the report only
            return "?"

    def stack(self, database: str, tag: str, partitions: int, instances: tuple[str, ...] = ("1",),
              warehouses: bool = False) -> Stack:
        """Fresh topics and databases, and `instances` of each service sharing its database;
        with `warehouses`, inventory runs the three of tools/bench/warehouses.py."""
        prefix = f"bench{uuid.uuid4().hex[:6]}{tag}."
        create_topics(self.bootstrap, prefix, partitions=partitions)
        home = self.run_dir / tag
        (home / "db").mkdir(parents=True, exist_ok=True)
        catalog = home / "catalog.csv"
        units = orders_per_database(self.args) // len(SKUS) + 10
        inventory_settings = {"CATALOG_PATH": str(catalog)}
        if warehouses:
            write_catalog_per_warehouse(catalog, units_per_sku=units)
            write_warehouses(home / "warehouses.json")
            inventory_settings["WAREHOUSES_PATH"] = str(home / "warehouses.json")
        else:
            write_catalog(catalog, units_per_sku=units)
        database_pid = None
        if database == "postgres":
            database_pid = self.start_postgres().pid()
        services: dict[str, ServiceProcess] = {}
        stack = Stack(self.bootstrap, prefix, Watcher(self.bootstrap, prefix), services, self.broker_pid, database_pid)
        self.stacks.append(stack)
        waves: list[list[ServiceProcess]] = [[] for _ in instances]
        for name in SERVICES:
            settings = {"KAFKA_CREATE_TOPICS": "false", "LOG_LEVEL": "WARNING",
                        **dict(item.split("=", 1) for item in self.args.service_setting)}
            if name == "inventory":
                settings.update(inventory_settings)
            url = self.postgres.create_database(f"{prefix.rstrip('.')}_{name}") if database == "postgres" else None
            for wave, instance in zip(waves, instances):
                key = name if len(instances) == 1 else f"{name} {instance}"
                services[key] = ServiceProcess(name, bootstrap=self.bootstrap, topic_prefix=prefix,
                                               db_dir=home / "db", instance=instance, settings=settings,
                                               database_url=url, log_dir=home / "logs")
                wave.append(services[key])
        # The services of a wave start together (each has its own database); a service's second
        # instance waits for its first, which has migrated the shared database and loaded the
        # catalogue by then.
        for wave in waves:
            with ThreadPoolExecutor(len(wave)) as pool:
                list(pool.map(lambda service: service.start(), wave))
        stack.watcher.start()
        return stack

    def stop(self, stack: Stack) -> None:
        stack.watcher.stop()
        for service in stack.services.values():
            service.stop()

    def close(self) -> None:
        for stack in self.stacks:
            self.stop(stack)
        if self.postgres is not None:
            self.postgres.stop()
            shutil.rmtree(self.postgres_dir, ignore_errors=True)
        if self.kafka is not None:
            self.kafka.stop()


def database_run(args, run: Run, database: str, ceiling_figures: dict) -> dict:
    say(f"bench: {DATABASE_LABELS[database]}: {args.orders} orders burst ({args.partitions} partitions)")
    stack = run.stack(database, database, args.partitions)
    try:
        section: dict = {"database": DATABASE_LABELS[database], "burst": burst(args, stack)}
        say(f"  burst: {json.dumps(section['burst'])}")
        if not args.skip_steady:
            say(f"bench: {database}: steady {args.rate}/s for {args.steady_seconds}s")
            section["steady"] = steady(args, stack)
        if args.http_seconds:
            say(f"bench: {database}: HTTP load, POST /orders {args.http_rate}/s for {args.http_seconds:g} s "
                f"with a {args.http_burst}-order Kafka burst")
            section["http"] = http_phase(args, stack, read_ids=[f"B{i:07d}" for i in range(min(args.orders, 5000))])
        section["peak_memory_mib"] = {n: r1(s.peak_rss_mib()) for n, s in stack.services.items()}
        section["stock"] = stock_balances(stack.first("inventory"))
    finally:
        run.stop(stack)
    section["verdict"] = verdict(section)
    section["against_ceiling"] = against_ceiling(section, ceiling_figures)
    return section


def warehouses_run(args, run: Run, single: dict) -> dict:
    say(f"bench: SQLite (WAL): {args.orders} orders burst from 3 warehouses")
    stack = run.stack("sqlite", "warehouses", args.partitions, warehouses=True)
    try:
        return warehouses_burst(args, stack, single)
    finally:
        run.stop(stack)


def scale_out_run(args, run: Run) -> dict:
    n = args.scale_out
    say(f"bench: scale-out: {n} instances of each service on PostgreSQL, {args.scale_partitions} partitions")
    stack = run.stack("postgres", "scaled", args.scale_partitions, instances=tuple("abcdefgh"[:n]))
    try:
        result = scale_out(args, stack, n)
    finally:
        run.stop(stack)
    result.update({"database": DATABASE_LABELS["postgres"], "instances_per_service": n,
                   "partitions": args.scale_partitions})
    result["verdict"] = scale_out_verdict(result)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    report: dict = {"machine": machine(), "partitions": args.partitions,
                    "service_settings": dict(item.split("=", 1) for item in args.service_setting),
                    "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "databases": {}}
    run = Run(args)
    try:
        # The broker alone first, while nothing else runs: a clean ceiling, and the broker's JIT
        # is warm when the services' burst starts (as it would be on a broker in service).
        size = len(order_event("B0000000", SKUS[0], datetime.now(UTC).isoformat()))
        say("bench: broker ceiling")
        broker_before = process_cpu_seconds(run.broker_pid) if run.broker_pid else None
        report["ceiling"] = ceiling(args, run.bootstrap, f"bench{uuid.uuid4().hex[:6]}.", size)
        if broker_before is not None:
            broker_ms = 1000 * (process_cpu_seconds(run.broker_pid) - broker_before) / args.orders
            report["ceiling"]["broker_cpu_ms_per_msg"] = round(broker_ms, 4)
            report["ceiling"]["cpu_ms_per_msg"] = round(broker_ms + report["ceiling"]["client_cpu_ms_per_msg"], 4)
        for database in args.databases:
            report["databases"][database] = database_run(args, run, database, report["ceiling"])
        if args.warehouses and "sqlite" in args.databases:
            report["warehouses"] = warehouses_run(args, run, report["databases"]["sqlite"]["burst"])
        if args.scale_out and "postgres" in args.databases:
            report["scale_out"] = scale_out_run(args, run)
        elif args.scale_out:
            say("bench: scale-out skipped: instances share a database, which SQLite cannot serve to several writers")
        if run.postgres is not None:
            report["postgres"] = (f"local PostgreSQL {run.postgres_version()}, fsync {args.postgres_fsync}")
        # Again at the end: on shared hosts the speed moves within one run.
        report["machine"]["cpu_reference_s_after"] = cpu_reference_s()
    finally:
        run.close()
    report["verdict"] = run_verdict(report)
    print(json.dumps(report, indent=2))
    print(run_summary(report))
    if args.write_docs:
        write_docs(report)
    shutil.rmtree(run.run_dir / "kafka", ignore_errors=True)
    return 0 if report["verdict"]["ok"] else 1
