"""The rule that recomputes an order's discount from the event's promotion catalogue (R5; the
catalogue's models are in promotion_catalogue.py). No I/O: what lives in the database (the
customer's earlier first-order coupons, the units a first-N-half-price offer has sold so far)
comes in as a `Ledger`; usecases/promotions.py loads it and records what an accepted order used.

How the amounts combine (docs/orders.md, "Promotions"):
1. Item discounts, on the paid (non-gift) lines at their listed prices. A unit takes at most one:
   first-N-half-price first (the sku's first units in line order, as many as the event's quota
   has left), then tiered discounts on the units left.
2. Order discounts, each checked against the base = paid lines less the item discounts: the best
   spend threshold the base reaches, the returning-customer threshold (an order that is not a
   first order), the first-order coupon (a first order, once per customer). Applied in that order,
   each takes at most what is still left to pay, so nothing is ever paid below zero.
3. Gifts: a gift line must be covered by a gift-with-purchase promotion the order earned; that
   promotion's amount is the value the gift lines it covers are listed at (0.00 for gifts listed
   free), so a gift never changes what is paid.
Each promotion's amount is rounded once, to the cent, half up; the order's `discount` is their sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.orders.domain import OrderInvalid
from services.orders.promotion_catalogue import (ZERO, Catalogue, FirstOrderCoupon, FirstUnitsHalfPrice,
                                                 GiftWithPurchase, TieredDiscount)
from shared.contract_types import char_name
from shared.events import OrderLine, OrderPlaced, Promotion
from shared.money import CENT

HALF = Decimal("0.5")


class PromotionInvalid(OrderInvalid):
    """An order whose promotions do not match the catalogue: rejected like any invalid order."""


# ---------------------------------------------------------------------------------------------
# Checking an order


@dataclass(frozen=True)
class Ledger:
    """What the database knows for one order: `coupon_uses` first-order coupon code -> the order
    that used it for this customer; `half_price_sold` code -> units sold at half price so far."""

    coupon_uses: Mapping[str, str] = field(default_factory=dict)
    half_price_sold: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    code: str
    kind: str
    amount: Decimal  # what the catalogue gives this order
    note: str = ""  # why it is less than the promotion's face value, for the reason


@dataclass(frozen=True)
class Evaluation:
    applied: tuple[Applied, ...]
    coupons: tuple[str, ...] = ()
    """First-order coupon codes this order uses (recorded once per customer)."""
    half_price_units: Mapping[str, int] = field(default_factory=dict)
    """Units this order takes from each first-N-half-price quota."""
    uncovered_gift: str = ""
    """Why a gift line is not earned ('' when every gift is)."""

    @property
    def total(self) -> Decimal:
        return sum((a.amount for a in self.applied), ZERO)


def needs_check(order: OrderPlaced) -> bool:
    """An order with no promotion, no discount and no gift line has nothing to check."""
    return bool(order.promotions) or order.discount > 0 or any(line.gift for line in order.lines)


def codes_to_look_up(order: OrderPlaced, catalogue: Catalogue) -> tuple[list[str], list[str]]:
    """(first-order coupon codes, first-N-half-price codes) the order names: the ledger to load."""
    named = [catalogue.get(p.code) for p in order.promotions if p.code is not None]
    return ([e.code for e in named if isinstance(e, FirstOrderCoupon)],
            [e.code for e in named if isinstance(e, FirstUnitsHalfPrice)])


def check(order: OrderPlaced, catalogue: Catalogue, ledger: Ledger) -> Evaluation:
    """Recompute every promotion the order names; raise PromotionInvalid with the first reason:
    a discount without promotions, a code the catalogue does not have (or of another kind, or
    named twice), a reused first-order coupon, an amount other than the catalogue's, an unearned
    gift, a discount other than the sum. Returns what to record for an accepted order."""
    if not order.promotions and order.discount > 0:
        raise PromotionInvalid(f"discount {order.discount:.2f} but the order names no promotion: every discount "
                               "comes from the event's catalogue (GET /promotions)")
    evaluation = evaluate(order, catalogue, ledger)
    for promotion, applied in zip(order.promotions, evaluation.applied):
        if promotion.amount != applied.amount:
            raise PromotionInvalid(f"promotion {applied.code}: expected discount {applied.amount:.2f}, the order "
                                   f"says {promotion.amount:.2f}" + (f" ({applied.note})" if applied.note else ""))
    if evaluation.uncovered_gift:
        raise PromotionInvalid(evaluation.uncovered_gift)
    if order.discount != evaluation.total:
        raise PromotionInvalid(f"discount {order.discount:.2f} is not the sum of the order's promotions, "
                               f"{evaluation.total:.2f}")
    return evaluation


def evaluate(order: OrderPlaced, catalogue: Catalogue, ledger: Ledger) -> Evaluation:
    """What each promotion the order names gives it by the catalogue (in the order's own order),
    whatever amounts the order claims."""
    entries = _named_entries(order, catalogue, ledger)
    paid = [(i, line) for i, line in enumerate(order.lines) if not line.gift]
    amounts: dict[str, Applied] = {}
    taken: dict[int, int] = {}  # line index -> units at half price
    half_units: dict[str, int] = {}
    for entry in entries:
        if isinstance(entry, FirstUnitsHalfPrice):
            amounts[entry.code], half_units[entry.code] = _half_price(entry, paid, taken, ledger)
    tiered_by_line: dict[int, str] = {}
    for entry in entries:
        if isinstance(entry, TieredDiscount):
            amounts[entry.code] = _tiered(entry, paid, taken, tiered_by_line)
    base = sum((line.unit_price * line.quantity for _, line in paid), ZERO) - sum(
        (a.amount for a in amounts.values()), ZERO)
    left = base
    for kind in ("spend_threshold", "returning_customer_threshold", "first_order_coupon"):
        for entry in entries:
            if entry.kind == kind:
                face, note = _order_discount(entry, catalogue, base, order.first_order)
                amounts[entry.code] = _capped(entry, face, note, left)
                left -= amounts[entry.code].amount
    covered: dict[int, int] = {}
    for entry in entries:
        if isinstance(entry, GiftWithPurchase):
            amounts[entry.code] = _gift(entry, order.lines, paid, covered)
    return Evaluation(applied=tuple(amounts[e.code] for e in entries),
                      coupons=tuple(e.code for e in entries if isinstance(e, FirstOrderCoupon)),
                      half_price_units=half_units,
                      uncovered_gift=_uncovered_gift(order.lines, covered, entries, paid))


def _named_entries(order: OrderPlaced, catalogue: Catalogue, ledger: Ledger) -> list[Any]:
    entries: list[Any] = []
    for i, promotion in enumerate(order.promotions):
        entry = _entry_for(i, promotion, catalogue)
        if any(e.code == entry.code for e in entries):
            raise PromotionInvalid(f"promotion {entry.code} is named twice")
        if promotion.threshold is not None and promotion.threshold != getattr(entry, "threshold", promotion.threshold):
            raise PromotionInvalid(f"promotion {entry.code}: the catalogue's threshold is {entry.threshold:.2f}, "
                                   f"the order says {promotion.threshold:.2f}")
        if isinstance(entry, FirstOrderCoupon) and entry.code in ledger.coupon_uses:
            raise PromotionInvalid(f"promotion {entry.code}: first-order coupon already used by customer "
                                   f"{order.customer_id} (order {ledger.coupon_uses[entry.code]}); once per customer")
        entries.append(entry)
    for kind in ("spend_threshold", "returning_customer_threshold", "first_order_coupon"):
        same = [e.code for e in entries if e.kind == kind]
        if len(same) > 1:
            raise PromotionInvalid(f"the order names {len(same)} promotions of kind {kind} ({', '.join(same)}): "
                                   "an order takes one")
    return entries


def _entry_for(i: int, promotion: Promotion, catalogue: Catalogue) -> Any:
    if promotion.code is None:
        raise PromotionInvalid(f"promotions.{i} ({promotion.kind}) has no code: name the catalogue's code")
    entry = catalogue.get(promotion.code)
    if entry is None:
        raise PromotionInvalid(f"promotion {promotion.code} is not in the event's catalogue"
                               + _look_alike(promotion.code))
    if entry.kind != promotion.kind:
        raise PromotionInvalid(f"promotion {entry.code} is a {entry.kind} in the catalogue, the order says "
                               f"{promotion.kind}")
    return entry


def _look_alike(code: str) -> str:
    odd = next(((i, c) for i, c in enumerate(code) if not c.isascii()), None)
    return "" if odd is None else f" (it has {char_name(odd[1])} at position {odd[0]}: codes are ASCII)"


def _half_price(entry: FirstUnitsHalfPrice, paid: list[tuple[int, OrderLine]], taken: dict[int, int],
                ledger: Ledger) -> tuple[Applied, int]:
    left = max(0, entry.units - ledger.half_price_sold.get(entry.code, 0))
    value, units = ZERO, 0
    for i, line in paid:
        if line.sku == entry.sku and units < left:
            taken[i] = min(line.quantity, left - units)
            units += taken[i]
            value += line.unit_price * taken[i]
    wanted = sum(line.quantity for _, line in paid if line.sku == entry.sku)
    note = "" if units == wanted else (f"{units} of the order's {wanted} x {entry.sku} are within the first "
                                       f"{entry.units} ({entry.units - left} sold before)")
    return Applied(entry.code, entry.kind, _cents(value * HALF), note), units


def _tiered(entry: TieredDiscount, paid: list[tuple[int, OrderLine]], taken: dict[int, int],
            tiered_by_line: dict[int, str]) -> Applied:
    count, value = 0, ZERO
    for i, line in paid:
        if entry.skus is None or line.sku in entry.skus:
            if i in tiered_by_line:
                raise PromotionInvalid(f"{line.sku} is in two tiered discounts of the order ({tiered_by_line[i]}, "
                                       f"{entry.code}): a unit takes one item discount")
            tiered_by_line[i] = entry.code
            units = line.quantity - taken.get(i, 0)
            count += units
            value += line.unit_price * units
    if count < entry.min_items:
        return Applied(entry.code, entry.kind, ZERO, f"it needs {entry.min_items} items, the order has {count}"
                       + (" not already at half price" if taken else ""))
    return Applied(entry.code, entry.kind, _cents(value * entry.percent / 100))


def _order_discount(entry: Any, catalogue: Catalogue, base: Decimal, first_order: bool) -> tuple[Decimal, str]:
    """The face value of an order discount for this base, and why it is nothing when it is."""
    if isinstance(entry, FirstOrderCoupon) and not first_order:
        return ZERO, "a first-order coupon, and this is not the customer's first order (first_order is false)"
    if entry.kind == "returning_customer_threshold" and first_order:
        return ZERO, "for returning customers, and this is the customer's first order (first_order is true)"
    if base < entry.threshold:
        return ZERO, f"the paid lines come to {base:.2f} after item discounts, under its threshold {entry.threshold:.2f}"
    if isinstance(entry, FirstOrderCoupon):
        return entry.amount, ""
    # The entry itself is reached, so there is a best one; one of the same amount is as good.
    best = max((e for e in catalogue.of_kind(entry.kind) if base >= e.threshold), key=lambda e: e.amount)
    if best.amount > entry.amount:
        return ZERO, (f"{best.code} ({best.threshold:.2f} off {best.amount:.2f}) is the best {entry.kind} the "
                      f"order reaches, at {base:.2f} after item discounts")
    return entry.amount, ""


def _capped(entry: Any, face: Decimal, note: str, left: Decimal) -> Applied:
    if face > left:
        return Applied(entry.code, entry.kind, left, f"capped at the {left:.2f} left to pay")
    return Applied(entry.code, entry.kind, face, note)


def _gift(entry: GiftWithPurchase, lines: list[OrderLine], paid: list[tuple[int, OrderLine]],
          covered: dict[int, int]) -> Applied:
    units, value = _trigger(entry, paid)
    if not _earned(entry, units, value):
        return Applied(entry.code, entry.kind, ZERO, _gift_needs(entry, units, value))
    room, amount = entry.gift_quantity, ZERO
    for i, line in enumerate(lines):
        if line.gift and line.sku == entry.gift_sku:  # (a unit covered by an earlier offer is not taken again)
            units_here = min(line.quantity - covered.get(i, 0), room)
            covered[i] = covered.get(i, 0) + units_here
            room -= units_here
            amount += line.unit_price * units_here
    return Applied(entry.code, entry.kind, amount)


def _gift_needs(entry: GiftWithPurchase, units: int, value: Decimal) -> str:
    what = entry.trigger_sku or "paid items"
    need = f"{entry.code} needs {entry.min_quantity} x {what}"
    if entry.min_amount > 0:
        need += f" worth {entry.min_amount:.2f}"
    return f"{need}; the order has {units}" + (f" worth {value:.2f}" if entry.min_amount > 0 else "")


def _uncovered_gift(lines: list[OrderLine], covered: dict[int, int], entries: list[Any],
                    paid: list[tuple[int, OrderLine]]) -> str:
    for i, line in enumerate(lines):
        if line.gift and covered.get(i, 0) < line.quantity:
            reason = (f"gift line lines.{i} ({line.sku} x{line.quantity}) was not earned by a gift-with-purchase "
                      "promotion of this order")
            offers = [e for e in entries if isinstance(e, GiftWithPurchase) and e.gift_sku == line.sku]
            unmet = [_gift_needs(e, *_trigger(e, paid)) for e in offers if not _earned(e, *_trigger(e, paid))]
            if unmet:
                return f"{reason} ({'; '.join(unmet)})"
            if offers:
                return f"{reason} (its offers give {sum(e.gift_quantity for e in offers)} in all)"
            return reason
    return ""


def _earned(entry: GiftWithPurchase, units: int, value: Decimal) -> bool:
    return units >= entry.min_quantity and value >= entry.min_amount


def _trigger(entry: GiftWithPurchase, paid: list[tuple[int, OrderLine]]) -> tuple[int, Decimal]:
    trigger = [line for _, line in paid if entry.trigger_sku is None or line.sku == entry.trigger_sku]
    return sum(line.quantity for line in trigger), sum((line.unit_price * line.quantity for line in trigger), ZERO)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
