"""Aftersales rules with no I/O (R19, R20, R23): the seven-day window, what is still returnable,
the gift rule, the refund of what was actually paid. The case workflow is cases.py.

Vocabulary: a *purchase* is what aftersales keeps of an accepted order (lines, paid amount per
line, promotions, delivery time). *Kept* units are delivered units the customer still holds and
has not been refunded for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Protocol

from shared.money import CENT, allocate_pro_rata

RETURN_WINDOW = timedelta(hours=168)
"""R19: seven days, counted from delivery of the goods."""

ZERO = Decimal("0.00")


class GiftPolicy(StrEnum):
    """What happens to a gift when the paid item that brought it is returned (R20)."""

    RETURN_WITH_ITEM = "return_with_item"  # the gift comes back with its item; refund unchanged
    DEDUCT_VALUE = "deduct_value"  # the customer keeps the gift; its stated value is deducted


class Refusal(ValueError):
    """What the rules refuse; the message is the reason given back, `kind` names the rule (the
    API picks the status code by it)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class ReturnRefused(Refusal):
    """A return or exchange request, or a step of one, that cannot be accepted. Kinds:
    unknown_order | not_delivered | not_described | window_closed | closed | unknown_line |
    too_many | gift_rule."""


# ---------------------------------------------------------------------------------------------
# What aftersales keeps of an order


@dataclass(frozen=True)
class PurchasedLine:
    sku: str
    quantity: int
    unit_price: Decimal
    gift: bool = False
    gift_for_sku: str | None = None
    paid: Decimal = ZERO  # what was paid for the whole line after order discounts

    @property
    def list_value(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class SpendThreshold:
    """A spend-threshold promotion the order used, e.g. 200 off 30."""

    threshold: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Purchase:
    order_id: str
    lines: tuple[PurchasedLine, ...]
    paid_amount: Decimal
    thresholds: tuple[SpendThreshold, ...] = ()

    def line(self, sku: str) -> PurchasedLine | None:
        """Paid line first when a sku is listed twice (once paid, once as a gift)."""
        matches = [line for line in self.lines if line.sku == sku]
        return next((m for m in matches if not m.gift), matches[0] if matches else None)

    @property
    def paid_lines(self) -> tuple[PurchasedLine, ...]:
        return tuple(line for line in self.lines if not line.gift)


def paid_per_line(lines: Sequence[PurchasedLine], paid_amount: Decimal) -> list[Decimal]:
    """What was paid for each line after order-level discounts, summing exactly to `paid_amount`.

    Gift lines were not paid for. The effective discount (paid lines' list value minus what was
    paid) is spread over the paid lines in proportion to their list value, to the cent, by the
    largest-remainder method. A gift listed with a price and offset by its own discount is thus
    handled the same as a gift listed at 0.00.
    """
    paid_lines = [line for line in lines if not line.gift]
    list_total = sum((line.list_value for line in paid_lines), ZERO)
    discount = list_total - paid_amount
    if not paid_lines:
        raise ValueError("an order with only gift lines has nothing that was paid for")
    if discount < 0:
        raise ValueError(f"paid_amount {paid_amount} exceeds the list value {list_total} of the paid lines")
    shares = iter(allocate_pro_rata(discount, [line.list_value for line in paid_lines]))
    return [ZERO if line.gift else line.list_value - next(shares) for line in lines]


def with_paid_amounts(order_id: str, lines: Sequence[PurchasedLine], paid_amount: Decimal,
                      thresholds: Iterable[SpendThreshold] = ()) -> Purchase:
    paid = paid_per_line(lines, paid_amount)
    priced = tuple(PurchasedLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price, gift=line.gift,
                                 gift_for_sku=line.gift_for_sku, paid=amount)
                   for line, amount in zip(lines, paid))
    return Purchase(order_id=order_id, lines=priced, paid_amount=paid_amount, thresholds=tuple(thresholds))


def paid_for_units(line: PurchasedLine, units: int) -> Decimal:
    """What `units` of a line's units were paid: the line's paid amount split per unit to the cent
    (largest remainder). Returned units take the first shares, so kept units are the last ones and
    the refunds of a line, however it is returned in parts, add up to exactly what was paid."""
    shares = allocate_pro_rata(line.paid, [Decimal(1)] * line.quantity)
    return sum(shares[line.quantity - units:], ZERO) if units else ZERO


