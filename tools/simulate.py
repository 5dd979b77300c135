"""`make demo`: a promotion day driven through the running platform with an accelerated clock.

    python -m tools.simulate [--orders 3000] [--hours 72] [--seed 1] ...   (--help lists every knob)

It starts its own platform: a local Kafka broker (or KAFKA_BOOTSTRAP_SERVERS when set), a fresh
topic prefix, and the four services as processes with settable clocks. Then it plays the
outside actors while the services do the real work:

- the platform publishes order.placed (and a few order.cancellation_requested) to platform.orders;
- suppliers answer replenishment.requested on inventory.stock with supplier.delivery after
  their lead time;
- warehouse staff pick in waves, pack and hand over through logistics' HTTP API at the pace
  their number and picks per hour allow;
- carriers confirm deliveries with carrier.delivery events, some late or damaged
  (POST /shipments/{id}/exception);
- customers ask for returns and support agents approve, receive, inspect and refund them, and
  settle the shipment-exception cases, through aftersales' HTTP API.

Simulated time moves in ticks (default 30 minutes): every service's clock is set with
PUT /clock, the tick's orders and due events are published, the simulator waits until the
services have digested them, then staff do a tick's worth of work. Idle stretches after the
event are skipped. At the end it prints a report and writes var/demo/<run>/report.md,
report.json and PNG charts. Every loop is bounded in count and wall time.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import os
import random
import secrets
import shutil
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, KafkaProducer

from shared.auth import AuthSettings, issue_token
from shared.settings import REPO_ROOT
from shared.topics import ALL_TOPICS, dlq_name
from tools import simulate_model as model
from tools.processes import ServiceProcess

DEMO_DIR = REPO_ROOT / "var" / "demo"
SERVICES = ("orders", "inventory", "logistics", "aftersales")
# uvicorn closes a connection idle for 5 s, and httpx kept idle ones for 5 s too: a call that
# reused one as the server closed it got "connection reset by peer" (a demo run died so at a
# simulated 109 h). Idle connections are dropped well before the server would close them.
KEEP_ALIVE = httpx.Limits(keepalive_expiry=2.0)
DEFAULT_START = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # midnight of 11 November in Beijing (UTC+8)


# ---------------------------------------------------------------------------------------------
# What the simulator watches on Kafka (read-only; it never consumes in a group)


class Watcher(threading.Thread):
    """Reads every topic the services publish and every dead-letter topic from the beginning,
    and keeps what the actors and the report need."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        super().__init__(daemon=True, name="sim-watcher")
        self.prefix = prefix
        topics = [prefix + t for t in ("orders.events", "inventory.reservations", "inventory.stock",
                                       "logistics.shipments", "aftersales.cases")]
        topics += [prefix + dlq_name(spec.name) for spec in ALL_TOPICS]
        self._consumer = KafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                                       auto_offset_reset="earliest", fetch_max_wait_ms=20, max_poll_records=2000)
        self._halt = threading.Event()
        self.lock = threading.Lock()
        self.types: Counter[str] = Counter()
        self.accepted: dict[str, str] = {}          # order id -> priority class
        self.rejected: dict[str, str] = {}          # order id -> reason
        self.cancelled: set[str] = set()
        self.first_outcome: dict[str, str] = {}     # order id -> reserved | backordered
        self.reserved: set[str] = set()
        self.backordered: set[str] = set()
        self.presale_backorders: set[str] = set()
        self.released: set[str] = set()
        self.replenishments: list[dict] = []
        self.new_replenishments: list[dict] = []    # not yet answered by a supplier
        self.mode_changes: list[dict] = []
        self.delivered_shipments: set[str] = set()
        self.refunds: list[Decimal] = []
        self.dead_letters: Counter[str] = Counter()
        self.dead_letter_reasons: Counter[str] = Counter()
        self.error: str | None = None

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                for records in self._consumer.poll(timeout_ms=100).values():
                    with self.lock:
                        for record in records:
                            self._take(record)
        except Exception as exc:  # surfaced by the main loop
            self.error = repr(exc)
        finally:
            self._consumer.close()

    def _take(self, record: Any) -> None:
        topic = record.topic[len(self.prefix):]
        if topic.endswith(".dlq"):
            self.dead_letters[topic] += 1
            headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or [])}
            self.dead_letter_reasons[headers.get("dlq.reason", "?")[:120]] += 1
            return
        try:
            event = json.loads(record.value)
            kind, data = event["type"], event["data"]
        except (ValueError, KeyError, TypeError):
            return
        self.types[kind] += 1
        if kind == "order.accepted":
            self.accepted[data["order_id"]] = data["priority_class"]
        elif kind == "order.rejected":
            self.rejected[data.get("order_id") or "?"] = data["reason"]
        elif kind == "order.cancelled":
            self.cancelled.add(data["order_id"])
        elif kind == "stock.reserved":
            self.reserved.add(data["order_id"])
            self.first_outcome.setdefault(data["order_id"], "reserved")
        elif kind == "stock.backordered":
            self.backordered.add(data["order_id"])
            self.first_outcome.setdefault(data["order_id"], "backordered")
            if data.get("presale"):
                self.presale_backorders.add(data["order_id"])
        elif kind == "stock.released":
            self.released.add(data["order_id"])
        elif kind == "replenishment.requested":
            self.replenishments.append(data)
            self.new_replenishments.append(data)
        elif kind == "sku.mode_changed":
            self.mode_changes.append(data)
        elif kind == "shipment.delivered":
            self.delivered_shipments.add(data["shipment_id"])
        elif kind == "refund.issued":
            self.refunds.append(Decimal(data["amount"]))

    def take_new_replenishments(self) -> list[dict]:
        with self.lock:
            new, self.new_replenishments = self.new_replenishments, []
            return new

    def stop(self) -> None:
        self._halt.set()
        self.join(15)


