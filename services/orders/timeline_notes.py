"""The short human notes an order's timeline shows beside each event (pure formatting: which
step an event is, domain.py decides)."""

from __future__ import annotations

from typing import Any

from services.orders.attention import SKU_UNKNOWN
from shared.envelope import Contract


def describe(event_type: str, payload: Any) -> str:
    """A short human note for the timeline."""
    if event_type == "stock.backordered":
        missing = ", ".join(f"{m.sku} x{m.quantity}" for m in payload.missing)
        return f"missing {missing}" + (" (presale)" if payload.presale else "")
    if event_type == SKU_UNKNOWN:
        return "skus the catalogue does not know: " + ", ".join(payload.skus)
    if event_type == "stock.released":
        return "released " + ", ".join(f"{line.sku} x{line.quantity}" for line in payload.lines)
    if event_type == "shipment.dispatched":
        note = f"{payload.carrier} {payload.tracking_number}"
        if payload.lines:  # one part of a split order: what it holds and from where
            held = ", ".join(f"{line.sku} x{line.quantity}" for line in payload.lines)
            note += f" from {payload.warehouse or 'main'}: {held}"
        if not payload.order_complete:
            note += "; other parts still to ship"
        return note
    if event_type == "shipment.exception":
        return f"{payload.kind}: {payload.note}" if payload.note else payload.kind
    if event_type == "return.requested":
        return f"case {payload.case_id}: {payload.kind}"
    if event_type == "return.rejected":
        return f"case {payload.case_id}: {payload.reason}"
    if event_type == "return.received":
        return f"case {payload.case_id}: inspection {'passed' if payload.inspection_passed else 'failed'}"
    if event_type == "refund.issued":
        return f"case {payload.case_id}: refunded {payload.amount:.2f}"
    return ""


def replacement_case(payload: Any) -> Any:
    """The exchange case a lifecycle event ships for (shipment events), None for every other.

    Not `getattr(payload, "replacement_for_case", None)`: on a contract without the field (most
    events, e.g. stock.reserved) pydantic's `__getattr__` raises AttributeError after a failed
    `hasattr` of its own: two exceptions per call, twice an event (docs/benchmarks-history.md,
    seventeenth session). A contract forbids extra fields and keeps its fields in `__dict__`,
    so a missing key there is a field it does not have."""
    if isinstance(payload, Contract):
        return payload.__dict__.get("replacement_for_case")
    return getattr(payload, "replacement_for_case", None)


def parts_left(event_type: str, payload: Any) -> bool:
    """A shipment.dispatched of one part of a split order, after which other parts are still to
    leave (logistics says so with `order_complete: false`)."""
    return event_type == "shipment.dispatched" and isinstance(payload, Contract) \
        and payload.__dict__.get("order_complete") is False
