"""Each service's /metrics moves with the work it does (scraped the way Prometheus would)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_order_journey import eventually, new_skus, order_body, order_status
from tests.support.world import World

pytestmark = pytest.mark.e2e


def scrape(service) -> dict[tuple[str, tuple], float]:
    text = httpx.get(service.url + "/metrics", timeout=10).text  # no token: Prometheus scrapes anonymously
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


def test_counters_move_after_a_small_flow(world: World) -> None:
    orders, inventory, logistics = (world.start(n) for n in ("orders", "inventory", "logistics"))
    before = {s.name: scrape(s) for s in (orders, inventory, logistics)}
    admin, platform, reader = inventory.client("admin"), orders.client("platform"), orders.client("support")
    tea, gift = new_skus(admin, on_hand=10)
    order_id = f"O-{uuid.uuid4().hex[:8]}"
    assert platform.post("/orders", json=order_body(order_id, tea, gift)).status_code == 202
    world.publish_raw("platform.orders", b"not an event", key="junk")
    eventually(lambda: order_status(reader, order_id) == "reserved", what="reserved")
    eventually(lambda: value(scrape(logistics), "peak_events_consumed_total", topic=world.topic("inventory.reservations")) >= 1,
               what="logistics consumed the reservation")
    eventually(lambda: value(scrape(orders), "peak_dead_letters_total", topic=world.topic("platform.orders")) >= 1,
               what="dead letter counted")

    after = {s.name: scrape(s) for s in (orders, inventory, logistics)}
    o, i, lg = after["orders"], after["inventory"], after["logistics"]
    assert value(o, "peak_events_consumed_total", topic=world.topic("platform.orders"), type="order.placed") \
        > value(before["orders"], "peak_events_consumed_total", topic=world.topic("platform.orders"), type="order.placed")
    assert value(o, "peak_events_published_total", topic=world.topic("orders.events")) >= 1
    assert value(o, "peak_handler_seconds_count", topic=world.topic("platform.orders")) >= 2
    assert value(i, "peak_events_published_total", topic=world.topic("inventory.reservations")) >= 1
    assert value(i, "peak_events_consumed_total", topic=world.topic("orders.events"), type="order.accepted") >= 1
    # Business gauges read at scrape time: 10 units, 2 + 1 reserved -> the tea (8 of 10) is not low.
    assert value(i, "peak_stock_low_skus") == 0
    assert value(lg, "peak_sla_shipped_within_24h_ratio") == 0.0  # paid, queued, not shipped yet
    assert ("peak_outbox_backlog", ()) in o
