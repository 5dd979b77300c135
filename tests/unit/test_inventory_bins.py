"""The catalogue's bin column (issue 30): where a sku is kept, bounded and checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.inventory.catalog import CatalogInvalid, load_catalog, parse_entry
from services.inventory.schemas import SkuChange

BASE = {"sku": "SKU-1", "tier": "hot", "planned_stock": "10", "on_hand": "10"}


@pytest.mark.parametrize("value", ["A-03-2", "A", "9", "B.1/2_x", "A" * 32, " C-01-1 "])
def test_a_bin_of_letters_digits_and_separators_up_to_32_is_kept(value: str) -> None:
    assert parse_entry({**BASE, "bin": value}).bin == value.strip()


@pytest.mark.parametrize("value", ["A" * 33, "A 03", "-A", "A-", "A\u200b1", "Ａ-1", "A\n1", "<b>", "A;1", "Ö-1"])
def test_a_bin_with_anything_else_is_refused_with_the_reason(value: str) -> None:
    with pytest.raises(CatalogInvalid, match="is not a bin location"):
        parse_entry({**BASE, "bin": value}, place="line 2")
    with pytest.raises(ValidationError):
        SkuChange.model_validate({"tier": "hot", "bin": value})


def test_no_bin_column_means_not_given_and_an_empty_cell_means_no_bin() -> None:
    assert parse_entry(BASE).bin is None
    assert parse_entry({**BASE, "bin": ""}).bin == ""
    assert SkuChange.model_validate({"tier": "hot", "bin": ""}).bin == ""
    assert SkuChange.model_validate({"tier": "hot"}).bin is None


def test_every_sample_sku_has_a_bin() -> None:
    entries = load_catalog(Path("services/inventory/sample_catalog.csv"))
    assert entries and all(e.bin for e in entries)
    assert all(e.name for e in entries)
