"""Raw Kafka records for the standing fuzz test (issue 27), and the run that feeds them to a
running platform.

- `records(handled)`: a hypothesis strategy of raw records, value bytes *and* headers: random
  bytes, text that is not UTF-8, truncated JSON, JSON nested up to 100,000 deep, integers too
  long for Python's int parser, tombstones, and CloudEvents envelopes of every type in
  `shared.events.EVENT_MODELS` with mutated data (numbers at and past the int64 edges, decimals
  with 30 places and 1e400, negative quantities, look-alike / zero-width / NUL / bidi ids,
  values up to ~900 KB, fields dropped or retyped, duplicated JSON keys); headers with keys and
  values that are not UTF-8 (`ce_type: b"\\xff\\xfe"`), ce_type twice, a ce_type naming a
  different known type than the envelope (mislabelled), empty keys and values.
- `verdict` / `expectations`: what the contract module itself says each record must become for
  each consumer of a topic. The headers play no part: they are only a hint, the value decides.
- `RecordFuzz`: publishes the records in small groups on one partition of every consumed topic,
  each group followed by canary events, and after each group waits until every canary is in each
  of its consumers' inboxes, every bad record is dead-lettered (with `dlq.reason`, the original
  bytes, by each consumer that reads its type), every contract-valid one is handled or
  dead-lettered, and every consumer group of every consumed topic is at zero lag.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from shared.events import decode_envelope
from shared.event_registry import EVENT_MODELS, decode_payload
from shared.topics import dlq_name
from tests.support.kafka import GroupLag, TopicReader
from tests.support.services import ServiceProcess
from tests.support.world import World

T0 = "2026-11-11T00:00:00Z"
KNOWN_TYPES: tuple[str, ...] = tuple(sorted({t for t, _v in EVENT_MODELS}))

ID_MARKER = "FUZZ-EVENT-ID"
"""Stands for the event id in a generated value; `RawRecord.value_for` puts a unique id in its
place, so no two records share an id by accident (a reused id is another finding)."""

DEAD_LETTER = "dead-lettered"  # the consumer must dead-letter it
ACCOUNTED = "handled or dead-lettered"  # valid by contract: in the consumer's inbox, or dead-lettered
IGNORED = "ignored"  # a known type the consumer does not read: passed over, no dead letter


# ---------------------------------------------------------------------------------------------
# Valid data for every registered type; everything else is made from these


def line(sku: str = "SKU-TEA-01", quantity: int = 1, price: str = "49.90") -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unit_price": price, "gift": False}


def sample(type_: str, order_id: str = "O-FUZZ", *, sku: str = "SKU-TEA-01", case_id: str = "C-FUZZ",
           quantity: int = 1) -> dict[str, Any]:
    lines = [line(sku, quantity)]
    paid = f"{49.90 * quantity:.2f}"
    sku_lines = [{"sku": sku, "quantity": quantity}]
    data: dict[str, dict[str, Any]] = {
        "order.placed": {"order_id": order_id, "customer_id": "C-1", "order_type": "standard", "lines": lines,
                         "discount": "0.00", "paid_amount": paid, "paid_at": T0, "region": "Shanghai",
                         "currency": "CNY"},
        "order.accepted": {"order_id": order_id, "customer_id": "C-1", "order_type": "standard",
                           "priority_class": "standard", "priority_rank": f"2-{T0}-{order_id}", "lines": lines,
                           "discount": "0.00", "paid_amount": paid, "paid_at": T0, "region": "Shanghai",
                           "currency": "CNY", "accepted_at": T0},
        "order.rejected": {"order_id": order_id, "reason": "invalid order", "source_event_id": None},
        "order.cancelled": {"order_id": order_id, "reason": "changed my mind"},
        "order.cancellation_requested": {"order_id": order_id, "reason": "changed my mind"},
        "order.cancellation_refused": {"order_id": order_id, "reason": "already dispatched",
                                       "source_event_id": None, "refused_at": T0},
        "stock.reserved": {"order_id": order_id, "order_type": "standard", "priority_class": "standard",
                           "priority_rank": f"2-{T0}-{order_id}", "lines": lines, "region": "Shanghai",
                           "paid_at": T0, "reserved_at": T0},
        "stock.backordered": {"order_id": order_id, "missing": sku_lines, "backordered_at": T0},
        "stock.released": {"order_id": order_id, "lines": sku_lines, "released_at": T0},
        "replenishment.requested": {"request_id": f"R-{order_id}", "sku": sku, "quantity": quantity,
                                    "urgent": False, "reason": "below 20% of plan", "requested_at": T0},
        "sku.mode_changed": {"sku": sku, "mode": "presale", "reason": "sold out", "changed_at": T0},
        "supplier.delivery": {"delivery_id": f"D-{order_id}", "sku": sku, "quantity": quantity, "delivered_at": T0},
        "shipment.dispatched": {"order_id": order_id, "shipment_id": f"SHP-{order_id}", "carrier": "SF",
                                "tracking_number": f"TN-{order_id}", "dispatched_at": T0},
        "shipment.delivered": {"order_id": order_id, "shipment_id": f"SHP-{order_id}", "delivered_at": T0},
        "shipment.exception": {"order_id": order_id, "shipment_id": f"SHP-{order_id}", "kind": "delayed",
                               "note": "traffic", "reported_at": T0},
        "carrier.delivery": {"carrier": "SF", "tracking_number": f"TN-{order_id}", "delivered_at": T0},
        "customer.notification_requested": {"order_id": order_id, "shipment_id": f"SHP-{order_id}",
                                            "reason": "shipment_delayed", "message": "Your parcel is delayed.",
                                            "requested_at": T0},
        "return.requested": {"case_id": case_id, "order_id": order_id, "kind": "return", "lines": sku_lines,
                             "requested_at": T0},
        "return.rejected": {"case_id": case_id, "order_id": order_id, "reason": "late", "rejected_at": T0},
        "return.approved": {"case_id": case_id, "order_id": order_id, "kind": "return", "approved_at": T0},
        "return.arrived": {"case_id": case_id, "order_id": order_id, "lines": sku_lines, "arrived_at": T0},
        "return.received": {"case_id": case_id, "order_id": order_id, "lines": sku_lines,
                            "inspection_passed": True, "received_at": T0},
        "refund.issued": {"case_id": case_id, "order_id": order_id, "amount": "49.90", "issued_at": T0},
        "exchange.requested": {"case_id": case_id, "order_id": order_id, "lines": lines, "region": "Shanghai",
                               "requested_at": T0},
        "order.balance_paid": {"order_id": order_id, "balance_amount": paid, "paid_at": T0},
        "order.balance_received": {"order_id": order_id, "balance_amount": paid, "paid_amount": paid,
                                   "balance_paid_at": T0, "priority_rank": f"0-{T0}-{order_id}", "received_at": T0},
        "order.deposit_forfeited": {"order_id": order_id, "customer_id": "C-1", "deposit": "10.00",
                                    "balance_due_by": T0, "closed_at": T0},
        "order.held": {"order_id": order_id, "customer_id": "C-1", "rule": "purchase_limit",
                       "reason": "C-1 bought 3 of SKU-TEA-01 (limit 2)", "figures": {"bought": "3", "limit": "2"},
                       "held_at": T0},
        "order.released": {"order_id": order_id, "released_by": "agent-1", "note": "checked", "released_at": T0},
        "stock.sku_unknown": {"order_id": order_id, "skus": [sku], "found_at": T0},
        "traffic.counted": {"window_start": T0, "window_seconds": 60, "visitors": 1200},
    }
    missing = set(KNOWN_TYPES) - set(data)
    assert not missing, f"no sample for {sorted(missing)}: add one (every registered type is fuzzed)"
    return copy.deepcopy(data[type_])


def envelope(type_: str, data: Any, *, event_id: str = ID_MARKER, subject: str | None = "k",
             source: str = "fuzz", time_: str = T0) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": source, "type": type_, "time": time_,
            "subject": subject, "datacontenttype": "application/json", "dataversion": 1, "data": data}


@dataclass(frozen=True)
class RawJSON:
    """JSON text put into a document as is: numbers json.dumps cannot write (1e400, 5,000
    digits), nesting deeper than its recursion allows."""

    text: str


def render(document: Any, *, ensure_ascii: bool = True) -> bytes:
    raws: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, RawJSON):
            raws.append(value.text)
            return f"@@RAW-{len(raws) - 1}-@@"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(document), ensure_ascii=ensure_ascii)
    if raws:
        text = re.sub(r'"@@RAW-(\d+)-@@"', lambda m: raws[int(m.group(1))], text)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate kept as is: not UTF-8 then


# ---------------------------------------------------------------------------------------------
# What the contract says a record is, and so what each consumer must do with it


@dataclass(frozen=True)
class Verdict:
    known: tuple[str, int] | None  # (type, dataversion) when the bytes are a CloudEvents envelope
    event_id: str | None
    valid: bool  # envelope and payload of a registered (type, version)
    reason: str

    def expectations(self, consumers: dict[str, frozenset[str]]) -> dict[str, str]:
        """consumer -> DEAD_LETTER, ACCOUNTED or IGNORED. Not an envelope, or no registered
        (type, version): every consumer dead-letters it. A registered type: its readers
        dead-letter it unless the payload is valid (then handled, or refused by the service's own
        rules: dead-lettered); a consumer that does not read that type passes over it."""
        if self.known is None or self.known not in EVENT_MODELS:
            return {name: DEAD_LETTER for name in consumers}
        type_ = self.known[0]
        return {name: (ACCOUNTED if self.valid else DEAD_LETTER) if type_ in types else IGNORED
                for name, types in consumers.items()}


def verdict(value: bytes | None) -> Verdict:
    """The services' own decoding (shared.events) applied to the value; any exception at all
    counts as undecodable, which is what a consumer must make of it too."""
    try:
        event = decode_envelope(value or b"")
    except BaseException as exc:  # RecursionError, ValueError of a 5,000-digit int, ...
        return Verdict(None, None, False, f"not an envelope: {type(exc).__name__}: {str(exc)[:120]}")
    known = (event.type, event.dataversion)
    try:
        decode_payload(event)
    except BaseException as exc:
        return Verdict(known, event.id, False, f"bad payload: {str(exc)[:120]}")
    return Verdict(known, event.id, True, "valid")


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class RawRecord:
    kind: str
    value: bytes | None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    key: bytes | None = None

    def value_for(self, event_id: str) -> bytes | None:
        if self.value is None:
            return None
        return self.value.replace(ID_MARKER.encode(), event_id.encode())

    def describe(self, value: bytes | None = None) -> str:
        value = self.value if value is None else value
        size = "tombstone" if value is None else f"{len(value):,} bytes"
        head = (value or b"")[:110]
        headers = [(k[:20], v[:30]) for k, v in self.headers[:5]]
        return f"[{self.kind}, {size}] value {head!r}{'...' if value and len(value) > 110 else ''} headers {headers}"


BAD_UTF8 = [b"\xff", b"\xfe", b"\xff\xfe", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xed\xa0\x80",
            b"\xf0\x28\x8c\x28", b"\xf8\xa1\xa1\xa1\xa1", b"\xc0\xaf", b"\x80", b"\xf4\x90\x80\x80"]
INT_EDGES = [2**31 - 1, 2**31, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1,
             -(2**64), 10**19, 10**30, 10**100]
NEGATIVE_QUANTITIES = [0, -1, -7, -100_000, -(2**31), -(2**63)]
DECIMAL_EDGES: list[Any] = [
    "0." + "1" * 30, "49." + "9" * 30, "1e400", "-1e400", "1E+400", "1e-400", "NaN", "-NaN", "Infinity", "-Infinity",
    "-0.00", "-49.90", "9" * 40 + ".00", "92233720368547758.07", "92233720368547758.08", "0x10", "1_000.00",
    " 49.90", "49,90", "٤٩.٩٠",  # Arabic-Indic digits: Decimal reads them
    RawJSON("1e400"), RawJSON("-1e400"), RawJSON("0." + "1" * 30), RawJSON("49.9"), RawJSON(str(2**64)),
]
LOOKALIKES = {"O": "О", "C": "С", "S": "Ѕ", "K": "К", "T": "Т", "A": "А", "E": "Е", "1": "１", "0": "０"}
EDGE_TIMES = ["2026-11-11T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
              "2026-02-30T00:00:00Z", "2026-11-11T25:00:00Z", "-0001-01-01T00:00:00Z",
              "2026-11-11T00:00:00.9999999999Z",
              "1e400", RawJSON("1e400"), RawJSON(str(2**63))]
ID_FIELDS = {"order_id", "customer_id", "case_id", "shipment_id", "delivery_id", "request_id", "sku",
             "tracking_number", "carrier", "region", "currency", "priority_rank", "gift_for_sku", "source_event_id"}
MONEY_FIELDS = {"unit_price", "paid_amount", "discount", "amount", "deposit", "threshold", "weight_kg", "volume_l"}
TEXT_FIELDS = {"reason", "note", "region", "customer_id", "order_id"}


def weird_id(draw: st.DrawFn, base: str) -> str:
    how = draw(st.sampled_from(["lookalike", "zero_width", "nul", "bidi", "fullwidth", "trailing_space", "bom",
                                "control", "surrogate", "combining", "long", "empty", "newline"]))
    if how == "lookalike":
        return "".join(LOOKALIKES.get(c, c) for c in base)
    if how == "zero_width":
        at = draw(st.integers(0, len(base)))
        return base[:at] + draw(st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"])) + base[at:]
    if how == "nul":
        return base + "\x00"
    if how == "bidi":
        return draw(st.sampled_from(["\u202e", "\u202d", "\u2066", "\u200f"])) + base
    if how == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in base)
    if how == "trailing_space":
        return base + draw(st.sampled_from([" ", "\t", "\u00a0", "\u3000"]))
    if how == "bom":
        return "\ufeff" + base
    if how == "control":
        return base + draw(st.sampled_from(["\x01", "\x1b[31m", "\x7f", "\u0085"]))
    if how == "surrogate":
        return base + "\ud800"
    if how == "combining":
        return base + "\u0301" * draw(st.integers(1, 50))
    if how == "long":
        return base[:64] * draw(st.integers(10, 400))
    if how == "newline":
        return base + "\r\n"
    return ""


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `data` a value sits: dict keys and list indexes, leaves and containers."""
    found = []
    if isinstance(data, dict):
        for k, v in data.items():
            found.append(prefix + (k,))
            found.extend(paths(v, prefix + (k,)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found.append(prefix + (i,))
            found.extend(paths(v, prefix + (i,)))
    return found


def put(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        data = data[step]
    data[path[-1]] = value


def get(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def nesting(depth: int, shape: str) -> str:
    if shape == "arrays":
        return "[" * depth + "]" * depth
    if shape == "objects":
        return '{"a":' * depth + "null" + "}" * depth
    if shape == "mixed":
        return '[{"a":' * (depth // 2) + "1" + "}]" * (depth // 2)
    return "[" * depth  # unclosed


def places_to_mutate(data: dict[str, Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(every place, the leaves) in `data`. Earlier mutations can leave only empty containers or
    nothing at all (CI stop 39: sampling from no leaves stopped the long fuzz run); then a plain
    string field is added so the next mutation always has a leaf to change."""
    spots = paths(data)
    leaves = [p for p in spots if not isinstance(get(data, p), (dict, list))]
    if not leaves:
        data["x_leaf"] = "O-1"
        return paths(data), [("x_leaf",)]
    return spots, leaves


@st.composite
def mutated_envelope(draw: st.DrawFn, handled: list[str]) -> tuple[str, bytes, str]:
    """(kind, value, envelope type) for an envelope of a registered type, mutated 0-3 times."""
    type_ = draw(st.sampled_from(handled) if handled and draw(st.integers(0, 2)) else st.sampled_from(KNOWN_TYPES))
    data = sample(type_)
    event: dict[str, Any] = envelope(type_, data)
    kinds = []
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from([
            "int_edge", "long_int", "decimal_edge", "negative_quantity", "weird_id", "big_string", "many_lines",
            "retype", "drop", "extra", "time", "deep_field", "other_type", "dataversion", "envelope_field",
            "duplicate_key", "reorder"]))
        kinds.append(how)
        spots, leaves = places_to_mutate(data)
        named = lambda names: [p for p in leaves if isinstance(p[-1], str) and p[-1] in names]  # noqa: E731
        if how == "int_edge":
            where = [p for p in leaves if p[-1] == "quantity" or isinstance(get(data, p), int)] or leaves
            put(data, draw(st.sampled_from(where)), draw(st.sampled_from(INT_EDGES)))
        elif how == "long_int":  # past Python's 4,300-digit int parsing limit
            where = [p for p in leaves if p[-1] == "quantity"] or leaves
            put(data, draw(st.sampled_from(where)), RawJSON("9" * draw(st.sampled_from([4300, 4301, 5000, 50_000]))))
        elif how == "decimal_edge":
            where = named(MONEY_FIELDS) or leaves
            put(data, draw(st.sampled_from(where)), draw(st.sampled_from(DECIMAL_EDGES)))
        elif how == "negative_quantity":
            where = [p for p in leaves if p[-1] == "quantity"] or leaves
            put(data, draw(st.sampled_from(where)), draw(st.sampled_from(NEGATIVE_QUANTITIES)))
        elif how == "weird_id":
            where = named(ID_FIELDS) or leaves
            spot = draw(st.sampled_from(where))
            base = get(data, spot)
            put(data, spot, weird_id(draw, base if isinstance(base, str) and base else "O-1"))
        elif how == "big_string":
            size = draw(st.sampled_from([1_000, 70_000, 300_000, 880_000]))
            where = named(TEXT_FIELDS | ID_FIELDS) or leaves
            put(data, draw(st.sampled_from(where)), "X" * size)
        elif how == "many_lines":  # separate copies: a later mutation of one line changes that line only
            lists = [p for p in spots if isinstance(get(data, p), list) and get(data, p)]
            spot = draw(st.sampled_from(lists)) if lists else ("lines",)
            first = get(data, spot)[0] if lists else line()
            # As many as asked, within ~900 KB (a line may already carry a big mutated value).
            count = min(draw(st.sampled_from([501, 2_000, 10_000])), max(1, 900_000 // len(render(first))))
            copies = [copy.deepcopy(first) for _ in range(count)]
            for n, item in enumerate(copies):
                if isinstance(item, dict):
                    item["sku"] = f"SKU-{n}"
            put(data, spot, copies)
        elif how == "retype" and spots:
            put(data, draw(st.sampled_from(spots)), draw(st.sampled_from(
                [None, True, 0, -1, 1.5, float("inf"), "", "x", [], {}, [1, 2], {"a": None}, "null"])))
        elif how == "drop" and data:
            del data[draw(st.sampled_from(sorted(data)))]
        elif how == "extra":
            data[draw(st.sampled_from(["type", "id", "__proto__", "x" * 300, "", "\u0000"]))] = \
                draw(st.sampled_from(["stock.released", None, 1, {"a": [1]}, "X" * 10_000]))
        elif how == "time":
            where = [p for p in leaves if isinstance(p[-1], str) and p[-1].endswith("_at")] or leaves
            put(data, draw(st.sampled_from(where)), draw(st.sampled_from(EDGE_TIMES)))
        elif how == "deep_field":
            depth = draw(st.sampled_from([63, 64, 65, 200, 1_000, 100_000]))
            target = draw(st.sampled_from(spots + [("x_nested",)])) if spots else ("x_nested",)
            put(data, target, RawJSON(nesting(depth, draw(st.sampled_from(["arrays", "objects", "mixed"])))))
        elif how == "other_type":  # the envelope names one registered type, the data is another's
            event["type"] = draw(st.sampled_from(KNOWN_TYPES))
        elif how == "dataversion":
            event["dataversion"] = draw(st.sampled_from([0, -1, 2, 2**31, 2**63, RawJSON(str(10**30)), "1", 1.0, None]))
        elif how == "envelope_field":
            name = draw(st.sampled_from(["id", "source", "subject", "time", "specversion", "datacontenttype",
                                         "type", "data", "extension"]))
            if name == "id":  # still unique (the marker stays in it) unless it is invalid anyway
                weird = weird_id(draw, "E")
                event["id"] = draw(st.sampled_from([weird + ID_MARKER, ID_MARKER + weird, "", None, 1, "x" * 201]))
            elif name == "extension":
                event[draw(st.sampled_from(["traceparent", "partitionkey", "x"]))] = draw(st.sampled_from(
                    ["X" * 880_000, RawJSON(nesting(100_000, "arrays")), None, {"a": 1}]))
            elif name == "data":
                event["data"] = draw(st.sampled_from([None, [], "text", 1, RawJSON(nesting(1_000, "arrays"))]))
            elif name == "time":
                event["time"] = draw(st.sampled_from(EDGE_TIMES))
            elif name == "type":
                event["type"] = draw(st.sampled_from(["", "order.placed ", "ORDER.PLACED", "order.placed\x00",
                                                      "x" * 101, None, "stock.released\u200b"]))
            else:
                event[name] = draw(st.sampled_from([None, "", 1, "X" * 900, weird_id(draw, "orders")]))
        elif how == "reorder":
            event = dict(draw(st.permutations(list(event.items()))))
    value = render(event, ensure_ascii=draw(st.booleans()))
    if "duplicate_key" in kinds:  # one key twice: which value a parser keeps is for the service to get right
        extra = draw(st.sampled_from([b'"type":"%s"' % draw(st.sampled_from(KNOWN_TYPES)).encode(),
                                      b'"id":"dup-%s"' % ID_MARKER.encode(), b'"data":{}', b'"dataversion":2']))
        value = b"{" + extra + b"," + value[1:] if draw(st.booleans()) else value[:-1] + b"," + extra + b"}"
    return f"envelope:{'+'.join(kinds) or 'as_is'}", value, str(event.get("type"))


@st.composite
def raw_value(draw: st.DrawFn, handled: list[str]) -> tuple[str, bytes | None, str | None]:
    """(kind, value, the envelope type it was made from if any)."""
    branch = draw(st.sampled_from(["random_bytes", "not_utf8", "truncated", "deep", "long_int", "empty",
                                   "tombstone", "huge_text", "not_an_envelope"] + ["envelope"] * 7))
    if branch == "random_bytes":
        return branch, draw(st.binary(max_size=600)), None
    if branch == "empty":
        return branch, b"", None
    if branch == "tombstone":
        return branch, None, None
    if branch == "huge_text":
        size = draw(st.sampled_from([200_000, 600_000, 900_000]))
        return branch, b"X" * size + draw(st.sampled_from([b"", b"\xff", b"\x00"])), None
    if branch == "not_an_envelope":
        return branch, render(draw(st.sampled_from([[], 1, None, "order.placed", {"type": "order.placed"},
                                                    sample(draw(st.sampled_from(KNOWN_TYPES)))]))), None
    if branch == "deep":
        depth = draw(st.sampled_from([65, 1_000, 10_000, 100_000]) | st.integers(60, 100_000))
        shape = draw(st.sampled_from(["arrays", "objects", "mixed", "unclosed", "in_envelope"]))
        if shape == "in_envelope":
            type_ = draw(st.sampled_from(handled or KNOWN_TYPES))
            data = sample(type_)
            data["x"] = RawJSON(nesting(depth, "arrays"))
            return f"deep:{depth}:in_envelope", render(envelope(type_, data)), type_
        return f"deep:{depth}:{shape}", nesting(depth, shape).encode(), None
    if branch == "long_int":
        type_ = draw(st.sampled_from(handled or KNOWN_TYPES))
        data = sample(type_)
        data["x"] = RawJSON("9" * draw(st.sampled_from([4301, 10_000])))
        return "long_int", render(envelope(type_, data)), type_
    kind, value, type_ = draw(mutated_envelope(handled))
    if branch == "envelope" and draw(st.integers(0, 5)) == 0:
        if draw(st.booleans()):  # cut short
            return "truncated:" + kind, value[:draw(st.integers(0, max(0, len(value) - 1)))], type_
        at = draw(st.integers(0, len(value)))
        return "not_utf8:" + kind, value[:at] + draw(st.sampled_from(BAD_UTF8)) + value[at:], type_
    if branch == "truncated":
        return "truncated:" + kind, value[:draw(st.integers(0, max(0, len(value) - 1)))], type_
    if branch == "not_utf8":
        at = draw(st.integers(0, len(value)))
        return "not_utf8:" + kind, value[:at] + draw(st.sampled_from(BAD_UTF8)) + value[at:], type_
    return kind, value, type_


@st.composite
def raw_headers(draw: st.DrawFn, type_: str | None) -> tuple[str, tuple[tuple[bytes, bytes], ...]]:
    """(kind, headers). The ce_type our own outbox writes, missing, mislabelled (another known
    type), not UTF-8, empty or twice; and other headers with arbitrary bytes, keys included."""
    headers: list[tuple[bytes, bytes]] = []
    kinds = []
    ce = draw(st.sampled_from(["none", "matching", "mislabelled", "not_utf8", "empty", "twice", "unknown"]))
    kinds.append(f"ce_type:{ce}")
    matching = (type_ or draw(st.sampled_from(KNOWN_TYPES))).encode("utf-8", "surrogatepass")
    if ce == "matching":
        headers.append((b"ce_type", matching))
    elif ce == "mislabelled":
        headers.append((b"ce_type", draw(st.sampled_from([t for t in KNOWN_TYPES if t != type_])).encode()))
    elif ce == "not_utf8":
        headers.append((b"ce_type", draw(st.sampled_from([b"\xff\xfe", *BAD_UTF8, matching + b"\xff"]))))
    elif ce == "empty":
        headers.append((b"ce_type", b""))
    elif ce == "twice":
        headers.append((b"ce_type", draw(st.sampled_from([matching, b"\xff\xfe", b"stock.released"]))))
        headers.append((b"ce_type", draw(st.sampled_from([matching, b"\xff\xfe", b"order.placed", b""]))))
    elif ce == "unknown":
        headers.append((b"ce_type", draw(st.sampled_from([b"order.placed.v2", b"x" * 500, b"ORDER.PLACED"]))))
    for _ in range(draw(st.integers(0, 3))):
        other = draw(st.sampled_from(["traceparent", "binary", "key_not_utf8", "empty", "faststream", "big"]))
        kinds.append(other)
        if other == "traceparent":
            headers.append((b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        elif other == "binary":
            headers.append((draw(st.sampled_from([b"x-trace-bin", b"b3", b"content-type", b"correlation_id"])),
                            draw(st.binary(min_size=1, max_size=40))))
        elif other == "key_not_utf8":
            headers.append((draw(st.sampled_from([b"\xff\xfe", b"ce_\xfftype", b"\xc0\xaf"])),
                            draw(st.binary(max_size=10))))
        elif other == "empty":
            headers.append((b"", b""))
        elif other == "faststream":  # headers FastStream itself reads
            headers.append((draw(st.sampled_from([b"content-type", b"correlation_id", b"reply_to"])),
                            draw(st.sampled_from([b"application/json", b"text/plain", b"\xff", b"",
                                                  b"nowhere.topic"]))))
        else:
            headers.append((b"x-big", b"\xfe" * 20_000))
    if len(headers) > 1 and draw(st.booleans()):
        headers = list(draw(st.permutations(headers)))
    return "+".join(kinds), tuple(headers)


def records(handled: Iterable[str]) -> st.SearchStrategy[RawRecord]:
    """Raw records for a topic whose consumers read `handled` (two in three generated envelopes
    are of those types; the rest of any registered type)."""
    handled = sorted(handled)

    @st.composite
    def build(draw: st.DrawFn) -> RawRecord:
        kind, value, type_ = draw(raw_value(handled))
        header_kind, headers = draw(raw_headers(type_))
        key = draw(st.sampled_from([b"fuzz", b"O-FUZZ", b"", b"\xff\xfe\x00", None] if value is not None
                                   else [b"fuzz", b"\xff"]))
        return RawRecord(f"{kind} | {header_kind}", value, headers, key)

    # Kafka's default limit is about 1 MB a record batch; the records stay under 940 KB
    # (shared.limits.MAX_RECORD_BYTES is 1,000,000), headers included.
    return build().filter(lambda r: len(r.value or b"") + sum(len(k) + len(v) for k, v in r.headers) <= 940_000)


def draw_examples(strategy: st.SearchStrategy[Any], n: int, seed_: int) -> list[Any]:
    """`n` examples of `strategy`, the same ones for the same seed (generation only: each failure
    names its record instead of shrinking through a live platform)."""
    found: list[Any] = []

    @seed(seed_)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: Any) -> None:
        found.append(example)

    collect()
    return found[:n]


# ---------------------------------------------------------------------------------------------
# Canaries: valid events behind the bad records, one or more per topic, together reaching every
# consumer of the topic.


CANARY_TYPES: dict[str, tuple[str, ...]] = {
    "platform.orders": ("order.placed",),
    "platform.traffic": ("traffic.counted",),
    "inventory.reservations": ("stock.reserved",),
    "logistics.shipments": ("shipment.dispatched", "shipment.delivered"),
    "aftersales.cases": ("return.received", "exchange.requested"),
    "orders.events": ("order.accepted", "order.cancelled"),
    "supplier.deliveries": ("supplier.delivery",),
    "carrier.events": ("carrier.delivery",),
}


def canary_data(type_: str, tag: str) -> dict[str, Any]:
    order_id = f"O-CANARY-{tag}-{type_.replace('.', '-').upper()[:20]}"
    if type_ == "return.received":
        return sample(type_, order_id, sku="SKU-SET-PRO", case_id=f"C-CANARY-{tag}", quantity=1)
    if type_ == "exchange.requested":
        return sample(type_, order_id, case_id=f"C-CANARY-{tag}-X")
    if type_ == "supplier.delivery":
        return sample(type_, f"CANARY-{tag}", sku="SKU-KETTLE-02", quantity=1)
    return sample(type_, order_id)


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Sent:
    """A published record, kept small: a long run publishes hundreds of megabytes."""

    topic: str
    kind: str
    partition: int
    offset: int
    verdict: Verdict
    expect: dict[str, str]
    description: str  # kind, size, the value's start, the headers
    digest: str  # of the value (a tombstone's dead letter carries b"")
    size: int

    @classmethod
    def of(cls, topic: str, record: RawRecord, value: bytes | None, coords: tuple[int, int],
           consumers: dict[str, frozenset[str]]) -> Sent:
        v = verdict(value)
        return cls(topic, record.kind, coords[0], coords[1], v, v.expectations(consumers), record.describe(value),
                   digest(value or b""), len(value or b""))

    def describe(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset} {self.description} ({self.verdict.reason})"


@dataclass(frozen=True)
class DeadLetter:
    headers: dict[str, str]
    digest: str
    size: int


def digest(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


@dataclass
class Canary:
    topic: str
    type_: str
    event_id: str
    consumers: tuple[str, ...]
    partition: int = -1
    offset: int = -1


@dataclass
class RecordFuzz:
    world: World
    services: dict[str, ServiceProcess]
    consumers: dict[str, dict[str, frozenset[str]]]  # topic -> consumer -> types it handles
    seed: int
    replay: str  # how to run this again, printed with every failure
    round_timeout_s: float = 60.0
    say: Callable[[str], None] = print
    sent: list[Sent] = field(default_factory=list)
    canaries: list[Canary] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    rounds_done: int = 0

    def __post_init__(self) -> None:
        for topic, types in CANARY_TYPES.items():
            reached = {c for c, handled in self.consumers.get(topic, {}).items() if set(types) & handled}
            assert reached == set(self.consumers.get(topic, {})), f"canaries of {topic} miss consumers"
        self.readers: dict[str, TopicReader] = {t: self.world.reader(dlq_name(t)) for t in self.consumers}
        self.lag = GroupLag(self.world.bootstrap)
        self.groups = {f"{self.world.prefix}{consumer}.{topic}": self.world.topic(topic)
                       for topic, names in self.consumers.items() for consumer in names}
        self.dead: dict[tuple[str, int, int, str], list[DeadLetter]] = {}  # (topic, partition, offset, consumer)
        self.handled: set[tuple[str, str]] = set()  # (consumer, event id) seen in inboxes

    def generate(self, per_topic: int, chunk: int = 0) -> dict[str, list[RawRecord]]:
        """`per_topic` records for each topic; another `chunk` gives others (same seed, same records)."""
        return {topic: draw_examples(records(set().union(*handlers.values())), per_topic,
                                     self.seed + 1000 * chunk + i)
                for i, (topic, handlers) in enumerate(self.consumers.items())}

    def close(self) -> None:
        self.lag.close()

    # -- one round: a group of records on every topic, canaries behind them, then the checks

    def run(self, batches: dict[str, list[RawRecord]], group: int, *, deadline: float | None = None) -> int:
        """Publishes `batches` `group` records per topic at a time, each group followed by
        canaries on the same partition, and settles after each round; returns how many rounds
        ran (fewer than planned only when `deadline`, a time.monotonic() value, came first)."""
        rounds = max((len(b) + group - 1) // group for b in batches.values())
        for r in range(rounds):
            if deadline is not None and time.monotonic() > deadline:
                self.say(f"time budget used up after {r} of {rounds} rounds")
                return r
            started = time.monotonic()
            n = self.rounds_done
            partition = n % 3
            fresh: list[Sent] = []
            fresh_canaries: list[Canary] = []
            for t, topic in enumerate(self.consumers):
                records_, canaries_ = self.send_then_canaries(
                    topic, batches[topic][r * group:(r + 1) * group], partition=partition,
                    id_prefix=f"fz-{self.seed}-{n}-{t}", tag=f"{self.seed % 10**6}-{n}")
                fresh += records_
                fresh_canaries += canaries_
            self.settle(f"round {n + 1}", fresh, fresh_canaries)
            self.rounds_done += 1
            self.say(f"round {n + 1}: {len(fresh)} records on partition {partition} of "
                     f"{len(self.consumers)} topics, {len(fresh_canaries)} canaries; settled in "
                     f"{time.monotonic() - started:.1f}s")
        return rounds

    def send(self, topic: str, chunk: list[RawRecord], *, partition: int | None, id_prefix: str = "fz") -> list[Sent]:
        """Publishes the records (each with a unique event id in place of the marker) and works
        out from the contract what each consumer of `topic` must do with each."""
        return self.send_then_canaries(topic, chunk, partition=partition, id_prefix=id_prefix, count=0)[0]

    def send_canaries(self, topic: str, *, partition: int | None, tag: str, count: int = 1) -> list[Canary]:
        """Valid events that together reach every consumer of `topic`, `count` of each type."""
        return self.send_then_canaries(topic, [], partition=partition, tag=tag, count=count)[1]

    def send_then_canaries(self, topic: str, chunk: list[RawRecord], *, partition: int | None, id_prefix: str = "fz",
                           tag: str = "", count: int = 1) -> tuple[list[Sent], list[Canary]]:
        """The records, then `count` canaries of each type, in one producer batch: the canaries
        share whatever the consumer's client makes of the batch the records came in."""
        values = [rec.value_for(f"{id_prefix}-{n}-{uuid.uuid4().hex[:6]}") for n, rec in enumerate(chunk)]
        items = [(rec.key, v, list(rec.headers)) for rec, v in zip(chunk, values)]
        tag = f"{tag}-{uuid.uuid4().hex[:4].upper()}"
        canaries = []
        for n in range(count):
            for type_ in CANARY_TYPES[topic]:
                event = envelope(type_, canary_data(type_, f"{tag}-{n}"), event_id=str(uuid.uuid4()), subject=tag)
                items.append((tag.encode(), render(event), [(b"ce_type", type_.encode())]))
                canaries.append(Canary(topic, type_, event["id"], tuple(
                    sorted(c for c, h in self.consumers[topic].items() if type_ in h))))
        coords = self.world.publisher.send_records(self.world.topic(topic), items, partition=partition)
        sent = []
        for rec, value, coords_ in zip(chunk, values, coords):
            sent.append(Sent.of(topic, rec, value, coords_, self.consumers[topic]))
            kind = rec.kind.split(" | ")[0].split(":")[0]
            self.stats[kind] = self.stats.get(kind, 0) + 1
        for canary, (p, o) in zip(canaries, coords[len(chunk):]):
            canary.partition, canary.offset = p, o
        self.sent += sent
        self.canaries += canaries
        return sent, canaries

    def sent_as_is(self, topic: str, record: RawRecord, coords: tuple[int, int]) -> Sent:
        """Takes into account a record published some other way, at `coords` (partition, offset)."""
        sent = Sent.of(topic, record, record.value, coords, self.consumers[topic])
        self.sent.append(sent)
        return sent

    def refresh(self, *, dead_letters: bool = True, inbox: list[tuple[str, str]] = ()) -> None:
        """Reads new dead letters, and looks up (consumer, event id) pairs in the inboxes."""
        if dead_letters:
            self._read_dead_letters()
        self._read_inboxes([w for w in inbox if w not in self.handled])

    def dead_letters_of(self, sent: Sent, consumer: str | None = None) -> list[DeadLetter]:
        return [m for c in ([consumer] if consumer else sorted(sent.expect))
                for m in self.dead.get((sent.topic, sent.partition, sent.offset, c), [])]

    def lags(self) -> dict[str, int]:
        """Total lag per group, by its name without the test's topic prefix."""
        return {g.removeprefix(self.world.prefix): sum(v.values()) for g, v in self.lag.lags(self.groups).items()}

    def finish(self, quiet_s: float = 2.0) -> str:
        """Reads the dead-letter topics until quiet (late or repeated dead letters), checks them
        all once more, and sums the run up."""
        last_new = time.monotonic()
        while time.monotonic() - last_new < quiet_s:
            before = sum(len(v) for v in self.dead.values())
            self._read_dead_letters()
            if sum(len(v) for v in self.dead.values()) != before:
                last_new = time.monotonic()
            time.sleep(0.2)
        self._check_dead_letters()
        outcomes: dict[str, int] = {}
        for s in self.sent:
            for c, e in s.expect.items():
                got = e if e != ACCOUNTED else (
                    "dead-lettered (valid by contract, refused by the service)"
                    if self.dead.get((s.topic, s.partition, s.offset, c)) else "handled")
                outcomes[got] = outcomes.get(got, 0) + 1
        ours = {(s.topic, s.partition, s.offset) for s in self.sent} | \
               {(k.topic, k.partition, k.offset) for k in self.canaries}
        chain = sum(1 for (t, p, o, _c) in self.dead if (t, p, o) not in ours)
        return (f"{len(self.sent)} records ({dict(sorted(self.stats.items()))}); per consumer: {outcomes}; "
                f"{sum(len(k.consumers) for k in self.canaries)} canary deliveries handled; "
                f"{chain} dead letters of events the services published in reply")

    def settle(self, label: str, fresh: list[Sent], canaries: list[Canary], timeout_s: float | None = None) -> None:
        """Waits until every record in `fresh` is dead-lettered or accounted for as the contract
        says, every canary is in each of its consumers' inboxes and every group is at zero lag;
        then checks all dead letters seen so far. Fails with what is missing after the timeout."""
        timeout_s = self.round_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            self._read_dead_letters()
            missing_dl = [(s, c) for s in fresh for c, e in s.expect.items()
                          if e == DEAD_LETTER and not self.dead.get((s.topic, s.partition, s.offset, c))]
            unaccounted = [(s, c) for s in fresh for c, e in s.expect.items()
                           if e == ACCOUNTED and not self.dead.get((s.topic, s.partition, s.offset, c))
                           and (c, s.verdict.event_id) not in self.handled]
            waiting = [(k, c) for k in canaries for c in k.consumers if (c, k.event_id) not in self.handled]
            self._read_inboxes([(c, s.verdict.event_id or "") for s, c in unaccounted] +
                               [(c, k.event_id) for k, c in waiting])
            unaccounted = [(s, c) for s, c in unaccounted if (c, s.verdict.event_id) not in self.handled]
            waiting = [(k, c) for k, c in waiting if (c, k.event_id) not in self.handled]
            lags = {g: sum(v.values()) for g, v in self.lag.lags(self.groups).items()} \
                if not (missing_dl or unaccounted or waiting) else {}
            behind = {g.removeprefix(self.world.prefix): n for g, n in lags.items() if n}
            if not (missing_dl or unaccounted or waiting or behind):
                break
            # A canary dead-lettered will never be handled: no use waiting long for the rest.
            if any(self.dead.get((k.topic, k.partition, k.offset, c)) for k, c in waiting):
                deadline = min(deadline, time.monotonic() + 5)
            if time.monotonic() > deadline:
                if not behind:
                    behind = {g.removeprefix(self.world.prefix): n for g, v in self.lag.lags(self.groups).items()
                              if (n := sum(v.values()))}
                raise AssertionError(self._report(label, timeout_s, fresh, missing_dl, unaccounted, waiting, behind))
            time.sleep(0.3)
        self._check_dead_letters()

    def _read_dead_letters(self) -> None:
        for topic, reader in self.readers.items():
            for m in reader.poll(0.05):
                key = (topic, int(m.headers.get("dlq.source.partition", -1)),
                       int(m.headers.get("dlq.source.offset", -1)), m.headers.get("dlq.consumer", ""))
                self.dead.setdefault(key, []).append(DeadLetter(m.headers, digest(m.value), len(m.value)))
            reader.seen.clear()  # kept here as digests

    def _read_inboxes(self, wanted: list[tuple[str, str]]) -> None:
        by_consumer: dict[str, set[str]] = {}
        for consumer, event_id in wanted:
            try:
                event_id.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: no database stores it, only a dead letter can
                continue
            by_consumer.setdefault(consumer, set()).add(event_id)
        for consumer, ids in by_consumer.items():
            ids_list = sorted(ids)
            for i in range(0, len(ids_list), 400):
                chunk = ids_list[i:i + 400]
                marks = ", ".join(f":e{n}" for n in range(len(chunk)))
                rows = self.services[consumer].sql(
                    f"select event_id from inbox_entry where consumer = :c and event_id in ({marks})",
                    c=consumer, **{f"e{n}": e for n, e in enumerate(chunk)})
                self.handled.update((consumer, row[0]) for row in rows)

    def _check_dead_letters(self) -> None:
        """Every dead letter is one the contract asks for (or allows), once, with a reason and
        the original bytes; none for a canary or for a record a consumer should pass over."""
        by_coords = {(s.topic, s.partition, s.offset): s for s in self.sent}
        canary_coords = {(k.topic, k.partition, k.offset): k for k in self.canaries}
        problems = []
        for (topic, partition, offset, consumer), messages in self.dead.items():
            s = by_coords.get((topic, partition, offset))
            if s is None:
                canary = canary_coords.get((topic, partition, offset))
                if canary is not None:
                    problems.append(f"canary {canary.type_} {canary.event_id} on {topic} dead-lettered by {consumer}: "
                                    f"{messages[0].headers.get('dlq.reason')}")
                continue  # a dead letter of something else (a chain event: e.g. order.accepted of a fuzzed order)
            expected = s.expect.get(consumer)
            if expected not in (DEAD_LETTER, ACCOUNTED):
                problems.append(f"{consumer} dead-lettered a record it should pass over ({expected}): {s.describe()}; "
                                f"reason {messages[0].headers.get('dlq.reason')!r}")
            if len(messages) > 1:
                problems.append(f"{consumer} dead-lettered {len(messages)} times: {s.describe()}")
            m = messages[0]
            if not m.headers.get("dlq.reason"):
                problems.append(f"{consumer}: no dlq.reason for {s.describe()}")
            if m.digest != s.digest:
                problems.append(f"{consumer}: the dead letter is not the original bytes ({m.size:,} bytes where the "
                                f"record has {s.size:,}: it cannot be replayed): {s.describe()}")
            if m.headers.get("dlq.source.topic") != self.world.topic(topic):
                problems.append(f"{consumer}: dlq.source.topic {m.headers.get('dlq.source.topic')!r} "
                                f"for {s.describe()}")
        assert not problems, f"{self.replay}\n" + "\n".join(problems[:15])

    def _report(self, label: str, timeout_s: float, fresh: list[Sent], missing_dl: list[tuple[Sent, str]],
                unaccounted: list[tuple[Sent, str]], waiting: list[tuple[Canary, str]], behind: dict[str, int]) -> str:
        lines = [f"{label} did not settle (waited up to {timeout_s:.0f}s). {self.replay}"]
        for k, c in waiting:
            for m in self.dead.get((k.topic, k.partition, k.offset, c), [])[:1]:
                lines.append(f"canary {k.type_} on {k.topic}[{k.partition}]@{k.offset} dead-lettered by {c} "
                             f"({m.size:,} bytes): {m.headers.get('dlq.reason')!r}")
        if waiting:
            lines.append(f"{len(waiting)} canaries not handled (not in the consumer's inbox): " + "; ".join(
                f"{k.type_} on {k.topic}[{k.partition}]@{k.offset} by {c}" for k, c in waiting[:10]))
        positions = self.lag.positions(self.groups)

        def fate(s: Sent, consumer: str) -> str:  # has the consumer's group committed past the record?
            committed, _end = positions[f"{self.world.prefix}{consumer}.{s.topic}"][s.partition]
            return "skipped: its group committed past it" if committed > s.offset else "its group is not past it"

        for s, c in missing_dl[:10]:
            lines.append(f"not dead-lettered by {c} ({fate(s, c)}): {s.describe()}")
        for s, c in unaccounted[:10]:
            lines.append(f"valid by contract, neither handled nor dead-lettered by {c} ({fate(s, c)}): {s.describe()}")
        if behind:
            lines.append(f"consumer groups with lag: {behind}")
            if not (waiting or missing_dl or unaccounted):  # everything arrived, yet a group is stuck: on what?
                lagging = {g.split(".", 1)[1] for g in behind}
                suspects = [s for s in fresh if s.topic in lagging]
                lines.append(f"records of {label} on the topics with lag ({len(suspects)}):")
                lines += [f"  {s.describe()}" for s in suspects[:20]]
        return "\n".join(lines)


def check_platform_is_well(services: dict[str, ServiceProcess]) -> None:
    """Every service still up and ready; inventory's books still readable and balanced."""
    for name, service in services.items():
        assert service.proc is not None and service.proc.poll() is None, f"{name} exited; see {service.log_path}"
        with service.anonymous_client() as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, f"{name} /readyz {ready.status_code}: {ready.text}"
    if "inventory" in services:
        with services["inventory"].client() as client:
            stock = client.get("/stock")
            assert stock.status_code == 200, f"inventory GET /stock {stock.status_code}: {stock.text[:300]}"
            for sku in ("SKU-TEA-01", "SKU-KETTLE-02", "SKU-SET-PRO"):
                ledger = client.get(f"/ledger/{sku}")
                assert ledger.status_code == 200, \
                    f"inventory GET /ledger/{sku} {ledger.status_code}: {ledger.text[:300]}"
                assert ledger.json().get("consistent"), ledger.json()
