"""The field types every contract in shared/events.py is built from: the limits of shared/limits.py
as types, so a bound is written once and holds at every entry (HTTP bodies and every consumed
topic, inbound and internal alike), and the reasons a sender gets when it crosses one.

- Ids and skus (`EntityId`, `Sku`): ID_PATTERN, checked by pydantic's own (Rust) regex. A
  trailing space, a zero-width space, NUL, a bidi override or a full-width letter is refused, not
  stored as a second id that looks like the first.
- Free text that may be Chinese (`Text(n)`: region, reason, note): at most n characters, no
  control (Cc), format (Cf: zero-width, bidi overrides), surrogate or line/paragraph separator
  characters, no white space at either end, and normalised to NFC.
- Quantities and amounts: positive (or non-negative) and bounded.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, ValidationError
from pydantic_core import PydanticCustomError

from shared.limits import ID_PATTERN, MAX_LINE_QUANTITY, MAX_LINES_PER_ORDER, MAX_STOCK_UNITS


def _id_pattern(max_length: int) -> str:
    # ID_PATTERN's alphabet for an id built from other ids (e.g. a shipment id from an order id).
    assert ID_PATTERN.endswith("{0,63}$"), "shared.limits.ID_PATTERN changed shape: update _id_pattern"
    return ID_PATTERN.removesuffix("{0,63}$") + f"{{0,{max_length - 1}}}$"


ID_MAX_LENGTH = 64
ID_ALPHABET = "A-Z a-z 0-9 . _ : @ # / + -"
DERIVED_ID_MAX_LENGTH = 160
"""Ids a service builds from other ids: a shipment id is `SHP-<order id>` or
`SHP-<order id>-X-<case id>`, and a priority rank `<class>-<18 digits>-<order id>`."""

DERIVED_ID_PATTERN = _id_pattern(DERIVED_ID_MAX_LENGTH)
_ID_PATTERNS = {ID_PATTERN: ID_MAX_LENGTH, DERIVED_ID_PATTERN: DERIVED_ID_MAX_LENGTH}

EntityId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""An order, customer, case, delivery or request id, a carrier code or a tracking number."""
Sku = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A stock keeping unit: the same alphabet as ids."""
DerivedId = Annotated[str, StringConstraints(pattern=DERIVED_ID_PATTERN)]
"""A shipment id or a priority rank: built by a service from ids, so it may be longer than one."""
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

MAX_PROMOTIONS_PER_ORDER = 50
"""Promotions listed on one order (beside shared.limits: an order at every limit must still fit a record)."""
MAX_SKU_UNITS_PER_ORDER = MAX_LINES_PER_ORDER * MAX_LINE_QUANTITY
"""Units of one sku across one order's lines (what a backorder or a release may list for a sku)."""

LineQuantity = Annotated[int, Field(gt=0, le=MAX_LINE_QUANTITY)]
SkuUnits = Annotated[int, Field(gt=0, le=MAX_SKU_UNITS_PER_ORDER)]
StockUnits = Annotated[int, Field(gt=0, le=MAX_STOCK_UNITS)]

