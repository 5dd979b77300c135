"""Decimal helpers: money is never a float, and always rounded to the cent the same way."""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Sequence

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

from shared.limits import MAX_AMOUNT

CENT = Decimal("0.01")


def to_money(value: Decimal | str | int) -> Decimal:
    """Parse and round to the cent. Floats are refused: they cannot represent cents exactly."""
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass a decimal string")
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    try:
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:  # more digits than the decimal context holds
        raise ValueError(f"amount is too large: {value!r:.40}") from exc


def allocate_pro_rata(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split `total` across `weights` to the cent, summing exactly to `total`.

    Largest-remainder method: each share is rounded down to the cent, then the cents left
    over go to the shares that lost the most in rounding (earlier lines win ties), so the
    same input always gives the same split.
    """
    if not weights:
        return []
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        return [total] + [Decimal("0.00")] * (len(weights) - 1)
    exact = [total * w / weight_sum for w in weights]
    shares = [e.quantize(CENT, rounding=ROUND_FLOOR) for e in exact]
    left_over = int(((total - sum(shares, Decimal(0))) / CENT).to_integral_value())
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:left_over]:
        shares[i] += CENT
    return shares


_PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def _refuse_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("amounts are decimal strings such as \"49.90\", not JSON numbers")
    if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
        # Python's Decimal also reads " 1", "1_000", "1e3", "NaN": not what the contract says.
        raise ValueError("amounts are plain decimal strings such as \"49.90\" (digits, one optional point)")
    return value


def _whole_cents(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("amount must be a finite number")
    try:
        cents = value.quantize(CENT)
    except InvalidOperation as exc:
        # Beyond the decimal context's precision: a ValueError makes it a validation error (a
        # dead letter, a 422), where InvalidOperation would escape and stall the consumer.
        raise ValueError("amount is too large") from exc
    if value != cents:
        raise ValueError("amount has more than two decimal places")
    return cents.copy_abs() if not cents else cents  # "-0.00" is 0.00


# Parsed from a decimal string, checked to the cent, written back as a decimal string in JSON,
# so no consumer ever sees a float.
Money = Annotated[
    Decimal,
    BeforeValidator(_refuse_float),
    AfterValidator(_whole_cents),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d{1,2})?$", "description": "decimal string"}),
]


AMOUNT_PATTERN = r"^\d+(\.\d{1,2})?$"
"""What an amount looks like in the JSON schema (and docs/events.md)."""

Amount = Annotated[
    Money,
    Field(ge=0, le=MAX_AMOUNT),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "description": f"decimal string, 0.00 to {MAX_AMOUNT}"}),
]
"""Every amount in the contracts: money (above), never negative and at most MAX_AMOUNT. Anything
else, however large or fine (2**64, 30 decimals, 1e999999999), is a validation error with a
reason, never another exception."""
