"""The stock page's words: a count's result per sku, and the form's mistakes said before
anything is sent to inventory."""

from starlette.datastructures import FormData

from console.pages.stock import count_words, read_count


def line(sku: str, counted: int, recorded: int) -> dict:
    return {"sku": sku, "counted": counted, "recorded_on_hand": recorded, "ledger_on_hand": recorded,
            "difference": counted - recorded, "adjusted": counted != recorded}


def test_a_count_is_said_per_sku_with_units_written_off_added_or_nothing_changed() -> None:
    answer = {"reference": "C-1", "lines": [line("A", 17, 20), line("B", 5, 5), line("C", 9, 8), line("D", 0, 1),
                                            line("E", 12, 10)]}
    assert count_words(answer) == (
        "Count C-1 booked. A: counted 17, the books said 20; 3 units written off. "
        "B: counted 5, as the books say; nothing changed. C: counted 9, the books said 8; 1 unit added. "
        "D: counted 0, the books said 1; 1 unit written off. E: counted 12, the books said 10; 2 units added.")


def form(*pairs: tuple[str, str]) -> FormData:
    return FormData([item for sku, qty in pairs for item in (("sku", sku), ("qty", qty))])


def test_filled_lines_are_read_and_empty_ones_skipped() -> None:
    assert read_count(form(("A", "3"), ("", ""), (" B ", " 0 "))) == ([("A", 3), ("B", 0)], None)


def test_mistakes_in_plain_words() -> None:
    assert read_count(form(("", ""))) == ([], "Enter at least one SKU and the units counted on its shelf.")
    assert read_count(form(("", "4")))[1] == "Say which SKU the 4 units were counted for."
    assert read_count(form(("A", "")))[1] == "Enter how many units of A are on the shelf (0 if none)."
    for bad in ("two", "-1", "1.5", "٣", "1e3"):
        assert read_count(form(("A", bad)))[1] == f"The count of A must be a whole number of units, not {bad!r}."
    assert read_count(form(("A", "1"), ("A", "2")))[1] == "A is in the count twice: count each SKU once."
    assert "is not a SKU code" in read_count(form(("A B", "1")))[1]
