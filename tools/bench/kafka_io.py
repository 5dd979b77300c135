"""The bench's side of the broker: the watcher that sees each order's outcome, the producers (a
burst as fast as the client goes, a paced stream), the broker's own ceiling, and consumer lag."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from tools.bench.common import SKUS, order_event, quantiles, wait_until

@dataclass
class StageClock:
    """Counts distinct orders reaching a stage and remembers when the count hit the target."""

    target: int = 0
    seen: dict[str, float] = field(default_factory=dict)
    # The record's own timestamp: when the service's outbox relay handed the event to its
    # producer, just after the service committed. Tells the hops apart (hop_split).
    handed_over: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    reached_at: float | None = None

    def add(self, order_id: str, at: float, handed_over_at: float) -> None:
        if order_id in self.seen:
            self.duplicates += 1
            return
        self.seen[order_id] = at
        self.handed_over[order_id] = handed_over_at
        if self.target and len(self.seen) >= self.target and self.reached_at is None:
            self.reached_at = at


class Watcher(threading.Thread):
    """Reads orders.events and inventory.reservations and records when each order got where.

    It shares the machine with what it measures, so it is kept light: aiokafka (whose record
    parsing is compiled) in its own event loop, and the stage read from the `ce_type` header the
    outbox puts on every event instead of from the JSON."""

    KINDS = {b"order.accepted": "accepted", b"order.rejected": "rejected",
             b"stock.reserved": "reserved", b"stock.backordered": "backordered"}

    def __init__(self, bootstrap: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.stages = {name: StageClock() for name in ("accepted", "rejected", "reserved", "backordered")}
        self._servers = bootstrap  # not _bootstrap: threading.Thread has its own
        self._topics = (prefix + "orders.events", prefix + "inventory.reservations")
        self._halt = threading.Event()
        self._ready = threading.Event()
        self.lock = threading.Lock()

    def start(self) -> None:
        super().start()
        if not self._ready.wait(30):
            raise RuntimeError("the watcher's consumer did not start within 30 s")

    def run(self) -> None:
        asyncio.run(self._watch())

    async def _watch(self) -> None:
        consumer = AIOKafkaConsumer(*self._topics, bootstrap_servers=self._servers, group_id=None,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=10)
        await consumer.start()
        self._ready.set()
        try:
            while not self._halt.is_set():
                batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                now = time.time()
                with self.lock:
                    for records in batches.values():
                        for r in records:
                            stage = self.KINDS.get(next((v for k, v in r.headers if k == "ce_type"), b""))
                            if stage is not None:
                                self.stages[stage].add(r.key.decode(), now, r.timestamp / 1000)
        finally:
            await consumer.stop()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(10)

    def reset(self, target: int) -> None:
        with self.lock:
            for stage in self.stages.values():
                stage.target = target
                stage.reached_at = None
                stage.seen.clear()
                stage.handed_over.clear()
                stage.duplicates = 0

    def done(self, n: int = 0, id_prefix: str = "") -> int:
        """Orders with an outcome (reserved or backordered); only those whose id starts with
        `id_prefix` when given (a phase whose orders come in by two ways, e.g. HTTP and Kafka)."""
        with self.lock:
            if not id_prefix:
                return len(self.stages["reserved"].seen) + len(self.stages["backordered"].seen)
            return sum(1 for stage in ("reserved", "backordered") for order in self.stages[stage].seen
                       if order.startswith(id_prefix))



async def _send_all(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> tuple[float, float]:
    """Every message through one aiokafka producer (the services' own client, whose record
    batches are built in compiled code): 1.4 CPU-s per 100,000 orders here, against 3.1-3.3 s
    with kafka-python's, CPU the bench took from the services it measures. Returns when the
    first send was made (the producer already connected) and the seconds to the last
    acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=512 * 1024, max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        started = time.time()
        pending = [await producer.send(topic, key=key, value=value) for key, value in messages]
        results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), timeout=120)
        failed = sum(1 for result in results if isinstance(result, BaseException))
        if failed:
            raise RuntimeError(f"{failed} of {len(messages)} messages were not acknowledged")
        return started, time.time() - started
    finally:
        await producer.stop()


def publish(bootstrap: str, topic: str, orders: list[tuple[str, bytes]]) -> float:
    _started, seconds = asyncio.run(_send_all(bootstrap, topic, [(oid.encode(), value) for oid, value in orders]))
    return seconds


def paced_orders(bootstrap: str, topic: str, rate: int, seconds: int, results, id_prefix: str = "S",
                 raw_size: int = 0) -> None:  # type: ignore[no-untyped-def]
    """`rate` orders a second for `seconds`, in ticks of 10 ms; puts (sent times by order id,
    count sent, seconds taken) on `results`. With `raw_size`, filler of that size instead of
    orders (the broker's own latency). Bounded: it stops 30 s after the planned end."""
    total = rate * seconds
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    sent_at: dict[str, float] = {}
    per_tick = max(1, round(rate * 0.01))
    filler = b"x" * raw_size
    started = time.time()
    i = 0
    while i < total and time.time() - started < seconds + 30:
        delay = started + (i / rate) - time.time()
        if delay > 0:
            time.sleep(delay)
        for _ in range(min(per_tick, total - i)):
            order_id = f"{id_prefix}{i:07d}"
            value = filler or order_event(order_id, SKUS[i % len(SKUS)], datetime.now(UTC).isoformat())
            producer.send(topic, key=order_id.encode(), value=value)
            sent_at[order_id] = time.time()
            i += 1
    producer.flush(30)
    producer.close()
    results.put((sent_at, i, time.time() - started))


