"""What the customer is told when a shipment has a problem (R17), with no I/O: the reason code
and the message of `customer.notification_requested` (shared/notification_events.py), which the
platform's customer messaging sends. Staff notes stay out of the message: they are internal."""

from __future__ import annotations

MESSAGES = {
    "delayed": ("shipment_delayed", "Your parcel for order {order_id} is delayed. We are on it and will let you "
                                    "know when it is on its way again."),
    "damaged": ("shipment_damaged", "Your parcel for order {order_id} was damaged. Customer service will contact "
                                    "you about a replacement or a refund."),
    "lost": ("shipment_lost", "Your parcel for order {order_id} is lost in transit. Customer service will contact "
                              "you about a replacement or a refund."),
}

PUBLISHED, QUEUED, REFUSED = "published", "queued", "refused"


def customer_message(kind: str, order_id: str) -> tuple[str, str]:
    """(reason, message) for an exception kind; a kind with no message is a programming error."""
    reason, text = MESSAGES[kind]
    return reason, text.format(order_id=order_id)


def notification_state(outbox_state: str | None) -> str | None:
    """Whether the customer's notification left: `published` only once the broker took it;
    `refused` when the broker refused it for good; `queued` while it waits in the outbox.
    None: no notification was asked for (exceptions recorded before notifications existed)."""
    if outbox_state is None:
        return None
    if outbox_state == "published":
        return PUBLISHED
    if outbox_state == "refused":
        return REFUSED
    return QUEUED
