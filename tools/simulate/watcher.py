"""What the simulator watches on Kafka (read-only; it never consumes in a group)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from decimal import Decimal
from typing import Any

from kafka import KafkaConsumer

from shared.topics import ALL_TOPICS, dlq_name

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

