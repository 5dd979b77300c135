"""Shared pieces of the fault-injection tests: order bursts, kill moments, and the end-state
audit that proves nothing was lost, duplicated or reserved twice.

Every audit prints what it counted, so a test's output reads as the evidence:
orders published / accepted once / decided once, reserved units per sku against the reserved
orders' lines, the ledger, shipments, aftersales purchases, dead letters.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.support.kafka import Message, cloud_event
from tests.support.services import ServiceProcess
from tests.support.world import World

PAID_AT = datetime(2026, 11, 11, 0, 0, 3, tzinfo=UTC)


def seeded_rng(name: str) -> random.Random:
    """FAULTS_SEED=<n> replays a run's kill moments and orders; the seed is printed."""
    seed = int(os.environ.get("FAULTS_SEED") or random.SystemRandom().randrange(1, 10**6))
    say(name, f"seed {seed} (rerun with FAULTS_SEED={seed})")
    return random.Random(seed)


def say(tag: str, text: str) -> None:
    print(f"[faults:{tag}] {text}", flush=True)


# ---------------------------------------------------------------------------------------------
# Catalog and orders


@dataclass(frozen=True)
class Sku:
    sku: str
    tier: str
    on_hand: int
    price: Decimal


def write_catalog(directory: Path, skus: Iterable[Sku]) -> Path:
    path = directory / f"catalog-{uuid.uuid4().hex[:6]}.csv"
    path.write_text("sku,name,tier,planned_stock,on_hand\n"
                    + "".join(f"{s.sku},{s.sku} item,{s.tier},{s.on_hand},{s.on_hand}\n" for s in skus))
    return path


def make_orders(rng: random.Random, count: int, prefix: str, skus: list[Sku], *,
                scarce: Sku | None = None, scarce_share: float = 0.25) -> list[dict[str, Any]]:
    """`order.placed` data: 1-2 lines of 1-3 units, some free gifts, about 10% presale (deposit)
    and some high-value baskets; `scarce` (if given) joins a share of the orders."""
    orders = []
    for n in range(count):
        order_id = f"{prefix}-{n:05d}"
        chosen = rng.sample(skus, rng.randint(1, min(2, len(skus))))
        if scarce is not None and rng.random() < scarce_share:
            chosen.append(scarce)
        lines = [{"sku": s.sku, "quantity": rng.randint(1, 3), "unit_price": str(s.price), "gift": False}
                 for s in chosen]
        if rng.random() < 0.1:
            lines.append({"sku": skus[0].sku, "quantity": 1, "unit_price": "0.00", "gift": True})
        total = sum(Decimal(line["unit_price"]) * line["quantity"] for line in lines)
        paid_at = PAID_AT + timedelta(milliseconds=rng.randint(0, 3_600_000))
        order: dict[str, Any] = {
            "order_id": order_id, "customer_id": f"C-{rng.randint(1, 500)}", "order_type": "standard",
            "lines": lines, "discount": "0.00", "paid_amount": f"{total:.2f}",
            "paid_at": paid_at.isoformat(), "region": rng.choice(["Shanghai", "Beijing", "Chengdu"]),
            "currency": "CNY",
        }
        if rng.random() < 0.1:
            order["order_type"] = "presale"
            order["deposit"] = f"{(total / 5).quantize(Decimal('0.01'))}"
        orders.append(order)
    return orders


def needs(order: dict[str, Any]) -> Counter[str]:
    """Units the order takes per sku (gift lines need stock too)."""
    units: Counter[str] = Counter()
    for line in order["lines"]:
        units[line["sku"]] += line["quantity"]
    return units


