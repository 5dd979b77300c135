"""The two phases every database gets: a burst (N orders published as fast as the client can,
timed until each is accepted, reserved or backordered, and when reserved in the dispatch queue)
and a steady stream (a fixed rate for a fixed time; latency from publication to stock.reserved
and to the shipment row). Each says what it lost or doubled."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from tools.bench.common import (SKUS, cpu_snapshot, cpu_used, order_event, progress, quantiles, rate, say, since,
                                wait_until)
from tools.bench.kafka_io import Watcher, publish, start_paced, wait_for_idle
from tools.processes import ServiceProcess


@dataclass
class Stack:
    """One set of running services on one database, with its topics and the watcher on them.
    `services` is keyed by instance name ("orders", or "orders a" and "orders b" scaled out)."""

    bootstrap: str
    prefix: str
    watcher: Watcher
    services: dict[str, ServiceProcess]
    broker_pid: int | None = None
    database_pid: int | None = None

    def first(self, service: str) -> ServiceProcess:
        """An instance of `service`, to read the database its instances share."""
        return next(s for s in self.services.values() if s.name == service)

    def cpu(self) -> dict[str, float | None]:
        return cpu_snapshot(self.services, self.broker_pid, self.database_pid)


def shipments(logistics: ServiceProcess, order_ids: list[str] | None = None) -> dict[str, datetime]:
    rows = logistics.sql("select order_id, created_at from logistics_shipment where replacement_for_case is null")
    wanted = set(order_ids) if order_ids is not None else None
    out = {}
    for order_id, created in rows:
        if wanted is None or order_id in wanted:
            out[order_id] = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
    return out


def shipment_count(logistics: ServiceProcess) -> int:
    return logistics.sql("select count(*) from logistics_shipment")[0][0]


def doubled_shipments(logistics: ServiceProcess) -> int:
    """Orders with more than one (non-replacement) shipment: a reservation handled twice."""
    return logistics.sql("select count(*) from (select order_id from logistics_shipment where replacement_for_case "
                         "is null group by order_id having count(*) > 1) doubled")[0][0]


def stock_balances(inventory: ServiceProcess) -> dict:
    rows = inventory.sql("select sku, on_hand, reserved from inventory_sku")
    oversold = [sku for sku, on_hand, reserved in rows if reserved > on_hand or on_hand < 0]
    return {"skus": len(rows), "oversold_skus": oversold,
            "reserved_units": sum(r for _, _, r in rows), "on_hand_units": sum(o for _, o, _ in rows)}


def burst_orders(n: int, id_prefix: str = "B", regions: tuple[str, ...] = ("Shanghai",)) -> list[tuple[str, bytes]]:
    paid_at = datetime.now(UTC).isoformat()
    return [(f"{id_prefix}{i:07d}", order_event(f"{id_prefix}{i:07d}", SKUS[i % len(SKUS)], paid_at,
                                                regions[i % len(regions)]))
            for i in range(n)]


def burst(args, stack: Stack, n: int | None = None, regions: tuple[str, ...] = ("Shanghai",)) -> dict:
    n = args.orders if n is None else n
    orders = burst_orders(n, regions=regions)
    watcher, logistics = stack.watcher, stack.first("logistics")
    watcher.reset(n)
    before = shipment_count(logistics)
    cpu_before = stack.cpu()
    started = time.time()
    publish_s = publish(stack.bootstrap, stack.prefix + "platform.orders", orders)
    progress("burst: published", n, publish_s)
    finished = wait_until(lambda: watcher.done(n) >= n, timeout_s=args.timeout, poll_s=0.5)
    reserved = len(watcher.stages["reserved"].seen)
    queued_ok = wait_until(lambda: shipment_count(logistics) - before >= reserved,
                           timeout_s=args.timeout if finished else 1, poll_s=0.5)
    ended = time.time()
    cpu = cpu_used(cpu_before, stack.cpu(), n, ended - started)
    stages = watcher.stages
    result = {
        "orders": n,
        "publish_s": round(publish_s, 2),
        "publish_orders_per_s": round(n / publish_s),
        "all_accepted_s": since(started, stages["accepted"].reached_at),
        "all_reserved_or_backordered_s": since(started, max(filter(None, [
            max(stages["reserved"].seen.values(), default=None),
            max(stages["backordered"].seen.values(), default=None)]), default=None)) if finished else None,
        "all_queued_s": round(ended - started, 2) if queued_ok else None,
        "accepted": len(stages["accepted"].seen),
        "rejected": len(stages["rejected"].seen),
        "reserved": reserved,
        "backordered": len(stages["backordered"].seen),
        "queued": shipment_count(logistics) - before,
        "duplicate_events": {k: v.duplicates for k, v in stages.items()},
        "completed": finished and queued_ok,
        "cpu": cpu,
    }
    result["checks"] = phase_checks(sent=n, reserved=result["reserved"], backordered=result["backordered"],
                                    queued=result["queued"], duplicates=result["duplicate_events"],
                                    completed=finished)
    result["end_to_end_orders_per_s"] = round(n / (ended - started)) if result["completed"] else None
    # Stages run concurrently; each figure is the rate at which all orders had passed that stage.
    result["stage_orders_per_s"] = {
        "orders (accepted)": rate(n, result["all_accepted_s"]),
        "inventory (reserved or backordered)": rate(n, result["all_reserved_or_backordered_s"]),
        "logistics (in the dispatch queue)": rate(n, result["all_queued_s"]),
    }
    return result


def steady(args, stack: Stack) -> dict:
    idle_after_s = wait_for_idle(stack.bootstrap, stack.prefix, timeout_s=args.timeout)
    say(f"  steady: every consumer group caught up {idle_after_s} s after the burst")
    watcher, logistics = stack.watcher, stack.first("logistics")
    cpu_before, started = stack.cpu(), time.time()
    total = args.rate * args.steady_seconds
    watcher.reset(total)
    process, results = start_paced(stack.bootstrap, stack.prefix + "platform.orders", args.rate, args.steady_seconds)
    sent_at, i, send_s = results.get(timeout=args.steady_seconds + 120)
    process.join(30)
    wait_until(lambda: watcher.done(total) >= total, timeout_s=args.timeout, poll_s=0.5)
    with watcher.lock:
        reserved_at = {o: watcher.stages["reserved"].seen[o] for o in sent_at if o in watcher.stages["reserved"].seen}
        backordered = sum(1 for o in sent_at if o in watcher.stages["backordered"].seen)
        duplicates = {k: v.duplicates for k, v in watcher.stages.items()}
        hops = hop_split(sent_at, watcher.stages["accepted"].handed_over, watcher.stages["reserved"].handed_over,
                         reserved_at)
    reserved_lat = [(reserved_at[o] - t) * 1000 for o, t in sent_at.items() if o in reserved_at]
    wait_until(lambda: len(shipments(logistics, list(sent_at))) >= len(reserved_lat), timeout_s=60)
    created = shipments(logistics, list(sent_at))
    shipment_lat = [(created[o].timestamp() - t) * 1000 for o, t in sent_at.items() if o in created]
    # Small batches cost more per order than the burst's: this says how busy the cores were.
    cpu = cpu_used(cpu_before, stack.cpu(), i, time.time() - started)
    return {
        "waited_for_idle_s": idle_after_s,
        "rate_per_s": args.rate, "seconds": args.steady_seconds, "sent": i, "send_s": round(send_s, 1),
        "reserved": len(reserved_lat), "backordered": backordered, "shipments_created": len(shipment_lat),
        "duplicate_events": duplicates,
        "checks": phase_checks(sent=i, reserved=len(reserved_lat), backordered=backordered,
                               queued=len(shipment_lat), duplicates=duplicates),
        **kept_up(sent_at, reserved_at, args.rate),
        "cpu": cpu,
        "to_stock_reserved_ms": quantiles(reserved_lat),
        "to_shipment_created_ms": quantiles(shipment_lat),
        "hops_ms": hops,
    }


def hop_split(sent_at: dict[str, float], accepted_handed: dict[str, float], reserved_handed: dict[str, float],
              reserved_seen: dict[str, float]) -> dict:
    """Where paid -> reserved goes, hop by hop, from the Kafka timestamps of the two events (set
    when each service's relay handed the event over, just after its commit): the platform's send
    and the orders service; the inventory service, including the delivery of order.accepted to
    it; and the delivery of stock.reserved to the watcher. All on one machine, so one clock."""
    orders = [o for o in sent_at if o in accepted_handed and o in reserved_handed and o in reserved_seen]
    return {
        "paid_to_accepted_handed_over (orders)": quantiles([(accepted_handed[o] - sent_at[o]) * 1000 for o in orders]),
        "accepted_to_reserved_handed_over (inventory)": quantiles(
            [(reserved_handed[o] - accepted_handed[o]) * 1000 for o in orders]),
        "reserved_handed_over_to_seen (broker and watcher)": quantiles(
            [(reserved_seen[o] - reserved_handed[o]) * 1000 for o in orders]),
    }


def kept_up(sent_at: dict[str, float], reserved_at: dict[str, float], rate: int) -> dict:
    """Whether the services handled the offered rate. When they cannot, orders queue and the
    latency quantiles measure the queue (they grow with the phase's length), not the services."""
    if not sent_at or not reserved_at:
        return {"handled_per_s": None, "drained_s_after_last_send": None, "kept_up": False}
    first_sent, last_sent = min(sent_at.values()), max(sent_at.values())
    last_reserved = max(reserved_at.values())
    handled = len(reserved_at) / max(last_reserved - first_sent, 1e-9)
    return {"handled_per_s": round(handled), "drained_s_after_last_send": round(last_reserved - last_sent, 2),
            # 5% slack: the paced sender itself runs a little behind the rate on a busy machine.
            "kept_up": handled >= 0.95 * rate}


def phase_checks(*, sent: int, reserved: int, backordered: int, queued: int, duplicates: dict[str, int],
                 completed: bool = True) -> dict:
    """What one phase lost or doubled. Lost: sent but neither reserved nor backordered (the watcher
    saw no outcome) once the phase had finished; when it ran out of its time limit first, those
    orders are `unfinished` instead (the services are stopped then, so whether they would have come
    through is not known; a run with any is not a passing run either). Not queued: reserved but no
    shipment in the dispatch queue. Duplicated: an outcome event seen twice for one order (an event
    id twice, or the same order decided twice)."""
    missing = sent - (reserved + backordered)
    return {"lost": missing if completed else 0, "unfinished": 0 if completed else missing,
            "not_queued": reserved - queued, "duplicated_events": sum(duplicates.values())}
