"""What every service is made of: settings, database, clock, metrics, outbox relay, the FastStream
Kafka broker with its subscribers, and the FastAPI app with /healthz, /readyz, /metrics.

A service's `app.py` builds a `ServiceRuntime`, registers its subscriptions with `subscribe()`
(one place listing everything it consumes), adds its HTTP routes, and `serve()` runs it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.params import NoCast
from faststream.specification import AsyncAPI
from sqlalchemy.schema import Table
from sqlmodel import Session

from shared.clock import make_clock
from shared.db import create_tables, is_reachable, make_engine, transaction
from shared.consumer_health import StallWatch, parse_batch_with_binary_headers, poll_without_sleeping
from shared import kafka_records, tracing
from shared.event_registry import EVENT_MODELS
from shared.kafka_security import aiokafka_kwargs, faststream_security, kafka_python_kwargs
from shared.kafka_security import describe as describe_security
from shared.messaging import MESSAGING_TABLES, EventConsumer, Handler, InvalidHandler, Outbox, OutboxRelay
from shared.messaging.records import record_from_kafka
from shared.logs import configure_logging
from shared.metrics import ServiceMetrics
from shared.migrations import has_migrations, upgrade
from shared.periodic import PeriodicJob
from shared.readiness import BrokerSignal, BrokerWatch, readiness_answer
from shared.settings import KafkaSettings, ServiceSettings
from shared.threads import limit_request_threads, run_in_background
from shared.topics import TopicSpec, create_topics
from shared.unit_of_work import SYSTEM, Actor, UnitOfWork

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, kafka: KafkaSettings, tables: Iterable[Table]) -> None:
        kafka_records.install()  # no header key can make a fetched batch unreadable
        self.name = settings.service_name
        self.settings = settings
        self.kafka = kafka
        self.engine = make_engine(settings.resolved_database_url())
        self.tables = [*MESSAGING_TABLES, *tables]
        self.clock = make_clock(settings.clock)
        self.metrics = ServiceMetrics(self.name)
        self.relay = OutboxRelay(self.engine, kafka.bootstrap_servers, self.clock, self.metrics,
                                 client_id=f"{self.name}-relay", interval_s=settings.relay_interval_s,
                                 linger_ms=settings.relay_linger_ms,
                                 client_kwargs=aiokafka_kwargs(kafka))
        self.outbox = Outbox(source=self.name, topic_prefix=kafka.topic_prefix, clock=self.clock, relay=self.relay)
        # Per-message logs at DEBUG: at peak they would be most of the log volume.
        # A list: FastStream wraps a string into a one-item list, so "b1:9092,b2:9092" would be
        # read as a single host name.
        self.broker = KafkaBroker([s.strip() for s in kafka.bootstrap_servers.split(",") if s.strip()],
                                  client_id=self.name, log_level=logging.DEBUG,
                                  logger=logging.getLogger("faststream.kafka"),
                                  security=faststream_security(kafka))
        self.consumer = EventConsumer(self.engine, self.outbox, self.clock, self.metrics,
                                      consumer_name=self.name, retries=settings.handler_retries,
                                      wake_relay=self.relay.wake)
        self.subscriptions: list[tuple[TopicSpec, list[str]]] = []
        self._subscribers: list[Any] = []
        self.stall_watch = StallWatch(lambda: self._subscribers, self.metrics,
                                      stall_after_s=settings.consumer_stall_s,
                                      interval_s=min(5.0, settings.consumer_stall_s / 4))
        # topic name (unprefixed) -> (handlers, on_invalid): what subscribe() wired, so tools can
        # drive the same handlers without a broker (tools/profile_pipeline.py).
        self.handlers: dict[str, tuple[dict[str, Handler], InvalidHandler | None]] = {}
        self.broker_connected = False
        self._connect_task: asyncio.Task[None] | None = None
        self.on_start: list[Callable[[], None]] = []
        self.periodic: list[PeriodicJob] = []
        # Readiness follows the database; the broker is its own signal (shared/readiness.py).
        self.broker_signal = BrokerSignal()
        self.broker_watch = BrokerWatch(self.broker_signal, self._ping_broker)
        self.metrics.gauge_from("broker_connected", "1 while the Kafka broker answers this instance, 0 while "
                                "it does not (degraded: still ready, events wait in the outbox)",
                                lambda: 1.0 if self.broker_signal.connected else 0.0)
        self.metrics.gauge_from("broker_down_seconds", "Seconds since the Kafka broker stopped answering "
                                "this instance (0 while it answers)", self.broker_signal.down_for_s)

    # -- wiring ---------------------------------------------------------------------------

    def subscribe(self, spec: TopicSpec, handlers: dict[str, Handler],
                  on_invalid: InvalidHandler | None = None) -> None:
        """Consume `spec` in this service's consumer group; each event type goes to its handler.
        `on_invalid` runs when a message is dead-lettered (to tell the sender why)."""
        topic = self.kafka.topic(spec.name)

        async def on_batch(body: NoCast[list[bytes]], message: KafkaMessage) -> None:
            records = [record_from_kafka(r.topic, r.partition, r.offset, r.key, r.value, r.headers)
                       for r in message.raw_message]
            await self.consumer.process_batch(records, handlers, on_invalid)

        on_batch.__name__ = f"on_{spec.name.replace('.', '_')}"
        subscriber = self.broker.subscriber(
            topic,
            # One group per (service, topic): several topics in one group would make every
            # subscriber's join rebalance all the others, one after the other, at each start.
            group_id=f"{self.kafka.topic_prefix}{self.name}.{spec.name}",
            auto_offset_reset="earliest",
            batch=True,
            # A crashed instance's partitions move to the survivors after 6 s (the broker's
            # minimum) instead of aiokafka's 10 s default.
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            max_records=self.settings.consumer_batch_size,
            fetch_min_bytes=self.settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_bytes,  # our consumer decodes, so that bad bytes reach the dead-letter path
            parser=parse_batch_with_binary_headers,  # a header that is not UTF-8 must not fail the batch
            title=f"{topic}:{self.name}",
            description=f"{spec.description} Handled types: {', '.join(sorted(handlers))}. "
                        "Payload: a CloudEvents 1.0 JSON envelope (see shared/events.py).",
        )
        poll_without_sleeping(subscriber, wait_ms=self.settings.consumer_poll_wait_ms,
                              max_records=self.settings.consumer_batch_size)
        subscriber(on_batch)
        self._subscribers.append(subscriber)
        if spec.written_outside:
            self.consumer.compared_by_content.add(topic)
        self.subscriptions.append((spec, sorted(handlers)))
        self.handlers[spec.name] = (handlers, on_invalid)

    def every(self, interval_s: float, name: str, job: Callable[[], Any]) -> None:
        """Run `job` every `interval_s` seconds while the service runs (shared/periodic.py)."""
        self.periodic.append(PeriodicJob(name, interval_s, job))

    def document_publications(self, spec: TopicSpec, types: Iterable[str]) -> None:
        """Declare, for the AsyncAPI document, what this service publishes on `spec`.
        Publishing itself goes through the outbox relay."""
        for type_ in types:
            model = EVENT_MODELS[(type_, 1)]
            self.broker.publisher(
                self.kafka.topic(spec.name),
                title=f"{self.kafka.topic(spec.name)}:{type_}",
                description=f"CloudEvent type `{type_}` (dataversion 1); `data` follows {model.__name__}. "
                            f"Key: {spec.key}.",
                schema=model,
            )

    def asyncapi(self) -> dict[str, Any]:
        spec = AsyncAPI(self.broker, title=f"{self.name} service", version="1.0.0",
                        description=f"Kafka topics the {self.name} service consumes and publishes.")
        return spec.to_specification().to_jsonable()

    # -- units of work --------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self, actor: Actor = SYSTEM) -> Iterator[UnitOfWork]:
        """A use case's unit of work outside a consumer (HTTP routes: shared/http_app.Work,
        start-up loads): commits on leaving, and its events go out right after."""
        with transaction(self.engine) as session:
            yield UnitOfWork(session, self.outbox, self.clock, actor=actor)
        self.relay.wake()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A bare transaction (no use case): as unit_of_work, the session only."""
        with transaction(self.engine) as session:
            yield session
        self.relay.wake()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        limit_request_threads(self.settings.http_threads)
        await run_in_background(self.migrate)
        for hook in self.on_start:
            await run_in_background(hook)
        if self.settings.relay_enabled:
            await self.relay.start()
        for job in self.periodic:
            job.start()
        self._connect_task = asyncio.create_task(self._connect_broker(), name="connect-broker")
        self.broker_watch.start()

    def migrate(self) -> None:
        """Alembic history when the service has one, else create the tables (new services)."""
        if has_migrations(self.name):
            upgrade(self.engine, self.name)
        else:
            create_tables(self.engine, self.tables)

    async def _connect_broker(self) -> None:
        """In the background, so the HTTP API is up (and /readyz says why not ready) while the
        broker is unreachable."""
        while True:
            try:
                if self.kafka.create_topics:
                    await run_in_background(lambda: create_topics(
                        self.kafka.bootstrap_servers, self.kafka.topic_prefix,
                        partitions=self.kafka.partitions, replication_factor=self.kafka.replication_factor,
                        min_insync_replicas=self.kafka.min_insync_replicas, timeout_s=30,
                        client_kwargs=kafka_python_kwargs(self.kafka)))
                await self.broker.start()
                self.broker_connected = True
                self.broker_signal.observe(True)
                self.stall_watch.start()
                log.info("%s connected to Kafka at %s (%s)", self.name, self.kafka.bootstrap_servers,
                         describe_security(self.kafka))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s cannot reach Kafka yet (%s); retrying", self.name, exc)
                await asyncio.sleep(2.0)

    async def stop(self) -> None:
        if self._connect_task and not self._connect_task.done():
            self._connect_task.cancel()
        await self.broker_watch.stop()
        await self.stall_watch.stop()
        for job in self.periodic:
            await job.stop()
        try:
            await asyncio.wait_for(self.broker.stop(), timeout=15)
        except Exception:
            log.warning("broker did not stop cleanly", exc_info=True)
        await self.relay.stop()
        self.engine.dispose()

    async def _ping_broker(self) -> bool:
        if not self.broker_connected:
            return False
        return await self.broker.ping(timeout=3)

    def _database_state(self) -> tuple[bool, int | None]:
        if not is_reachable(self.engine):
            return False, None
        try:
            return True, self.relay.backlog()
        except Exception:
            return True, None

    async def readiness(self, *, ask_broker: bool = False) -> dict[str, Any]:
        """`ready` while the database answers (shared/readiness.py). The broker state is the
        watch's last one, so the answer never waits on an unreachable broker; `ask_broker`
        pings it now (`/brokerz`)."""
        if ask_broker:
            await self.broker_watch.check()
        db_ok, backlog = await run_in_background(self._database_state)
        return readiness_answer(self.name, database=db_ok, broker=self.broker_signal,
                                relay=self.relay.connected, outbox_backlog=backlog)


