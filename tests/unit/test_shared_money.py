from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.money import Money, allocate_pro_rata, to_money


class Priced(BaseModel):
    amount: Money


def test_money_is_parsed_from_decimal_strings_and_written_back_as_strings() -> None:
    assert Priced.model_validate({"amount": "49.9"}).model_dump(mode="json") == {"amount": "49.90"}


@pytest.mark.parametrize("bad", [49.9, "4.999", "NaN", "abc"])
def test_floats_sub_cent_and_non_numbers_are_refused(bad) -> None:
    with pytest.raises(ValidationError):
        Priced.model_validate({"amount": bad})


def test_to_money_refuses_floats() -> None:
    with pytest.raises(TypeError):
        to_money(0.1)  # type: ignore[arg-type]


def test_a_discount_that_does_not_divide_evenly_is_allocated_to_the_cent() -> None:
    assert allocate_pro_rata(Decimal("10.00"), [Decimal(1), Decimal(1), Decimal(1)]) == [
        Decimal("3.34"), Decimal("3.33"), Decimal("3.33")]


cents = st.integers(min_value=0, max_value=10_000_000).map(lambda c: Decimal(c) / 100)


@given(total=cents, weights=st.lists(st.integers(min_value=0, max_value=100_000).map(Decimal), min_size=1, max_size=12))
def test_allocation_always_sums_exactly_and_never_goes_negative(total, weights) -> None:
    shares = allocate_pro_rata(total, weights)
    assert sum(shares) == total
    assert all(s >= 0 for s in shares)
    assert all(s == s.quantize(Decimal("0.01")) for s in shares)
    if sum(weights) > 0:
        for share, weight in zip(shares, weights):
            exact = total * weight / sum(weights)
            assert abs(share - exact) < Decimal("0.01")
