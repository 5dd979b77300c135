"""timeline_notes.replacement_case: the lifecycle's look-up of a shipment's exchange case reads a
contract's fields directly (no AttributeError raised for the many events without the field) and
answers as `getattr(payload, "replacement_for_case", None)` did."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from services.orders.timeline_notes import replacement_case
from shared.events import ShipmentDispatched, StockReserved

AT = datetime(2026, 11, 11, tzinfo=UTC)


def dispatched(case: str | None) -> ShipmentDispatched:
    return ShipmentDispatched(order_id="O-1", shipment_id="S-1", carrier="SF", tracking_number="T-1",
                              dispatched_at=AT, replacement_for_case=case)


def test_a_shipment_for_an_exchange_names_its_case_and_an_ordinary_one_none() -> None:
    assert replacement_case(dispatched("CASE-7")) == "CASE-7"
    assert replacement_case(dispatched(None)) is None


def test_a_contract_without_the_field_is_none_as_getattr_said() -> None:
    reserved = StockReserved(order_id="O-1", priority_class="standard", priority_rank="R-1",
                             lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "1.00"}], region="CN-SH",
                             paid_at=AT, reserved_at=AT)
    assert replacement_case(reserved) is None
    assert replacement_case(reserved) == getattr(reserved, "replacement_for_case", None)


def test_anything_else_is_asked_by_attribute() -> None:
    assert replacement_case(SimpleNamespace(replacement_for_case="CASE-1")) == "CASE-1"
    assert replacement_case(SimpleNamespace()) is None
