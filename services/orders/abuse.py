"""The abuse guard (R6): rules as data, pure decisions, each explained in words with its figures.

The rules are a JSON document (`AbuseRules`): the file named by `ORDERS_ABUSE_RULES_FILE` at
start-up (services/orders/abuse_rules.json by default), or what an admin PUT on /abuse-rules
(kept in the database, so every instance applies the same rules). Each rule is optional; a rule
left out is off:

- `purchase_limits`: flash-sale skus a customer may buy at most `limit` units of, across all of
  their orders (cancelled ones excepted) placed since the sale's start (`since`).
- `customer_orders`: at most `max_orders` orders from one customer within `minutes`.
- `address_orders`: at most `max_orders` orders to one delivery address within `minutes`.
- `address_customers`: at most `max_customers` different customers ordering to one delivery
  address within `minutes`.
- `threshold_returns`: an order whose goods value is just over a spend threshold (at or above it
  by at most `margin`), from a customer of whom at least `min_returned` earlier such orders were
  returned within `returned_within_hours` of being placed (coupon abuse: buy to reach the
  threshold, return the filler).

Counts include the order being screened ("6 orders within 10 minutes, this one included"), and
a rule flags only what goes beyond its figure: `limit` units, or `max_orders` orders, are
allowed. A window of N minutes holds what was placed at or after `now - N minutes`.

Nothing here reads the database: the use case (usecases/holds.py) asks the store for the
`History` that `questions` names, and `screen` decides.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from shared.contract_types import MAX_SKU_UNITS_PER_ORDER, Sku
from shared.envelope import UtcDatetime
from shared.events import OrderPlaced
from shared.money import Amount

PURCHASE_LIMIT = "purchase_limit"
CUSTOMER_ORDERS = "customer_orders"
ADDRESS_ORDERS = "address_orders"
ADDRESS_CUSTOMERS = "address_customers"
THRESHOLD_RETURN = "threshold_return"
RULES = (PURCHASE_LIMIT, CUSTOMER_ORDERS, ADDRESS_ORDERS, ADDRESS_CUSTOMERS, THRESHOLD_RETURN)
"""The rule names an `order.held` carries, in the order they are checked."""

MAX_WINDOW_MINUTES = 60 * 24 * 90
"""Windows reach back at most 90 days: an event, its warm-up and its returns."""


# ---------------------------------------------------------------------------------------------
# The rules document (the file and PUT /abuse-rules)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PurchaseLimit(_Rule):
    sku: Sku = Field(examples=["SKU-PHONE-01"])
    limit: int = Field(ge=1, le=MAX_SKU_UNITS_PER_ORDER, description="Units one customer may buy in all.")
    since: UtcDatetime | None = Field(default=None, description="The flash sale's start: orders before it do "
                                                                "not count (all orders when absent).")


class OrderBurst(_Rule):
    max_orders: int = Field(ge=1, le=1_000_000, description="Orders allowed within the window.")
    minutes: int = Field(ge=1, le=MAX_WINDOW_MINUTES)


class SharedAddress(_Rule):
    max_customers: int = Field(ge=1, le=1_000_000, description="Different customers allowed at one address.")
    minutes: int = Field(ge=1, le=MAX_WINDOW_MINUTES)


class ThresholdReturns(_Rule):
    thresholds: list[Amount] = Field(max_length=50, description="The event's spend thresholds, e.g. 100 and 200.")
    margin: Amount = Field(description="How far over a threshold still counts as just over it.")
    returned_within_hours: int = Field(ge=1, le=MAX_WINDOW_MINUTES // 60,
                                       description="A return requested this soon after the order counts.")
    min_returned: int = Field(default=1, ge=1, le=1000,
                              description="Earlier such orders returned that make the next one a hold.")


class AbuseRules(_Rule):
    """The whole rule set; every rule is optional and a missing one is off."""

    purchase_limits: list[PurchaseLimit] = Field(default_factory=list, max_length=1000)
    customer_orders: OrderBurst | None = None
    address_orders: OrderBurst | None = None
    address_customers: SharedAddress | None = None
    threshold_returns: ThresholdReturns | None = None

    _limits: dict[str, PurchaseLimit] = PrivateAttr(default_factory=dict)
    _limits_of: list[PurchaseLimit] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_limit_per_sku(self) -> AbuseRules:
        limits = {limit.sku: limit for limit in self.purchase_limits}
        if len(limits) < len(self.purchase_limits):
            skus = [limit.sku for limit in self.purchase_limits]
            twice = sorted({sku for sku in skus if skus.count(sku) > 1})
            raise ValueError(f"purchase_limits names {', '.join(twice)} more than once: one limit per sku")
        self._limits, self._limits_of = limits, self.purchase_limits  # looked up per order line
        return self

    def limit_of(self, sku: str) -> PurchaseLimit | None:
        if not self.purchase_limits:
            # No flash sale (the shipped rules), yet every order asks twice: the private
            # attributes below go through pydantic's __getattr__, which raises and catches an
            # AttributeError each time (-2.3% instructions an order; docs/benchmarks-history.md).
            return None
        if self._limits_of is not self.purchase_limits:  # a copy with other limits (model_copy(update=...))
            self._limits, self._limits_of = {limit.sku: limit for limit in self.purchase_limits}, self.purchase_limits
        return self._limits.get(sku)

    @property
    def any(self) -> bool:
        """Whether any rule is on (none: orders are not screened at all)."""
        return bool(self.purchase_limits or self.customer_orders or self.address_orders or self.address_customers
                    or self.threshold_returns)


NO_RULES = AbuseRules()


# ---------------------------------------------------------------------------------------------
# What the store is asked, and what it answers


def window_start(now: datetime, minutes: int) -> datetime:
    """The oldest moment a window of `minutes` ending now still holds (inclusive)."""
    return now - timedelta(minutes=minutes)


def address_key(address: str) -> str:
    """The delivery address as it is compared: compatibility-normalised (NFKC: full-width
    letters and digits become the ordinary ones), case-folded, runs of white space made one
    space. So `Ｒｏｏｍ ５` and `room  5` are one address, not two that escape the count. The
    contract already refused invisible and control characters (shared/contract_types.py)."""
    return " ".join(unicodedata.normalize("NFKC", address).casefold().split())


def purchased_units(order: OrderPlaced, rules: AbuseRules) -> dict[str, int]:
    """Units of each flash-sale sku this order buys (gift lines are not purchases)."""
    units: dict[str, int] = {}
    for line in order.lines:
        if not line.gift and rules.limit_of(line.sku) is not None:
            units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def goods_value(lines: Iterable[tuple[Decimal, int, bool]]) -> Decimal:
    """What the goods cost before order-level discounts, gifts left out: (unit price, quantity,
    gift) per line. The value a spend threshold is measured against."""
    return sum((price * quantity for price, quantity, gift in lines if not gift), Decimal("0.00"))


def order_goods_value(order: OrderPlaced) -> Decimal:
    return goods_value((line.unit_price, line.quantity, line.gift) for line in order.lines)


def threshold_just_over(value: Decimal, rule: ThresholdReturns) -> Decimal | None:
    """The highest threshold `value` is just over (at it, or above it by at most the margin);
    None when it is just over none."""
    passed = [t for t in rule.thresholds if t <= value <= t + rule.margin]
    return max(passed) if passed else None


@dataclass(frozen=True)
class EarlierReturn:
    """An earlier order of the customer that was returned: its goods value, when it was placed
    and when its return was first asked for (or refunded)."""

    order_id: str
    value: Decimal
    placed_at: datetime
    returned_at: datetime


@dataclass(frozen=True)
class Questions:
    """What the store must count for this order; None (or empty) where a rule is off or does not
    apply (no flash-sale sku in the order, no delivery address, a value just over no threshold)."""

    limited_since: Mapping[str, datetime | None] = field(default_factory=dict)
    customer_orders_since: datetime | None = None
    address_orders_since: datetime | None = None
    address_customers_since: datetime | None = None
    returns: bool = False


@dataclass(frozen=True)
class History:
    """The store's answers, about what came before this order."""

    units_before: Mapping[str, int] = field(default_factory=dict)
    customer_orders: int = 0
    address_orders: int = 0
    address_customers: int = 0  # other customers than this order's
    returned: Sequence[EarlierReturn] = ()


