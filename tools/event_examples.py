"""Examples for docs/events.md (issue 33): one per part used inside events, and whole events for
what platform services send. tools/events_doc.py validates each against its model before printing
it, and refuses to render a part without one, so an example can neither go stale nor be missing."""

from __future__ import annotations

from typing import Any

PART_EXAMPLES: dict[str, dict[str, Any]] = {
    "OrderLine": {"sku": "SKU-TEA-01", "quantity": 2, "unit_price": "49.90", "gift": False,
                  "weight_kg": "0.30", "volume_l": "0.80"},
    "Promotion": {"kind": "spend_threshold", "code": "FULL100-10", "threshold": "100.00", "amount": "10.00"},
    "ReturnLine": {"sku": "SKU-TEA-01", "quantity": 1, "gift": False},
    "ShipmentPart": {"warehouse": "east", "lines": [{"sku": "SKU-TEA-01", "quantity": 2}]},
    "SkuQuantity": {"sku": "SKU-KETTLE-02", "quantity": 3},
}

# Whole events, structured mode (the envelope and its data), for the types platform services send.
EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "order.placed": {
        "specversion": "1.0", "id": "9b2f6c1e-5d4a-4f3e-8a71-2c0d9e8b7a65", "source": "checkout",
        "type": "order.placed", "time": "2026-11-11T00:00:05+08:00", "subject": "O-20261111-0001",
        "datacontenttype": "application/json", "dataversion": 1,
        "data": {
            "order_id": "O-20261111-0001", "customer_id": "C-1001", "order_type": "standard",
            "lines": [{"sku": "SKU-TEA-01", "quantity": 3, "unit_price": "49.90"}],
            "discount": "10.00", "paid_amount": "139.70", "paid_at": "2026-11-11T00:00:03+08:00",
            "region": "Shanghai", "currency": "CNY",
            "promotions": [{"kind": "spend_threshold", "code": "FULL100-10", "threshold": "100.00",
                            "amount": "10.00"}],
            "first_order": False,
        },
    },
    "order.cancellation_requested": {
        "specversion": "1.0", "id": "0c4e1f7a-2b3d-4c5e-9f60-718293a4b5c6", "source": "checkout",
        "type": "order.cancellation_requested", "time": "2026-11-11T00:20:00+08:00",
        "subject": "O-20261111-0001", "datacontenttype": "application/json", "dataversion": 1,
        "data": {"order_id": "O-20261111-0001", "reason": "customer changed their mind"},
    },
}
