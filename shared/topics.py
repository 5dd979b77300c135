"""Every Kafka topic, in one place: its name, what it carries, who writes and who reads it.

Keys keep per-aggregate order: order events are keyed by order id, so every event of one order
lands on one partition in the order it was published; stock events that must stay in per-sku
order are keyed by sku. Every consumed topic has a dead-letter twin, `<topic>.dlq`.

Names can carry a prefix (setting `KAFKA_TOPIC_PREFIX`), so a test run or a second environment
can share a broker without sharing topics.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    event_types: tuple[str, ...]
    description: str
    written_outside: bool = False
    """Senders outside the platform write it (their own JSON spelling): a consumer tells a re-sent
    event from an id used again by what the event says, not by its bytes."""
    legacy_types: tuple[str, ...] = ()
    """Types still accepted here from older senders, under a name the platform no longer gives
    them on this topic (shared/event_registry.py publishes each type on one topic only)."""


PLATFORM_ORDERS = TopicSpec(
    "platform.orders", "order id", ("platform services", "orders (POST /orders)"), ("orders",),
    ("order.placed", "order.balance_paid", "order.cancellation_requested", "order.cancelled"),
    "The public way in: orders placed (a deposit presale's balance paid later) and cancellations asked for "
    "by platform services "
    "(`order.cancelled` here is the older name of `order.cancellation_requested`, still accepted).",
    written_outside=True, legacy_types=("order.cancelled",),
)
ORDERS_EVENTS = TopicSpec(
    "orders.events", "order id", ("orders",), ("inventory", "logistics", "aftersales"),
    ("order.accepted", "order.rejected", "order.cancelled", "order.cancellation_refused", "order.balance_received",
     "order.deposit_forfeited", "order.held", "order.released"),
    "Validated orders with their priority class and rank, rejections with reasons, confirmed cancellations "
    "and refused ones; presale balances received and deposits forfeited; orders held as possible abuse and "
    "released.",
)
INVENTORY_RESERVATIONS = TopicSpec(
    "inventory.reservations", "order id", ("inventory",), ("orders", "logistics"),
    ("stock.reserved", "stock.backordered", "stock.released", "stock.sku_unknown"),
    "Per-order outcome of reservation: all lines reserved, backordered with the missing lines, or refused "
    "because a sku is not in the catalogue.",
)
INVENTORY_STOCK = TopicSpec(
    "inventory.stock", "sku", ("inventory",), ("suppliers", "operators"),
    ("replenishment.requested", "sku.mode_changed"),
    "Per-sku stock signals: replenishment requests to suppliers, sell-out playbook mode changes.",
)
SUPPLIER_DELIVERIES = TopicSpec(
    "supplier.deliveries", "sku", ("suppliers",), ("inventory",),
    ("supplier.delivery",),
    "Goods received from suppliers; they fill backorders in priority order.",
    written_outside=True,
)
LOGISTICS_SHIPMENTS = TopicSpec(
    "logistics.shipments", "order id", ("logistics",), ("orders", "inventory", "aftersales"),
    ("shipment.dispatched", "shipment.delivered", "shipment.exception"),
    "Dispatch, delivery and exceptions of shipments.",
)
CARRIER_EVENTS = TopicSpec(
    "carrier.events", "tracking number", ("carriers",), ("logistics",),
    ("carrier.delivery",),
    "Delivery confirmations from carriers.",
    written_outside=True,
)
LOGISTICS_NOTIFICATIONS = TopicSpec(
    "logistics.notifications", "order id", ("logistics",), ("platform services (customer messaging)",),
    ("customer.notification_requested",),
    "Messages the platform sends the customer: a shipment delayed, damaged or lost.",
)
AFTERSALES_CASES = TopicSpec(
    "aftersales.cases", "order id", ("aftersales",), ("orders", "inventory", "logistics"),
    ("return.requested", "return.rejected", "return.received", "refund.issued", "exchange.requested",
     "return.approved", "return.arrived"),
    "Returns and exchanges: requested, received and inspected (restock), refunded, replacement asked.",
)
PLATFORM_TRAFFIC = TopicSpec(
    "platform.traffic", "window start", ("platform services",), ("orders",),
    ("traffic.counted",),
    "Visitors counted per window of time, for conversion (orders / visitors) on the war room; another "
    "event for the same window (start and length) corrects its count.",
    written_outside=True,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    PLATFORM_ORDERS, ORDERS_EVENTS, INVENTORY_RESERVATIONS, INVENTORY_STOCK, SUPPLIER_DELIVERIES,
    LOGISTICS_SHIPMENTS, CARRIER_EVENTS, AFTERSALES_CASES, LOGISTICS_NOTIFICATIONS,
)
ALL_TOPICS += (PLATFORM_TRAFFIC,)


def dlq_name(topic: str) -> str:
    return topic + DLQ_SUFFIX


def all_topic_names(prefix: str = "") -> list[str]:
    """The topics to create: every topic and its dead-letter twin."""
    names = []
    for spec in ALL_TOPICS:
        names.append(prefix + spec.name)
        names.append(prefix + dlq_name(spec.name))
    return names


def create_topics(bootstrap_servers: str, prefix: str = "", partitions: int = 3,
                  replication_factor: int = 1, min_insync_replicas: int | None = None,
                  timeout_s: float = 60.0, client_kwargs: dict[str, Any] | None = None) -> list[str]:
    """Create any missing topics with kafka-python's admin client; existing ones are left alone.

    Returns the names created. Retries while the broker is still electing its controller.
    `client_kwargs`: security settings (shared/kafka_security.kafka_python_kwargs).
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    wanted = all_topic_names(prefix)
    configs = {}
    if min_insync_replicas:
        configs["min.insync.replicas"] = str(min_insync_replicas)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="topic-setup",
                                     request_timeout_ms=15000, **(client_kwargs or {}))
            try:
                missing = [t for t in wanted if t not in set(admin.list_topics())]
                if missing:
                    try:
                        admin.create_topics([
                            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                                     topic_configs=configs)
                            for name in missing
                        ])
                    except TopicAlreadyExistsError:
                        pass  # another instance created them at the same moment
                _wait_until_listed(admin, wanted, deadline)
                log.info("topics ready (%d created)", len(missing))
                return missing
            finally:
                admin.close()
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("topic creation not possible yet (%s); retrying", exc)
            time.sleep(1.0)


def _wait_until_listed(admin, wanted: list[str], deadline: float) -> None:
    while True:
        missing = set(wanted) - set(admin.list_topics())
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not visible after creation: {sorted(missing)}")
        time.sleep(0.2)
