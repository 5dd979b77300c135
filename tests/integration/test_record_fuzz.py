"""Raw records on every consumed topic lose, stall and corrupt nothing (issue 27, R3, R25, R28).

The standing fuzz test: hypothesis generates raw Kafka records, value bytes *and* headers
(tests/support/fuzz_records.py: random and non-UTF-8 bytes, truncated JSON, nesting up to
100,000 deep, integers and decimals past every edge, look-alike ids, up to ~900 KB; header keys
and values that are not UTF-8, ce_type twice or naming another type than the envelope). They
go, with kafka-python, in small groups on one partition of every consumed topic, each group
followed by canary events; after each group every canary must be in each of its consumers'
inboxes, every record the contract (`shared.events`) refuses must be dead-lettered with a
`dlq.reason` by each consumer that reads its type (by every consumer when it is no envelope of a
registered type), every record it accepts must be handled or dead-lettered, and every consumer
group of every consumed topic must reach zero lag. The headers decide nothing: the value does.

Beside it, regression tests through the real broker: issue 27's findings 1 (a ce_type header
that is not UTF-8 among 400 orders), 8 (a mislabelled ce_type; and its other side, an invalid
envelope skipped on its header's word) and 2 (100,000 levels of nesting, and integers past
Python's 4,300-digit parsing limit), and two headers the consumer's own libraries act on, found
by this fuzz test: a header key that is not UTF-8 (aiokafka decodes the keys of a whole record
batch as it reads it) and `reply_to` (FastStream publishes the handler's result to the topic it
names). The tests that can stall a consumer run last, each in its own world.

RECORD_FUZZ_SEED=<seed printed> replays a run; RECORD_FUZZ_EXAMPLES sets the records per topic
(default 24) and RECORD_FUZZ_GROUP how many go before each set of canaries (default 6); the
longer run is tests/faults/test_record_fuzz_long.py.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.test_poison_input import CONSUMERS
from tests.support.fuzz_records import (
    ACCOUNTED,
    DEAD_LETTER,
    IGNORED,
    KNOWN_TYPES,
    RawJSON,
    RawRecord,
    RecordFuzz,
    check_platform_is_well,
    draw_examples,
    envelope,
    nesting,
    records,
    render,
    sample,
    verdict,
)
from tests.support.world import World

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("RECORD_FUZZ_SEED") or random.SystemRandom().randrange(2**31))
EXAMPLES = int(os.environ.get("RECORD_FUZZ_EXAMPLES", "24"))
GROUP = int(os.environ.get("RECORD_FUZZ_GROUP", "6"))
REPLAY = (f"Replay: RECORD_FUZZ_SEED={SEED} RECORD_FUZZ_EXAMPLES={EXAMPLES} RECORD_FUZZ_GROUP={GROUP} "
          f".venv/bin/python -m pytest -p no:cacheprovider tests/integration/test_record_fuzz.py -s")
QUICK = {"HANDLER_RETRIES": "1"}  # a failing handler is dead-lettered after one retry, not three


def say(text: str) -> None:
    print(f"[record-fuzz] {text}", flush=True)


def start_platform(world: World, names: tuple[str, ...] = ("orders", "inventory", "logistics", "aftersales")):
    catalog = REPO / "services" / "inventory" / "sample_catalog.csv"
    extra = {"inventory": {"CATALOG_PATH": str(catalog)}}
    return {name: world.start(name, settings={**QUICK, **extra.get(name, {})}) for name in names}


@pytest.fixture(scope="module")
def platform(module_world: World):
    return module_world, start_platform(module_world)


def fuzz_for(world: World, services, consumers=CONSUMERS, timeout_s: float = 60.0) -> RecordFuzz:
    return RecordFuzz(world, services, consumers, seed=SEED, replay=REPLAY, round_timeout_s=timeout_s, say=say)


def only(*topics: str) -> dict[str, dict[str, frozenset[str]]]:
    """The map for just these topics: a regression test waits for (and blames) their groups only."""
    return {topic: CONSUMERS[topic] for topic in topics}


def order_record(order_id: str, *, event_id: str | None = None, headers=(), data=None) -> tuple[bytes, bytes, list]:
    event = envelope("order.placed", data if data is not None else sample("order.placed", order_id),
                     event_id=event_id or str(uuid.uuid4()), subject=order_id)
    return order_id.encode(), render(event), list(headers)


# ---------------------------------------------------------------------------------------------
# The generator itself (no broker)


def test_the_generator_covers_every_event_type_and_each_kind_of_record() -> None:
    """Every registered type has a valid sample (so envelopes of every type are fuzzed), and a
    modest draw (a fixed seed: this is about the strategy, not the run) holds each kind of bad
    value and header the fuzz test is for."""
    for type_ in KNOWN_TYPES:
        assert verdict(render(envelope(type_, sample(type_), event_id="x"))).valid, type_
    drawn = draw_examples(records(KNOWN_TYPES), 300, 27)
    kinds = " ".join(r.kind for r in drawn)
    for kind in ("random_bytes", "not_utf8", "truncated", "deep:", "long_int", "tombstone", "huge_text",
                 "envelope:", "int_edge", "decimal_edge", "negative_quantity", "weird_id", "ce_type:mislabelled",
                 "ce_type:not_utf8", "ce_type:twice", "key_not_utf8"):
        assert kind in kinds, f"no {kind} in 300 records"
    assert max(len(r.value or b"") for r in drawn) > 800_000
    assert any(verdict(r.value_for("x")).valid for r in drawn), "no contract-valid record at all"
    deep = RawRecord("deep", nesting(100_000, "arrays").encode())
    assert verdict(deep.value).known is None and len(deep.value) == 200_000


# ---------------------------------------------------------------------------------------------
# Finding 1: a header value that is not UTF-8 silently dropped the whole consumer batch


def test_finding_1_a_ce_type_header_that_is_not_utf8_loses_no_order(platform) -> None:
    """400 valid order.placed on one partition in one batch, the 201st with `ce_type:
    b"\\xff\\xfe"`: the other 399 are accepted; the odd one is accepted on its content (its value
    is a valid order) or dead-lettered with a reason; nothing is silently lost; lag reaches 0."""
    world, services = platform
    run = uuid.uuid4().hex[:6].upper()
    ids = [f"O-F1-{run}-{n:03d}" for n in range(400)]
    event_ids = [str(uuid.uuid4()) for _ in ids]
    bad = 200
    items = [order_record(order_id, event_id=event_id,
                          headers=[(b"ce_type", b"\xff\xfe" if n == bad else b"order.placed")])
             for n, (order_id, event_id) in enumerate(zip(ids, event_ids))]
    coords = world.publisher.send_records(world.topic("platform.orders"), items, partition=0)
    fuzz = fuzz_for(world, services, only("platform.orders"))
    try:
        odd = fuzz.sent_as_is("platform.orders", RawRecord("finding 1: ce_type b'\\xff\\xfe'", items[bad][1],
                                                          tuple(items[bad][2]), items[bad][0]), coords[bad])
        others = [e for n, e in enumerate(event_ids) if n != bad]
        deadline = time.monotonic() + 90
        while True:
            fuzz.refresh(dead_letters=True, inbox=[("orders", e) for e in event_ids])
            accepted = sum(("orders", e) in fuzz.handled for e in others)
            odd_done = ("orders", event_ids[bad]) in fuzz.handled or fuzz.dead_letters_of(odd)
            if accepted == len(others) and odd_done:
                break
            if time.monotonic() > deadline:
                lag = fuzz.lags()
                raise AssertionError(
                    f"{accepted} of {len(others)} valid orders around the one with ce_type b'\\xff\\xfe' accepted "
                    f"within 90s (offsets {coords[0][1]}-{coords[-1][1]} of partition 0); the odd one (offset "
                    f"{coords[bad][1]}) {'accounted for' if odd_done else 'neither handled nor dead-lettered'}; "
                    f"lag of orders' group on platform.orders now {lag.get('orders.platform.orders')}. {REPLAY}")
            time.sleep(0.5)
        fuzz.settle("finding 1", [odd], [], timeout_s=60)
        with services["orders"].client() as client:
            for order_id in (ids[0], ids[bad - 1], ids[bad + 1], ids[-1]):
                got = client.get(f"/orders/{order_id}")
                assert got.status_code == 200, f"{order_id}: {got.status_code} {got.text[:200]}"
        rows = services["orders"].sql("select count(*) from order_record where order_id like :p", p=f"O-F1-{run}-%")
        assert rows[0][0] >= len(others), rows
        how = "dead-lettered: " + fuzz.dead_letters_of(odd)[0].headers["dlq.reason"] if fuzz.dead_letters_of(odd) \
            else "accepted on its content"
        say(f"finding 1: {len(others)} of {len(others)} accepted; the record with ce_type b'\\xff\\xfe' {how}")
    finally:
        fuzz.close()


# ---------------------------------------------------------------------------------------------
# Finding 8: a mislabelled ce_type header bypassed the dead-letter path


def test_finding_8_the_value_decides_not_a_mislabelled_ce_type(platform) -> None:
    """An invalid order.placed labelled `ce_type: stock.released` is dead-lettered with a reason
    and answered with order.rejected (its order id is readable); the same with ce_type twice;
    a valid order.placed so labelled is accepted on its content; an invalid order.accepted on
    orders.events labelled order.rejected (which nobody reads) is dead-lettered by inventory and
    aftersales, which read order.accepted."""
    world, services = platform
    run = uuid.uuid4().hex[:6].upper()
    invalid = sample("order.placed", f"O-F8-{run}-BAD")
    invalid["lines"] = []  # at least one line, says the contract
    twice = sample("order.placed", f"O-F8-{run}-TWICE")
    twice["paid_amount"] = "forty-nine"
    accepted_bad = sample("order.accepted", f"O-F8-{run}-ACC")
    accepted_bad["paid_amount"] = "forty-nine"
    label = (b"ce_type", b"stock.released")
    platform_records = [
        RawRecord("invalid order.placed labelled stock.released", render(envelope("order.placed", invalid)),
                  (label,), invalid["order_id"].encode()),
        RawRecord("invalid order.placed labelled stock.released, then order.placed",
                  render(envelope("order.placed", twice)), (label, (b"ce_type", b"order.placed")),
                  twice["order_id"].encode()),
        RawRecord("valid order.placed labelled stock.released",
                  render(envelope("order.placed", sample("order.placed", f"O-F8-{run}-GOOD"))), (label,),
                  f"O-F8-{run}-GOOD".encode()),
    ]
    events_record = RawRecord("invalid order.accepted labelled order.rejected",
                              render(envelope("order.accepted", accepted_bad)), ((b"ce_type", b"order.rejected"),),
                              accepted_bad["order_id"].encode())
    fuzz = fuzz_for(world, services, only("platform.orders", "orders.events"))
    rejections = world.reader("orders.events")
    try:
        sent = fuzz.send("platform.orders", platform_records, partition=2, id_prefix=f"f8-{run}")
        sent += fuzz.send("orders.events", [events_record], partition=2, id_prefix=f"f8e-{run}")
        assert [s.expect for s in sent] == [  # what the contract says, headers aside
            {"orders": DEAD_LETTER}, {"orders": DEAD_LETTER}, {"orders": ACCOUNTED},
            {"inventory": DEAD_LETTER, "logistics": IGNORED, "aftersales": DEAD_LETTER}]
        canaries = fuzz.send_canaries("platform.orders", partition=2, tag=f"F8-{run}")
        canaries += fuzz.send_canaries("orders.events", partition=2, tag=f"F8-{run}")
        fuzz.settle("finding 8", sent, canaries, timeout_s=60)
        # The valid one is accepted on its content, not dead-lettered.
        assert not fuzz.dead_letters_of(sent[2]), fuzz.dead_letters_of(sent[2])[0].headers
        with services["orders"].client() as client:
            got = client.get(f"/orders/O-F8-{run}-GOOD")
            assert got.status_code == 200 and got.json()["status"] != "rejected", got.text[:300]
        # The sender of each invalid order is told, by order id and event id.
        for s, order_id in ((sent[0], invalid["order_id"]), (sent[1], twice["order_id"])):
            found = rejections.wait_for(lambda m: m.type == "order.rejected"
                                        and m.data.get("source_event_id") == s.verdict.event_id, timeout_s=30)
            assert found[0].data["order_id"] == order_id, found[0].data
            assert found[0].data["reason"]
            say(f"finding 8: {s.kind}: dead-lettered "
                f"({fuzz.dead_letters_of(s)[0].headers['dlq.reason'][:80]}), order.rejected for {order_id}")
    finally:
        fuzz.close()


def test_an_invalid_envelope_is_dead_lettered_whatever_its_ce_type_says(platform) -> None:
    """Finding 8's other side (found by the fuzz test): a record whose envelope is invalid (an
    impossible `time`, no `source`) or of a version nobody knows, and that names, like its
    ce_type header, a type the consumer does not read, is no known event: without the header
    every consumer dead-letters it, so with the header too. Skipping it on the header's word
    lets the header decide."""
    world, services = platform
    run = uuid.uuid4().hex[:6].upper()
    released = envelope("stock.released", sample("stock.released", f"O-F8E-{run}"), time_="2026-02-30T00:00:00Z")
    accepted = envelope("order.accepted", sample("order.accepted", f"O-F8E-{run}"))
    del accepted["source"]
    version_2 = envelope("stock.released", sample("stock.released", f"O-F8E-{run}"))
    version_2["dataversion"] = 2
    fuzz = fuzz_for(world, services, only("platform.orders", "orders.events"))
    try:
        sent = fuzz.send("platform.orders", [RawRecord("stock.released with time 2026-02-30, so labelled",
                                                       render(released), ((b"ce_type", b"stock.released"),),
                                                       b"O-F8E"),
                                             RawRecord("stock.released version 2, so labelled", render(version_2),
                                                       ((b"ce_type", b"stock.released"),), b"O-F8E")],
                          partition=1, id_prefix=f"f8e-{run}")
        sent += fuzz.send("orders.events", [RawRecord("order.accepted without source, so labelled",
                                                      render(accepted), ((b"ce_type", b"order.accepted"),),
                                                      b"O-F8E")], partition=1, id_prefix=f"f8e-{run}")
        assert [s.expect for s in sent] == [
            {"orders": DEAD_LETTER}, {"orders": DEAD_LETTER},
            {"inventory": DEAD_LETTER, "logistics": DEAD_LETTER, "aftersales": DEAD_LETTER}]
        canaries = fuzz.send_canaries("platform.orders", partition=1, tag=f"F8E-{run}")
        canaries += fuzz.send_canaries("orders.events", partition=1, tag=f"F8E-{run}")
        fuzz.settle("invalid envelopes labelled with a type the consumer does not read", sent, canaries,
                    timeout_s=30)
    finally:
        fuzz.close()


# ---------------------------------------------------------------------------------------------
# The standing fuzz test


def test_fuzzed_records_on_every_topic_lose_and_stall_nothing(platform) -> None:
    world, services = platform
    say(f"RECORD_FUZZ_SEED={SEED} RECORD_FUZZ_EXAMPLES={EXAMPLES} per topic, RECORD_FUZZ_GROUP={GROUP}")
    fuzz = fuzz_for(world, services)
    try:
        batches = fuzz.generate(EXAMPLES)
        started = time.monotonic()
        rounds = fuzz.run(batches, GROUP)
        summary = fuzz.finish()
        check_platform_is_well(services)
        say(f"{rounds} rounds in {time.monotonic() - started:.1f}s: {summary}")
    finally:
        fuzz.close()


# ---------------------------------------------------------------------------------------------
# Headers the consumer's own libraries act on (found by the fuzz test above). Each in its own
# world with the orders service alone: a stall there must not stop the other tests.


def test_finding_1_a_header_key_that_is_not_utf8_loses_no_order(world: World) -> None:
    """The same with a header *key* that is not UTF-8 (`b"\\xff\\xfe": b"1"` beside a good
    ce_type): the protocol calls a header key a string, but nothing on the way checks it, and the
    consumer's Kafka client decodes the keys of a whole record batch as it reads it. Canary
    orders before it, and after it in the same producer batch: they are accepted, not taken down
    with it; the odd one (a valid order) is accepted on its content or dead-lettered with its
    original bytes (a dead letter without them cannot be replayed)."""
    services = start_platform(world, ("orders",))
    fuzz = fuzz_for(world, services, only("platform.orders"))
    try:
        odd = RawRecord("finding 1: header key b'\\xff\\xfe'",
                        render(envelope("order.placed", sample("order.placed", "O-F1K"), subject="k")),
                        ((b"ce_type", b"order.placed"), (b"\xff\xfe", b"1")), b"O-F1K")
        canaries = fuzz.send_canaries("platform.orders", partition=1, tag="F1K", count=3)
        sent, after = fuzz.send_then_canaries("platform.orders", [odd], partition=1, id_prefix="f1k", tag="F1K",
                                              count=3)
        fuzz.settle("finding 1 (a header key that is not UTF-8)", sent, canaries + after, timeout_s=45)
        how = "dead-lettered: " + fuzz.dead_letters_of(sent[0])[0].headers["dlq.reason"] \
            if fuzz.dead_letters_of(sent[0]) else "accepted on its content"
        say(f"finding 1: the order with header key b'\\xff\\xfe' {how}; 6 canary orders around it accepted")
    finally:
        fuzz.close()


def test_a_reply_to_header_makes_no_service_publish_or_wait(world: World) -> None:
    """FastStream answers a message that has a `reply_to` header by publishing the handler's
    result to the topic it names. A record whose reply_to is no topic name (`text/plain`) or
    names a topic of the platform must neither stall the consumer (the canaries behind it are
    accepted, lag reaches 0) nor make the service write to that topic; the order itself is
    accepted on its content."""
    services = start_platform(world, ("orders",))
    fuzz = fuzz_for(world, services, only("platform.orders"))
    target = world.reader("inventory.stock")  # consumed by suppliers; orders never writes there
    try:
        for n, reply_to in enumerate((b"text/plain", world.topic("inventory.stock").encode())):
            order_id = f"O-REPLY-{n}"
            odd = RawRecord(f"order.placed with reply_to {reply_to!r}",
                            render(envelope("order.placed", sample("order.placed", order_id), subject=order_id)),
                            ((b"ce_type", b"order.placed"), (b"reply_to", reply_to)), order_id.encode())
            # Alone on its partition for a moment, so it opens the next fetched batch: FastStream
            # takes a batch's reply_to from its first record.
            sent = fuzz.send("platform.orders", [odd], partition=n, id_prefix=f"reply-{n}")
            time.sleep(1.5)
            canaries = fuzz.send_canaries("platform.orders", partition=n, tag=f"REPLY{n}", count=3)
            fuzz.settle(f"reply_to {reply_to!r}", sent, canaries, timeout_s=45)
        replies = target.settle(quiet_s=2.0)
        assert not replies, f"orders published {len(replies)} records to {target.topic} because a record's " \
                            f"reply_to header said so: {[m.value[:80] for m in replies[:3]]}"
        check_platform_is_well(services)
    finally:
        fuzz.close()


# ---------------------------------------------------------------------------------------------
# Finding 2: deeply nested JSON stopped every consumer of the topic for good (its own world too)


def test_finding_2_records_the_parser_cannot_read_stall_nothing(world: World) -> None:
    """One ~200 KB record nested 100,000 levels (and one such inside an order.placed envelope)
    on platform.orders, canary orders behind them on the same partition and on the others: the
    canaries are accepted, the nested records dead-lettered with a reason, the group reaches
    zero lag. Then the same with integers of 4,301 and 50,000 digits (past Python's int parsing
    limit, json.loads raises ValueError, which is no JSONDecodeError either)."""
    services = start_platform(world, ("orders",))
    fuzz = fuzz_for(world, services, only("platform.orders"))
    try:
        nested = nesting(100_000, "arrays")
        wrapped = sample("order.placed", "O-F2-NESTED")
        wrapped["x"] = RawJSON(nested)
        bad = [RawRecord("finding 2: 100,000 nested arrays", nested.encode(), (), b"O-F2-BARE"),
               RawRecord("finding 2: 100,000 nested arrays in an order.placed",
                         render(envelope("order.placed", wrapped)), ((b"ce_type", b"order.placed"),), b"O-F2-NESTED")]
        assert len(bad[0].value) == 200_000
        canaries = fuzz.send_canaries("platform.orders", partition=0, tag="F2-BEFORE", count=2)
        sent = fuzz.send("platform.orders", bad, partition=0, id_prefix="f2")
        for partition in (0, 0, 1, 2):
            canaries += fuzz.send_canaries("platform.orders", partition=partition, tag="F2-AFTER", count=2)
        fuzz.settle("finding 2 (100,000 levels of nesting)", sent, canaries, timeout_s=60)
        for s in sent:
            say(f"{s.kind}: dead-lettered ({fuzz.dead_letters_of(s)[0].headers['dlq.reason'][:80]})")

        long_ints = []
        for digits in (4_301, 50_000):
            data = sample("order.placed", f"O-F2-INT{digits}")
            data["lines"][0]["quantity"] = RawJSON("9" * digits)
            long_ints.append(RawRecord(f"an order.placed whose quantity has {digits:,} digits",
                                       render(envelope("order.placed", data)), ((b"ce_type", b"order.placed"),),
                                       data["order_id"].encode()))
        sent = fuzz.send("platform.orders", long_ints, partition=1, id_prefix="f2i")
        canaries = fuzz.send_canaries("platform.orders", partition=1, tag="F2-INT", count=3)
        fuzz.settle("integers past Python's 4,300-digit limit", sent, canaries, timeout_s=60)
        check_platform_is_well(services)
    finally:
        fuzz.close()
