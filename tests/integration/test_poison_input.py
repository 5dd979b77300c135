"""Poison and malformed input on every consumed topic (issue 9; R3: the bad message is kept with a
reason, never dropped, and never stops the consumer).

Hypothesis generates the payloads first (random bytes, invalid UTF-8, truncated JSON, JSON that is
no envelope, unknown event types and versions, envelopes of a handled type whose data has wrong
field types, missing or extra fields, huge numbers, and 900 KB strings); each topic then gets them
in one batch, keyed `poison-<n>`, followed by valid events. The four services are started once for
the module.

What is expected of each message is decided by the contract module itself (`shared.events`):
bytes that do not decode to an envelope and a payload must be dead-lettered by every consumer of
the topic; an envelope of a known type with a valid payload that a consumer does not handle is
ignored by it on purpose (docs/architecture.md). Each expected dead letter is matched by key and
consumer (`dlq.consumer`) and must carry `dlq.reason`; unexpected ones are failures too.
Then every valid event published after the poison must be in the consumer's inbox (handled), and
a few business effects are checked on top.

Reproduce a run with POISON_SEED=<seed printed by the test>; POISON_EXAMPLES sets the number of
generated payloads per topic (default 48).
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, seed, settings
from hypothesis import strategies as st

from shared.events import UndecodableEvent, decode_envelope
from shared.event_registry import EVENT_MODELS, decode_payload
from tests.support.kafka import Message, cloud_event
from tests.support.world import World

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("POISON_SEED") or random.SystemRandom().randrange(2**31))
EXAMPLES = int(os.environ.get("POISON_EXAMPLES", "48"))
HUGE_PER_TOPIC = 2  # 900 KB payloads per topic, each dead-lettered by every consumer

T0 = "2026-11-11T00:00:00Z"

# Every consumed topic -> consumer (service) -> event types it handles. The truth is each
# services/<name>/app.py; test_the_map_matches_what_the_services_declare checks it against the
# services' AsyncAPI documents.
CONSUMERS: dict[str, dict[str, frozenset[str]]] = {
    "platform.orders": {"orders": frozenset({"order.placed", "order.cancellation_requested", "order.cancelled",
                                             "order.balance_paid"})},
    "platform.traffic": {"orders": frozenset({"traffic.counted"})},
    "inventory.reservations": {
        "orders": frozenset({"stock.reserved", "stock.backordered", "stock.released", "stock.sku_unknown"}),
        "logistics": frozenset({"stock.reserved"}),
    },
    "logistics.shipments": {
        "orders": frozenset({"shipment.dispatched", "shipment.delivered", "shipment.exception"}),
        "inventory": frozenset({"shipment.dispatched"}),
        "aftersales": frozenset({"shipment.delivered", "shipment.exception"}),
    },
    "aftersales.cases": {
        "orders": frozenset({"return.requested", "return.rejected", "return.received", "refund.issued"}),
        "inventory": frozenset({"return.received"}),
        "logistics": frozenset({"exchange.requested"}),
    },
    "orders.events": {
        "inventory": frozenset({"order.accepted", "order.cancelled"}),
        "logistics": frozenset({"order.cancelled", "order.balance_received"}),
        "aftersales": frozenset({"order.accepted", "order.balance_received"}),
    },
    "supplier.deliveries": {"inventory": frozenset({"supplier.delivery"})},
    "carrier.events": {"logistics": frozenset({"carrier.delivery"})},
}
TOPICS = list(CONSUMERS)

# Where a quantity books stock or money, an absurd one (10^19 and more units: the contract's
# `quantity: int` has no upper bound) must be refused. Elsewhere it is only noted (the orders
# lifecycle, logistics' shipment lines) and the test accepts either outcome.
QUANTITY_BOOKERS = {("platform.orders", "orders"), ("orders.events", "inventory"), ("orders.events", "aftersales"),
                    ("supplier.deliveries", "inventory"), ("aftersales.cases", "inventory")}
KNOWN_TYPES = frozenset(t for t, _v in EVENT_MODELS)


# ---------------------------------------------------------------------------------------------
# Valid payloads, one per type; poison is made from them


def line(sku: str = "SKU-TEA-01", quantity: int = 1, price: str = "49.90") -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unit_price": price, "gift": False}


def sample(type_: str, order_id: str = "O-SAMPLE", *, sku: str = "SKU-TEA-01", case_id: str = "C-SAMPLE",
           quantity: int = 1) -> dict[str, Any]:
    lines = [line(sku, quantity)]
    paid = f"{49.90 * quantity:.2f}"
    data: dict[str, dict[str, Any]] = {
        "order.placed": {"order_id": order_id, "customer_id": "C-1", "order_type": "standard", "lines": lines,
                         "discount": "0.00", "paid_amount": paid, "paid_at": T0, "region": "Shanghai",
                         "currency": "CNY"},
        "order.cancelled": {"order_id": order_id, "reason": "changed my mind"},
        "order.cancellation_requested": {"order_id": order_id, "reason": "changed my mind"},
        "order.balance_received": {"order_id": order_id, "balance_amount": "39.90", "paid_amount": "49.90",
                                   "balance_paid_at": T0, "priority_rank": f"0-{T0}-{order_id}", "received_at": T0},
        "order.balance_paid": {"order_id": order_id, "balance_amount": paid, "paid_at": T0},
        "order.accepted": {"order_id": order_id, "customer_id": "C-1", "order_type": "standard",
                           "priority_class": "standard", "priority_rank": f"2-{T0}-{order_id}", "lines": lines,
                           "discount": "0.00", "paid_amount": paid, "paid_at": T0, "region": "Shanghai",
                           "currency": "CNY", "accepted_at": T0},
        "stock.reserved": {"order_id": order_id, "order_type": "standard", "priority_class": "standard",
                           "priority_rank": f"2-{T0}-{order_id}", "lines": lines, "region": "Shanghai",
                           "paid_at": T0, "reserved_at": T0},
        "stock.backordered": {"order_id": order_id, "missing": [{"sku": sku, "quantity": quantity}],
                              "backordered_at": T0},
        "stock.released": {"order_id": order_id, "lines": [{"sku": sku, "quantity": quantity}], "released_at": T0},
        "stock.sku_unknown": {"order_id": order_id, "skus": [sku], "found_at": T0},
        "shipment.dispatched": {"order_id": order_id, "shipment_id": f"SHP-{order_id}", "carrier": "SF",
                                "tracking_number": f"TN-{order_id}", "dispatched_at": T0},
        "shipment.delivered": {"order_id": order_id, "shipment_id": f"SHP-{order_id}", "delivered_at": T0},
        "shipment.exception": {"order_id": order_id, "shipment_id": f"SHP-{order_id}", "kind": "delayed",
                               "note": "traffic", "reported_at": T0},
        "return.requested": {"case_id": case_id, "order_id": order_id, "kind": "return",
                             "lines": [{"sku": sku, "quantity": quantity}], "requested_at": T0},
        "return.rejected": {"case_id": case_id, "order_id": order_id, "reason": "late", "rejected_at": T0},
        "return.received": {"case_id": case_id, "order_id": order_id, "lines": [{"sku": sku, "quantity": quantity}],
                            "inspection_passed": True, "received_at": T0},
        "refund.issued": {"case_id": case_id, "order_id": order_id, "amount": "49.90", "issued_at": T0},
        "exchange.requested": {"case_id": case_id, "order_id": order_id, "lines": lines, "region": "Shanghai",
                               "requested_at": T0},
        "supplier.delivery": {"delivery_id": f"D-{order_id}", "sku": sku, "quantity": quantity,
                              "delivered_at": T0},
        "carrier.delivery": {"carrier": "SF", "tracking_number": f"TN-{order_id}", "delivered_at": T0},
        "traffic.counted": {"window_start": T0, "window_seconds": 60, "visitors": 1200},
    }
    return copy.deepcopy(data[type_])


def envelope_bytes(type_: str, data: Any, *, key: str, **overrides: Any) -> bytes:
    event = cloud_event(type_, data, subject=key)
    event.update(overrides)
    return json.dumps(event).encode()


def decodes(raw: bytes) -> str | None:
    """The event type when the service's own decoding accepts the bytes (envelope and payload)."""
    try:
        event = decode_envelope(raw)
        decode_payload(event)
    except UndecodableEvent:
        return None
    except Exception:  # anything else the contract raises is a bad message as well
        return None
    return event.type


