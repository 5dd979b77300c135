"""A wave's pick list and the dock's grouping, with no I/O (issue 30): what the scan-first wave
page and the dock screen show, from logistics' shipments and inventory's names and bins."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

TO_PICK = ("queued", "picking")
"""Shipments whose units are still on the shelves."""


def bin_key(location: str) -> list[Any]:
    """Bins in walking order as people read them: A-2 before A-10 (numbers compare as numbers),
    letters regardless of case."""
    parts = re.split(r"(\d+)", location.upper())
    # re.split with a group alternates text and digits, text first: the positions line up.
    return [int(p) if i % 2 else p for i, p in enumerate(parts)]


def pick_totals(shipments: Iterable[Mapping[str, Any]],
                catalogue: Mapping[str, Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """One row per sku still to pick in the wave: its units summed over the shipments not packed
    yet, the product's name and bin (from `catalogue`: sku -> inventory's figures, or None when
    unknown), sorted by bin; skus with no bin come last, by sku."""
    units: dict[str, int] = {}
    for shipment in shipments:
        if shipment.get("status") not in TO_PICK:
            continue
        for line in shipment.get("lines") or []:
            units[line["sku"]] = units.get(line["sku"], 0) + int(line["quantity"])
    rows = []
    for sku, quantity in units.items():
        known = catalogue.get(sku) or {}
        rows.append({"sku": sku, "quantity": quantity, "name": known.get("name") or "", "bin": known.get("bin") or None})
    rows.sort(key=lambda r: (r["bin"] is None, bin_key(r["bin"] or ""), r["sku"]))
    return rows


def by_carrier(shipments: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Packed shipments grouped by the carrier the rules suggest, carriers in name order; those
    no carrier fits ("" ) last."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for shipment in shipments:
        carrier = (shipment.get("suggested_carrier") or {}).get("carrier") or ""
        groups.setdefault(carrier, []).append(shipment)
    return sorted(groups.items(), key=lambda item: (item[0] == "", item[0]))
