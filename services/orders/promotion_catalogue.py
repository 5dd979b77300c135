"""The event's promotion catalogue (R5) as data: one model per kind of promotion, each entry with
its code. `PUT /promotions` takes a `Catalogue` as its body and ORDERS_PROMOTIONS_FILE holds one;
the rules that apply it to an order are in promotions.py."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, StringConstraints, model_validator

from shared.contract_types import MAX_SKU_UNITS_PER_ORDER, Sku, Text
from shared.limits import ID_PATTERN, MAX_LINE_QUANTITY, MAX_STOCK_UNITS
from shared.money import Amount

MAX_CATALOGUE_ENTRIES = 500
"""Promotions in one catalogue: an event runs tens; a larger body is refused, not stored."""
ZERO = Decimal("0.00")

PromotionCode = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""Codes are ids (ASCII, no spaces): a look-alike letter makes another code, so it is refused here."""
_PLAIN = re.compile(r"[0-9]+(\.[0-9]+)?")


def _plain_percent(value: Any) -> Any:
    if isinstance(value, bool) or isinstance(value, float) or (isinstance(value, str) and not _PLAIN.fullmatch(value)):
        raise ValueError('a percent is a whole number or a plain decimal string such as "20" or "12.5"')
    return value


Percent = Annotated[Decimal, BeforeValidator(_plain_percent), Field(gt=0, le=100, decimal_places=2)]
PositiveAmount = Annotated[Amount, Field(gt=0)]
Units = Annotated[int, Field(ge=1, le=MAX_SKU_UNITS_PER_ORDER)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: PromotionCode = Field(examples=["FULL200-30"])
    description: Text(200) = Field(default="", examples=["满200减30"])  # type: ignore[valid-type]


class _Threshold(_Entry):
    threshold: PositiveAmount = Field(description="Reached when the paid lines less item discounts are at least this.")
    amount: PositiveAmount

    @model_validator(mode="after")
    def _not_more_than_the_threshold(self) -> _Threshold:
        if self.amount > self.threshold:
            raise ValueError(f"amount {self.amount} is more than its threshold {self.threshold}")
        return self


class SpendThreshold(_Threshold):
    """满X减Y: the one with the largest amount the order reaches applies (of several as large, any)."""

    kind: Literal["spend_threshold"]


class ReturningCustomerThreshold(_Threshold):
    """老客复购券: as a spend threshold, for an order that is not a customer's first (`first_order` false)."""

    kind: Literal["returning_customer_threshold"]


class TieredDiscount(_Entry):
    """阶梯折扣 (3件8折): `percent` off the units of `skus` (all skus when absent) once the order has
    `min_items` of them (units already at half price are neither counted nor discounted)."""

    kind: Literal["tiered_discount"]
    skus: list[Sku] | None = Field(default=None, min_length=1, max_length=500)
    min_items: Units
    percent: Percent = Field(description="Percent off, e.g. 20 for 20% off (8折).")

    @model_validator(mode="after")
    def _each_sku_once(self) -> TieredDiscount:
        if self.skus is not None and len(set(self.skus)) != len(self.skus):
            raise ValueError("skus lists a sku twice")
        return self


class FirstOrderCoupon(_Entry):
    """新客首单立减: `amount` off a customer's first order (`first_order` true), once per customer."""

    kind: Literal["first_order_coupon"]
    amount: PositiveAmount
    threshold: Amount = Field(default=ZERO, description="Paid lines less item discounts needed (0: none).")


class GiftWithPurchase(_Entry):
    """买赠: `gift_quantity` of `gift_sku` with an order that has `min_quantity` units (and
    `min_amount` at listed prices) of `trigger_sku` (of any paid line when absent)."""

    kind: Literal["gift_with_purchase"]
    gift_sku: Sku
    gift_quantity: int = Field(default=1, ge=1, le=MAX_LINE_QUANTITY)
    trigger_sku: Sku | None = None
    min_quantity: Units = 1
    min_amount: Amount = ZERO


class FirstUnitsHalfPrice(_Entry):
    """前N件半价: the event's first `units` units of `sku` sold at half price, across all orders."""

    kind: Literal["first_units_half_price"]
    sku: Sku
    units: int = Field(ge=1, le=MAX_STOCK_UNITS)


Entry = Annotated[Union[SpendThreshold, ReturningCustomerThreshold, TieredDiscount, FirstOrderCoupon,
                        GiftWithPurchase, FirstUnitsHalfPrice], Field(discriminator="kind")]


class Catalogue(BaseModel):
    """The event's promotions (`PUT /promotions`, or ORDERS_PROMOTIONS_FILE at start-up)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    promotions: list[Entry] = Field(max_length=MAX_CATALOGUE_ENTRIES)
    _by_code: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _codes_apart(self) -> Catalogue:
        seen: dict[str, str] = {}
        half_price: dict[str, str] = {}
        for entry in self.promotions:
            # Case apart is not apart enough: FULL200 and full200 would read as one code to a person.
            other = seen.setdefault(entry.code.casefold(), entry.code)
            if other != entry.code or entry.code in self._by_code:
                apart = f" (as {other})" if other != entry.code else ""
                raise ValueError(f"code {entry.code} is listed twice{apart}")
            self._by_code[entry.code] = entry
            if isinstance(entry, FirstUnitsHalfPrice):
                earlier = half_price.setdefault(entry.sku, entry.code)
                if earlier != entry.code:
                    raise ValueError(f"{entry.sku} has two first-units-half-price offers ({earlier}, {entry.code})")
        return self

    def get(self, code: str) -> Any:
        return self._by_code.get(code)

    def of_kind(self, kind: str) -> list[Any]:
        return [entry for entry in self.promotions if entry.kind == kind]


class CatalogueView(BaseModel):
    """The catalogue in force, with how much of it the event has used (GET and PUT /promotions)."""

    checked: bool = Field(description="False until a catalogue is set (file or PUT): orders' promotions are then "
                                      "not checked, only paid_amount = lines - discount.")
    promotions: list[Entry]
    source: str | None = Field(default=None, description="`file:<path>` (ORDERS_PROMOTIONS_FILE) or `http` (PUT).")
    set_by: str | None = None
    set_at: datetime | None = None
    digest: str | None = Field(default=None, description="SHA-256 of the stored catalogue.")
    coupon_uses: dict[str, int] = Field(default_factory=dict,
                                        description="First-order coupon code -> customers who used it.")
    half_price_sold: dict[str, int] = Field(default_factory=dict,
                                            description="First-N-half-price code -> units sold at half price.")
