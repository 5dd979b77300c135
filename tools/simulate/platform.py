"""Platform control: the broker, the topics, the four services with settable clocks, the signed
clients, and the waits until the services have digested what was published. `PlatformControl`
is mixed into `engine.Simulation`."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
from kafka import KafkaProducer

from shared.auth import AuthSettings, issue_token
from shared.settings import REPO_ROOT
from tools.processes import ServiceProcess
from tools.simulate import stock_estimate
from tools.simulate.inputs import plan_for_logistics, scaled_carriers
from tools.simulate.progress import say
from tools.simulate.watcher import Watcher

SERVICES = ("orders", "inventory", "logistics", "aftersales")
# uvicorn closes a connection idle for 5 s, and httpx kept idle ones for 5 s too: a call that
# reused one as the server closed it got "connection reset by peer" (a demo run died so at a
# simulated 109 h). Idle connections are dropped well before the server would close them.
KEEP_ALIVE = httpx.Limits(keepalive_expiry=2.0)
DEFAULT_CARRIERS = REPO_ROOT / "services" / "logistics" / "carriers.json"


class PlatformControl:
    """Starts, drives and stops the platform (mixed into engine.Simulation)."""

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
        catalog.write_text(self.catalog_text)
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
        # The carrier table (the user's --carriers or logistics' own) with its daily capacities
        # scaled by the what-if factor, given to logistics as its table file.
        table = getattr(self.args, "carrier_table", None) or json.loads(DEFAULT_CARRIERS.read_text())
        carriers = self.run_dir / "carriers.json"
        factor = self.args.carrier_capacity_factor
        if getattr(self.args, "plan_data", None) is not None:
            factor *= self.args.plan_scale  # a plan run at a fraction of its size: the carriers too
        carriers.write_text(json.dumps(scaled_carriers(table, factor), indent=1))
        extra["logistics"]["CARRIERS_FILE"] = str(carriers)
        if getattr(self.args, "warehouses", None) is not None:  # several warehouses (issue 34)
            extra["inventory"]["WAREHOUSES_PATH"] = str(self.args.warehouses.resolve())
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

    def plan_and_forecast(self) -> None:
        """Give logistics the plan of this run (PUT /plan: the orders about to be published, per hour
        and class) and keep its forecast (GET /forecast) from before the first order, for the report
        to set beside the outcome. A logistics without the routes is noted, not fatal."""
        body = plan_for_logistics(getattr(self.args, "plan_data", None), self.orders, self.start_at,
                                  f"simulated event (seed {self.scenario.seed})")
        # the planner's estimate of the orders that will wait for a supplier delivery
        waits = stock_estimate.order_waits(self.orders, self.catalog, self.actors.lead_time_h,
                                           self.actors.urgent_lead_factor)
        if shares := stock_estimate.stock_waits(self.orders, waits, self.start_at):
            body["stock_waits"] = shares
        r = self.call("logistics-admin", "PUT", "/plan", json=body)
        if r.status_code != 200:
            self.warnings.append(f"logistics refused the plan: {r.status_code} {detail(r)[:200]}")
            return
        r = self.call("logistics-admin", "GET", "/forecast")
        if r.status_code != 200:
            self.warnings.append(f"no forecast from logistics: {r.status_code} {detail(r)[:200]}")
            return
        self.forecast = r.json()

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
        forward = ("partly_shipped", "shipped", "delivered", "return_requested", "returned", "partially_refunded", "refunded")
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


def detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return response.text