def envelope_type(raw: bytes) -> tuple[str, int] | None:
    try:
        event = decode_envelope(raw)
    except Exception:
        return None
    return event.type, event.dataversion


@dataclass
class Poison:
    kind: str
    value: bytes
    key: str = ""

    def expected_consumers(self, topic: str) -> set[str]:
        """Who must dead-letter it: everyone, unless it is a known (type, version) with a valid
        payload (then nobody) or a known type a consumer does not handle (that one ignores it)."""
        consumers = CONSUMERS[topic]
        known = envelope_type(self.value)
        if known is None or known not in EVENT_MODELS:
            return set(consumers)
        type_ = known[0]
        handlers = {name for name, types in consumers.items() if type_ in types}
        if self.kind == "huge_quantity":
            return {name for name in handlers if (topic, name) in QUANTITY_BOOKERS}
        if decodes(self.value) is not None:
            return set()  # valid: handled or ignored, never a dead letter by contract
        return handlers

    def tolerated(self, topic: str) -> set[str]:
        """Consumers that may dead-letter it or keep it (a huge quantity where it is only noted)."""
        if self.kind != "huge_quantity":
            return set()
        return set(CONSUMERS[topic]) - self.expected_consumers(topic)

    def describe(self) -> str:
        known = envelope_type(self.value)
        head = self.value[:100]
        return f"{self.key} [{self.kind}{f' {known[0]} v{known[1]}' if known else ''}, {len(self.value)} bytes] {head!r}"


