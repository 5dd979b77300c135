"""Traces across services through the real broker (issue 33): one order placed with
`POST /orders` is one trace spanning orders, inventory and logistics; and `traceparent` headers
that anyone may put on a record (malformed, not UTF-8, oversized, duplicated: hypothesis makes
the bytes) are ignored, never a reason to dead-letter or hold up the record.

The services run as processes, so the in-memory exporter is a file: `TRACE_SPANS_FILE` makes a
service write each finished span as a JSON line (shared/tracing.py), one file per service here.
Every record is sampled (`OTEL_TRACES_SAMPLER=parentbased_always_on`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from shared.envelope import STRUCTURED_CONTENT_TYPE
from tests.integration.test_orders_intake import new_id, order_data
from tests.support.fuzz_records import draw_examples
from tests.support.kafka import cloud_event
from tests.support.waiting import eventually
from tests.support.world import World

pytestmark = pytest.mark.integration

VALID = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def start_traced(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
                 settings: dict[str, str] | None = None):
    # Standard OTel variables are not service settings (no ORDERS_ prefix): the process inherits
    # them from the environment it is started in.
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    monkeypatch.setenv("TRACE_SPANS_FILE", str(tmp_path / f"spans-{name}.jsonl"))
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    return world.start(name, settings=settings)


def spans(tmp_path: Path, name: str) -> list[dict[str, Any]]:
    path = tmp_path / f"spans-{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_one_order_is_one_trace_across_orders_inventory_and_logistics(
        world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    inventory = start_traced(world, monkeypatch, tmp_path, "inventory")
    orders = start_traced(world, monkeypatch, tmp_path, "orders")
    start_traced(world, monkeypatch, tmp_path, "logistics")
    with inventory.client() as stock:
        for sku in ("SKU-TEA-01", "SKU-CUP-GIFT"):
            stock.put(f"/skus/{sku}", json={"tier": "profit", "planned_stock": 100, "on_hand": 100}).raise_for_status()
    order_id = new_id()
    with orders.client("platform") as http:
        answer = http.post("/orders", json=order_data(order_id), headers={"Idempotency-Key": order_id})
    assert answer.status_code == 202, answer.text

    [root] = eventually(lambda: [s for s in spans(tmp_path, "orders")
                               if s["kind"] == "SERVER" and s["attributes"].get("http.route") == "/orders"],
                      timeout_s=45, what="the POST /orders span")
    trace_id = root["trace_id"]
    assert root["parent_id"] is None  # no traceparent on the request: it starts the trace

    def in_trace(name: str) -> list[dict[str, Any]]:
        return [s for s in spans(tmp_path, name) if s["trace_id"] == trace_id]

    reached_logistics = eventually(lambda: [s for s in in_trace("logistics")
                                          if s["attributes"].get("cloudevents.event_type") == "stock.reserved"],
                                 timeout_s=45, what="logistics handling stock.reserved in the order's trace")
    eventually(lambda: [s for s in in_trace("orders") if s["attributes"].get("cloudevents.event_type") == "stock.reserved"],
             timeout_s=45, what="orders handling stock.reserved in the order's trace")
    trace = {name: in_trace(name) for name in ("orders", "inventory", "logistics")}
    by_id = {s["span_id"]: s for found in trace.values() for s in found}
    handled = {(s["service"], s["attributes"].get("cloudevents.event_type")) for s in by_id.values()
               if s["kind"] == "CONSUMER"}
    assert {("orders", "order.placed"), ("inventory", "order.accepted"), ("logistics", "stock.reserved"),
            ("orders", "stock.reserved")} <= handled, handled
    # One tree: a single root (the HTTP request), every other span's parent in the same trace,
    # and each hop's parent the span of the service that published what it handled.
    assert [s for s in by_id.values() if s["parent_id"] is None] == [root]
    assert all(s["parent_id"] in by_id for s in by_id.values() if s["span_id"] != root["span_id"])

    def span_of(service: str, type_: str) -> dict[str, Any]:
        return next(s for s in trace[service] if s["attributes"].get("cloudevents.event_type") == type_)

    placed, accepted = span_of("orders", "order.placed"), span_of("inventory", "order.accepted")
    assert placed["parent_id"] == root["span_id"]
    assert accepted["parent_id"] == placed["span_id"]
    assert reached_logistics[0]["parent_id"] == accepted["span_id"]
    assert all(s["attributes"]["messaging.message.id"] for s in by_id.values() if s["kind"] == "CONSUMER")


# -- header bytes from anyone --------------------------------------------------------------------

def _traceparent_headers() -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    """`traceparent` (and `tracestate`) headers as a sender might get them wrong."""
    hexes = st.text("0123456789abcdefABCDEF-", min_size=0, max_size=70).map(str.encode)
    mutated = st.tuples(st.integers(0, len(VALID) - 1), st.binary(min_size=1, max_size=3)).map(
        lambda cut: VALID[:cut[0]] + cut[1] + VALID[cut[0] + 1:])
    value = st.one_of(
        st.binary(max_size=80),                                           # anything, mostly not UTF-8
        hexes,                                                            # look-alikes
        mutated,                                                          # one byte off a valid one
        st.just(VALID.replace(b"0af7", b"\xff\xfe")),                     # not UTF-8 inside the format
        st.just(b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01"),           # an all-zero trace id
        st.just(b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),  # the forbidden version
        st.integers(513, 200_000).map(lambda n: (VALID + b"-" * n)[:n]),   # oversized
    )
    single = value.map(lambda v: [(b"traceparent", v)])
    duplicated = st.tuples(st.one_of(value, st.just(VALID)), st.just(VALID)).map(
        lambda pair: [(b"traceparent", pair[0]), (b"traceparent", pair[1])])
    with_state = st.tuples(value, st.binary(max_size=40)).map(
        lambda pair: [(b"traceparent", pair[0]), (b"tracestate", pair[1])])
    return st.one_of(single, duplicated, with_state)


def test_bad_traceparent_headers_start_a_new_trace_and_never_stop_a_record(
        world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    examples = draw_examples(_traceparent_headers(), 30, seed_=33)
    start_traced(world, monkeypatch, tmp_path, "orders")
    accepted = world.reader("orders.events")
    dead = world.reader("platform.orders.dlq")
    sent: dict[str, list[tuple[bytes, bytes]]] = {}  # event id -> its headers
    records = []
    for i, headers in enumerate([*examples, [(b"traceparent", VALID)]]):  # the last one valid: it is continued
        order_id = new_id()
        # A customer each: 31 orders of one customer within minutes would be held (abuse rules).
        event = cloud_event("order.placed", order_data(order_id, customer_id=f"C-T{i}"), subject=order_id)
        sent[event["id"]] = headers
        records.append((order_id.encode(), json.dumps(event).encode(),
                        [(b"ce_type", b"order.placed"), (b"content-type", STRUCTURED_CONTENT_TYPE.encode()),
                         *headers]))
    world.publisher.send_records(world.topic("platform.orders"), records, partition=0)

    published = accepted.wait_for(lambda m: m.type == "order.accepted", count=len(sent), timeout_s=60)
    assert dead.settle(quiet_s=1.0) == []
    # Spans end before their batch commits, so they are written before order.accepted goes out.
    consumed = {s["attributes"]["messaging.message.id"]: s for s in spans(tmp_path, "orders") if s["kind"] == "CONSUMER"}
    order_of = {event_id: json.loads(value)["subject"] for (_, value, _), event_id in zip(records, sent)}
    passed_on = {m.data["order_id"]: m.headers.get("traceparent") for m in published}
    for event_id, headers in sent.items():
        parents = [v for k, v in headers if k == b"traceparent"]
        outgoing = passed_on[order_of[event_id]]
        span = consumed.get(event_id)
        if span is None:
            # No span: only for a context that is valid and not sampled (a parent-based sampler
            # never records its children), which then goes on unchanged with what was published.
            assert len(parents) == 1 and parents[0].decode("ascii").strip() == outgoing, headers
            assert not int(outgoing[-2:], 16) & 1
            continue
        assert outgoing is not None and outgoing[3:35] == span["trace_id"], headers
        if parents == [VALID]:
            assert (span["trace_id"], span["parent_id"]) == ("0af7651916cd43dd8448eb211c80319c",
                                                             "b7ad6b7169203331"), headers
        elif len(parents) != 1 or len(parents[0]) > 512 or not parents[0].isascii():
            assert span["parent_id"] is None, headers  # duplicated, oversized, not ASCII: a new root
        else:
            # Whatever the format check decides, a span continues only the context its own
            # header names (a root otherwise).
            assert span["parent_id"] is None or (
                span["trace_id"].encode() in parents[0] and span["parent_id"].encode() in parents[0]), headers
