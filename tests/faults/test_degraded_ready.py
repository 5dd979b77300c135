"""R25: the degraded mode is one a deployment can reach. A real (local) broker is killed: the
probe the Kubernetes manifests name for readiness (and docker-compose's health check) keeps
answering 200 on orders and on a service whose work comes only from Kafka (logistics), its body
naming the broker as down; `POST /orders` is answered 202 into the outbox; once the broker is
back every accepted order is published exactly once (order.placed on platform.orders, then
order.accepted on orders.events).

The outage lasts longer than Kubernetes' readiness failure window (3 failures x 5 s): had the
probe followed the broker, every orders pod would have left its Service.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from deploy import localkafka
from tests.faults.support import (
    Sku, make_orders, outbox_states, progress, read_to_end, say, scalar, seeded_rng, wait_until,
)
from tests.integration.test_ready_without_broker import readiness_probe_path
from tests.support.world import World

pytestmark = pytest.mark.faults

SKUS = [Sku("D-TEA", "traffic_driver", 1_000, Decimal("49.90")), Sku("D-CUP", "profit", 1_000, Decimal("19.90"))]
OUTAGE_S = 20.0  # longer than the readiness probe's failure window (periodSeconds 5 x failureThreshold 3)


class BrokerHolder:
    def __init__(self, cluster: localkafka.Cluster, base_dir: Path) -> None:
        self.cluster = cluster
        self.base_dir = base_dir


@pytest.fixture(scope="module")
def one_broker() -> Iterator[BrokerHolder]:
    base = Path(tempfile.mkdtemp(prefix="peak-degraded-kafka-"))
    holder = BrokerHolder(localkafka.start(port=None, brokers=1, base_dir=base), base)
    say("degraded", f"broker at {holder.cluster.bootstrap_servers}")
    try:
        yield holder
    finally:
        holder.cluster.stop(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


def post_all(service, orders: list[dict]) -> Counter[int]:
    with service.client("platform") as http:
        return Counter(http.post("/orders", json=o).status_code for o in orders)


def test_broker_outage_keeps_orders_ready_takes_posts_and_publishes_each_once_after(
        one_broker: BrokerHolder, tmp_path: Path) -> None:
    rng = seeded_rng("degraded")
    world = World(one_broker.cluster.bootstrap_servers, tmp_path)
    try:
        services = {"orders": world.start("orders"), "logistics": world.start("logistics")}
        probes = {name: readiness_probe_path(name) for name in services}
        say("degraded", f"readiness probe in deploy/k8s and docker-compose: {probes}")

        before = make_orders(rng, 20, "DB", SKUS)
        assert post_all(services["orders"], before) == {202: len(before)}
        wait_until(lambda: progress(services["orders"], "DB-") == len(before), timeout_s=60,
                   what="the orders posted before the outage accepted")

        one_broker.cluster.stop_broker(0, hard=True)
        down_at = time.monotonic()
        say("degraded", "SIGKILL the broker")

        # Every probe answer during the outage, per service: (status, seconds it took).
        answers: dict[str, list[tuple[int, float]]] = {name: [] for name in services}

        def ask(name: str) -> dict:
            started = time.monotonic()
            try:
                r = httpx.get(services[name].url + probes[name], timeout=10)
            except httpx.HTTPError:
                answers[name].append((0, time.monotonic() - started))  # no answer counts as a failure
                raise
            answers[name].append((r.status_code, time.monotonic() - started))
            return r.json()

        for name in services:
            state = wait_until(lambda: (body := ask(name))["broker"] is False and body, timeout_s=30,
                               interval_s=0.5, what=f"{name} {probes[name]} naming the broker down")
            assert state["down"] == ["broker"] and state["degraded"] and state["broker_down_since"], state
            assert httpx.get(services[name].url + "/brokerz", timeout=10).status_code == 503
            say("degraded", f"{name}: {probes[name]} 200 {state} ({time.monotonic() - down_at:.1f}s into the outage)")

        during = make_orders(rng, 40, "DD", SKUS)
        posted = post_all(services["orders"], during)
        assert posted == {202: len(during)}, posted
        held = scalar(services["orders"],
                      "select count(*) from outbox_message where topic = :t and state != 'published'",
                      t=world.topic("platform.orders"))
        assert held == len(during), held
        body = ask("orders")
        assert body["outbox_backlog"] >= len(during), body
        say("degraded", f"POST /orders x{len(during)} during the outage: {dict(posted)}; {held} order.placed held in "
                        f"the outbox ({outbox_states(services['orders'])}); {probes['orders']} says {body}")

        while time.monotonic() - down_at < OUTAGE_S:  # keep probing as the kubelet would
            for name in services:
                ask(name)
            time.sleep(1.0)
        for name, seen in answers.items():
            statuses = Counter(status for status, _ in seen)
            slowest = max(took for _, took in seen)
            assert statuses == {200: len(seen)}, (name, statuses)
            assert slowest < 2.0, f"{name} {probes[name]} took {slowest:.2f}s (the probe's timeout is 3 s)"
            say("degraded", f"{name}: {len(seen)} probe answers over {time.monotonic() - down_at:.0f}s of outage, "
                            f"all 200, slowest {slowest * 1000:.0f} ms")

        resumed = localkafka.start(port=None, brokers=1, base_dir=one_broker.base_dir)
        one_broker.cluster = resumed
        assert resumed.bootstrap_servers == world.bootstrap, (resumed.bootstrap_servers, world.bootstrap)
        back_after = time.monotonic() - down_at  # past the 30 s outbox lease too, as a rule
        say("degraded", f"broker back {back_after:.1f}s after the kill")
        for name, service in services.items():
            wait_until(lambda: httpx.get(service.url + "/brokerz", timeout=10).status_code == 200, timeout_s=120,
                       what=f"{name} connected again")
        wait_until(lambda: progress(services["orders"], "DD-") == len(during), timeout_s=120,
                   what="the orders posted during the outage accepted")
        wait_until(lambda: outbox_states(services["orders"]).keys() <= {"published"}, timeout_s=60,
                   what="the orders outbox drained")
        after = ask("orders")
        assert after["broker"] and not after["degraded"] and after["down"] == [] and after["outbox_backlog"] == 0, after

        time.sleep(2.0)  # let any late duplicate arrive before counting
        topics = read_to_end(world.bootstrap, [world.topic("platform.orders"), world.topic("orders.events")])
        placed = Counter(m.data["order_id"] for m in topics[world.topic("platform.orders")] if m.type == "order.placed")
        accepted = Counter(m.data["order_id"] for m in topics[world.topic("orders.events")]
                           if m.type == "order.accepted")
        ids = [o["order_id"] for o in before + during]
        twice = [(m.data["order_id"], m.partition, m.offset, m.json.get("id"))
                 for m in topics[world.topic("platform.orders")]
                 if m.type == "order.placed" and placed[m.data["order_id"]] > 1]
        assert {i: placed[i] for i in ids} == dict.fromkeys(ids, 1), f"order.placed not exactly once: {sorted(twice)}"
        assert {i: accepted[i] for i in ids} == dict.fromkeys(ids, 1), "order.accepted not exactly once"
        assert set(placed) == set(accepted) == set(ids), (set(placed) ^ set(ids), set(accepted) ^ set(ids))
        say("degraded", f"PASS: {len(before)} orders before and {len(during)} posted during a "
                        f"{back_after:.0f}s outage: each order.placed published once ({sum(placed.values())} "
                        f"on platform.orders), each order.accepted once ({sum(accepted.values())} on orders.events)")
    finally:
        world.close()
