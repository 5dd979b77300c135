"""Which record headers a consumer trusts as a trace context (shared/tracing.py): exactly one
ASCII `traceparent` of at most 512 bytes; `tracestate` only beside it. The rest is ignored (a new
root trace); the broker-level test is tests/integration/test_tracing.py."""

from __future__ import annotations

from opentelemetry import trace

from shared import tracing

VALID = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_one_valid_traceparent_is_taken_with_its_tracestates_joined() -> None:
    assert tracing.carrier_from_headers([("ce_type", b"x"), ("traceparent", VALID), ("tracestate", b"a=1"),
                                         ("tracestate", b"b=2")]) == {
        "traceparent": VALID.decode(), "tracestate": "a=1,b=2"}
    assert tracing.carrier_from_headers([("TraceParent", VALID)]) == {"traceparent": VALID.decode()}


def test_missing_duplicated_oversized_or_non_ascii_traceparent_is_ignored() -> None:
    assert tracing.carrier_from_headers(None) is None
    assert tracing.carrier_from_headers([]) is None
    assert tracing.carrier_from_headers([("traceparent", VALID), ("traceparent", VALID)]) is None
    assert tracing.carrier_from_headers([("traceparent", VALID + b"-" + b"0" * 457)]) is None  # 513 bytes
    assert tracing.carrier_from_headers([("traceparent", (VALID + b"-" + b"0" * 456))]) is not None  # 512
    assert tracing.carrier_from_headers([("traceparent", VALID.replace(b"0a", b"\xc3\xa9"))]) is None
    assert tracing.carrier_from_headers([("traceparent", None)]) is None
    assert tracing.carrier_from_headers([(b"traceparent", VALID)]) is None  # a key that was not text


def test_a_bad_tracestate_is_dropped_alone() -> None:
    assert tracing.carrier_from_headers([("traceparent", VALID), ("tracestate", b"\xff")]) == {
        "traceparent": VALID.decode()}
    assert tracing.carrier_from_headers([("traceparent", VALID), ("tracestate", b"a" * 8193)]) == {
        "traceparent": VALID.decode()}


def test_the_format_is_the_propagators_to_check() -> None:
    def parent(value: bytes) -> int:
        ctx = tracing._parent_context(tracing.carrier_from_headers([("traceparent", value)]))
        return trace.get_current_span(ctx).get_span_context().span_id

    assert parent(VALID) == 0xb7ad6b7169203331
    for bad in (b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01", b"ff" + VALID[2:], VALID.upper(), VALID[:-1],
                b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", b"garbage", b""):
        assert parent(bad) == 0, bad


def test_off_costs_a_flag_check() -> None:
    assert tracing.ENABLED is False  # the unit tests never configure it
    assert tracing.current_headers() == {}
    assert tracing.current_trace_id() is None
    assert tracing.consuming("t", None, "id", "type") is tracing._NOTHING


def test_an_unsampled_context_is_passed_on_without_a_span(monkeypatch) -> None:
    """With a parent-based sampler a child of an unsampled parent is never recorded: the record's
    own context goes on to what its handler publishes (same trace, still unsampled)."""
    monkeypatch.setattr(tracing, "ENABLED", True)
    monkeypatch.setattr(tracing, "_pass_unsampled", True)
    unsampled = {"traceparent": VALID.decode()[:-2] + "00", "tracestate": "a=1"}
    with tracing.consuming("t", unsampled, "id", "type"):
        assert tracing.current_headers() == unsampled
        assert tracing.current_trace_id() == "0af7651916cd43dd8448eb211c80319c"
    assert tracing._passing.get() is None
    for not_passed in ("ff" + VALID.decode()[2:-2] + "00", VALID.decode(), VALID.decode()[:-2] + "00-x",
                       "00-" + "0" * 32 + "-b7ad6b7169203331-00", "00-0af7651916cd43dd8448eb211c80319c-" + "0" * 16 + "-00"):
        assert not tracing._unsampled(not_passed), not_passed
    assert tracing._unsampled("01" + VALID.decode()[2:-2] + "02-future")  # a later version's fields