# ---------------------------------------------------------------------------------------------
# Strategies

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**40), 10**40),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
EDGE_TIMES = ["2026-11-11T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
              "2026-02-30T00:00:00Z", "2026-11-11T25:00:00Z", "-0001-01-01T00:00:00Z"]
BAD_UTF8 = [b"\xff", b"\xfe", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xed\xa0\x80", b"\xf0\x28\x8c\x28",
            b"\xf8\xa1\xa1\xa1\xa1", b"\xc0\xaf", b"\x80"]


def handled_types(topic: str) -> list[str]:
    return sorted(set().union(*CONSUMERS[topic].values()))


def poison_strategy(topic: str) -> st.SearchStrategy[Poison]:
    types = handled_types(topic)
    valid = st.sampled_from(types).map(lambda t: envelope_bytes(t, sample(t), key="k"))

    random_bytes = st.binary(max_size=300).map(lambda b: Poison("random_bytes", b))

    @st.composite
    def invalid_utf8(draw: st.DrawFn) -> Poison:
        raw = draw(valid)
        at = draw(st.integers(0, len(raw)))
        return Poison("invalid_utf8", raw[:at] + draw(st.sampled_from(BAD_UTF8)) + raw[at:])

    @st.composite
    def truncated(draw: st.DrawFn) -> Poison:
        raw = draw(valid)
        return Poison("truncated_json", raw[:draw(st.integers(0, len(raw) - 1))])

    not_an_envelope = st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        st.sampled_from(types).map(lambda t: json.dumps(sample(t)).encode()),  # bare data, no envelope
    ).map(lambda b: Poison("not_an_envelope", b))

    @st.composite
    def broken_envelope(draw: st.DrawFn) -> Poison:
        type_ = draw(st.sampled_from(types))
        event = cloud_event(type_, sample(type_), subject="k")
        field = draw(st.sampled_from(["id", "source", "type", "time", "data", "specversion", "datacontenttype",
                                      "dataversion", "subject"]))
        if draw(st.booleans()) and field in ("id", "source", "type", "time", "data"):
            del event[field]
        else:
            event[field] = draw(st.one_of(json_values, st.sampled_from(["", *EDGE_TIMES])))
        return Poison("broken_envelope", json.dumps(event).encode())

    @st.composite
    def unknown_type(draw: st.DrawFn) -> Poison:
        if draw(st.booleans()):
            type_ = draw(st.text(min_size=1, max_size=100).filter(lambda t: t not in KNOWN_TYPES))
            data = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=4))
            return Poison("unknown_type", envelope_bytes(type_, data, key="k"))
        type_ = draw(st.sampled_from(types))  # a known type in a version nobody knows
        return Poison("unknown_version", envelope_bytes(type_, sample(type_), key="k",
                                                        dataversion=draw(st.integers(2, 10**6))))

    @st.composite
    def wrong_fields(draw: st.DrawFn) -> Poison:
        type_ = draw(st.sampled_from(types))
        model = EVENT_MODELS[(type_, 1)]
        data = sample(type_)
        how = draw(st.sampled_from(["drop", "retype", "extra", "retype_line", "huge_number", "null", "time"]))
        times = [name for name in data if name.endswith("_at")]
        if how == "time" and times:
            data[draw(st.sampled_from(times))] = draw(st.sampled_from(EDGE_TIMES))
        elif how == "drop":
            required = [name for name, info in model.model_fields.items() if info.is_required()]
            del data[draw(st.sampled_from(required))]
        elif how == "retype":
            data[draw(st.sampled_from(sorted(data)))] = draw(json_values)
        elif how == "null":
            data[draw(st.sampled_from(sorted(data)))] = None
        elif how == "extra":
            data[draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in model.model_fields))] = \
                draw(json_values)
        else:
            lists = [name for name, value in data.items()  # lists of objects (stock.sku_unknown's skus are text)
                     if isinstance(value, list) and value and isinstance(value[0], dict)]
            numeric = [name for name in data if name in ("quantity", "amount", "paid_amount", "discount")]
            big = draw(st.one_of(st.integers(10**19, 10**40), st.just(10**30)))
            if how == "huge_number" and numeric:
                name = draw(st.sampled_from(numeric))
                data[name] = big if name == "quantity" else draw(st.sampled_from([str(big), f"{big}.00", f"1e{30}"]))
            elif lists:
                item = data[draw(st.sampled_from(lists))][0]
                name = draw(st.sampled_from(sorted(item)))
                item[name] = big if (how == "huge_number" and name == "quantity") else draw(json_values)
            else:
                data["order_id"] = draw(json_values)
        raw = envelope_bytes(type_, data, key="k")
        assume(decodes(raw) is None)  # must break the contract (a valid variation is no poison)
        return Poison(f"wrong_fields:{how}", raw)

    # Payloads of a handled type with bad fields get three shares: they reach the deepest code.
    return st.one_of(random_bytes, invalid_utf8(), truncated(), not_an_envelope, broken_envelope(),
                     unknown_type(), wrong_fields(), wrong_fields(), wrong_fields()).filter(lambda p: decodes(p.value) is None)


