"""The scan-first wave's pick list and the dock's grouping (console/picking.py)."""

from __future__ import annotations

from console.picking import bin_key, by_carrier, pick_totals

CATALOGUE = {"SKU-TEA-01": {"name": "Oolong tea", "bin": "A-10-1"},
             "SKU-CUP": {"name": "Tea cup", "bin": "a-2-3"},
             "SKU-KETTLE": {"name": "Kettle", "bin": None},
             "SKU-SET": {"name": "Tea set", "bin": "B-1"}}


def shipment(status: str, *lines: tuple[str, int], gift: bool = False) -> dict:
    return {"status": status, "lines": [{"sku": s, "quantity": q, "gift": gift} for s, q in lines]}


def test_units_are_totalled_per_sku_over_the_shipments_still_to_pick() -> None:
    rows = pick_totals([shipment("picking", ("SKU-TEA-01", 2), ("SKU-CUP", 1)),
                        shipment("queued", ("SKU-TEA-01", 3)),
                        shipment("picking", ("SKU-CUP", 1), gift=True),
                        shipment("packed", ("SKU-TEA-01", 100)),     # already in its box
                        shipment("shipped", ("SKU-SET", 1)),
                        shipment("withdrawn", ("SKU-SET", 1))], CATALOGUE)
    assert [(r["sku"], r["quantity"]) for r in rows] == [("SKU-CUP", 2), ("SKU-TEA-01", 5)]
    assert rows[0] == {"sku": "SKU-CUP", "quantity": 2, "name": "Tea cup", "bin": "a-2-3"}


def test_rows_are_sorted_by_bin_as_people_read_it_and_skus_without_one_come_last() -> None:
    rows = pick_totals([shipment("picking", ("SKU-KETTLE", 1), ("SKU-TEA-01", 1), ("SKU-SET", 1), ("SKU-CUP", 1),
                                 ("SKU-UNKNOWN", 4), ("SKU-AAA", 1))], CATALOGUE)
    assert [r["sku"] for r in rows] == ["SKU-CUP", "SKU-TEA-01", "SKU-SET", "SKU-AAA", "SKU-KETTLE", "SKU-UNKNOWN"]
    unknown = rows[-1]
    assert unknown == {"sku": "SKU-UNKNOWN", "quantity": 4, "name": "", "bin": None}


def test_bin_keys_compare_numbers_as_numbers() -> None:
    assert bin_key("A-2") < bin_key("A-10") < bin_key("B-1")
    assert bin_key("a-03-2") == bin_key("A-3-2")
    assert sorted(["A-10-1", "A-9-9", "A-10-0", "A"], key=bin_key) == ["A", "A-9-9", "A-10-0", "A-10-1"]
    assert bin_key("12") > bin_key("9")


def test_nothing_to_pick_is_an_empty_list() -> None:
    assert pick_totals([], CATALOGUE) == []
    assert pick_totals([shipment("packed", ("SKU-CUP", 1)), {"status": "queued"}], {}) == []


def test_the_dock_groups_packed_shipments_by_suggested_carrier_none_fitting_last() -> None:
    a, b, c, d = ({"shipment_id": "S-1", "suggested_carrier": {"carrier": "ZTO"}},
                  {"shipment_id": "S-2", "suggested_carrier": {"carrier": "SF"}},
                  {"shipment_id": "S-3", "suggested_carrier": None},
                  {"shipment_id": "S-4", "suggested_carrier": {"carrier": "ZTO"}})
    assert by_carrier([a, b, c, d]) == [("SF", [b]), ("ZTO", [a, d]), ("", [c])]
    assert by_carrier([]) == []


def test_the_console_says_the_customer_is_told_only_when_the_notification_was_published() -> None:
    from console.pages.dispatch_scan import exception_words

    def said(state):  # type: ignore[no-untyped-def]
        return exception_words("SHP-O-1", "damaged", {"exceptions": [{"customer_notification": "queued"},
                                                                     {"customer_notification": state}]})

    assert "The customer is told" in said("published")
    for state in ("queued", "refused", None):
        assert "The customer is told" not in said(state), state
    assert "queued" in said("queued") and "not been told" in said("refused")
    assert "did not say" in said(None) and "did not say" in exception_words("SHP-O-1", "delayed", {})
