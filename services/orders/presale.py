"""Deposit presale (定金预售) rules with no I/O (R1): what a deposit is worth against the price, the
balance it leaves, the window it must be paid in, and what a balance payment does to the order.

A deposit presale is paid twice. First the deposit: an `order.placed` of type presale with
`deposit` set, no `balance_paid_at`, and `paid_amount` equal to the deposit. The deposit counts
`expansion` times against the price ("deposit expansion": 50 paid takes 100 off with the default
2), per sku where the event's configuration says so. Then the balance: `order.balance_paid`
(or POST /orders/{id}/balance) with exactly `price - deposit x expansion`, where the price is
the lines less the discount, paid by the end of the balance window. Between the two the order
is `awaiting_balance`; a balance not paid in time closes it `balance_unpaid`.

The terms (expansion, window end, grace) are fixed when the deposit is accepted: configuration
changed later applies to later deposits only, so a customer is never asked for another balance
than the one their deposit promised.

This module needs nothing from domain.py (which builds on it); the use cases combine the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

CENT = Decimal("0.01")

AWAITING_BALANCE = "awaiting_balance"
"""A deposit presale accepted, its balance not paid yet: stock held as presale quota, never picked."""
BALANCE_UNPAID = "balance_unpaid"
"""Closed: the balance was not paid by the end of the window. Its stock is released."""

MAX_EXPANSION = Decimal("100")


@dataclass(frozen=True)
class PresaleTerms:
    """The event's deposit-presale configuration (settings ORDERS_PRESALE_*)."""

    expansion: Decimal = Decimal("2")
    expansion_by_sku: Mapping[str, Decimal] = field(default_factory=dict, hash=False)
    balance_due_by: datetime | None = None
    """The end of the balance window for every deposit, e.g. the event's first day's end."""
    balance_window: timedelta = timedelta(hours=72)
    """Without `balance_due_by`: the window ends this long after the deposit's `paid_at`."""
    grace: timedelta = timedelta(minutes=5)
    """A balance paid by the window's end is still taken if it arrives this much later (it was in
    flight); only after that are unpaid orders closed."""

    def __post_init__(self) -> None:
        for sku, expansion in {"default": self.expansion, **self.expansion_by_sku}.items():
            check_expansion(expansion, sku)
        if self.balance_due_by is not None and self.balance_due_by.utcoffset() is None:
            raise ValueError("the balance window's end must carry its UTC offset")
        if self.balance_window <= timedelta(0) or self.grace < timedelta(0):
            raise ValueError("the balance window must be positive and the grace not negative")


def check_expansion(expansion: Decimal, sku: str = "default") -> None:
    """An expansion is 1 to 100 (a deposit is worth at least itself), to the hundredth."""
    if not (expansion.is_finite() and 1 <= expansion <= MAX_EXPANSION and expansion == expansion.quantize(CENT)):
        raise ValueError(f"deposit expansion for {sku} must be 1 to {MAX_EXPANSION} with at most two decimals, "
                         f"got {expansion}")


class DepositRefused(ValueError):
    """A deposit order that must be rejected; the message is the reason."""


@dataclass(frozen=True)
class BalanceDue:
    """What a deposit order leaves to pay, decided when the deposit is accepted."""

    price: Decimal  # lines less discount
    expansion: Decimal
    deposit_value: Decimal  # deposit x expansion, to the cent
    balance: Decimal  # price - deposit_value: exactly what the balance must be
    due_by: datetime
    closes_at: datetime  # due_by + grace: no balance is taken after this, and the order closes


def pays_deposit(order: Any) -> bool:
    """A presale order that may be the deposit of a two-phase presale: a deposit and no final
    payment yet. Whether it is one depends on what it paid (domain.deposit_due): the full price
    means today's one-phase presale."""
    return order.order_type == "presale" and order.deposit is not None and order.balance_paid_at is None


def expansion_for(lines: Any, terms: PresaleTerms) -> Decimal:
    """The expansion of an order's deposit: its paid lines' skus' (gift lines do not count). Lines
    whose skus the configuration expands differently make the deposit's worth ambiguous: refused."""
    found = {line.sku: terms.expansion_by_sku.get(line.sku, terms.expansion) for line in lines if not line.gift}
    distinct = set(found.values())
    if len(distinct) > 1:
        listed = ", ".join(f"{sku} x{value}" for sku, value in sorted(found.items()))
        raise DepositRefused(f"the order's lines have different deposit expansions ({listed}): a deposit "
                             "presale's paid lines must share one")
    return distinct.pop() if distinct else terms.expansion


def deposit_value(deposit: Decimal, expansion: Decimal) -> Decimal:
    """What the deposit takes off the price: deposit x expansion, half a cent rounded up."""
    return (deposit * expansion).quantize(CENT, rounding=ROUND_HALF_UP)