def huge_strategy(topic: str) -> st.SearchStrategy[Poison]:
    """900 KB strings: in a bounded envelope field, as an extra payload field, in a payload field
    with a length limit, or as a whole body that is not JSON."""
    types = handled_types(topic)
    big = "X" * 900_000

    @st.composite
    def build(draw: st.DrawFn) -> Poison:
        type_ = draw(st.sampled_from(types))
        data = sample(type_)
        where = draw(st.sampled_from(["subject", "extra_field", "not_json", "bounded_field"]))
        if where == "subject":
            raw = envelope_bytes(type_, data, key="k", subject=big)
        elif where == "not_json":
            raw = (big + "\xff").encode("utf-8", "surrogatepass")[:900_000] + b"\xff"
        else:
            if where == "bounded_field":
                bounded = [n for n, info in EVENT_MODELS[(type_, 1)].model_fields.items()
                           if any(getattr(m, "max_length", None) for m in info.metadata) and n in data]
                data[draw(st.sampled_from(bounded)) if bounded else "unexpected_blob"] = big
            else:
                data["unexpected_blob"] = big
            raw = envelope_bytes(type_, data, key="k")
        return Poison(f"huge_string:{where}", raw)

    return build().filter(lambda p: decodes(p.value) is None)


def huge_quantity_strategy(topic: str) -> st.SearchStrategy[Poison] | None:
    """Quantities of 10^19..10^40 units in an otherwise valid event of a handled type. The
    contract (`quantity: int`) lets them through; the consuming service must refuse them."""
    types = [t for t in handled_types(topic) if "quantity" in json.dumps(sample(t))]
    if not types:
        return None

    def with_quantity(data: Any, quantity: int) -> Any:
        if isinstance(data, dict):
            return {k: quantity if k == "quantity" else with_quantity(v, quantity) for k, v in data.items()}
        if isinstance(data, list):
            return [with_quantity(v, quantity) for v in data]
        return data

    return st.builds(lambda t, q: Poison("huge_quantity", envelope_bytes(t, with_quantity(sample(t), q), key="k")),
                     st.sampled_from(types), st.one_of(st.just(10**30), st.integers(2**63, 10**40)))