async def _raw_bytes(message: Any) -> bytes:
    return message.body


def main(build_app: Callable[[Any, KafkaSettings], FastAPI], settings_class: type[ServiceSettings]) -> None:
    """`python -m services.<name>` runs the service; `... migrate` only updates its schema."""
    settings = settings_class()
    app = build_app(settings, KafkaSettings())
    if sys.argv[1:] == ["migrate"]:
        app.state.runtime.migrate()
        print(f"{settings.service_name}: database schema is up to date")
    elif sys.argv[1:]:
        raise SystemExit(f"usage: python -m services.{settings.service_name} [migrate]")
    else:
        serve(app, settings)


def tune_garbage_collector() -> None:
    """Every consumed event allocates a few hundred short-lived objects, nearly none in cycles:
    with the default threshold (700) the cycle collector ran thousands of times a second at
    peak, re-walking the same long-lived objects. Those (modules, models, compiled statements)
    are frozen out of its sight, and it runs a tenth as often. Called once the service is built
    (tools/profile_pipeline.py too, so its figures are the services')."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 20, 20)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
    if tracing.configure(settings.service_name):
        log.info("%s: tracing on (shared/tracing.py)", settings.service_name)
    tune_garbage_collector()
    log.info("%s listening on http://%s:%d", settings.service_name, settings.host, settings.http_port)
    # uvloop, not asyncio's own loop: the consumers, the relay's producer and HTTP all run on it,
    # and it took 9% off the CPU per order of the 100,000-order burst (1.15-1.18 -> 1.05-1.06 ms).
    uvicorn.run(app, host=settings.host, port=settings.http_port, log_level="warning",
                timeout_graceful_shutdown=10, loop="uvloop")
    tracing.shutdown()