def questions(rules: AbuseRules, order: OrderPlaced, now: datetime) -> Questions:
    units = purchased_units(order, rules)
    limited = {sku: rules.limit_of(sku).since for sku in units}  # type: ignore[union-attr]
    has_address = order.delivery_address is not None
    returns = rules.threshold_returns
    return Questions(
        limited_since=limited,
        customer_orders_since=_since(now, rules.customer_orders),
        address_orders_since=_since(now, rules.address_orders) if has_address else None,
        address_customers_since=_since(now, rules.address_customers) if has_address else None,
        returns=returns is not None and threshold_just_over(order_goods_value(order), returns) is not None,
    )


def _since(now: datetime, rule: OrderBurst | SharedAddress | None) -> datetime | None:
    return window_start(now, rule.minutes) if rule is not None else None


# ---------------------------------------------------------------------------------------------
# The decisions


@dataclass(frozen=True)
class Flag:
    """One rule that says hold: its name, why in words, and its figures (all text)."""

    rule: str
    reason: str
    figures: dict[str, str]


def check_purchase_limit(limit: PurchaseLimit, customer_id: str, bought_before: int, this_order: int) -> Flag | None:
    total = bought_before + this_order
    if total <= limit.limit:
        return None
    since = f" since {limit.since.isoformat()}" if limit.since is not None else ""
    return Flag(PURCHASE_LIMIT,
                f"customer {customer_id} would have {total} of flash-sale sku {limit.sku}{since} "
                f"({bought_before} in earlier orders, {this_order} in this one): the limit is {limit.limit} "
                f"per customer",
                {"sku": limit.sku, "bought_before": str(bought_before), "this_order": str(this_order),
                 "total": str(total), "limit": str(limit.limit)})


