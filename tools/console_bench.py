"""How long the console's pages take on the server with a peak's worth of data behind them.

A measurement, not a test (issue 30: pages under 300 ms of server time with 100,000 orders and
shipments stored). The run:

1. starts the local broker, the four services and the console as processes, with a catalogue
   deep enough that every order is reserved;
2. publishes N orders to platform.orders (the benchmark's own order events) and waits until
   logistics holds a shipment for each, so orders, inventory and logistics each store N;
3. signs in as an administrator and as warehouse and support staff, and asks each page once
   (reported apart as `first`: a service's first answer fills its caches) and then R times in turn, reading the console's own `Server-Timing` header (the time from the request reaching
   the console to its answer, the services' calls included), and prints p50 / p95 / max per
   page as JSON and as a table;
4. asks the services' own read routes behind the busiest screens (`/sla`, `/stats`, `/queue`)
   the same way, timed at the client over loopback (an upper bound of their server time).

`--reuse` keeps the databases of an earlier run in `--run-dir` and skips the publishing when
they already hold the orders (the services start on fresh topics; only their stored rows count).

    python -m tools.console_bench --orders 100000 --run-dir var/console-bench
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from console.users import hash_password
from deploy import localkafka
from shared.auth import AuthSettings, issue_token
from shared.topics import create_topics
from tools.bench import SKUS, cpu_reference_s, order_event, publish, shipment_count, write_catalog
from tools.processes import REPO_ROOT, ServiceProcess, free_port

SERVICES = ("orders", "inventory", "logistics", "aftersales")
# Pages per role, `{order}` and `{sku}` filled in from the data; a page the console does not have
# (404) is reported as such rather than timed.
PAGES = {
    "admin": ["/warroom", "/warroom/data", "/overview", "/stock", "/orders?q={order}", "/orders/{order}"],
    "warehouse": ["/dispatch", "/dispatch/sla", "/dispatch/live", "/dispatch/dock"],
    "support": ["/returns", "/complaints", "/orders/{order}"],
}
# The services' routes behind those pages, asked directly with an administrator's token.
SERVICE_ROUTES = {"logistics": ["/sla", "/sla?at_risk_limit=20", "/sla/series?bucket=hour", "/queue?limit=50", "/dock"],
                  "orders": ["/stats", "/stats/series?bucket=minute", "/orders/{order}"],
                  "inventory": ["/stock?limit=50"]}


def start_console(services: dict[str, ServiceProcess], bootstrap: str, prefix: str, passwords: dict[str, str],
                  log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    users = {role: {"roles": [role], "password_hash": hash_password(password, iterations=100_000)}
             for role, password in passwords.items()}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")},
           "CONSOLE_HTTP_PORT": str(port), "CONSOLE_USERS": json.dumps(users), "CONSOLE_LOG_LEVEL": "WARNING",
           **{f"CONSOLE_{name.upper()}_URL": service.url for name, service in services.items()},
           "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC_PREFIX": prefix}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "console"], cwd=REPO_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"console not up after 30 s; see {log_path}")


def signed_in(url: str, role: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60, headers={"Origin": url})
    answer = client.post("/signin", data={"username": role, "password": password, "next": ""})
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in as {role} answered {answer.status_code}")
    return client


def server_ms(answer: httpx.Response) -> float:
    """The console's own figure from `Server-Timing: app;dur=<ms>`."""
    for part in answer.headers.get("server-timing", "").split(";"):
        if part.strip().startswith("dur="):
            return float(part.strip()[4:])
    raise RuntimeError(f"{answer.request.url} has no Server-Timing header")