def placed_events(orders: Iterable[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return [(o["order_id"], json.dumps(cloud_event("order.placed", o, subject=o["order_id"], source="checkout"))
             .encode()) for o in orders]


class IdempotentPublisher:
    """The platform's side: an idempotent producer (acks=all) that resends whatever was not
    acknowledged, as a checkout service would. A resend carries the same event id."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                       linger_ms=5, request_timeout_ms=15000, delivery_timeout_ms=60000)
        self.resent = 0

    def send_all(self, topic: str, items: list[tuple[str, bytes]], *, deadline_s: float = 180.0,
                 chunk: int = 0, pause_s: float = 0.0) -> None:
        """Sends everything, in chunks with a pause between them (a burst spread over time);
        anything unacknowledged is sent again until the deadline."""
        deadline = time.monotonic() + deadline_s
        pending = list(items)
        while pending:
            failed: list[tuple[str, bytes]] = []
            step = chunk or len(pending)
            for start in range(0, len(pending), step):
                part = pending[start:start + step]
                futures = [(item, self._producer.send(topic, key=item[0].encode(), value=item[1])) for item in part]
                self._producer.flush(timeout=90)
                for item, future in futures:
                    try:
                        future.get(timeout=1)
                    except Exception:
                        failed.append(item)
                if pause_s:
                    time.sleep(pause_s)
            if failed and time.monotonic() > deadline:
                raise AssertionError(f"{len(failed)} orders still unacknowledged by the brokers")
            self.resent += len(failed)
            pending = failed

    def close(self) -> None:
        self._producer.close(timeout=10)


# ---------------------------------------------------------------------------------------------
# Waiting and measuring


def wait_until(condition: Callable[[], Any], *, timeout_s: float, what: str, interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        try:
            last = condition()
            if last:
                return last
        except Exception as exc:  # a database busy for a moment, a service restarting
            last = repr(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout_s:.0f}s (last: {last!r})")
        time.sleep(interval_s)


def scalar(service: ServiceProcess, query: str, **params: Any) -> int:
    return int(service.sql(query, **params)[0][0] or 0)


PROGRESS_SQL = {
    "orders": "select count(*) from order_record where order_id like :p",
    "inventory": "select count(*) from inventory_reservation where order_id like :p",
    "logistics": "select count(*) from logistics_shipment where order_id like :p and replacement_for_case is null",
    "aftersales": "select count(*) from aftersales_purchase where order_id like :p and accepted = :t",
}
"""Orders a service has committed its part for (its own database), per order-id prefix."""


def progress(service: ServiceProcess, order_prefix: str = "") -> int:
    return scalar(service, PROGRESS_SQL[service.name], p=f"{order_prefix}%", t=True)


def outbox_states(service: ServiceProcess) -> dict[str, int]:
    return {state: int(n) for state, n in service.sql("select state, count(*) from outbox_message group by state")}


def consumed_total(service: ServiceProcess) -> float:
    """peak_events_consumed_total over all topics and types, from the service's /metrics."""
    with service.client() as http:
        text = http.get("/metrics").text
    return sum(float(v) for v in re.findall(r"^peak_events_consumed_total\{[^}]*\} (\S+)$", text, re.MULTILINE))


def read_to_end(bootstrap: str, topics: list[str], timeout_s: float = 60.0) -> dict[str, list[Message]]:
    """Everything on `topics` up to their current end offsets (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_poll_records=5000)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        out: dict[str, list[Message]] = {t: [] for t in topics}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topics} to their end within {timeout_s}s")
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    out[r.topic].append(Message(
                        r.topic, r.partition, r.offset, r.key.decode() if r.key is not None else None,
                        r.value or b"", {k: v.decode("utf-8", "replace") for k, v in (r.headers or [])}))
        return out
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------
# The audit


@dataclass
class Expectation:
    """What the run must end with."""

    orders: list[dict[str, Any]]
    stock: dict[str, int]  # sku -> units on hand at the start (nothing is dispatched in these runs)
    all_reserved: bool = False  # ample stock: the single-instance result is exact


@dataclass
class Audit:
    tag: str
    world: World
    services: dict[str, ServiceProcess]
    expect: Expectation
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def order_ids(self) -> set[str]:
        return {o["order_id"] for o in self.expect.orders}

    def wait_settled(self, timeout_s: float = 240.0) -> None:
        """Until every order went through every service present and every outbox is drained
        (rows claimed by a killed relay come back after their lease, 30 s)."""
        n = len(self.expect.orders)
        s = self.services
        started = time.monotonic()
        decided = ("select count(*) from order_record where status in ('reserved', 'backordered')"
                   if "inventory" in s else "select count(*) from order_record")
        wait_until(lambda: scalar(s["orders"], decided) >= n, timeout_s=timeout_s,
                   what=f"{n} orders in their final state in the orders service")
        if "inventory" in s:
            wait_until(lambda: scalar(s["inventory"], "select count(*) from inventory_reservation") >= n,
                       timeout_s=timeout_s, what=f"{n} orders decided by inventory")
        if "logistics" in s:
            wait_until(lambda: progress(s["logistics"]) >= scalar(
                s["inventory"], "select count(*) from inventory_reservation where status = 'reserved'"),
                timeout_s=timeout_s, what="a shipment for every reserved order")
        if "aftersales" in s:
            wait_until(lambda: progress(s["aftersales"]) >= n, timeout_s=timeout_s,
                       what=f"{n} purchases known to aftersales")
        for name, service in s.items():
            wait_until(lambda: set(outbox_states(service)) <= {"published"}, timeout_s=timeout_s,
                       what=f"{name}'s outbox drained")
        say(self.tag, f"settled {time.monotonic() - started:.1f}s after the last fault")

    def check(self) -> dict[str, Any]:
        """Every invariant, with its counts printed; returns the counts."""
        ids = self.order_ids
        n = len(ids)
        s = self.services
        topics = ["platform.orders", "orders.events", "inventory.reservations"]
        dlqs = [t + ".dlq" for t in ["platform.orders", "orders.events", "inventory.reservations",
                                     "logistics.shipments"]]
        read = read_to_end(self.world.bootstrap, [self.world.topic(t) for t in topics + dlqs])
        got = {t: read[self.world.topic(t)] for t in topics + dlqs}

        # Orders: every order accepted exactly once (distinct event ids), none rejected.
        placed_copies = Counter(m.key for m in got["platform.orders"] if m.key in ids)
        accepted_ids: dict[str, set[str]] = defaultdict(set)
        copies = Counter()
        rejected = 0
        for m in got["orders.events"]:
            event = m.json
            if event["type"] == "order.accepted":
                accepted_ids[event["data"]["order_id"]].add(event["id"])
                copies["order.accepted"] += 1
            elif event["type"] == "order.rejected":
                rejected += 1
        missing = ids - set(accepted_ids)
        twice = {o: e for o, e in accepted_ids.items() if len(e) != 1}
        extra = set(accepted_ids) - ids
        assert not missing, f"{len(missing)} orders never accepted, e.g. {sorted(missing)[:5]}"
        assert not twice, f"{len(twice)} orders accepted more than once, e.g. {list(twice.items())[:3]}"
        assert not extra, f"accepted orders nobody placed: {sorted(extra)[:5]}"
        assert rejected == 0, f"{rejected} orders rejected"
        resent = copies["order.accepted"] - n
        say(self.tag, f"orders: {n} placed ({sum(placed_copies.values())} copies on platform.orders), "
                      f"{len(accepted_ids)} accepted exactly once ({copies['order.accepted']} messages: "
                      f"{resent} re-sent copies of the same event ids, deduplicated by consumers), 0 rejected")
        facts: dict[str, Any] = {"orders": n, "accepted": len(accepted_ids), "accepted_messages": copies["order.accepted"]}

        orders_view = dict(s["orders"].sql("select order_id, status from order_record"))
        assert set(orders_view) == ids, f"orders' table holds {len(orders_view)} orders, expected {n}"

        if "inventory" in s:
            facts.update(self._check_inventory(got["inventory.reservations"], orders_view))
        else:
            assert set(orders_view.values()) <= {"accepted"}, Counter(orders_view.values())

        if "logistics" in s:
            shipments = Counter(order_id for (order_id,) in s["logistics"].sql(
                "select order_id from logistics_shipment where replacement_for_case is null"))
            reserved = facts["reserved_orders"]
            assert set(shipments) == reserved, (
                f"shipments for {len(shipments)} orders, {len(reserved)} reserved; "
                f"missing {sorted(reserved - set(shipments))[:5]}, unexpected {sorted(set(shipments) - reserved)[:5]}")
            assert set(shipments.values()) <= {1}, "an order has two shipments"
            say(self.tag, f"logistics: {sum(shipments.values())} shipments, one for each of the "
                          f"{len(reserved)} reserved orders")
            facts["shipments"] = sum(shipments.values())

        if "aftersales" in s:
            purchases = {o for (o,) in s["aftersales"].sql(
                "select order_id from aftersales_purchase where accepted = :t", t=True)}
            lines = scalar(s["aftersales"], "select count(*) from aftersales_purchase_line")
            expected_lines = sum(len(o["lines"]) for o in self.expect.orders)
            assert purchases == ids, f"aftersales knows {len(purchases)} of {n} orders"
            assert lines == expected_lines, f"aftersales holds {lines} purchase lines, expected {expected_lines}"
            say(self.tag, f"aftersales: {len(purchases)} purchases with {lines} lines, every accepted order once")
            facts["purchases"] = len(purchases)

        dead = {t: len(got[t]) for t in dlqs}
        assert not any(dead.values()), f"dead letters after the faults: {dead}"
        say(self.tag, f"dead letters: 0 on {', '.join(dlqs)}")
        self.facts = facts
        return facts

    def _check_inventory(self, reservations: list[Message], orders_view: dict[str, str]) -> dict[str, Any]:
        ids = self.order_ids
        inventory = self.services["inventory"]
        status = dict(inventory.sql("select order_id, status from inventory_reservation"))
        assert set(status) == ids, f"inventory decided {len(status)} orders, expected {len(ids)}"
        kinds = Counter(status.values())
        assert set(kinds) <= {"reserved", "backordered"}, kinds

        decisions: dict[str, set[tuple[str, str]]] = defaultdict(set)
        messages = 0
        for m in reservations:
            event = m.json
            if event["type"] in ("stock.reserved", "stock.backordered"):
                decisions[event["data"]["order_id"]].add((event["type"], event["id"]))
                messages += 1
        assert set(decisions) == ids, f"decision events for {len(decisions)} of {len(ids)} orders"
        twice = {o: d for o, d in decisions.items() if len(d) != 1}
        assert not twice, f"{len(twice)} orders decided more than once, e.g. {list(twice.items())[:3]}"
        for order_id, ((type_, _),) in decisions.items():
            assert type_ == f"stock.{status[order_id]}", (order_id, type_, status[order_id])
            assert orders_view[order_id] == status[order_id], (order_id, orders_view[order_id], status[order_id])
        say(self.tag, f"inventory: {kinds['reserved']} reserved + {kinds['backordered']} backordered = "
                      f"{len(status)} orders decided exactly once ({messages} decision messages); "
                      f"the orders service shows the same state for all {len(orders_view)}")
        if self.expect.all_reserved:
            assert kinds["reserved"] == len(ids), f"ample stock, yet {kinds['backordered']} backordered"

        reserved_orders = {o for o, st in status.items() if st == "reserved"}
        by_id = {o["order_id"]: o for o in self.expect.orders}
        wanted: Counter[str] = Counter()
        for order_id in reserved_orders:
            wanted.update(needs(by_id[order_id]))
        figures = {sku: (on_hand, reserved, available) for sku, on_hand, reserved, available in
                   inventory.sql("select sku, on_hand, reserved, available from inventory_sku")}
        ledger = {sku: (int(a), int(b)) for sku, a, b in inventory.sql(
            "select sku, sum(on_hand_delta), sum(reserved_delta) from inventory_ledger_entry group by sku")}
        per_order_entries = inventory.sql(
            "select reference, sku, count(*) from inventory_ledger_entry where cause = 'reservation' "
            "group by reference, sku having count(*) > 1")
        assert not per_order_entries, f"stock reserved twice for an order: {per_order_entries[:5]}"
        reservation_entries = scalar(inventory, "select count(*) from inventory_ledger_entry where cause = 'reservation'")
        assert reservation_entries == sum(len(needs(by_id[o])) for o in reserved_orders)
        parts = []
        for sku, on_hand_at_start in sorted(self.expect.stock.items()):
            on_hand, reserved, available = figures[sku]
            assert on_hand == on_hand_at_start, (sku, on_hand, on_hand_at_start)
            assert reserved == wanted[sku], f"{sku}: {reserved} reserved, reserved orders hold {wanted[sku]}"
            assert reserved + available == on_hand and available >= 0, (sku, figures[sku])
            assert ledger[sku] == (on_hand, reserved), f"{sku}: ledger says {ledger[sku]}, figures {(on_hand, reserved)}"
            parts.append(f"{sku} {reserved}/{on_hand}")
        total = sum(wanted.values())
        say(self.tag, f"stock: reserved units == units of the reserved orders' lines for every sku "
                      f"({total} units: {', '.join(parts)}); reserved + available == on hand; the ledger "
                      f"balances ({reservation_entries} reservation entries, none twice for one order)")
        return {"reserved": kinds["reserved"], "backordered": kinds["backordered"], "reserved_units": total,
                "reserved_orders": reserved_orders}
