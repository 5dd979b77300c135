"""The input limits every entry enforces (HTTP bodies and every consumed topic), in one place.

They are part of the public contract (docs/events.md, docs/reliability.md): a sender that
crosses one gets a clear reason (HTTP 413/422 with a problem body, or a dead letter with
`dlq.reason`), never a silent drop. They are also chosen so that whatever is accepted can be
published again: an accepted order always fits in a Kafka record.
"""

from __future__ import annotations

from decimal import Decimal

MAX_RECORD_BYTES = 1_000_000
"""Largest Kafka record value a consumer handles, and the largest the relay sends. Kafka's own
default limit is 1,048,588 bytes per record batch; the dead-letter headers fit in the rest."""

MAX_HTTP_BODY_BYTES = 256 * 1024
"""Largest HTTP request body; more is answered 413 before it is read."""

MAX_JSON_DEPTH = 200
"""Deepest JSON nesting of an event that can be applied (pydantic's JSON reader stops there; the
contracts need about 5). Deeper records are dead-lettered, never retried."""

MAX_LINES_PER_ORDER = 500
"""Order lines per order (and per return or exchange): an order at the limit is about 110 KB."""

MAX_LINE_QUANTITY = 100_000
"""Units on one order line."""

MAX_STOCK_UNITS = 1_000_000_000
"""Units of one sku anywhere in stock figures: on hand, planned, counted, delivered at once."""

MAX_AMOUNT = Decimal("100000000.00")
"""Largest money amount in any field (100 million in the order's currency)."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@#/+-]{0,63}$"
"""Ids and skus: printable ASCII without spaces, at most 64 characters, starting with a letter
or digit. Look-alike unicode, zero-width and control characters, and trailing spaces are refused
rather than stored as a second id that looks like the first."""

MAX_WAREHOUSES = 50
"""Warehouses one platform ships from (issue 34); an order splits into at most this many parts."""