# ---------------------------------------------------------------------------------------------
# R19: the seven-day window


def return_window_closes_at(delivered_at: datetime) -> datetime:
    return delivered_at + RETURN_WINDOW


def within_return_window(delivered_at: datetime, now: datetime) -> bool:
    """Open until exactly 168 hours after delivery, inclusive."""
    return now - delivered_at <= RETURN_WINDOW


def check_window(order_id: str, delivered_at: datetime, now: datetime) -> None:
    if not within_return_window(delivered_at, now):
        raise ReturnRefused("window_closed", (
            f"the seven-day return window of order {order_id} closed at "
            f"{return_window_closes_at(delivered_at).isoformat()} (delivered {delivered_at.isoformat()}, R19)"))


class OrderFacts(Protocol):
    """What aftersales has heard of an order: its details (`order.accepted`) and its delivery,
    which arrive on two topics in either order."""

    accepted: bool
    delivered_at: datetime | None


def check_returnable(order_id: str, facts: OrderFacts | None) -> datetime:
    """The delivery time, once a return can be asked for: both halves are known."""
    if facts is None:
        raise ReturnRefused("unknown_order", f"order {order_id} is not known to aftersales")
    if facts.delivered_at is None:
        raise ReturnRefused("not_delivered", f"order {order_id} has not been delivered yet; "
                                             "returns open when the goods arrive (R19)")
    if not facts.accepted:
        raise ReturnRefused("not_described", f"order {order_id} was delivered but its order details have "
                                             "not reached aftersales yet; try again shortly")
    return facts.delivered_at


def check_described(order_id: str, facts: OrderFacts | None) -> None:
    """A refund needs the order's details (what was paid), not its delivery."""
    if facts is None or not facts.accepted:
        raise ReturnRefused("unknown_order", f"order {order_id} is not known to aftersales")


def is_first_delivery(known: datetime | None, delivered_at: datetime) -> bool:
    """The window runs from the first delivery; a later one (a replacement) does not reopen it."""
    return known is None or delivered_at < known


# ---------------------------------------------------------------------------------------------
# Quantities


@dataclass(frozen=True)
class OrderHoldings:
    """Per sku: how many units are delivered, refunded, and in cases still being handled."""

    refunded: Mapping[str, int] = field(default_factory=dict)
    in_open_cases: Mapping[str, int] = field(default_factory=dict)

    def returnable(self, line: PurchasedLine) -> int:
        return line.quantity - self.refunded.get(line.sku, 0) - self.in_open_cases.get(line.sku, 0)

    def kept(self, line: PurchasedLine) -> int:
        """Units the customer holds and was not refunded for (open cases are not decided yet)."""
        return line.quantity - self.refunded.get(line.sku, 0)


Quantities = dict[str, int]


def _merge(requested: Iterable[tuple[str, int]]) -> Quantities:
    merged: Quantities = {}
    for sku, quantity in requested:
        if quantity <= 0:
            raise ReturnRefused("too_many", f"quantity of {sku} must be positive, got {quantity}")
        merged[sku] = merged.get(sku, 0) + quantity
    return merged


def _gift_follows(purchase: Purchase, gift: PurchasedLine, remaining: Mapping[str, int]) -> bool:
    """A gift has lost its reason once none of the units that brought it remain with the customer:
    its own item when `gift_for_sku` names one, otherwise every paid line of the order."""
    if gift.gift_for_sku is not None and any(line.sku == gift.gift_for_sku for line in purchase.paid_lines):
        return remaining.get(gift.gift_for_sku, 0) == 0
    return all(remaining.get(line.sku, 0) == 0 for line in purchase.paid_lines)