def time_pages(clients: dict[str, httpx.Client], fill: dict[str, str], repeats: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for role, paths in PAGES.items():
        for template in paths:
            path = template.format(**fill)
            label = f"{role} {template}"
            first = clients[role].get(path)
            if first.status_code == 404:
                results[label] = {"status": 404}
                continue
            timings, statuses = [], {first.status_code}
            for _ in range(repeats):
                answer = clients[role].get(path)
                statuses.add(answer.status_code)
                timings.append(server_ms(answer))
            results[label] = _quantiles(timings, statuses) | {"first_ms": round(server_ms(first), 1)}
    return results


def time_routes(services: dict[str, ServiceProcess], fill: dict[str, str], repeats: int) -> dict[str, dict]:
    token = issue_token(AuthSettings(), "console-bench", ["admin"])
    results: dict[str, dict] = {}
    for name, paths in SERVICE_ROUTES.items():
        with httpx.Client(base_url=services[name].url, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            for template in paths:
                path = template.format(**fill)
                started = time.perf_counter()
                first = client.get(path)
                first_ms = (time.perf_counter() - started) * 1000
                timings, statuses = [], {first.status_code}
                for _ in range(repeats):
                    started = time.perf_counter()
                    answer = client.get(path)
                    timings.append((time.perf_counter() - started) * 1000)
                    statuses.add(answer.status_code)
                results[f"{name} {template}"] = _quantiles(timings, statuses) | {"first_ms": round(first_ms, 1)}
    return results


def _quantiles(timings: list[float], statuses: set[int]) -> dict:
    timings.sort()
    return {"status": sorted(statuses), "p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 1),
            "p99_ms": round(timings[max(0, int(len(timings) * 0.99) - 1)], 1), "max_ms": round(timings[-1], 1)}


def seed(services: dict[str, ServiceProcess], bootstrap: str, prefix: str, orders: int, timeout_s: float) -> str:
    paid_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    batch = [(f"CB{i:08d}", order_event(f"CB{i:08d}", SKUS[i % len(SKUS)], paid_at)) for i in range(orders)]
    seconds = publish(bootstrap, prefix + "platform.orders", batch)
    print(f"console-bench: {orders} orders published in {seconds:.1f} s", file=sys.stderr)
    deadline = time.monotonic() + timeout_s
    while shipment_count(services["logistics"]) < orders:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {shipment_count(services['logistics'])} of {orders} shipments after {timeout_s} s")
        time.sleep(2)
    return batch[len(batch) // 2][0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.console_bench")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900, help="longest wait for the orders to be stored, s")
    parser.add_argument("--run-dir", type=Path, default=REPO_ROOT / "var" / "console-bench")
    parser.add_argument("--reuse", action="store_true", help="keep the databases of an earlier run in --run-dir")
    args = parser.parse_args(argv)

    db_dir = args.run_dir / "db"
    if not args.reuse and db_dir.exists():
        for old in db_dir.glob("*.sqlite*"):
            old.unlink()
    db_dir.mkdir(parents=True, exist_ok=True)
    catalog = args.run_dir / "catalog.csv"
    write_catalog(catalog, units_per_sku=args.orders // len(SKUS) + 10)
    cluster = localkafka.start(port=None, brokers=1, base_dir=args.run_dir / "kafka")
    prefix = f"cb{uuid.uuid4().hex[:6]}."
    services: dict[str, ServiceProcess] = {}
    console: subprocess.Popen[bytes] | None = None
    clients: dict[str, httpx.Client] = {}
    try:
        create_topics(cluster.bootstrap_servers, prefix, partitions=6)
        for name in SERVICES:
            settings = {"LOG_LEVEL": "WARNING"} | ({"CATALOG_PATH": str(catalog)} if name == "inventory" else {})
            services[name] = ServiceProcess(name, bootstrap=cluster.bootstrap_servers, topic_prefix=prefix,
                                            db_dir=db_dir, settings=settings, log_dir=args.run_dir / "logs").start()
        stored = shipment_count(services["logistics"])
        if stored >= args.orders:
            order = services["orders"].sql("select order_id from order_record limit 1 offset :n",
                                           n=stored // 2)[0][0]
            print(f"console-bench: reusing {stored} stored orders", file=sys.stderr)
        else:
            order = seed(services, cluster.bootstrap_servers, prefix, args.orders - stored, args.timeout)
        passwords = {role: secrets.token_urlsafe(12) for role in PAGES}
        console, url = start_console(services, cluster.bootstrap_servers, prefix, passwords,
                                     args.run_dir / "logs" / "console.log")
        clients = {role: signed_in(url, role, password) for role, password in passwords.items()}
        figures = time_pages(clients, {"order": order, "sku": SKUS[0]}, args.repeats)
        figures |= time_routes(services, {"order": order}, args.repeats * 5)
        report = {"orders_stored": shipment_count(services["logistics"]), "repeats": args.repeats,
                  "cpu_reference_s": cpu_reference_s(), "pages": figures}
    finally:
        for client in clients.values():
            client.close()
        if console is not None and console.poll() is None:
            console.send_signal(signal.SIGTERM)
            console.wait(15)
        for service in services.values():
            service.stop()
        cluster.stop()
    print(json.dumps(report, indent=2))
    print(f"\n{'page or route':<46} {'first':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, row in figures.items():
        if "p50_ms" in row:
            print(f"{label:<46} {row['first_ms']:>8} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8}"
                  f"  {row['status']}")
        else:
            print(f"{label:<46} {'(no such page)':>35}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
