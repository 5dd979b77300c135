"""Traces across services (OpenTelemetry, W3C Trace Context).

One trace follows an order from `POST /orders` (or the inbound `platform.orders` record) through
every service it reaches: the context rides in the outbox row's headers (`traceparent`,
`tracestate`, written in the unit of work that publishes the event), the relay puts them on the
Kafka record as they are, and each consumer opens a span per handled record as a child of the
context it carried; what that handler publishes carries the new span's context.

Off unless an exporter is configured: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) for an OTLP/HTTP collector, or `TRACE_SPANS_FILE` (finished
spans as JSON lines in a file: what the tests read, since the services run as processes and an
in-memory exporter would live in theirs). `OTEL_SDK_DISABLED=true` turns it off whatever else is
set. Off, every call site below is a check of `ENABLED` and nothing else: no provider, no ids.

Sampling follows the standard `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`; when they are
unset the default is `parentbased_traceidratio` at 0.01 (DEFAULT_RATIO): a caller's sampled
context is always followed (the platform decides for its own traces), and one order in a hundred
started here is recorded, enough to see the shape of the flow at peak without paying for a span
export per event (docs/benchmarks.md, "Tracing", has the cost measured).

Header values come from anyone on the platform's topics: a `traceparent` that is not exactly one
ASCII header of at most MAX_TRACEPARENT bytes in the W3C format is ignored (the record starts a new
root trace); nothing here can fail a record.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

ENABLED = False
"""True once `configure` installed a tracer provider in this process."""

DEFAULT_RATIO = 0.01
MAX_TRACEPARENT = 512  # version 00 is 55 bytes; later versions may add fields, not kilobytes
MAX_TRACESTATE = 8192  # 32 list members of at most 256 bytes each, with separators

TRACE_HEADERS = ("traceparent", "tracestate")

_propagator = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None
_provider: Any = None
_NOTHING = nullcontext()
# A parent-based sampler (the default, and every standard `parentbased_*`) never records a child
# of an unsampled remote parent: such a record's span would be made only to be dropped. It is
# not made; the record's own context is passed on to what its handler publishes instead (same
# trace id, still unsampled). At the default 1 in 100 that is 99 of every 100 records after the
# intake, and most of what tracing cost (docs/benchmarks.md, "Tracing").
_pass_unsampled = False
_passing: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("trace_passing", default=None)
# W3C Trace Context's traceparent, as the propagator reads it (its format check, without a
# context built for the 99 records out of 100 that only pass theirs on).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


def configure(service_name: str, *, environ: dict[str, str] | None = None) -> bool:
    """Install the tracer provider for this process when an exporter is configured (see the
    module's docstring); returns whether tracing is on."""
    global ENABLED, _tracer, _provider, _pass_unsampled
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    spans_file = env.get("TRACE_SPANS_FILE")
    if not (endpoint or spans_file):
        return False
    if _provider is not None:
        return ENABLED  # one provider per process (tools run several services in one)
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    # The SDK reads OTEL_TRACES_SAMPLER(_ARG) itself when given no sampler; its own default
    # (always on) would record every order, so ours applies only when they are unset.
    sampler = None if env.get("OTEL_TRACES_SAMPLER") else ParentBasedTraceIdRatio(DEFAULT_RATIO)
    _pass_unsampled = env.get("OTEL_TRACES_SAMPLER", "parentbased_").strip().startswith("parentbased_")
    provider = TracerProvider(resource=Resource.create({"service.name": service_name,
                                                        "service.namespace": "peak"}), sampler=sampler)
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        # The exporter reads the endpoint (and headers, timeout) from the same variables.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if spans_file:
        # Written as each span ends: a test reads the file while the services run.
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(spans_file)))
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("peak.platform")
    ENABLED = True
    return True


def shutdown() -> None:
    """Flush what is waiting for the exporter (the service is stopping)."""
    if _provider is not None:
        try:
            _provider.shutdown()
        except Exception:
            log.warning("trace exporter did not shut down cleanly", exc_info=True)


