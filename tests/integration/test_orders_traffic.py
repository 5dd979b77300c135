"""traffic.counted on platform.traffic through the real broker (issue 30): the orders service
keeps each window's visitors for conversion; the same event again is a duplicate, another event
for the same window corrects the figure (an older one does not), and bad events are
dead-lettered with the reason while the consumer carries on."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_orders_intake import new_id, order_data
from tests.support.console import wait_until
from tests.support.kafka import cloud_event
from tests.support.world import World

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 11, 1, 0, tzinfo=UTC)


def window(minute: int, visitors: int, seconds: int = 60) -> dict:
    return {"window_start": (BASE + timedelta(minutes=minute)).isoformat(), "window_seconds": seconds,
            "visitors": visitors}


def minute_points(orders, first: int, count: int) -> list[dict]:
    since = (BASE + timedelta(minutes=first)).isoformat()
    until = (BASE + timedelta(minutes=first + count)).isoformat()
    with orders.client("admin") as http:
        answer = http.get("/stats/series", params={"bucket": "minute", "since": since, "until": until})
    answer.raise_for_status()
    return answer.json()["points"]


def visitors_at(orders, minute: int) -> int | None:
    return minute_points(orders, minute, 1)[0]["visitors"]


@pytest.fixture(scope="module")
def orders(module_world: World):
    return module_world.start("orders")


def test_a_window_is_counted_a_duplicate_changes_nothing_and_a_correction_replaces_it(
        module_world: World, orders) -> None:
    key = "traffic"
    first = module_world.publish("platform.traffic", "traffic.counted", window(0, 400), key=key)
    wait_until(lambda: visitors_at(orders, 0) == 400, "the window's visitors")

    order_id = new_id()
    module_world.publish("platform.orders", "order.placed",
                         order_data(order_id, paid_at=(BASE + timedelta(seconds=30)).isoformat()), key=order_id)
    point = wait_until(lambda: (p := minute_points(orders, 0, 1)[0])["orders"] == 1 and p, "the order in its minute")
    assert (point["visitors"], point["conversion"], point["gmv"]) == (400, "0.002500", "89.80")

    # The same event again (same id, same content): a duplicate, dropped by the inbox.
    module_world.publish("platform.traffic", "traffic.counted", window(0, 400), key=key, event_id=first)
    # A corrected figure for the same window (a new event id) replaces the count.
    module_world.publish("platform.traffic", "traffic.counted", window(0, 500), key=key)
    wait_until(lambda: visitors_at(orders, 0) == 500, "the corrected figure")
    assert minute_points(orders, 0, 1)[0]["conversion"] == "0.002000"

    # A correction older (by its own time) than the figure kept does not undo it.
    stale = cloud_event("traffic.counted", window(0, 7), subject=key)
    stale["time"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    module_world.publish_raw("platform.traffic", json.dumps(stale).encode(), key=key)
    # A window of another length over the same minute is kept beside it; a marker after both
    # shows the stale one was consumed before we look.
    module_world.publish("platform.traffic", "traffic.counted", window(1, 30, seconds=30), key=key)
    wait_until(lambda: visitors_at(orders, 1) == 30, "the marker window")
    assert visitors_at(orders, 0) == 500

    # A window across a bucket's edge belongs to neither minute, but lies inside the hour.
    module_world.publish("platform.traffic", "traffic.counted",
                         {**window(2, 11), "window_start": (BASE + timedelta(minutes=2, seconds=30)).isoformat()},
                         key=key)
    wait_until(lambda: (h := _hour(orders))["visitors"] == 500 + 30 + 11 and h, "the hour's visitors")
    assert [p["visitors"] for p in minute_points(orders, 2, 2)] == [None, None]


def _hour(orders) -> dict:
    with orders.client("warehouse") as http:  # every console role reads the series
        answer = http.get("/stats/series", params={"bucket": "hour", "since": BASE.isoformat(),
                                                   "until": (BASE + timedelta(hours=1)).isoformat()})
    answer.raise_for_status()
    return answer.json()["points"][0]


POISON = {
    "naive_time": ({**window(10, 5), "window_start": "2026-11-11T01:10:00"}, "window_start"),
    "negative_visitors": (window(10, -1), "visitors"),
    "huge_visitors": ({**window(10, 5), "visitors": 10**30}, "visitors"),
    "visitors_as_text": ({**window(10, 5), "visitors": "5"}, "visitors"),
    "visitors_as_fraction": ({**window(10, 5), "visitors": 1.5}, "visitors"),
    "zero_seconds": (window(10, 5, seconds=0), "window_seconds"),
    "longer_than_a_day": (window(10, 5, seconds=86_401), "window_seconds"),
    "missing_visitors": ({"window_start": BASE.isoformat(), "window_seconds": 60}, "visitors"),
}


def test_bad_traffic_events_are_dead_lettered_with_the_reason_and_the_consumer_carries_on(
        module_world: World, orders) -> None:
    dlq = module_world.reader("platform.traffic.dlq")
    keys = {}
    for name, (data, _field) in POISON.items():
        keys[name] = f"bad-{name}-{uuid.uuid4().hex[:6]}"
        module_world.publish("platform.traffic", "traffic.counted", data, key=keys[name])
    not_utf8 = f"bad-bytes-{uuid.uuid4().hex[:6]}"
    module_world.publish_raw("platform.traffic", b'{"type": "traffic.counted", "data": "\xff\xfe"}', key=not_utf8)
    module_world.publish("platform.traffic", "traffic.counted", window(20, 77), key="good-after")

    for name, (_data, field) in POISON.items():
        [letter] = dlq.wait_for(lambda m, k=keys[name]: m.key == k)
        assert field in letter.headers["dlq.reason"], (name, letter.headers["dlq.reason"])
    [letter] = dlq.wait_for(lambda m: m.key == not_utf8)
    assert letter.headers["dlq.reason"]
    wait_until(lambda: visitors_at(orders, 20) == 77, "the good event after the bad ones")
    assert visitors_at(orders, 10) is None


def test_series_ranges_are_bounded(orders) -> None:
    with orders.client("support") as http:
        too_long = http.get("/stats/series", params={"bucket": "minute", "since": BASE.isoformat(),
                                                     "until": (BASE + timedelta(minutes=1441)).isoformat()})
        naive = http.get("/stats/series", params={"since": "2026-11-11T01:00:00"})
        backwards = http.get("/stats/series", params={"since": BASE.isoformat(),
                                                      "until": (BASE - timedelta(hours=1)).isoformat()})
        day = http.get("/stats/series", params={"bucket": "day"})
    assert too_long.status_code == 400 and "1440" in too_long.json()["detail"]
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
    assert backwards.status_code == 400
    assert day.status_code in (400, 422)
    with orders.client("platform") as http:
        default = http.get("/stats/series").json()
    assert len(default["points"]) == 60
