"""Order rules with no I/O: validation with a specific reason, priority, and telling a harmless
re-send from a tampering attempt (R1-R3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.events import PRIORITY_CLASSES, OrderPlaced

ORDER_TYPES = ("standard", "presale")


class OrderInvalid(ValueError):
    """An order that must be rejected; the message is the reason given back to the platform."""


@dataclass(frozen=True)
class OrderPolicy:
    high_value_threshold: Decimal
    accepted_currencies: frozenset[str]


def validate_order(order: OrderPlaced, policy: OrderPolicy) -> None:
    """Business checks beyond the contract's shape and bounds. Raises OrderInvalid with the first reason."""
    if order.order_type not in ORDER_TYPES:
        raise OrderInvalid(f"unknown order_type {order.order_type!r}: expected 'standard' or 'presale'")
    if order.currency not in policy.accepted_currencies:
        raise OrderInvalid(f"currency {order.currency!r} is not accepted here "
                           f"(accepted: {', '.join(sorted(policy.accepted_currencies))})")
    # Quantities, amounts, ids and text are bounded by the contract itself (shared/events.py).
    if all(line.gift for line in order.lines):
        raise OrderInvalid("order has only gift lines: a gift comes with a purchase")
    total = lines_total(order)
    expected = total - order.discount
    if order.paid_amount != expected:
        raise OrderInvalid(f"paid_amount {order.paid_amount} does not equal lines total "
                           f"{total} minus discount {order.discount} = {expected}")
    if order.order_type == "presale":
        _validate_presale(order)


def _validate_presale(order: OrderPlaced) -> None:
    if order.deposit is None:
        raise OrderInvalid("presale order without its presale fields: `deposit` is required")
    if order.deposit <= 0:
        raise OrderInvalid(f"presale deposit must be positive, got {order.deposit}")
    if order.deposit > order.paid_amount:
        raise OrderInvalid(f"presale deposit {order.deposit} exceeds paid_amount {order.paid_amount}")
    if order.balance_paid_at is not None and order.balance_paid_at < order.paid_at:
        raise OrderInvalid("presale balance_paid_at is before paid_at: the final payment follows the deposit")


def lines_total(order: OrderPlaced) -> Decimal:
    return sum((line.unit_price * line.quantity for line in order.lines), Decimal("0.00"))


# ---------------------------------------------------------------------------------------------
# Priority (R2): decided once at acceptance, carried on order.accepted.

_RANK_ORIGIN = datetime(1, 1, 1, tzinfo=UTC)


def priority_class(order: OrderPlaced, policy: OrderPolicy) -> str:
    if order.order_type == "presale":
        return "presale"
    if order.paid_amount >= policy.high_value_threshold:
        return "high_value"
    return "standard"


def priority_rank(klass: str, paid_at: datetime, order_id: str) -> str:
    """Sortable as a plain string: class first, then earlier payment, then order id to break ties.

    Microseconds are counted from year 1 rather than 1970 so the number is never negative and the
    fixed-width field always sorts like the instant it encodes."""
    elapsed = paid_at.astimezone(UTC) - _RANK_ORIGIN
    micros = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
    return f"{PRIORITY_CLASSES.index(klass)}-{micros:018d}-{order_id}"


# ---------------------------------------------------------------------------------------------
# Re-sends (R3): the same content is harmless, different content is a conflict.


def order_content(order: OrderPlaced) -> dict[str, Any]:
    """The order as canonical JSON values: equal content gives equal dicts, however the
    sender formatted amounts ("49.9" vs "49.90") or time zones."""
    return order.model_dump(mode="json")


def content_json(order: OrderPlaced) -> str:
    """The order as the text stored with it: fields in the model's order, so equal content gives
    equal text (the contracts have no free-form dicts). Pydantic writes it in one call; json.dumps
    of `order_content` with sorted keys, as before, was 8% of the intake. Re-sends are compared as
    parsed values (`content_differences`), so rows stored the older way compare the same."""
    return order.model_dump_json()


def content_differences(accepted: dict[str, Any], resent: dict[str, Any]) -> list[str]:
    """What a re-send would change, one entry per top-level field, e.g. `paid_amount: 89.80 -> 9.80`.
    Empty when the re-send is the same order."""
    changes = []
    for name in sorted(set(accepted) | set(resent)):
        before, after = accepted.get(name), resent.get(name)
        if before != after:
            changes.append(f"{name}: {_short(before)} -> {_short(after)}")
    return changes


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