def generate(strategy: st.SearchStrategy[Poison], n: int, salt: int) -> list[Poison]:
    """Collect `n` generated examples (no shrinking: each failure names its payload)."""
    found: list[Poison] = []

    @seed(SEED + salt)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(poison: Poison) -> None:
        found.append(poison)

    collect()
    return found[:n]


# ---------------------------------------------------------------------------------------------
# Valid events sent after the poison, and what each must do


@dataclass
class Valid:
    topic: str
    type_: str
    key: str
    data: dict[str, Any]
    consumers: tuple[str, ...]  # who must handle it (inbox entry, no dead letter)
    event_id: str = ""


def valid_events(run: str) -> list[Valid]:
    o = lambda name: f"O-{run}-{name}"  # noqa: E731
    return [
        Valid("platform.orders", "order.placed", o("PLACED"), sample("order.placed", o("PLACED")), ("orders",)),
        Valid("inventory.reservations", "stock.reserved", o("RES"), sample("stock.reserved", o("RES")),
              ("orders", "logistics")),
        Valid("logistics.shipments", "shipment.dispatched", o("SHP"), sample("shipment.dispatched", o("SHP")),
              ("orders", "inventory")),
        Valid("logistics.shipments", "shipment.delivered", o("SHP"), sample("shipment.delivered", o("SHP")),
              ("orders", "aftersales")),
        Valid("aftersales.cases", "return.received", o("CASE"),
              sample("return.received", o("CASE"), sku="SKU-SET-PRO", case_id=f"C-{run}", quantity=3),
              ("orders", "inventory")),
        Valid("aftersales.cases", "exchange.requested", o("CASE"),
              sample("exchange.requested", o("CASE"), case_id=f"C-{run}-X"), ("logistics",)),
        Valid("orders.events", "order.accepted", o("ACC"), sample("order.accepted", o("ACC")),
              ("inventory", "aftersales")),
        Valid("orders.events", "order.cancelled", o("CXL"), sample("order.cancelled", o("CXL")),
              ("inventory", "logistics")),
        Valid("supplier.deliveries", "supplier.delivery", "SKU-KETTLE-02",
              sample("supplier.delivery", f"{run}", sku="SKU-KETTLE-02", quantity=7), ("inventory",)),
        Valid("carrier.events", "carrier.delivery", f"TN-{run}", sample("carrier.delivery", run), ("logistics",)),
    ]


