"""Customer notifications the platform sends (topic logistics.notifications): logistics asks, the
platform's customer-messaging services tell the customer (text message, app, e-mail).

Part of the one published contract; the same rules hold as in shared/events.py: changes are
additive, a breaking change is a new model under the next version."""

from __future__ import annotations

from typing import Literal

from shared.contract_types import DerivedId, EntityId
from shared.envelope import Contract, UtcDatetime
from shared.event_parts import Note, ShortText


class CustomerNotificationRequested(Contract):
    """Tell the customer of an order about a problem with its shipment. `message` is the text in
    plain words; `reason` lets the platform pick its own template instead."""

    order_id: EntityId
    shipment_id: DerivedId
    reason: Literal["shipment_delayed", "shipment_damaged", "shipment_lost"]
    message: ShortText  # type: ignore[valid-type]
    note: Note = ""  # type: ignore[valid-type]  # what staff wrote; internal, the platform decides whether to show it
    requested_at: UtcDatetime