def balance_due(order: Any, terms: PresaleTerms, lines_total: Decimal) -> BalanceDue:
    """The balance a deposit order leaves (`pays_deposit(order)` and not paid in full). Raises
    DepositRefused with the first reason it cannot be taken as a deposit."""
    deposit, price = order.deposit, lines_total - order.discount
    if deposit <= 0:
        raise DepositRefused(f"presale deposit must be positive, got {deposit}")
    if order.paid_amount != deposit:
        raise DepositRefused(
            f"paid_amount {order.paid_amount} is neither the full price {price} (lines total {lines_total} minus "
            f"discount {order.discount}) nor the deposit {deposit}: a deposit order pays exactly its deposit")
    expansion = expansion_for(order.lines, terms)
    value = deposit_value(deposit, expansion)
    if value > price:
        raise DepositRefused(
            f"deposit {deposit} x expansion {expansion} = {value} is worth more than the price {price} (lines total "
            f"{lines_total} minus discount {order.discount}): the deposit may cover the price at most")
    due_by = terms.balance_due_by if terms.balance_due_by is not None else order.paid_at + terms.balance_window
    if order.paid_at > due_by:
        raise DepositRefused(f"deposit paid at {order.paid_at.isoformat()}, after the balance window closed at "
                             f"{due_by.isoformat()}")
    return BalanceDue(price=price, expansion=expansion, deposit_value=value, balance=price - value, due_by=due_by,
                      closes_at=due_by + terms.grace)


# ---------------------------------------------------------------------------------------------
# The balance payment


@dataclass(frozen=True)
class DepositFacts:
    """A deposit order as stored when its deposit was accepted, and its balance once received."""

    deposit: Decimal
    deposit_paid_at: datetime
    price: Decimal
    expansion: Decimal
    deposit_value: Decimal
    balance_due: Decimal
    due_by: datetime
    closes_at: datetime
    balance_amount: Decimal | None = None
    balance_paid_at: datetime | None = None


Refusal = Literal["", "unknown", "not_deposit", "state", "late", "invalid", "amount"]
"""Why a balance was refused: `unknown` order, `not_deposit` (standard, or a presale paid in
full), `state` (not awaiting a balance, or another balance already received), `late` (after the
window: the order closes), `invalid` (paid before the deposit), `amount` (not the balance due)."""


@dataclass(frozen=True)
class BalanceDecision:
    outcome: Literal["receive", "duplicate", "refuse"]
    refusal: Refusal = ""
    reason: str = ""

    @property
    def closes_order(self) -> bool:
        """A late balance closes an order still awaiting one (`balance_unpaid`)."""
        return self.refusal == "late"


def decide_balance(order_id: str, status: str, facts: DepositFacts | None, *, amount: Decimal, paid_at: datetime,
                   now: datetime, order_type: str = "presale") -> BalanceDecision:
    """What a balance payment of `amount` made at `paid_at`, received `now`, does to the order in
    `status` (`facts`: None when it is not a deposit presale). The first reason wins."""
    if facts is None:
        what = "a standard order" if order_type != "presale" else "a presale paid in full"
        return _refuse("not_deposit", f"order {order_id} is {what}, not a deposit presale: it has no balance to pay")
    if facts.balance_paid_at is not None:
        if amount == facts.balance_amount and paid_at == facts.balance_paid_at:
            return BalanceDecision("duplicate")
        return _refuse("state", f"the balance of order {order_id} was already received ({facts.balance_amount} paid "
                                f"at {facts.balance_paid_at.isoformat()}): this one ({amount} paid at "
                                f"{paid_at.isoformat()}) is refused")
    if status == BALANCE_UNPAID:
        return _refuse("state", f"order {order_id} is closed balance_unpaid: its balance window closed at "
                                f"{facts.due_by.isoformat()}")
    if status != AWAITING_BALANCE:
        return _refuse("state", f"order {order_id} is {status}, not awaiting its balance")
    if paid_at > facts.due_by:
        return _refuse("late", f"balance of order {order_id} paid at {paid_at.isoformat()}, after its window closed "
                               f"at {facts.due_by.isoformat()}: the order is closed balance_unpaid")
    if now > facts.closes_at:
        return _refuse("late", f"balance of order {order_id} received at {now.isoformat()}, after its window closed at "
                               f"{facts.due_by.isoformat()} (payments in flight taken until "
                               f"{facts.closes_at.isoformat()}): the order is closed balance_unpaid")
    if paid_at < facts.deposit_paid_at:
        return _refuse("invalid", f"balance of order {order_id} paid at {paid_at.isoformat()}, before its deposit "
                                  f"({facts.deposit_paid_at.isoformat()})")
    if amount != facts.balance_due:
        return _refuse("amount", f"balance_amount {amount} is not the balance due for order {order_id}: price "
                                 f"{facts.price} minus deposit {facts.deposit} x expansion {facts.expansion} "
                                 f"({facts.deposit_value}) = {facts.balance_due}")
    return BalanceDecision("receive")


def _refuse(refusal: Refusal, reason: str) -> BalanceDecision:
    return BalanceDecision("refuse", refusal, reason)


def is_overdue(status: str, closes_at: datetime, now: datetime) -> bool:
    """Whether the window job closes the order now: still awaiting its balance, and past the
    window's end and its grace (strictly: a balance received at `closes_at` is still taken)."""
    return status == AWAITING_BALANCE and now > closes_at


def forfeit_reason(due_by: datetime) -> str:
    """What order.cancelled says when the window closes."""
    return f"balance not paid by {due_by.isoformat()}"