def plan_request(purchase: Purchase, holdings: OrderHoldings, kind: str, requested: Iterable[tuple[str, int]],
                 policy: GiftPolicy) -> list[tuple[PurchasedLine, int, bool]]:
    """Check a return or exchange request against what is returnable and the gift rule (R20).

    Returns the case lines as (line, quantity, added_by_gift_rule). With the return_with_item
    policy, a return that takes back the last units of a gift's item brings the gift along.
    Raises ReturnRefused with the reason.
    """
    wanted = _merge(requested)
    if not wanted:
        raise ReturnRefused("unknown_line", "a request needs at least one line")
    lines: list[tuple[PurchasedLine, int, bool]] = []
    for sku, quantity in wanted.items():
        line = purchase.line(sku)
        if line is None:
            raise ReturnRefused("unknown_line", f"order {purchase.order_id} has no line {sku}")
        left = holdings.returnable(line)
        if quantity > left:
            raise ReturnRefused("too_many", (
                f"only {left} of {sku} can still be returned ({line.quantity} delivered, "
                f"{holdings.refunded.get(sku, 0)} refunded, {holdings.in_open_cases.get(sku, 0)} in open cases); "
                f"asked for {quantity}"))
        lines.append((line, quantity, False))
    if all(line.gift for line, _, _ in lines):
        raise ReturnRefused("gift_rule", "a free gift cannot be returned or exchanged on its own (R20)")
    # What the customer would still hold (and not be returning) once this request goes through.
    remaining = {line.sku: holdings.returnable(line) - wanted.get(line.sku, 0) for line in purchase.paid_lines}
    for line, _, _ in lines:
        if not line.gift:
            continue
        if kind == "exchange":
            raise ReturnRefused("gift_rule", f"{line.sku} is a free gift: gifts are not exchanged (R20)")
        if not _gift_follows(purchase, line, remaining):
            brought_by = line.gift_for_sku or "the order's paid items"
            raise ReturnRefused("gift_rule", f"{line.sku} is a free gift that came with {brought_by}; "
                                             "it can only come back with all of them (R20)")
    if kind == "return" and policy is GiftPolicy.RETURN_WITH_ITEM:
        for gift in purchase.lines:
            if gift.gift and gift.sku not in wanted and _gift_follows(purchase, gift, remaining):
                left = holdings.returnable(gift)
                if left > 0:
                    lines.append((gift, left, True))
    return lines


# ---------------------------------------------------------------------------------------------
# R23: refunds follow what was paid


def owed_for_kept(purchase: Purchase, kept: Mapping[str, int]) -> Decimal:
    """What the customer owes for the units they keep.

    - the paid share of the kept units (after discounts);
    - plus, for each spend-threshold promotion the order qualified for but whose threshold the
      kept units no longer reach (list value), the share of its discount the kept units carry:
      amount x kept list value / ordered list value, to the cent. That discount was given for a
      basket the customer no longer buys;
    - plus the stated value (unit price) of gifts kept after the units that brought them are gone
      (the deduct_value gift policy; with return_with_item such gifts come back in the case).
    """
    owed = sum((paid_for_units(line, kept.get(line.sku, 0)) for line in purchase.paid_lines), ZERO)
    ordered_list = sum((line.list_value for line in purchase.paid_lines), ZERO)
    kept_list = sum((line.unit_price * kept.get(line.sku, 0) for line in purchase.paid_lines), ZERO)
    for promotion in purchase.thresholds:
        if kept_list > 0 and ordered_list >= promotion.threshold > kept_list:
            owed += (promotion.amount * kept_list / ordered_list).quantize(CENT, rounding=ROUND_HALF_UP)
    for gift in purchase.lines:
        if gift.gift and kept.get(gift.sku, 0) > 0 and _gift_follows(purchase, gift, kept):
            owed += gift.unit_price * kept[gift.sku]
    return owed


def refund_amount(purchase: Purchase, holdings: OrderHoldings, refunded_so_far: Decimal,
                  returning: Mapping[str, int]) -> Decimal:
    """The refund for taking back `returning` units: what the customer has paid net of earlier
    refunds, minus what they owe for what they keep afterwards. Without promotion or gift effects
    this is exactly the paid share of the returned units; never negative."""
    kept_after = {line.sku: holdings.kept(line) - returning.get(line.sku, 0) for line in purchase.lines}
    net_paid = purchase.paid_amount - refunded_so_far
    return max(ZERO, net_paid - owed_for_kept(purchase, kept_after))


PlannedLines = list[tuple[PurchasedLine, int, bool]]


def preview_refund(purchase: Purchase, holdings: OrderHoldings, refunded_so_far: Decimal,
                   wanted: Iterable[tuple[str, int]], policy: GiftPolicy) -> tuple[PlannedLines, Decimal]:
    """The lines a return of `wanted` would take (gift rule applied) and what it would refund now."""
    planned = plan_request(purchase, holdings, "return", wanted, policy)
    returning: dict[str, int] = {}
    for line, quantity, _ in planned:
        returning[line.sku] = returning.get(line.sku, 0) + quantity
    return planned, refund_amount(purchase, holdings, refunded_so_far, returning)
