"""Two states beside the forward path of an order (domain.py), in which nothing reserves or ships
it until a person decides:

- `held` (R6): the abuse guard (abuse.py) flagged it at intake. It is kept, but `order.held` went
  out instead of `order.accepted`, so inventory never reserves it. Support or admin releases it
  (`order.released`, then its `order.accepted`, and it goes on as `accepted`) or cancels it.
- `needs_attention`: inventory cannot reserve it because a line names a sku the catalogue does
  not know (`stock.sku_unknown`); nothing waits for it, so a person must cancel it (or fix the
  catalogue and have the platform place it again).

A stock, shipment or aftersales event for an order in either state contradicts what happened
(nothing was asked of those services), so it is refused and logged.
"""

from __future__ import annotations

HELD = "held"
NEEDS_ATTENTION = "needs_attention"
ATTENTION_STATES = frozenset({HELD, NEEDS_ATTENTION})
SKU_UNKNOWN = "stock.sku_unknown"

_ACCEPTED, _CANCELLED = "accepted", "cancelled"  # domain.py's names (it imports this module)


def attention_step(state: str, event_type: str) -> tuple[str, str, str]:
    """(outcome, state after, reason) of a lifecycle event for an order in a state of this
    module, or of a stock.sku_unknown in any state."""
    if event_type == SKU_UNKNOWN and state != HELD:
        if state == _ACCEPTED:
            return "advanced", NEEDS_ATTENTION, ""
        if state == NEEDS_ATTENTION:
            return "noted", state, "already needs attention"
        if state == _CANCELLED:
            # Inventory saw the order before its cancellation: nothing was reserved, nothing to do.
            return "noted", state, ""
        return "refused", state, (f"{SKU_UNKNOWN} for an order that is already {state.replace('_', ' ')}: "
                                  "inventory decided it before")
    if state == HELD:
        return "refused", state, f"{event_type} for a held order: nothing was asked to reserve or ship it"
    return "refused", state, f"{event_type} for an order inventory could not reserve (a sku it does not know)"