def start_paced(bootstrap: str, topic: str, rate: int, seconds: int, id_prefix: str = "S", raw_size: int = 0):
    """paced_orders in a process of its own, so its sends are never held up behind the watcher
    thread's share of the GIL (a delay that would be counted as the services' latency).
    Returns (process, results queue)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=paced_orders, daemon=True,
                              args=(bootstrap, topic, rate, seconds, results, id_prefix, raw_size))
    process.start()
    return process, results


def ceiling(args, bootstrap: str, prefix: str, size: int) -> dict:
    """The broker alone: a burst's round trip (rate) and, when the run has a steady phase, the
    latency of a paced stream at the steady rate (what the services' latency is compared to)."""
    topic = prefix + "bench.ceiling"
    create_topics_raw(bootstrap, topic, args.partitions)
    result = asyncio.run(_round_trip(bootstrap, topic, args.orders, size, args.timeout))
    if not args.skip_steady:
        seconds = min(args.steady_seconds, 10)
        create_topics_raw(bootstrap, topic + ".paced", args.partitions)
        result["paced"] = asyncio.run(_paced_round_trip(bootstrap, topic + ".paced", args.rate, seconds, size))
    return result


async def _round_trip(bootstrap: str, topic: str, n: int, size: int, timeout_s: float) -> dict:
    """The broker alone, with the services' client library: `n` messages of `size` bytes
    produced as the burst's are, and consumed back as the services' consumers fetch."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                fetch_max_wait_ms=10)
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=1000)  # assigned and positioned before the clock starts
        value = b"x" * size
        consuming = asyncio.create_task(_count_records(consumer, n, timeout_s))
        cpu_before = time.process_time()
        started, produced_s = await _send_all(bootstrap, topic, [(f"K{i}".encode(), value) for i in range(n)])
        got = await consuming
        elapsed = time.time() - started
        client_cpu = time.process_time() - cpu_before
    finally:
        await consumer.stop()
    return {"messages": n, "bytes_each": size, "client": "aiokafka", "produce_s": round(produced_s, 2),
            "round_trip_s": round(elapsed, 2), "round_trip_msgs_per_s": round(got / elapsed), "consumed": got,
            # The producing and consuming client's CPU; the broker's is added by the caller.
            "client_cpu_ms_per_msg": round(1000 * client_cpu / max(got, 1), 4)}


async def _paced_round_trip(bootstrap: str, topic: str, rate: int, seconds: int, size: int) -> dict:
    """Publication -> consumption latency of `rate` messages a second through the broker alone,
    sent by the steady phase's own paced producer."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                fetch_max_wait_ms=10)
    await consumer.start()
    seen: dict[str, float] = {}
    try:
        await consumer.getmany(timeout_ms=1000)
        process, results = await asyncio.to_thread(start_paced, bootstrap, topic, rate, seconds, "P", size)
        total = rate * seconds
        deadline = time.monotonic() + seconds + 60
        while len(seen) < total and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batches.values():
                for r in records:
                    seen.setdefault(r.key.decode(), now)
        sent_at, _sent, _took = await asyncio.to_thread(results.get, True, 60)
        await asyncio.to_thread(process.join, 30)
    finally:
        await consumer.stop()
    latencies = [(seen[k] - t) * 1000 for k, t in sent_at.items() if k in seen]
    return {"rate_per_s": rate, "seconds": seconds, "sent": len(sent_at), "consumed": len(latencies),
            "latency_ms": quantiles(latencies)}


async def _count_records(consumer: AIOKafkaConsumer, n: int, timeout_s: float) -> int:
    got = 0
    deadline = time.monotonic() + timeout_s
    while got < n and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=200, max_records=5000)
        got += sum(len(records) for records in batches.values())
    return got


def create_topics_raw(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()


def consumer_lag(admin: KafkaAdminClient, consumer: KafkaConsumer, prefix: str) -> int:
    """Messages this run's consumer groups have not committed yet, over all their topics.
    Groups are named <prefix><service>.<topic> (shared/service.py)."""
    total = 0
    for group in sorted(g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(prefix)):
        topic = prefix + group[len(prefix):].split(".", 1)[1]
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        committed = admin.list_group_offsets({group: None})[group]
        for tp, end in consumer.end_offsets(partitions).items():
            total += end - (committed[tp].offset if tp in committed else 0)
    return total


def wait_for_idle(bootstrap: str, prefix: str, timeout_s: float) -> float | None:
    """Seconds until every service has consumed everything, e.g. the lifecycle events the burst
    left to the orders service; None if that did not happen within `timeout_s`. Steady latency
    is measured from an idle system, not on top of the burst's tail."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    started = time.time()
    try:
        idle = wait_until(lambda: consumer_lag(admin, consumer, prefix) == 0, timeout_s=timeout_s, poll_s=1.0)
        return round(time.time() - started, 1) if idle else None
    finally:
        consumer.close()
        admin.close()


def group_members(bootstrap: str, group: str) -> int:
    """Members of a consumer group that hold at least one partition."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        described = admin.describe_groups([group])[group]
        return sum(1 for member in described["members"]
                   if any(a["partitions"] for a in (member.get("member_assignment") or {}).get(
                       "assigned_partitions", [])))
    finally:
        admin.close()
