"""The simulation loop: simulated time in ticks, the orders published, the actors' due work, the
waits for the services. Platform control and the actors' work are mixed in from their modules."""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from kafka import KafkaProducer

from tools.processes import ServiceProcess
from tools.simulate import model, warehouses
from tools.simulate.actors import Actors, ActorsAtWork, Budget, Due
from tools.simulate.platform import PlatformControl
from tools.simulate.scenario import build as scenario_of
from tools.simulate.watcher import Watcher

if TYPE_CHECKING:
    from tools.simulate.progress import Progress


class Simulation(PlatformControl, ActorsAtWork):
    def __init__(self, args: argparse.Namespace, scenario: model.Scenario, actors: Actors, run_dir: Path) -> None:
        self.args = args
        self.scenario = scenario
        self.actors = actors
        self.run_dir = run_dir
        self.start_at: datetime = args.start
        self.now: datetime = self.start_at
        self.event_end = self.start_at + timedelta(hours=scenario.event_hours)
        built = scenario_of(scenario, self.start_at, plan=getattr(args, "plan_data", None),
                            user_catalog=getattr(args, "catalog_rows", None),
                            stock_factor=getattr(args, "stock_factor", 1.0))
        self.orders, self.catalog, self.catalog_text = built.orders, built.catalog, built.catalog_text
        if getattr(args, "warehouses_data", None):  # each sku spread over the warehouses by their regions' demand
            plan = getattr(args, "plan_data", None)
            regions = plan.regions.items() if plan is not None and plan.regions else model.REGIONS
            self.catalog_text = warehouses.catalog_csv(self.catalog, warehouses.demand_shares(args.warehouses_data,
                                                                                              regions))
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
        self.warehouses = getattr(args, "warehouses_data", None)  # several warehouses (issue 34), or None
        self.staffed = warehouses.staff(self.warehouses, actors.pickers, actors.picks_per_hour)
        self.support = Budget(actors.agents * actors.cases_per_agent_hour)
        self.packed_waiting: list[dict] = []      # packed, a carrier refused it today
        self.arrived_returns: set[str] = set()    # case ids whose parcel reached the warehouse
        self.damaged_orders: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.series: list[dict] = []             # per tick, for the charts
        self.forecast: dict | None = None        # logistics' GET /forecast before the first order
        self.tick_staff: dict = {}               # this tick's entry of the series: what bound the staff
        self.published_by_class: Counter[str] = Counter()
        self.warnings: list[str] = []
        self.confirmed_shipments = 0             # reservations logistics is known to have queued
        self.queue_looks = 0                      # ticks the warehouse should still ask for waves
        self.desk_may_hold_work = 0               # ticks the support desk should still look at GET /cases
        self.customer_shipped = 0                 # orders with a part handed over (all of it, with one warehouse)
        self.shipped_orders: set[str] = set()
        self.timing: Counter[str] = Counter()
        self.pool = ThreadPoolExecutor(4, thread_name_prefix="sim-http")  # staff work side by side
        self.wall_started = time.monotonic()

    # -- helpers -----------------------------------------------------------------------------

    def schedule(self, at: datetime, what: str, /, **data: Any) -> None:
        heapq.heappush(self.due, Due(at, next(self.seq), what, data))

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
        self.plan_and_forecast()
        for _ in range(self.args.max_ticks):
            if self.watcher.error:
                raise RuntimeError(f"watcher failed: {self.watcher.error}")
            if self.wall_left() <= 0:
                self.warnings.append(f"stopped at the wall-time limit ({self.args.max_wall_s:.0f} s) "
                                     f"at simulated {self.hours(self.now):.1f} h")
                break
            if (getattr(self.args, "sla_only", False) and self.now >= self.event_end + timedelta(hours=48)
                    and not (self.series and self.series[-1]["waiting_for_stock"])):
                # every order's 48h is judged, all a what-if run is asked about; an order still
                # waiting for stock is not in logistics' figures yet, so the run goes on until it is
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
        self.tick_staff = self.series[-1]
        self.tick_staff.update(picker_bound=0, carrier_refused=0)
        work = 0
        with self.timed("warehouse staff"):
            for staffed in self.staffed:
                staffed.pick.refill(hours)
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