# ---------------------------------------------------------------------------------------------
# Free text

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def char_name(char: str) -> str:
    """`U+200B ZERO WIDTH SPACE`: how a reason names a character a person cannot see."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _clean_text(value: str, multiline: bool = False) -> str:
    if not (value.isascii() and value.isprintable()):  # printable ASCII is clean and already NFC
        if multiline:
            value = value.replace("\r\n", "\n")  # what a browser's textarea sends
        for i, char in enumerate(value):
            if multiline and char in "\n\t":
                continue
            if unicodedata.category(char) in _REFUSED_CATEGORIES:
                raise PydanticCustomError(
                    "text_invisible_character",
                    "must not contain control or invisible formatting characters: {char} at position {at}",
                    {"char": char_name(char), "at": i})
        value = unicodedata.normalize("NFC", value)
    if value != value.strip():
        raise PydanticCustomError("text_padded", "must not start or end with white space")
    return value


def Text(max_length: int, *, min_length: int = 0, multiline: bool = False) -> Any:  # noqa: N802 (a type)
    """Free text of at most `max_length` characters (NFC never makes a text longer than the limit
    lets through: the bound is checked again after normalising). `multiline` text may hold line
    breaks and tabs (a person's note); CR LF is stored as LF."""
    def bounded(value: str) -> str:
        value = _clean_text(value, multiline)
        if len(value) > max_length:
            raise PydanticCustomError("text_too_long", "must be at most {max_length} characters once normalised",
                                      {"max_length": max_length})
        return value

    return Annotated[str, Field(min_length=min_length, max_length=max_length, json_schema_extra={"format": "multiline-text" if multiline else "text"}),
                     AfterValidator(bounded)]


AddressKey = Text(200, min_length=1)
"""A delivery address as a platform keys it (the address text or a digest): compared, not shown."""


MAX_REASON_LENGTH = 2000
"""A reason a service writes (order.rejected, order.cancellation_refused); dlq.reason is cut there too."""
Reason = Text(MAX_REASON_LENGTH)


def reason_text(text: str) -> str:
    """Any text as a valid `Reason`: refused characters written as escapes (`\\u200b`), the ends
    trimmed, cut to the limit. For reasons that quote what a sender sent."""
    if not (text.isascii() and text.isprintable()):
        text = unicodedata.normalize("NFC", "".join(
            f"\\u{ord(c):04x}" if unicodedata.category(c) in _REFUSED_CATEGORIES else c for c in text))
    text = text.strip()
    return text if len(text) <= MAX_REASON_LENGTH else text[:MAX_REASON_LENGTH - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Reasons


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the field path, e.g. `lines.0.quantity must be positive,
    got 0` or `customer_id: Field required`."""
    return "; ".join(_describe(err) for err in exc.errors(include_url=False))


_OWN_ERRORS = frozenset({"text_invisible_character", "text_padded", "text_too_long"})


def _describe(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "(root)"
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    if kind in _OWN_ERRORS:
        return f"{where} {err['msg']}"
    if kind == "greater_than" and ctx.get("gt") == 0:
        return f"{where} must be positive, got {_shown(got)}"
    if kind == "greater_than_equal" and ctx.get("ge") == 0:
        return f"{where} must not be negative, got {_shown(got)}"
    if kind == "less_than_equal":
        return f"{where} must be at most {_bound(ctx['le'])}, got {_shown(got)}"
    if kind == "too_long" and "max_length" in ctx:
        return f"{where} must have at most {ctx['max_length']} items, got {_count(got)}"
    if kind == "string_too_long":
        return f"{where} must be at most {ctx['max_length']} characters, got {_count(got)}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return f"{where} must not be empty"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _ID_PATTERNS:
        limit = _ID_PATTERNS[ctx["pattern"]]
        return (f"{where} must be an id of 1 to {limit} characters {ID_ALPHABET}, starting with a letter or "
                f"digit; {id_problem(got, limit) if isinstance(got, str) else 'not text'}")
    return f"{where}: {err['msg']}"


def id_problem(value: str, max_length: int = ID_MAX_LENGTH) -> str:
    """What is wrong with an id, in words: `U+0020 SPACE at position 4 (the end)`."""
    if not value:
        return "it is empty"
    for i, char in enumerate(value):
        if not (char.isascii() and (char.isalnum() or (i > 0 and char in "._:@#/+-"))):
            where = " (the start)" if i == 0 else " (the end)" if i == len(value) - 1 else ""
            return f"it has {char_name(char)} at position {i}{where}"
    return f"it has {len(value)} characters" if len(value) > max_length else "it does not fit"


def _shown(value: Any) -> str:
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an int of more than 4,300 digits
        return "a number too long to print"
    text = repr(text) if not text.isprintable() else text
    return text if len(text) <= 40 else text[:37] + "..."


def _bound(value: Any) -> str:
    text = str(value)  # pydantic writes a Decimal bound as its repr
    return text.removeprefix("Decimal('").removesuffix("')")


def _count(value: Any) -> str:
    try:
        return str(len(value))
    except TypeError:
        return "more"