# ---------------------------------------------------------------------------------------------
# The run


@pytest.fixture(scope="module")
def platform(module_world: World):
    catalog = REPO / "services" / "inventory" / "sample_catalog.csv"
    quick = {"HANDLER_RETRIES": "1"}  # a failing handler is dead-lettered after one retry, not three
    services = {
        "orders": module_world.start("orders", settings=quick),
        "inventory": module_world.start("inventory", settings={"CATALOG_PATH": str(catalog), **quick}),
        "logistics": module_world.start("logistics", settings=quick),
        "aftersales": module_world.start("aftersales", settings=quick),
    }
    return module_world, services


def test_the_map_matches_what_the_services_declare(platform) -> None:
    """CONSUMERS above is what each service's AsyncAPI document says it consumes and handles."""
    world, services = platform
    declared: dict[str, dict[str, frozenset[str]]] = {}
    for name, service in services.items():
        with service.anonymous_client() as client:
            doc = client.get("/asyncapi.json").json()
        for channel in doc["channels"].values():
            text = channel.get("description", "")
            if "Handled types:" not in text:
                continue
            topic = channel["address"].removeprefix(world.prefix)
            types = text.split("Handled types: ")[1].split(". Payload")[0].split(", ")
            declared.setdefault(topic, {})[name] = frozenset(types)
    assert declared == CONSUMERS