def check_customer_orders(rule: OrderBurst, customer_id: str, earlier: int) -> Flag | None:
    return _burst(CUSTOMER_ORDERS, rule, earlier, lambda n: f"customer {customer_id} placed {n} orders")


def check_address_orders(rule: OrderBurst, earlier: int) -> Flag | None:
    return _burst(ADDRESS_ORDERS, rule, earlier, lambda n: f"{n} orders to one delivery address")


def _burst(kind: str, rule: OrderBurst, earlier: int, what: Callable[[int], str]) -> Flag | None:
    """More orders than the rule allows within its minutes, this one included."""
    orders = earlier + 1
    if orders <= rule.max_orders:
        return None
    return Flag(kind, f"{what(orders)} within {rule.minutes} minutes (this one included): "
                      f"more than the {rule.max_orders} allowed",
                {"orders": str(orders), "max_orders": str(rule.max_orders), "minutes": str(rule.minutes)})


def check_address_customers(rule: SharedAddress, other_customers: int) -> Flag | None:
    customers = other_customers + 1
    if customers <= rule.max_customers:
        return None
    return Flag(ADDRESS_CUSTOMERS,
                f"{customers} different customers ordered to one delivery address within {rule.minutes} minutes "
                f"(this order's included): more than the {rule.max_customers} allowed",
                {"customers": str(customers), "max_customers": str(rule.max_customers),
                 "minutes": str(rule.minutes)})


def returned_soon(earlier: EarlierReturn, rule: ThresholdReturns) -> bool:
    """Just over a threshold itself, and returned within the rule's hours of being placed."""
    if threshold_just_over(earlier.value, rule) is None:
        return False
    return earlier.returned_at - earlier.placed_at <= timedelta(hours=rule.returned_within_hours)


def check_threshold_return(rule: ThresholdReturns, customer_id: str, value: Decimal,
                           returned: Sequence[EarlierReturn]) -> Flag | None:
    threshold = threshold_just_over(value, rule)
    if threshold is None:
        return None
    soon = sorted((r for r in returned if returned_soon(r, rule)), key=lambda r: (r.returned_at, r.order_id))
    if len(soon) < rule.min_returned:
        return None
    latest = soon[-1]
    hours = _hours(latest.returned_at - latest.placed_at)
    return Flag(THRESHOLD_RETURN,
                f"this order's goods value {value:.2f} is just over the {threshold:.2f} spend threshold "
                f"(within {rule.margin:.2f}), and customer {customer_id} returned {len(soon)} earlier such "
                f"order(s) within {rule.returned_within_hours} hours of placing them (a hold from "
                f"{rule.min_returned}); latest: {latest.order_id} ({latest.value:.2f}), returned after {hours} hours",
                {"value": f"{value:.2f}", "threshold": f"{threshold:.2f}", "margin": f"{rule.margin:.2f}",
                 "returned_orders": str(len(soon)), "min_returned": str(rule.min_returned),
                 "earlier_order": latest.order_id, "returned_after_hours": hours,
                 "within_hours": str(rule.returned_within_hours)})


def _hours(elapsed: timedelta) -> str:
    """Hours to one decimal, never negative (a return stamped before its order counts as at once)."""
    seconds = max(0, int(elapsed.total_seconds()))
    return f"{Decimal(seconds) / 3600:.1f}"


def screen(rules: AbuseRules, order: OrderPlaced, history: History) -> list[Flag]:
    """Every rule that says hold, in the order of RULES; empty: the order goes on."""
    flags: list[Flag] = []
    for sku, units in sorted(purchased_units(order, rules).items()):
        limit = rules.limit_of(sku)
        assert limit is not None  # purchased_units keeps only limited skus
        flags.append(check_purchase_limit(limit, order.customer_id, history.units_before.get(sku, 0), units))
    if rules.customer_orders is not None:
        flags.append(check_customer_orders(rules.customer_orders, order.customer_id, history.customer_orders))
    if order.delivery_address is not None:
        if rules.address_orders is not None:
            flags.append(check_address_orders(rules.address_orders, history.address_orders))
        if rules.address_customers is not None:
            flags.append(check_address_customers(rules.address_customers, history.address_customers))
    if rules.threshold_returns is not None:
        flags.append(check_threshold_return(rules.threshold_returns, order.customer_id, order_goods_value(order),
                                            history.returned))
    return [f for f in flags if f is not None]


MAX_FIGURES = 20
"""An order.held carries at most 20 figures (shared/events.py)."""


def hold_of(flags: Sequence[Flag]) -> Flag:
    """The one hold an order gets for all its flags: the first rule names it and gives its
    figures; the reason says every rule's, and `rules` lists them when there are several."""
    first = flags[0]
    if len(flags) == 1:
        return first
    figures = dict(list(first.figures.items())[:MAX_FIGURES - 1])
    figures["rules"] = ",".join(f.rule for f in flags)[:100]
    return Flag(first.rule, "; also ".join(f.reason for f in flags), figures)


def rules_document(rules: AbuseRules) -> dict[str, Any]:
    """The rules as JSON values, as the file and PUT /abuse-rules spell them."""
    return rules.model_dump(mode="json")
