"""Scale-out: the burst again on PostgreSQL with two instances of each service, each pair in one
consumer group per topic and sharing its service's database (as tests/faults/test_scaling_out.py
runs them). On a 2-core machine two instances are not faster; what this measures is each
instance's own share and CPU cost, and that nothing is lost, duplicated or oversold."""

from __future__ import annotations

import re
import time

import httpx

from tools.bench.common import say, wait_until
from tools.bench.kafka_io import group_members
from tools.bench.phases import Stack, burst, doubled_shipments, stock_balances
from tools.processes import ServiceProcess

# What each service's own work is counted by: the events of its main topic it consumed, of the
# type that starts its part of an order's way (its handled orders), and the burst stage it bounds.
MAIN = {"orders": ("platform.orders", "order.placed", "all_accepted_s"),
        "inventory": ("orders.events", "order.accepted", "all_reserved_or_backordered_s"),
        "logistics": ("inventory.reservations", "stock.reserved", "all_queued_s")}


def handled(service: ServiceProcess, prefix: str) -> int:
    """Orders this instance handled: its peak_events_consumed_total for its main topic and type."""
    topic, type_, _stage = MAIN[service.name]
    text = httpx.get(service.url + "/metrics", timeout=10).text
    return consumed_from_metrics(text, prefix + topic, type_)


def consumed_from_metrics(text: str, topic: str, type_: str) -> int:
    total = 0.0
    for labels, value in re.findall(r"^peak_events_consumed_total\{([^}]*)\} (\S+)$", text, re.MULTILINE):
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if found.get("topic") == topic and found.get("type") == type_:
            total += float(value)
    return int(total)


def wait_for_groups(stack: Stack, instances: int, timeout_s: float = 90) -> None:
    """Every instance holds partitions of its service's main topic before the clock starts."""
    for name, (topic, _type, _stage) in MAIN.items():
        group = f"{stack.prefix}{name}.{topic}"
        if not wait_until(lambda: group_members(stack.bootstrap, group) >= instances, timeout_s=timeout_s, poll_s=1):
            raise RuntimeError(f"{group}: fewer than {instances} members holding partitions after {timeout_s} s")


def scale_out(args, stack: Stack, instances: int) -> dict:
    started = time.time()
    wait_for_groups(stack, instances)
    say(f"  scale-out: every group has {instances} members holding partitions ({time.time() - started:.1f} s)")
    before = {key: handled(s, stack.prefix) for key, s in stack.services.items()}
    result = burst(args, stack, n=args.scale_orders or args.orders)
    after = {key: handled(s, stack.prefix) for key, s in stack.services.items()}
    cpu = result["cpu"]["seconds"]
    result["instances"] = per_instance(stack.services, before, after, cpu, result)
    result["doubled_shipments"] = doubled_shipments(stack.first("logistics"))
    result["stock"] = stock_balances(stack.first("inventory"))
    return result


def per_instance(services: dict[str, ServiceProcess], before: dict[str, int], after: dict[str, int],
                 cpu_s: dict[str, float], burst_result: dict) -> dict:
    """Each instance's handled orders, its rate over its service's stage time, and its CPU ms per
    order it handled."""
    out = {}
    for key, service in services.items():
        count = after[key] - before[key]
        stage_s = burst_result.get(MAIN[service.name][2])
        seconds = cpu_s.get(key)
        out[key] = {"handled": count,
                    "share": round(count / max(burst_result["orders"], 1), 3),
                    "orders_per_s": round(count / stage_s) if stage_s else None,
                    "cpu_s": seconds,
                    "cpu_ms_per_handled_order": round(1000 * seconds / count, 3) if seconds is not None and count
                    else None}
    return out