def test_poison_is_dead_lettered_with_a_reason_and_consumers_keep_going(platform, capsys) -> None:
    world, services = platform
    run = uuid.uuid4().hex[:6].upper()
    print(f"\n[poison] POISON_SEED={SEED} examples per topic={EXAMPLES} + {HUGE_PER_TOPIC} of 900 KB")

    # Generate first, then publish in one batch per topic: poison, then the valid events.
    batches: dict[str, list[Poison]] = {}
    for i, topic in enumerate(TOPICS):
        poisons = generate(poison_strategy(topic), EXAMPLES, salt=i) + \
            generate(huge_strategy(topic), HUGE_PER_TOPIC, salt=100 + i)
        quantities = huge_quantity_strategy(topic)
        if quantities is not None:
            poisons += generate(quantities, 4, salt=200 + i)
        for n, poison in enumerate(poisons):
            poison.key = f"poison-{run}-{i}-{n}"
        batches[topic] = poisons
    valids = valid_events(run)

    readers = {topic: world.reader(topic + ".dlq") for topic in TOPICS}
    for topic in TOPICS:
        items: list[tuple[str | None, bytes]] = [(p.key, p.value) for p in batches[topic]]
        for valid in (v for v in valids if v.topic == topic):
            event = cloud_event(valid.type_, valid.data, subject=valid.key)
            valid.event_id = event["id"]
            items.append((valid.key, json.dumps(event).encode()))
        world.publisher.send_many_raw(world.topic(topic), items)

    # Every expected dead letter arrives, keyed, from the right consumer, with a reason.
    expected = {(topic, p.key, consumer): p for topic in TOPICS for p in batches[topic]
                for consumer in p.expected_consumers(topic)}
    kinds: dict[str, int] = {}
    for topic in TOPICS:
        for p in batches[topic]:
            kinds[p.kind.split(":")[0]] = kinds.get(p.kind.split(":")[0], 0) + 1
    deadline = time.monotonic() + 150
    seen: dict[tuple[str, str, str], Message] = {}
    while time.monotonic() < deadline:
        for topic, reader in readers.items():
            for m in reader.poll(0.2):
                seen.setdefault((topic, m.key or "", m.headers.get("dlq.consumer", "")), m)
        if all(k in seen for k in expected):
            break
    missing = [k for k in expected if k not in seen]
    assert not missing, f"{len(missing)} of {len(expected)} dead letters missing: " + "; ".join(
        f"{t}/{c}: {expected[(t, k, c)].describe()}" for t, k, c in missing[:12])
    settle(list(readers.values()))
    for reader in readers.values():
        for m in reader.seen:
            seen.setdefault((m.topic.removeprefix(world.prefix).removesuffix(".dlq"), m.key or "",
                             m.headers.get("dlq.consumer", "")), m)

    for (topic, key, consumer), poison in expected.items():
        m = seen[(topic, key, consumer)]
        assert m.headers.get("dlq.reason"), f"{topic}/{consumer}: no dlq.reason for {poison.describe()}"
        assert m.headers.get("dlq.source.topic") == world.topic(topic)
        assert m.value == poison.value, f"{topic}/{consumer}: the dead letter is not the original bytes"
    # Nothing else is dead-lettered: not the ignored poison, not the valid events, and once each.
    tolerated = {(topic, p.key, consumer) for topic in TOPICS for p in batches[topic]
                 for consumer in p.tolerated(topic)}
    unexpected = [k for k in seen if k not in expected and k not in tolerated]
    assert not unexpected, f"unexpected dead letters: {unexpected[:10]}"
    per_key: dict[tuple[str, str, str], int] = {}
    for topic, reader in readers.items():
        for m in reader.seen:
            k = (topic, m.key or "", m.headers.get("dlq.consumer", ""))
            per_key[k] = per_key.get(k, 0) + 1
    assert all(n == 1 for n in per_key.values()), {k: n for k, n in per_key.items() if n > 1}

    # Every valid event sent after the poison is handled by each of its consumers.
    for valid in valids:
        for consumer in valid.consumers:
            wait_until(lambda: services[consumer].sql(
                "select count(*) from inbox_entry where consumer = :c and event_id = :e",
                c=consumer, e=valid.event_id)[0][0] == 1,
                f"{consumer} did not handle the valid {valid.type_} sent after the poison on {valid.topic}")

    # ...with its business effect.
    with services["orders"].client() as c:
        wait_until(lambda: c.get(f"/orders/O-{run}-PLACED").status_code == 200, "valid order not accepted")
    with services["inventory"].client() as c:
        stock = {s["sku"]: s for s in c.get("/stock").json()["skus"]}
        assert stock["SKU-KETTLE-02"]["on_hand"] == 1200 + 7  # the supplier delivery
        assert stock["SKU-SET-PRO"]["on_hand"] == 300 + 3  # the passed return
        assert c.get(f"/reservations/O-{run}-ACC").status_code == 200
        ledger = c.get("/ledger/SKU-TEA-01").json()
        assert ledger["consistent"], ledger
    with services["logistics"].client() as c:
        assert c.get(f"/shipments/SHP-O-{run}-RES").status_code == 200
    with services["aftersales"].client() as c:
        assert c.get(f"/orders/O-{run}-ACC/returnable").status_code != 404

    total = sum(len(b) for b in batches.values())
    ignored = sum(len(CONSUMERS[t]) for t in TOPICS for p in batches[t]) - len(expected) - len(tolerated)
    kept = len(tolerated - set(seen))
    print(f"[poison] published {total} poison messages on {len(TOPICS)} topics ({kinds}); "
          f"{len(expected)} dead letters checked (key, consumer, reason, original bytes), "
          f"{ignored} ignored as known types the consumer does not handle; {len(tolerated)} huge quantities "
          f"where they are only noted ({kept} kept, {len(tolerated) - kept} dead-lettered); "
          f"{sum(len(v.consumers) for v in valids)} valid events handled after the poison")


def settle(readers: list, quiet_s: float = 2.0) -> None:  # type: ignore[type-arg]
    """Read every topic until none has anything new for `quiet_s` (late or duplicate dead letters)."""
    last_new = time.monotonic()
    while time.monotonic() - last_new < quiet_s:
        if any([reader.poll(0.1) for reader in readers]):
            last_new = time.monotonic()


def wait_until(check, message: str, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.3)
