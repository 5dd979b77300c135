"""R25 on the broker side: a 3-broker KRaft cluster (every topic replication factor 3,
min.insync.replicas=2; producers idempotent with acks=all).

1. The broker leading most partitions is killed (SIGKILL) in the middle of a 2,000-order burst
   and brought back: no accepted order lost or duplicated, stock reserved exactly once.
2. A full outage (every broker killed for a few seconds): the services keep serving HTTP and
   stay ready (/readyz 200, degraded, `broker: false`; /brokerz 503), orders posted over HTTP
   are answered 202 and wait in the outbox, and everything catches up once the brokers are back.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from deploy import localkafka
from shared.topics import create_topics
from tests.faults.support import (
    Audit, Expectation, IdempotentPublisher, Sku, make_orders, outbox_states, placed_events, progress, say,
    scalar, seeded_rng, wait_until, write_catalog,
)
from tests.support.kafka import Publisher
from tests.support.world import World

pytestmark = pytest.mark.faults

PLENTY = [Sku("B-TEA", "traffic_driver", 20_000, Decimal("49.90")),
          Sku("B-CUP", "profit", 20_000, Decimal("19.90")),
          Sku("B-KETTLE", "profit", 20_000, Decimal("299.00"))]
WATCHED = ("platform.orders", "orders.events", "inventory.reservations")


class ReplicatedWorld(World):
    """A test world whose topics are created with replication factor 3 and min.insync.replicas=2
    (the services get KAFKA_CREATE_TOPICS=false, so they use these)."""

    def __init__(self, bootstrap: str, base_dir: Path) -> None:
        self.bootstrap = bootstrap
        self.databases = None
        self.prefix = f"t{uuid.uuid4().hex[:10]}."
        self.base_dir = base_dir
        create_topics(bootstrap, self.prefix, partitions=3, replication_factor=3, min_insync_replicas=2)
        self.publisher = Publisher(bootstrap)
        self.services = []
        self.readers = []


class ClusterHolder:
    """The cluster may be replaced by a resumed one after a full outage."""

    def __init__(self, cluster: localkafka.Cluster, base_dir: Path) -> None:
        self.cluster = cluster
        self.base_dir = base_dir


@pytest.fixture(scope="module")
def three_brokers() -> Iterator[ClusterHolder]:
    base = Path(tempfile.mkdtemp(prefix="peak-faults-kafka-"))
    started = time.monotonic()
    holder = ClusterHolder(localkafka.start(port=None, brokers=3, base_dir=base), base)
    say("broker", f"3-broker cluster at {holder.cluster.bootstrap_servers} up in {time.monotonic() - started:.0f}s")
    try:
        yield holder
    finally:
        holder.cluster.stop(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


def describe(bootstrap: str, topics: list[str]) -> dict[str, list[dict]]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        return {t["name"]: sorted(t["partitions"], key=lambda p: p["partition_index"])
                for t in admin.describe_topics(topics)}
    finally:
        admin.close()


def leaders(bootstrap: str, topics: list[str]) -> dict[str, list[int]]:
    return {topic: [p["leader_id"] for p in parts] for topic, parts in describe(bootstrap, topics).items()}


def assert_replicated(world: World) -> None:
    topics = [world.topic(t) for t in WATCHED]
    for topic, parts in describe(world.bootstrap, topics).items():
        for p in parts:
            assert len(p["replica_nodes"]) == 3 and len(p["isr_nodes"]) == 3, (topic, p)
    admin = KafkaAdminClient(bootstrap_servers=world.bootstrap, request_timeout_ms=10000)
    try:
        result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    finally:
        admin.close()
    for topic in topics:
        assert result["topic"][topic]["min.insync.replicas"]["value"] == "2", result
    say("broker", f"{', '.join(WATCHED)}: 3 partitions, 3 replicas in sync each, min.insync.replicas=2")


def start_pair(world: World, tmp_path: Path) -> dict:
    catalog = write_catalog(tmp_path, PLENTY)
    return {"orders": world.start("orders"),
            "inventory": world.start("inventory", settings={"CATALOG_PATH": str(catalog)})}


def test_losing_the_partition_leaders_broker_mid_burst_loses_and_duplicates_no_order(
        three_brokers: ClusterHolder, tmp_path: Path) -> None:
    rng = seeded_rng("broker")
    cluster = three_brokers.cluster
    world = ReplicatedWorld(cluster.bootstrap_servers, tmp_path)
    try:
        assert_replicated(world)
        services = start_pair(world, tmp_path)
        orders = make_orders(rng, 2_000, "BL", PLENTY)
        items = placed_events(orders)

        before = leaders(world.bootstrap, [world.topic(t) for t in WATCHED])
        led = Counter(leader for ls in before.values() for leader in ls)
        victim = led.most_common(1)[0][0]
        say("broker", f"leaders before: {before}; broker {victim} leads {led[victim]} of {sum(led.values())} partitions")

        publisher = IdempotentPublisher(world.bootstrap)
        sent = {"n": 0}
        failure: list[BaseException] = []

        def publish() -> None:
            try:
                for start in range(0, len(items), 100):  # a burst spread over several seconds
                    publisher.send_all(world.topic("platform.orders"), items[start:start + 100])
                    sent["n"] = start + 100
                    time.sleep(0.15)
            except BaseException as exc:  # reported by the test thread
                failure.append(exc)

        thread = threading.Thread(target=publish, daemon=True)
        thread.start()
        target = rng.randint(400, 1000)
        wait_until(lambda: sent["n"] >= target, timeout_s=120, interval_s=0.05, what=f"{target} orders published")
        accepted_then = progress(services["orders"])
        cluster.stop_broker(victim, hard=True)
        killed_at = time.monotonic()
        say("broker", f"SIGKILL broker {victim} after {sent['n']} of {len(items)} orders were published "
                      f"({accepted_then} accepted so far)")

        thread.join(timeout=240)
        assert not thread.is_alive() and not failure, failure
        say("broker", f"burst fully acknowledged {time.monotonic() - killed_at:.1f}s after the kill "
                      f"({publisher.resent} sends retried by the platform's producer)")
        publisher.close()
        wait_until(lambda: victim not in {x for ls in leaders(world.bootstrap, [world.topic(t) for t in WATCHED])
                                          .values() for x in ls},
                   timeout_s=60, what=f"leadership moved away from broker {victim}")
        say("broker", f"leaders without broker {victim}: {leaders(world.bootstrap, [world.topic(t) for t in WATCHED])}")
        wait_until(lambda: progress(services["orders"]) > accepted_then + 100, timeout_s=120,
                   what="orders accepted while the broker is down")
        say("broker", f"{progress(services['orders'])} orders accepted with broker {victim} down")
        cluster.start_broker(victim)
        say("broker", f"broker {victim} back {time.monotonic() - killed_at:.1f}s after the kill")

        audit = Audit("broker", world, services, Expectation(orders, {s.sku: s.on_hand for s in PLENTY},
                                                             all_reserved=True))
        audit.wait_settled(timeout_s=240)
        facts = audit.check()
        assert facts["accepted"] == facts["reserved"] == len(orders)
        wait_until(lambda: all(len(p["isr_nodes"]) == 3 for parts in describe(
            world.bootstrap, [world.topic(t) for t in WATCHED]).values() for p in parts),
            timeout_s=90, what="every replica back in sync")
        say("broker", f"PASS: broker {victim} lost mid-burst and back; {facts['orders']} orders accepted once, "
                      f"{facts['reserved']} reserved ({facts['reserved_units']} units), replicas back in sync")
    finally:
        world.close()


def test_full_broker_outage_keeps_http_up_holds_orders_in_the_outbox_and_catches_up(
        three_brokers: ClusterHolder, tmp_path: Path) -> None:
    rng = seeded_rng("outage")
    world = ReplicatedWorld(three_brokers.cluster.bootstrap_servers, tmp_path)
    try:
        services = start_pair(world, tmp_path)
        before = make_orders(rng, 100, "OB", PLENTY)
        world.publisher.send_many_raw(world.topic("platform.orders"), placed_events(before))
        wait_until(lambda: progress(services["inventory"]) >= len(before), timeout_s=120,
                   what="the orders placed before the outage decided")
        say("outage", f"{len(before)} orders placed on Kafka and reserved before the outage")

        cluster = three_brokers.cluster
        down_at = time.monotonic()
        for i in range(len(cluster.nodes)):
            cluster.stop_broker(i, hard=True)
        assert not any(cluster.running())
        say("outage", "SIGKILL all 3 brokers")

        for name, service in services.items():
            statuses: Counter[int] = Counter()

            def reports_outage() -> dict | None:
                r = service.anonymous_client().get("/readyz")
                statuses[r.status_code] += 1
                return r.json() if r.json()["broker"] is False else None
            state = wait_until(reports_outage, timeout_s=60, what=f"{name} /readyz reporting the broker down")
            assert set(statuses) == {200}, statuses  # ready all along: degraded, not out of service
            assert state["database"] is True and state["degraded"] is True, state
            assert service.anonymous_client().get("/healthz").status_code == 200
            assert service.anonymous_client().get("/brokerz").status_code == 503
            say("outage", f"{name}: /healthz 200, /readyz 200 {state}, /brokerz 503 "
                          f"({time.monotonic() - down_at:.1f}s into the outage)")

        during = make_orders(rng, 30, "OD", PLENTY)
        with services["orders"].client("platform") as http:
            answers = Counter(http.post("/orders", json=o).status_code for o in during)
            assert answers == {202: len(during)}, answers
            waiting = Counter(http.get(f"/orders/{o['order_id']}").status_code for o in during)
        assert waiting == {404: len(during)}, waiting  # not accepted yet: the way in is the topic
        held = scalar(services["orders"], "select count(*) from outbox_message where topic = :t and state != 'published'",
                      t=world.topic("platform.orders"))
        assert held == len(during), held
        say("outage", f"POST /orders x{len(during)} during the outage: all 202; {held} order.placed events held "
                      f"in the orders outbox ({outbox_states(services['orders'])}), none accepted yet")

        say("outage", f"restarting the brokers {time.monotonic() - down_at:.1f}s into the outage")
        resumed = localkafka.start(port=None, brokers=3, base_dir=three_brokers.base_dir)
        three_brokers.cluster = resumed
        assert resumed.bootstrap_servers == world.bootstrap, (resumed.bootstrap_servers, world.bootstrap)
        say("outage", f"brokers serving again {time.monotonic() - down_at:.1f}s after the outage began")

        for name, service in services.items():
            state = wait_until(lambda: (r := service.anonymous_client().get("/brokerz")).status_code == 200 and r.json(),
                               timeout_s=120, what=f"{name} connected again")
            say("outage", f"{name}: /brokerz 200 {state}")
        audit = Audit("outage", world, services, Expectation(before + during, {s.sku: s.on_hand for s in PLENTY},
                                                             all_reserved=True))
        audit.wait_settled(timeout_s=240)
        facts = audit.check()
        say("outage", f"PASS: {len(before)} orders before and {len(during)} posted during the outage: "
                      f"{facts['accepted']} accepted once, {facts['reserved']} reserved "
                      f"({facts['reserved_units']} units), outboxes drained")
    finally:
        world.close()
