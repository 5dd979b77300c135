"""Structured JSON logs: one object per line, carrying the event id and order id (or sku) being
handled, so a line can be traced back to the message that caused it."""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

from shared import tracing

current_event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
current_subject: contextvars.ContextVar[str | None] = contextvars.ContextVar("subject", default=None)
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            "event_id": current_event_id.get(),
            "subject": current_subject.get(),
        }
        # An access line names its own (it may be formatted after its request's context ended).
        request_id = getattr(record, "request_id", None) or current_request_id.get()
        if request_id is not None:
            line["request_id"] = request_id
        # None (one flag read) while tracing is off.
        trace_id = getattr(record, "trace_id", None) or tracing.current_trace_id()
        if trace_id is not None:
            line["trace_id"] = trace_id
        http = getattr(record, "http", None)
        if http is not None:  # an access log line (shared/http_observability.py)
            line["http"] = http
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(service: str, level: str, json_lines: bool = True) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(service) if json_lines
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "faststream"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
