"""What a deposit presale has paid, with no I/O (issue 29, R1, R23).

A deposit presale is accepted awaiting its balance (`order.accepted` with `balance_due_by`): its
`paid_amount` is the deposit alone, and refunds are bounded by that until `order.balance_received`
says the balance came, when what was paid becomes deposit + balance. The deposit counts
`expansion` times against the price, so deposit + balance is less than the lines after discounts:
refunds follow what the customer actually paid, not the price.

The two events come on one topic but a replayed or re-sent balance may still come first: it is
kept and applied when the order's details arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


class BalanceRefused(ValueError):
    """A balance that cannot be applied to the order as aftersales knows it; the message says why."""


@dataclass(frozen=True)
class Balance:
    """What order.balance_received says: the balance, and what was paid in all with it."""

    balance_amount: Decimal
    paid_amount: Decimal
    balance_paid_at: datetime


def paid_after_balance(order_id: str, deposit: Decimal, balance: Balance) -> Decimal:
    """Deposit + balance: what refunds are bounded by once the balance is paid. The event's
    `paid_amount` must say the same, to the cent; a disagreement is refused, so refunds are never
    bounded by a figure the two amounts do not support."""
    expected = deposit + balance.balance_amount
    if balance.paid_amount != expected:
        raise BalanceRefused(f"order {order_id}: paid_amount {balance.paid_amount} is not the deposit {deposit} "
                             f"plus the balance {balance.balance_amount} = {expected}")
    return expected


def check_awaits_balance(order_id: str, deposit: Decimal | None) -> Decimal:
    """The deposit of an order accepted awaiting its balance; an order that was not (a standard
    order, a presale paid in full at once) takes no balance."""
    if deposit is None:
        raise BalanceRefused(f"order {order_id} was not accepted awaiting a balance; a balance for it is ignored")
    return deposit


def deposit_of(paid_amount: Decimal, balance_due_by: datetime | None) -> Decimal | None:
    """An order accepted awaiting its balance has paid its deposit alone (`paid_amount`); None for
    any other order."""
    return paid_amount if balance_due_by is not None else None


def is_same_balance(kept: Balance, received: Balance) -> bool:
    """A second order.balance_received with the same content is a repeat; other content is a
    contradiction (the first stays)."""
    return kept == received
