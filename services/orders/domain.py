"""Order rules with no I/O: validation with a specific reason, and priority (R1-R3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.events import PRIORITY_CLASSES, OrderPlaced


class OrderInvalid(ValueError):
    """An order that must be rejected; the message is the reason given back to the platform."""


@dataclass(frozen=True)
class OrderPolicy:
    high_value_threshold: Decimal
    accepted_currencies: frozenset[str]


def validate_order(order: OrderPlaced, policy: OrderPolicy) -> None:
    """Business checks beyond the contract's shape. Raises OrderInvalid with the first reason."""
    if order.order_type not in ("standard", "presale"):
        raise OrderInvalid(f"unknown order_type {order.order_type!r}: expected 'standard' or 'presale'")
    if order.currency not in policy.accepted_currencies:
        raise OrderInvalid(f"currency {order.currency!r} is not accepted here "
                           f"(accepted: {', '.join(sorted(policy.accepted_currencies))})")
    for i, line in enumerate(order.lines):
        if line.quantity <= 0:
            raise OrderInvalid(f"lines.{i}.quantity must be positive, got {line.quantity}")
        if line.unit_price < 0:
            raise OrderInvalid(f"lines.{i}.unit_price must not be negative, got {line.unit_price}")
    if all(line.gift for line in order.lines):
        raise OrderInvalid("order has only gift lines: a gift comes with a purchase")
    if order.discount < 0:
        raise OrderInvalid(f"discount must not be negative, got {order.discount}")
    if order.paid_amount < 0:
        raise OrderInvalid(f"paid_amount must not be negative, got {order.paid_amount}")
    expected = lines_total(order) - order.discount
    if order.paid_amount != expected:
        raise OrderInvalid(f"paid_amount {order.paid_amount} does not equal lines total "
                           f"{lines_total(order)} minus discount {order.discount} = {expected}")
    if order.order_type == "presale" and order.deposit is None:
        raise OrderInvalid("presale order without its presale fields: `deposit` is required")


def lines_total(order: OrderPlaced) -> Decimal:
    return sum((line.unit_price * line.quantity for line in order.lines), Decimal("0.00"))


def priority_class(order: OrderPlaced, policy: OrderPolicy) -> str:
    if order.order_type == "presale":
        return "presale"
    if order.paid_amount >= policy.high_value_threshold:
        return "high_value"
    return "standard"


def priority_rank(klass: str, paid_at: datetime, order_id: str) -> str:
    """Sortable as a string: class first, then earlier payment, then order id to break ties."""
    micros = int(paid_at.timestamp() * 1_000_000)
    return f"{PRIORITY_CLASSES.index(klass)}-{micros:020d}-{order_id}"