# ---------------------------------------------------------------------------------------------
# The actors' knobs


@dataclass
class Actors:
    tick_minutes: float = 60.0
    lead_time_h: dict[str, float] = field(default_factory=lambda: {"traffic_driver": 36.0, "profit": 24.0,
                                                                    "hot": 72.0})
    urgent_lead_factor: float = 0.5
    pickers: int = 6
    picks_per_hour: int = 30
    wave_size: int = 40
    delivery_h: tuple[float, float] = (18.0, 60.0)
    remote_extra_h: float = 24.0
    delay_rate: float = 0.04
    delay_extra_h: tuple[float, float] = (24.0, 48.0)
    damage_rate: float = 0.015
    return_rate: float = 0.08
    exchange_share: float = 0.2
    dispute_rate: float = 0.05
    inspection_pass_rate: float = 0.9
    return_after_h: tuple[float, float] = (4.0, 96.0)
    return_transit_h: tuple[float, float] = (12.0, 48.0)
    agents: int = 3
    cases_per_agent_hour: float = 6.0


@dataclass(order=True)
class Due:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict = field(compare=False, default_factory=dict)


class Budget:
    """Work that staff can do per simulated hour; unused time is not banked."""

    def __init__(self, per_hour: float) -> None:
        self.per_hour = per_hour
        self.left = 0.0

    def refill(self, hours: float) -> None:
        self.left = (self.left % 1.0) + self.per_hour * hours

    def take(self, n: int = 1) -> bool:
        if self.left >= n:
            self.left -= n
            return True
        return False


# ---------------------------------------------------------------------------------------------
# The simulation


