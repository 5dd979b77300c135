"""The HTTP load phase: tools/bench/http_load.py's generator on orders and logistics while a
Kafka burst goes through the same services, then every order taken in by either way checked for
its outcome."""

from __future__ import annotations

import queue
import threading
import time

from shared.auth import ROLES, AuthSettings, issue_token
from tools.bench.common import say, wait_until
from tools.bench.http_load import intake_target, start_load
from tools.bench.kafka_io import publish
from tools.bench.phases import Stack, burst_orders, phase_checks, shipments


def http_phase(args, stack: Stack, read_ids: list[str]) -> dict:
    watcher, logistics = stack.watcher, stack.first("logistics")
    watcher.reset(0)
    # The services run with the deployment's secret (the development one unless AUTH_SECRET is
    # set), so the bench signs its own token as the platform and the warehouse would.
    token = issue_token(AuthSettings(), "bench", ROLES)
    urls = {"orders": stack.first("orders").url, "logistics": logistics.url}
    cpu_before = stack.cpu()
    process, results = start_load(urls, token, args.http_rate, args.http_seconds, args.http_connections,
                                  timeout_s=10.0, read_ids=read_ids)
    kind, started = results.get(timeout=60)
    assert kind == "started"
    kafka_orders = burst_orders(args.http_burst, id_prefix="K")
    published: dict = {}

    def send() -> None:
        begun = time.time()
        publish(stack.bootstrap, stack.prefix + "platform.orders", kafka_orders)
        published["s"] = round(time.time() - begun, 2)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        kind, load = results.get(timeout=args.http_seconds + 60)
    except queue.Empty:
        kind, load = "failed", "no answer from the load generator"
    process.join(30)
    if process.is_alive():
        process.kill()
    sender.join(120)
    if kind != "done":
        raise RuntimeError(f"the HTTP load generator failed: {load}")
    say("  http: " + ", ".join(f"{name} {e['requests_per_s']}/s p99 {e['latency_ms']['p99']} ms errors {e['errors']}"
                               for name, e in load["endpoints"].items()))
    accepted_ids = load.pop("accepted_order_ids")
    expected = len(accepted_ids) + len(kafka_orders)
    say(f"  http: {len(accepted_ids)} orders taken in over HTTP, {len(kafka_orders)} over Kafka; waiting for outcomes")
    finished = wait_until(lambda: watcher.done(id_prefix="H") + watcher.done(id_prefix="K") >= expected,
                          timeout_s=args.timeout, poll_s=0.5)
    all_done_s = round(time.time() - started, 2) if finished else None
    ids = accepted_ids + [order_id for order_id, _ in kafka_orders]
    with watcher.lock:
        reserved = [o for o in ids if o in watcher.stages["reserved"].seen]
        backordered = sum(1 for o in ids if o in watcher.stages["backordered"].seen)
        duplicates = {k: v.duplicates for k, v in watcher.stages.items()}
    wait_until(lambda: len(shipments(logistics, reserved)) >= len(reserved), timeout_s=60, poll_s=0.5)
    queued = len(shipments(logistics, reserved))
    cpu = stack.cpu()
    used = {name: round(cpu[name] - start, 1) for name, start in cpu_before.items()
            if start is not None and cpu.get(name) is not None}
    return {**load,
            "intake_target": intake_target(load["endpoints"]),
            "kafka_burst": {"orders": len(kafka_orders), "publish_s": published.get("s"),
                            "everything_decided_s": all_done_s},
            "orders_taken_in_over_http": len(accepted_ids),
            "cpu_seconds": used,
            "checks": phase_checks(sent=expected, reserved=len(reserved), backordered=backordered, queued=queued,
                                   duplicates=duplicates)}
