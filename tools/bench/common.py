"""What every phase of the bench shares: the orders it publishes, the catalogue that covers them,
waits, quantiles, and where the CPU went."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

from deploy import localkafka
from shared.settings import REPO_ROOT
from tools.processes import ServiceProcess, process_cpu_seconds

BENCH_DIR = REPO_ROOT / "var" / "bench"
SKUS = [f"SKU-B{i:03d}" for i in range(40)]


def order_event(order_id: str, sku: str, paid_at: str, region: str = "Shanghai") -> bytes:
    """A valid order.placed envelope; built as text because the generator must outrun the system."""
    return (
        '{"specversion":"1.0","id":"%s","source":"bench","type":"order.placed","time":"%s",'
        '"subject":"%s","datacontenttype":"application/json","data":%s}'
        % (uuid.uuid4(), paid_at, order_id, order_data(order_id, sku, paid_at, region))
    ).encode()


def order_data(order_id: str, sku: str, paid_at: str, region: str = "Shanghai") -> str:
    """The order itself, as JSON text: the event's `data`, and the body of POST /orders."""
    # The customer is the order number's last six digits, so a customer places one order in a
    # million: with four digits a 400,000-order run gave each 40 orders, and the abuse guard's
    # customer rule (30 in 10 minutes by default) would hold some, which the bench waits for.
    return ('{"order_id":"%s","customer_id":"C-%s","order_type":"standard","lines":[{"sku":"%s","quantity":1,'
            '"unit_price":"59.90","gift":false}],"discount":"0.00","paid_amount":"59.90","paid_at":"%s",'
            '"region":"%s","currency":"CNY"}' % (order_id, order_id[-6:], sku, paid_at, region))


def write_catalog(path: Path, units_per_sku: int) -> None:
    lines = ["sku,name,tier,planned_stock,on_hand,forecast,threshold_percent"]
    for sku in SKUS:
        lines.append(f"{sku},Bench item {sku},traffic_driver,{units_per_sku},{units_per_sku},,")
    path.write_text("\n".join(lines) + "\n")


def wait_until(condition, timeout_s: float, poll_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return False


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def quantiles(values: list[float]) -> dict:
    return {"p50": r1(percentile(values, 50)), "p95": r1(percentile(values, 95)), "p99": r1(percentile(values, 99)),
            "max": r1(max(values) if values else None), "mean": r1(statistics.fmean(values) if values else None)}


def r1(v: float | None) -> float | None:
    return round(v, 1) if v is not None else None


def since(start: float, at: float | None) -> float | None:
    return round(at - start, 2) if at else None


def rate(n: int, seconds: float | None) -> int | None:
    return round(n / seconds) if seconds else None


def progress(what: str, n: int, seconds: float) -> None:
    say(f"  {what}: {n} in {seconds:.1f}s ({n / seconds:.0f}/s)")


_STARTED = time.monotonic()


def say(text: str) -> None:
    """A progress line on stderr, with the seconds since the run started."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {text}", file=sys.stderr)


def tree_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds of a server and its direct children, living and exited: PostgreSQL does its
    work in one backend process per connection, children of the postmaster."""
    own = process_cpu_seconds(pid)
    if own is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # cutime and cstime (fields 16 and 17 of stat): children that have exited and been reaped.
        total = own + (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if stat[1] == str(pid):
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def cpu_snapshot(services: dict[str, ServiceProcess], broker_pid: int | None,
                 database_pid: int | None = None) -> dict[str, float | None]:
    """CPU seconds used so far by each service, the broker (when the bench started it), the
    database server (PostgreSQL) and the bench itself (its producer and the watcher thread):
    where a run's cores went."""
    snapshot = {**{name: s.cpu_seconds() for name, s in services.items()},
                "broker": process_cpu_seconds(broker_pid) if broker_pid else None}
    if database_pid:
        snapshot["postgres"] = tree_cpu_seconds(database_pid)
    snapshot["bench (producer and watcher)"] = time.process_time()
    return snapshot


def cpu_used(before: dict[str, float | None], after: dict[str, float | None], orders: int,
             elapsed_s: float) -> dict:
    used = {name: round(after[name] - start, 1) for name, start in before.items()
            if start is not None and after.get(name) is not None}
    return {"seconds": used, "total_s": round(sum(used.values()), 1),
            "ms_per_order": round(1000 * sum(used.values()) / max(orders, 1), 2),
            "ms_per_order_by_process": {name: round(1000 * s / max(orders, 1), 3) for name, s in used.items()},
            # The machine's CPU budget is cores x seconds; the above is how the phase spent it.
            "available_s": round((os.cpu_count() or 1) * elapsed_s, 1)}


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                          if l.startswith("MemTotal")).split()[1])
    except Exception:
        mem_kb = 0
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_kb / 1024 / 1024, 1),
            "cpu_reference_s": cpu_reference_s(),
            "python": platform.python_version(), "kafka": localkafka.KAFKA_VERSION,
            "os": platform.platform()}


def cpu_reference_s(iterations: int = 5_000_000, repeats: int = 3) -> float:
    """Seconds one core takes for a fixed pure-Python loop, best of `repeats`; taken before the
    run starts anything and again at its end. The model name says nothing of the speed: machines
    reporting the same "AMD EPYC" gave the same code 0.73 and 2.33 CPU ms per order, so runs are
    compared by this."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(iterations):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)