class JsonLinesExporter:
    """Finished spans, one JSON object a line, appended to a file (tests; see the docstring)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult
        lines = []
        for span in spans:
            ctx = span.get_span_context()
            lines.append(json.dumps({
                "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
                "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
                "name": span.name, "kind": span.kind.name,
                "service": span.resource.attributes.get("service.name"),
                "attributes": {k: v if isinstance(v, (str, int, float, bool)) else str(v)
                               for k, v in (span.attributes or {}).items()},
            }))
        with self._lock, open(self._path, "a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# -- the context a record carries --------------------------------------------------------------

def carrier_from_headers(headers: Any) -> dict[str, str] | None:
    """The W3C headers of a consumed record, if they can be trusted as such: exactly one
    `traceparent`, ASCII, at most MAX_TRACEPARENT bytes (its format is the propagator's to
    check); `tracestate` only beside a usable `traceparent` (several are joined, as W3C allows),
    dropped alone when it is not ASCII or too long. None: start a new root trace."""
    parents: list[Any] = []
    states: list[Any] = []
    for name, value in headers or ():
        if not isinstance(name, str):
            continue
        lowered = name.lower()
        if lowered == "traceparent":
            parents.append(value)
        elif lowered == "tracestate":
            states.append(value)
    if len(parents) != 1:
        return None  # none, or duplicated: which one would be the sender's is anyone's guess
    parent = _ascii(parents[0], MAX_TRACEPARENT)
    if parent is None:
        return None
    carrier = {"traceparent": parent.strip()}
    texts = [_ascii(state, MAX_TRACESTATE) for state in states]
    if texts and all(t is not None for t in texts):
        joined = ",".join(t for t in texts if t)
        if len(joined) <= MAX_TRACESTATE:
            carrier["tracestate"] = joined
    return carrier


def _ascii(value: Any, limit: int) -> str | None:
    if not isinstance(value, (bytes, bytearray)) or len(value) > limit:
        return None
    try:
        return bytes(value).decode("ascii")
    except UnicodeDecodeError:
        return None


def _parent_context(carrier: dict[str, str] | None) -> otel_context.Context:
    """The context the carrier names, or an empty one (a new root) when it names none."""
    if not carrier:
        return otel_context.Context()
    try:
        ctx = _propagator.extract(carrier, context=otel_context.Context())
    except Exception:  # the propagator checks the format; whatever else it trips on is ignored too
        return otel_context.Context()
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else otel_context.Context()


def consuming(topic: str, carrier: dict[str, str] | None, event_id: str, event_type: str) -> Any:
    """The span of one handled record (a context manager), a child of the context its headers
    carry; while it is open, what the handler publishes carries this span's context."""
    if not ENABLED:
        return _NOTHING
    if carrier is not None and _pass_unsampled and _unsampled(carrier["traceparent"]):
        return _Passing(carrier)
    return _consuming(topic, carrier, event_id, event_type)


def _unsampled(traceparent: str) -> bool:
    """A valid traceparent whose sampled flag is off (invalid ones start a new trace instead)."""
    parts = _TRACEPARENT.fullmatch(traceparent)
    if (parts is None or parts[1] == "ff" or (parts[1] == "00" and parts[5])
            or parts[2] == "0" * 32 or parts[3] == "0" * 16):
        return False
    return not int(parts[4], 16) & 1


class _Passing:
    """While a record whose context is not sampled is handled: its context, for what it publishes."""

    __slots__ = ("_carrier", "_token")

    def __init__(self, carrier: dict[str, str]) -> None:
        self._carrier = carrier

    def __enter__(self) -> None:
        self._token = _passing.set(self._carrier)

    def __exit__(self, *_exc: Any) -> None:
        _passing.reset(self._token)


@contextmanager
def _consuming(topic: str, carrier: dict[str, str] | None, event_id: str, event_type: str) -> Iterator[None]:
    assert _tracer is not None
    with _tracer.start_as_current_span(
            f"process {event_type}", context=_parent_context(carrier), kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "messaging.operation.type": "process",
                        "messaging.destination.name": topic, "messaging.message.id": event_id,
                        "cloudevents.event_type": event_type}):
        yield


def current_headers() -> dict[str, str]:
    """`traceparent` (and `tracestate`) of the current span, for an event published now; empty
    when tracing is off or no span is current (a timer's work, a start-up load)."""
    if not ENABLED:
        return {}
    passing = _passing.get()
    if passing is not None:
        return passing
    carrier: dict[str, str] = {}
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        _propagator.inject(carrier)
    return carrier


def current_trace_id() -> str | None:
    """The current trace's id (32 hex digits) for log lines, or None."""
    if not ENABLED:
        return None
    passing = _passing.get()
    if passing is not None:
        return passing["traceparent"][3:35]
    span_context = trace.get_current_span().get_span_context()
    return f"{span_context.trace_id:032x}" if span_context.is_valid else None