class Simulation:
    def __init__(self, args: argparse.Namespace, scenario: model.Scenario, actors: Actors, run_dir: Path) -> None:
        self.args = args
        self.scenario = scenario
        self.actors = actors
        self.run_dir = run_dir
        self.start_at: datetime = args.start
        self.now: datetime = self.start_at
        self.event_end = self.start_at + timedelta(hours=scenario.event_hours)
        self.orders, self.catalog = model.generate(scenario, self.start_at)
        self.order_by_id = {o.order_id: o for o in self.orders}
        self.tier_of = {row.sku.sku: row.sku.tier for row in self.catalog}
        self.next_order = 0
        self.due: list[Due] = []
        self.seq = itertools.count()
        self.services: dict[str, ServiceProcess] = {}
        self.clients: dict[str, httpx.Client] = {}
        self.cluster = None
        self.watcher: Watcher | None = None
        self.producer: KafkaProducer | None = None
        self.prefix = f"demo{uuid.uuid4().hex[:6]}."
        self.secret = secrets.token_urlsafe(32)
        self.tracking = itertools.count(1)
        self.pick = Budget(actors.pickers * actors.picks_per_hour)
        self.support = Budget(actors.agents * actors.cases_per_agent_hour)
        self.packed_waiting: list[dict] = []      # packed, a carrier refused it today
        self.arrived_returns: set[str] = set()    # case ids whose parcel reached the warehouse
        self.damaged_orders: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.series: list[dict] = []             # per tick, for the charts
        self.published_by_class: Counter[str] = Counter()
        self.warnings: list[str] = []
        self.confirmed_shipments = 0             # reservations logistics is known to have queued
        self.queue_looks = 0                      # ticks the warehouse should still ask for waves
        self.desk_may_hold_work = 0               # ticks the support desk should still look at GET /cases
        self.customer_shipped = 0
        self.timing: Counter[str] = Counter()
        self.pool = ThreadPoolExecutor(4, thread_name_prefix="sim-http")  # staff work side by side
        self.wall_started = time.monotonic()

    # -- platform ----------------------------------------------------------------------------

    def start_platform(self) -> None:
        from deploy import localkafka
        from shared.topics import create_topics

        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            say("starting a local Kafka broker ...")
            self.cluster = localkafka.start(port=None, brokers=1, base_dir=self.run_dir / "kafka")
            bootstrap = self.cluster.bootstrap_servers
        self.bootstrap = bootstrap
        create_topics(bootstrap, self.prefix, partitions=self.args.partitions)
        catalog = self.run_dir / "catalog.csv"
        catalog.write_text(model.catalog_csv(self.catalog))
        db_dir = self.run_dir / "db"
        db_dir.mkdir(parents=True, exist_ok=True)
        common = {"CLOCK": "settable", "LOG_LEVEL": "WARNING"}
        extra = {
            "orders": {"HIGH_VALUE_THRESHOLD": str(self.scenario.high_value_threshold)},
            "inventory": {"CATALOG_PATH": str(catalog)},
            "logistics": {"SLA_CHART_HOURS": "744", "DEFAULT_PICKERS": str(self.actors.pickers),
                          "DEFAULT_PICKS_PER_HOUR": str(self.actors.picks_per_hour),
                          "MAX_WAVE_SIZE": str(max(200, self.actors.wave_size))},
            "aftersales": {},
        }
        if self.args.carrier_capacity_factor != 1.0:
            table = json.loads((REPO_ROOT / "services" / "logistics" / "carriers.json").read_text())
            extra["logistics"]["CARRIER_CAPACITIES"] = json.dumps(
                {c["code"]: max(1, round(c["daily_capacity"] * self.args.carrier_capacity_factor))
                 for c in table["carriers"]})
        for name in SERVICES:
            proc = ServiceProcess(name, bootstrap=bootstrap, topic_prefix=self.prefix, db_dir=db_dir,
                                  settings={**common, **extra[name]}, log_dir=self.run_dir / "logs")
            proc.env["AUTH_SECRET"] = self.secret
            self.services[name] = proc
        say(f"starting the four services (topic prefix {self.prefix}, broker {bootstrap}) ...")
        with ThreadPoolExecutor(len(SERVICES)) as pool:
            for future in [pool.submit(p.start, 90.0) for p in self.services.values()]:
                future.result()
        auth = AuthSettings(auth_secret=self.secret, auth_token_ttl_s=7 * 24 * 3600)
        roles = {"orders": ("platform", "checkout"), "inventory": ("admin", "ops"),
                 "logistics": ("warehouse", "warehouse-staff"), "aftersales": ("support", "support-agents")}
        for name, (role, subject) in roles.items():
            token = issue_token(auth, subject, [role])
            self.clients[name] = httpx.Client(base_url=self.services[name].url, timeout=60, limits=KEEP_ALIVE,
                                              headers={"Authorization": f"Bearer {token}"})
        admin = {"Authorization": f"Bearer {issue_token(auth, 'simulator', ['admin'])}"}
        for name in SERVICES:  # PUT /clock and the report's reads are admin's
            self.clients[f"{name}-admin"] = httpx.Client(base_url=self.services[name].url, timeout=60,
                                                         limits=KEEP_ALIVE, headers=admin)
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self.watcher = Watcher(bootstrap, self.prefix)
        self.watcher.start()

    def stop_platform(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.watcher is not None:
            self.watcher.stop()
        if self.producer is not None:
            self.producer.close(timeout=10)
        for client in self.clients.values():
            client.close()
        for proc in self.services.values():
            proc.stop()
        if self.cluster is not None:
            self.cluster.stop()
            shutil.rmtree(self.run_dir / "kafka", ignore_errors=True)

    # -- helpers -----------------------------------------------------------------------------

    def schedule(self, at: datetime, what: str, /, **data: Any) -> None:
        heapq.heappush(self.due, Due(at, next(self.seq), what, data))

    def publish(self, topic: str, type_: str, data: dict, key: str, source: str) -> None:
        event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": source, "type": type_,
                 "time": self.now.isoformat(), "subject": key, "datacontenttype": "application/json", "data": data}
        self.producer.send(self.prefix + topic, key=key.encode(), value=json.dumps(event).encode())

    def call(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.clients[service].request(method, path, **kwargs)
        if response.status_code >= 500:
            raise RuntimeError(f"{service} {method} {path}: {response.status_code} {response.text[:300]}")
        return response

    def set_clocks(self, moment: datetime) -> None:
        calls = [self.pool.submit(self.call, f"{name}-admin", "PUT", "/clock", json={"now": moment.isoformat()})
                 for name in SERVICES]
        for name, future in zip(SERVICES, calls):
            r = future.result()
            if r.status_code != 200:
                raise RuntimeError(f"{name} refused PUT /clock: {r.status_code} {r.text}")

    def rng_for(self, actor: str, subject: str) -> random.Random:
        """Each actor's choices about one order or shipment come from their own seed, so the same
        seed gives the same choices whatever order the services hand things over in."""
        return random.Random(f"{self.scenario.seed}:{actor}:{subject}")

    def wall_left(self) -> float:
        return self.args.max_wall_s - (time.monotonic() - self.wall_started)

    # -- the loop ----------------------------------------------------------------------------

    def run(self, progress: "Progress") -> None:
        tick = timedelta(minutes=self.actors.tick_minutes)
        tail_tick = timedelta(minutes=max(self.args.tail_tick_minutes, self.actors.tick_minutes))
        max_end = self.event_end + timedelta(hours=self.args.max_tail_h)
        self.set_clocks(self.now)
        for _ in range(self.args.max_ticks):
            if self.watcher.error:
                raise RuntimeError(f"watcher failed: {self.watcher.error}")
            if self.wall_left() <= 0:
                self.warnings.append(f"stopped at the wall-time limit ({self.args.max_wall_s:.0f} s) "
                                     f"at simulated {self.hours(self.now):.1f} h")
                break
            busy = self.counts["last_tick_work"] > 0
            if self.now >= self.event_end + timedelta(hours=48):
                tick = tail_tick  # every order's SLA is judged; returns need no finer steps
            step_to = self.now + tick
            if not busy and self.next_order >= len(self.orders) and self.now >= self.event_end:
                # idle after the event: jump to the next thing that is due (on the tick grid)
                if not self.due:
                    if self.now >= self.event_end + timedelta(hours=48):
                        break
                    step_to = self.event_end + timedelta(hours=48)
                else:
                    ticks = max(1, math.ceil((self.due[0].at - self.now) / tick))
                    step_to = self.now + ticks * tick
            if step_to > max_end:
                self.warnings.append(f"stopped at the simulated-time limit ({self.args.max_tail_h:.0f} h after "
                                     f"the event) with {len(self.due)} actions still due")
                break
            hours = (step_to - self.now).total_seconds() / 3600
            self.now = step_to
            self.step(hours)
            progress.update(self)
        progress.close()

    def hours(self, moment: datetime) -> float:
        return (moment - self.start_at).total_seconds() / 3600

    def step(self, hours: float) -> None:
        now = self.now
        with self.timed("clocks"):
            self.set_clocks(now)
        with self.timed("platform and due events"):
            # platform: the tick's orders
            published = 0
            while self.next_order < len(self.orders) and self.orders[self.next_order].paid_at <= now:
                order = self.orders[self.next_order]
                self.next_order += 1
                self.publish("platform.orders", "order.placed", order.as_data(), order.order_id, "checkout")
                self.published_by_class[order.intended_class] += 1
                published += 1
                if order.cancel_after_h is not None:
                    self.schedule(order.paid_at + timedelta(hours=order.cancel_after_h), "cancel",
                                  order_id=order.order_id)
            self.counts["published"] += published
            # everything due by now: suppliers, carriers, customers
            self.answer_replenishments()
            delivered: list[dict] = []
            for _ in range(100_000):
                if not self.due or self.due[0].at > now:
                    break
                item = heapq.heappop(self.due)
                self.handle_due(item)
                if item.kind == "supplier_delivery":
                    delivered.append(item.data)
            self.producer.flush(60)
        with self.timed("waiting for the services"):
            self.await_deliveries(delivered)
            self.settle()
        with self.watcher.lock:
            w = self.watcher
            to_ship = len(w.reserved - w.released) - self.customer_shipped
            for_stock = len(w.backordered - w.reserved - w.cancelled)
        self.series.append({"h": round(self.hours(now), 2), "waiting_to_ship": max(0, to_ship),
                            "waiting_for_stock": for_stock})
        # staff
        work = 0
        with self.timed("warehouse staff"):
            self.pick.refill(hours)
            shipped = self.warehouse()
            work += shipped
        with self.timed("waiting for the services"):
            if shipped:
                self.await_dispatch_news()
        with self.timed("support agents"):
            self.support.refill(hours)
            work += self.support_desk()
            self.producer.flush(60)
        self.counts["last_tick_work"] = work
        self.counts["ticks"] += 1

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.timing[phase] += time.monotonic() - started

    def await_deliveries(self, delivered: list[dict]) -> None:
        """Supplier deliveries fill waiting orders; let inventory book them (the request they answer
        closes) before the warehouse looks at its queue, so filled orders are picked this tick."""
        deadline = time.monotonic() + self.args.settle_timeout_s
        waiting = {d["request_id"]: d["sku"] for d in delivered}
        while waiting and time.monotonic() < deadline:
            for request_id, sku in list(waiting.items()):
                stock = self.call("inventory", "GET", f"/stock/{sku}").json()
                if (stock.get("open_replenishment") or {}).get("request_id") != request_id:
                    del waiting[request_id]
            if waiting:
                time.sleep(0.05)
        if delivered:
            time.sleep(0.2)  # the outbox relay publishes what the fills reserved

    def await_dispatch_news(self) -> None:
        """An hour of simulated time passes in a fraction of a second: let the orders service hear of
        this tick's hand-overs before the next tick's cancellations arrive, as it would in an hour."""
        forward = ("shipped", "delivered", "return_requested", "returned", "partially_refunded", "refunded")
        deadline = time.monotonic() + self.args.settle_timeout_s
        while time.monotonic() < deadline:
            stats = self.call("orders-admin", "GET", "/stats").json()
            known = sum(stats["by_state"].get(state, {}).get("orders", 0) for state in forward)
            if known + stats["cancelled"] >= self.customer_shipped:
                return
            time.sleep(0.05)

    def settle(self) -> None:
        """Wait until the services digested what was published: every order accepted or rejected,
        every accepted one reserved or backordered, every reservation in the dispatch queue."""
        deadline = time.monotonic() + self.args.settle_timeout_s
        w = self.watcher
        while time.monotonic() < deadline:
            with w.lock:
                decided = len(w.accepted) + len(w.rejected)
                outcomes = len(w.first_outcome)
                accepted = len(w.accepted)
                expected_shipments = len(w.reserved - w.released)
            if decided >= self.counts["published"] and outcomes >= accepted:
                if expected_shipments == self.confirmed_shipments:
                    return
                sla = self.call("logistics", "GET", "/sla", params={"at_risk_limit": 0, "horizon_h": 1}).json()
                if sla["overall"]["orders_paid"] >= expected_shipments:
                    self.confirmed_shipments = expected_shipments
                    self.queue_looks = max(self.queue_looks, 1)
                    return
            time.sleep(0.05)
        self.counts["settle_timeouts"] += 1
        if self.counts["settle_timeouts"] <= 3:
            self.warnings.append(f"services had not digested every event after {self.args.settle_timeout_s:.0f} s "
                                 f"at simulated {self.hours(self.now):.1f} h; the simulation went on")

    # -- suppliers -----------------------------------------------------------------------------

    def answer_replenishments(self) -> None:
        for request in self.watcher.take_new_replenishments():
            tier = self.tier_of.get(request["sku"], "profit")
            lead = self.actors.lead_time_h.get(tier, 24.0) * (self.actors.urgent_lead_factor if request["urgent"] else 1)
            at = datetime.fromisoformat(request["requested_at"]) + timedelta(hours=lead)
            self.schedule(max(at, self.now), "supplier_delivery", sku=request["sku"], quantity=request["quantity"],
                          request_id=request["request_id"])
            self.counts["replenishments_answered"] += 1

    def handle_due(self, item: Due) -> None:
        d = item.data
        if item.kind == "supplier_delivery":
            self.publish("supplier.deliveries", "supplier.delivery",
                         {"delivery_id": f"DLV-{d['request_id']}", "sku": d["sku"], "quantity": d["quantity"],
                          "delivered_at": item.at.isoformat()}, d["sku"], "supplier")
            self.counts["supplier_deliveries"] += 1
            self.counts["supplier_units"] += d["quantity"]
        elif item.kind == "cancel":
            self.publish("platform.orders", "order.cancellation_requested",
                         {"order_id": d["order_id"], "reason": "customer changed their mind"}, d["order_id"], "checkout")
            self.counts["cancel_requests"] += 1
        elif item.kind == "carrier_delivery":
            self.publish("carrier.events", "carrier.delivery",
                         {"carrier": d["carrier"], "tracking_number": d["tracking"],
                          "delivered_at": item.at.isoformat()}, d["tracking"], f"carrier-{d['carrier']}")
            self.counts["carrier_deliveries"] += 1
            if d.get("delayed"):  # its exception case can be closed once the parcel is there
                self.desk_may_hold_work = max(self.desk_may_hold_work, 2)
            if d.get("returnable"):
                self.maybe_return(d["order_id"], item.at)
        elif item.kind == "carrier_exception":
            r = self.call("logistics", "POST", f"/shipments/{d['shipment_id']}/exception",
                          json={"kind": d["exception"], "note": d["note"], "reported_by": f"carrier-{d['carrier']}"})
            if r.status_code == 201:
                self.counts[f"exceptions_{d['exception']}"] += 1
                self.desk_may_hold_work = max(self.desk_may_hold_work, 2)  # aftersales opens a case
            else:
                self.refusals[f"exception {r.status_code}: {detail(r)[:80]}"] += 1
        elif item.kind == "return_request":
            self.request_return(item)
        elif item.kind == "return_arrives":
            self.arrived_returns.add(d["case_id"])
            self.desk_may_hold_work = max(self.desk_may_hold_work, 1)

    # -- warehouse staff and carriers ----------------------------------------------------------

    def warehouse(self) -> int:
        """Pick in waves, pack, hand over: as many shipments as the pickers manage this tick."""
        if self.queue_looks <= 0 and not self.packed_waiting:
            return 0
        packed: list[dict] = self.packed_waiting
        self.packed_waiting = []
        a = self.actors
        for picker in itertools.cycle(range(a.pickers)):
            want = min(a.wave_size, int(self.pick.left))
            if want <= 0 or self.wall_left() <= 0:
                break
            r = self.call("logistics", "POST", "/waves", json={"size": want, "picker_id": f"picker-{picker + 1}"})
            if r.status_code != 201:
                self.refusals[f"wave {r.status_code}"] += 1
                break
            wave = r.json()
            self.counts["waves"] += 1 if wave["size"] else 0
            packing = [self.pool.submit(self.call, "logistics", "POST", f"/shipments/{s['shipment_id']}/pack",
                                        json={"picker_id": wave["picker_id"]}) for s in wave["shipments"]]
            for shipment, future in zip(wave["shipments"], packing):
                self.pick.take()
                p = future.result()
                if p.status_code == 200:
                    packed.append(shipment)
                else:
                    self.refusals[f"pack {p.status_code}: {detail(p)[:80]}"] += 1
            if wave["size"] < want:
                self.queue_looks -= 1  # the queue is empty
                break
        shipped = 0
        for chunk in (packed[i:i + 500] for i in range(0, len(packed), 500)):
            by_id = {s["shipment_id"]: s for s in chunk}
            r = self.call("logistics", "POST", "/shipments/ship-batch", json={"parcels": [
                {"shipment_id": s["shipment_id"], "tracking_number": f"T{self.prefix[4:10].upper()}{next(self.tracking):09d}"}
                for s in chunk]})
            if r.status_code != 200:
                raise RuntimeError(f"ship-batch: {r.status_code} {r.text[:300]}")
            body = r.json()
            for done in body["shipped"]:
                shipment = by_id[done["shipment_id"]]
                self.after_handover(shipment, done["carrier"], done["tracking_number"])
                shipped += 1
                self.customer_shipped += shipment.get("replacement_for_case") is None
            for refused in body["refused"]:
                self.refusals[f"hand-over: {refused['reason'][:80]}"] += 1
                self.packed_waiting.append(by_id[refused["shipment_id"]])
        self.counts["shipped"] += shipped
        return shipped + len(packed)

    def after_handover(self, shipment: dict, carrier: str, tracking: str) -> None:
        """The carrier's part: transit time, and now and then a delay or damage."""
        a, rng = self.actors, self.rng_for("carrier", shipment["shipment_id"])
        transit = rng.uniform(*a.delivery_h) + (a.remote_extra_h if shipment["region"] in model.REMOTE_REGIONS else 0)
        delivered_at = self.now + timedelta(hours=transit)
        base = {"shipment_id": shipment["shipment_id"], "carrier": carrier}
        delayed = rng.random() < a.delay_rate
        if delayed:
            self.schedule(self.now + timedelta(hours=transit * 0.8), "carrier_exception", exception="delayed",
                          note="held at the sorting centre", **base)
            delivered_at += timedelta(hours=rng.uniform(*a.delay_extra_h))
        replacement = shipment.get("replacement_for_case") is not None
        damaged = rng.random() < a.damage_rate
        if damaged:
            self.schedule(delivered_at + timedelta(hours=1), "carrier_exception", exception="damaged",
                          note="parcel crushed in transit", **base)
            self.damaged_orders.add(shipment["order_id"])
        self.schedule(delivered_at, "carrier_delivery", tracking=tracking, order_id=shipment["order_id"],
                      returnable=not replacement and not damaged, delayed=delayed, **base)

    # -- customers and support agents ----------------------------------------------------------

    def maybe_return(self, order_id: str, delivered_at: datetime) -> None:
        order = self.order_by_id.get(order_id)
        a, rng = self.actors, self.rng_for("customer", order_id)
        if order is None or rng.random() >= a.return_rate:
            return
        paid = [line for line in order.lines if not line.gift]
        line = rng.choice(paid)
        self.schedule(delivered_at + timedelta(hours=rng.uniform(*a.return_after_h)), "return_request",
                      order_id=order_id, sku=line.sku, quantity=line.quantity,
                      kind="exchange" if rng.random() < a.exchange_share else "return",
                      dispute=rng.random() < a.dispute_rate, attempt=0)

    def request_return(self, item: Due) -> None:
        d = item.data
        r = self.call("aftersales", "POST", "/returns", json={
            "order_id": d["order_id"], "kind": d["kind"], "lines": [{"sku": d["sku"], "quantity": d["quantity"]}],
            "reason": "changed my mind" if not d["dispute"] else "item not as described", "dispute": d["dispute"]})
        if r.status_code == 201:
            self.desk_may_hold_work = max(self.desk_may_hold_work, 2)
            self.counts["cases_opened_by_customers"] += 1
            self.counts[f"requested_{d['kind']}"] += 1
        elif r.status_code == 409 and d["attempt"] < 8 and any(w in r.text for w in ("not been delivered", "not reached")):
            # aftersales has not heard of the delivery yet: the customer tries again a little later
            self.schedule(self.now + timedelta(minutes=self.actors.tick_minutes), "return_request",
                          **{**d, "attempt": d["attempt"] + 1})
        else:
            self.refusals[f"return {r.status_code}: {detail(r)[:80]}"] += 1

    def open_cases(self, most: int) -> list[dict]:
        """The desk's queue as aftersales orders it, page after page (next_cursor), up to `most`."""
        cases: list[dict] = []
        params: dict[str, object] = {"limit": 1000}
        while len(cases) < most:
            page = self.call("aftersales", "GET", "/cases", params=params).json()
            cases += page["cases"]
            if not page.get("next_cursor"):
                break
            params = {"limit": 1000, "cursor": page["next_cursor"]}
        return cases[:most]

    def support_desk(self) -> int:
        """Agents work through the open cases in the order aftersales gives them (disputes first)."""
        if self.support.left < 1 or self.desk_may_hold_work <= 0:
            return 0
        cases = self.open_cases(most=5000)
        self.desk_may_hold_work -= 1
        done = 0
        for case in cases[:5000]:
            if self.support.left < 1 or self.wall_left() <= 0:
                self.desk_may_hold_work = max(self.desk_may_hold_work, 1)  # work left for the next tick
                break
            steps = self.next_steps(case)
            for step, body in steps:
                if not self.support.take():
                    break
                r = self.call("aftersales", "POST", f"/cases/{case['case_id']}/{step}", json=body)
                if r.status_code != 200:
                    self.refusals[f"{step} {r.status_code}: {detail(r)[:80]}"] += 1
                    if step in ("refund", "exchange"):
                        self.call("aftersales", "POST", f"/cases/{case['case_id']}/reject",
                                  json={"reason": f"{step} not possible: {detail(r)[:200]}".strip()})
                    break
                done += 1
                self.counts[f"case_{step}"] += 1
                if step == "exchange":
                    self.queue_looks = max(self.queue_looks, 2)  # logistics queues the replacement
                if step == "approve" and case["kind"] in ("return", "exchange"):
                    self.schedule(self.now + timedelta(hours=self.rng_for("parcel", case["order_id"]).uniform(*self.actors.return_transit_h)),
                                  "return_arrives", case_id=case["case_id"])
        if done:
            self.desk_may_hold_work = max(self.desk_may_hold_work, 1)  # next steps of what was just done
        return done

    def next_steps(self, case: dict) -> list[tuple[str, dict]]:
        status, kind = case["status"], case["kind"]
        if kind == "shipment_exception":
            if status == "requested":
                return [("approve", {"note": "customer told; we are on it"})]
            if status == "approved" and case["exception_kind"] == "damaged":
                return [("refund", {"note": "damaged in transit"})]
            if status == "approved" and case["shipment_id"] in self.watcher.delivered_shipments:
                return [("reject", {"reason": "parcel arrived late; customer informed, nothing to refund"})]
            return []
        if status == "requested":
            return [("approve", {})]
        finish = ("refund", {}) if kind == "return" else ("exchange", {})
        if status == "approved" and case["case_id"] in self.arrived_returns:
            passed = self.rng_for("inspection", case["order_id"]).random() < self.actors.inspection_pass_rate
            last = finish if passed or kind == "return" else ("reject", {"reason": "failed inspection"})
            return [("receive", {}), ("inspect", {"passed": passed}), last]
        if status == "received":
            return [("inspect", {"passed": True}), finish]
        if status == "inspected":
            return [finish if case.get("inspection_passed") is not False or kind == "return"
                    else ("reject", {"reason": "failed inspection"})]
        return []


# ---------------------------------------------------------------------------------------------
# Progress


class Progress:
    """tqdm on a terminal; otherwise a line every 12 simulated hours."""

    def __init__(self, sim: Simulation, enabled: bool | None) -> None:
        self.total_h = sim.scenario.event_hours + 48
        self.last_h = 0.0
        self.bar = None
        tty = sys.stderr.isatty() if enabled is None else enabled
        if tty:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=round(self.total_h), unit="h", desc="simulated", file=sys.stderr,
                                bar_format="{desc} {n_fmt}/{total_fmt} h |{bar}| {elapsed} {postfix}")
            except ImportError:
                self.bar = None
        self.tty = tty
        self.printed_at = -12.0

    def update(self, sim: Simulation) -> None:
        h = sim.hours(sim.now)
        info = (f"orders {sim.counts['published']}/{len(sim.orders)} shipped {sim.counts['shipped']} "
                f"cases {sim.counts['cases_opened_by_customers']}")
        if self.bar is not None:
            if h > self.bar.total:
                self.bar.total = math.ceil(h)
            self.bar.update(max(0, round(h) - self.bar.n))
            self.bar.set_postfix_str(info, refresh=False)
        elif self.tty or h - self.printed_at >= 12:
            width = 30
            done = min(1.0, h / self.total_h)
            print(f"[{'#' * int(done * width):<{width}}] {h:6.1f} h  {info}", file=sys.stderr, flush=True)
            self.printed_at = h

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return response.text


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, model.Scenario, Actors]:
    p = argparse.ArgumentParser(prog="python -m tools.simulate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("orders")
    g.add_argument("--seed", type=int, default=1, help="same seed, same scenario")
    g.add_argument("--orders", type=int, default=3000)
    g.add_argument("--hours", type=float, default=72.0, help="length of the event (simulated hours)")
    g.add_argument("--start", type=_aware, default=DEFAULT_START, help="simulated start (midnight of the event)")
    g.add_argument("--spike-share", type=float, default=0.30, help="share of orders in the midnight spike")
    g.add_argument("--spike-hours", type=float, default=2.0)
    g.add_argument("--presale-share", type=float, default=0.10)
    g.add_argument("--high-value-share", type=float, default=0.15)
    g.add_argument("--high-value-threshold", type=Decimal, default=Decimal("1000.00"))
    g.add_argument("--gift-rate", type=float, default=0.30)
    g.add_argument("--first-order-rate", type=float, default=0.15)
    g.add_argument("--cancel-rate", type=float, default=0.01)
    g = p.add_argument_group("catalog and suppliers")
    g.add_argument("--traffic-skus", type=int, default=6)
    g.add_argument("--profit-skus", type=int, default=8)
    g.add_argument("--hot-skus", type=int, default=3)
    g.add_argument("--traffic-depth", type=float, default=2.0, help="traffic drivers' planned stock x forecast")
    g.add_argument("--hot-stock", type=float, default=0.6, help="hot items' planned stock x forecast")
    g.add_argument("--forecast-error", type=float, default=0.25)
    g.add_argument("--viral-factor", type=float, default=2.6, help="one traffic driver sells this x its forecast")
    g.add_argument("--lead-time-h", type=_tiers, default="traffic_driver=36,profit=24,hot=72",
                   help="supplier lead time per tier (simulated hours)")
    g.add_argument("--urgent-lead-factor", type=float, default=0.5, help="urgent requests arrive this much sooner")
    g = p.add_argument_group("warehouse and carriers")
    g.add_argument("--pickers", type=int, default=6)
    g.add_argument("--picks-per-hour", type=int, default=30, help="orders one picker completes per hour")
    g.add_argument("--wave-size", type=int, default=40)
    g.add_argument("--delivery-h", type=_range, default="18-60", help="carrier transit time range")
    g.add_argument("--delay-rate", type=float, default=0.04)
    g.add_argument("--damage-rate", type=float, default=0.015)
    g.add_argument("--carrier-capacity-factor", type=float, default=1.0,
                   help="scale the carriers' daily capacity (services/logistics/carriers.json)")
    g = p.add_argument_group("customers and support")
    g.add_argument("--return-rate", type=float, default=0.08)
    g.add_argument("--exchange-share", type=float, default=0.2)
    g.add_argument("--dispute-rate", type=float, default=0.05)
    g.add_argument("--inspection-pass-rate", type=float, default=0.9)
    g.add_argument("--agents", type=int, default=3)
    g.add_argument("--cases-per-agent-hour", type=float, default=6.0, help="case steps one agent does per hour")
    g = p.add_argument_group("run")
    g.add_argument("--tick-minutes", type=float, default=60.0, help="simulated minutes per step")
    g.add_argument("--tail-tick-minutes", type=float, default=180.0,
                   help="tick once every order's 48 hours are over (returns and refunds)")
    g.add_argument("--partitions", type=int, default=3)
    g.add_argument("--out", type=Path, default=None, help="run directory (default var/demo/<timestamp>-s<seed>)")
    g.add_argument("--max-wall-s", type=float, default=1800.0, help="stop the simulation after this (wall clock)")
    g.add_argument("--max-tail-h", type=float, default=24.0 * 14, help="simulated hours allowed after the event")
    g.add_argument("--max-ticks", type=int, default=5000)
    g.add_argument("--settle-timeout-s", type=float, default=30.0)
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")
    g.add_argument("--keep-data", action="store_true", help="keep the services' databases and logs")
    args = p.parse_args(argv)
    for name in ("orders", "pickers", "picks_per_hour", "wave_size", "agents", "partitions", "max_ticks"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    for name in ("presale_share", "high_value_share", "gift_rate", "first_order_rate", "cancel_rate", "delay_rate",
                 "damage_rate", "return_rate", "exchange_share", "dispute_rate", "inspection_pass_rate", "spike_share"):
        if not 0 <= getattr(args, name) <= 1:
            p.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.presale_share + args.high_value_share > 1:
        p.error("--presale-share + --high-value-share must not exceed 1")
    if args.hours <= 0 or args.tick_minutes <= 0:
        p.error("--hours and --tick-minutes must be positive")
    scenario = model.Scenario(
        seed=args.seed, orders=args.orders, event_hours=args.hours, spike_share=args.spike_share,
        spike_hours=args.spike_hours, presale_share=args.presale_share, high_value_share=args.high_value_share,
        high_value_threshold=args.high_value_threshold, gift_rate=args.gift_rate,
        first_order_rate=args.first_order_rate, cancel_rate=args.cancel_rate, traffic_skus=args.traffic_skus,
        profit_skus=args.profit_skus, hot_skus=args.hot_skus, traffic_depth=args.traffic_depth,
        hot_stock=args.hot_stock, forecast_error=args.forecast_error, viral_factor=args.viral_factor)
    actors = Actors(
        tick_minutes=args.tick_minutes, lead_time_h=args.lead_time_h, urgent_lead_factor=args.urgent_lead_factor,
        pickers=args.pickers, picks_per_hour=args.picks_per_hour, wave_size=args.wave_size,
        delivery_h=args.delivery_h, delay_rate=args.delay_rate, damage_rate=args.damage_rate,
        return_rate=args.return_rate, exchange_share=args.exchange_share, dispute_rate=args.dispute_rate,
        inspection_pass_rate=args.inspection_pass_rate, agents=args.agents,
        cases_per_agent_hour=args.cases_per_agent_hour)
    return args, scenario, actors


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a timezone, e.g. 2026-11-10T16:00:00Z")
    return moment.astimezone(UTC)


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        lo, hi = float(low), float(high or low)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX hours, got {text!r}") from exc
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX, got {text!r}")
    return lo, hi


def _tiers(text: str) -> dict[str, float]:
    out = dict(Actors().lead_time_h)
    for part in text.split(","):
        tier, _, hours = part.partition("=")
        if tier.strip() not in out:
            raise argparse.ArgumentTypeError(f"unknown tier {tier!r}: traffic_driver, profit or hot")
        out[tier.strip()] = float(hours)
    return out


def main(argv: list[str] | None = None) -> int:
    from tools import simulate_report as report

    args, scenario, actors = parse_args(argv)
    run_dir = args.out or DEMO_DIR / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-s{args.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    sim = Simulation(args, scenario, actors, run_dir)
    say(f"simulate: {scenario.orders} orders over {scenario.event_hours:g} simulated hours, seed {scenario.seed}; "
        f"{actors.pickers} pickers x {actors.picks_per_hour}/h, {actors.agents} agents; run {run_dir}")
    wall = time.monotonic()
    try:
        sim.start_platform()
        sim.run(Progress(sim, args.progress))
        figures = report.collect(sim)
    finally:
        sim.stop_platform()
        if not args.keep_data:
            shutil.rmtree(run_dir / "db", ignore_errors=True)
    figures["run"]["wall_s"] = round(time.monotonic() - wall, 1)
    text = report.write(figures, run_dir)
    print(text)
    say(f"report: {run_dir / 'report.md'}")
    return 0 if figures["checks"]["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
