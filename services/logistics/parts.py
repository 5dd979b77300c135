"""An order's parts (issue 34): what each warehouse ships of it, one shipment per part. No I/O.

`stock.reserved` says, per part, the warehouse and the quantity of each sku it holds; the
shipment needs the order's own lines (prices, gift flags, weight and volume per unit) cut to
those quantities. A line split over two warehouses appears in both parts, each with its own
quantity; its weight and volume per unit follow it, so each part's parcel weighs what it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.event_parts import DEFAULT_WAREHOUSE, OrderLine, ShipmentPart, SkuQuantity


class PartsRefused(ValueError):
    """The parts do not hold exactly the order's lines; the message says how they differ."""


@dataclass(frozen=True)
class Part:
    shipment_id: str
    warehouse: str
    lines: list[OrderLine]


def shipment_id_for_part(order_id: str, warehouse: str, parts: int) -> str:
    """The whole order (one part) keeps the id it had before warehouses; a part of several is
    `SHP:<length of the order id>:<order>:<warehouse>`. Ids may hold `:` and `-`, so the `SHP:`
    prefix keeps these apart from every `SHP-` id (whole orders, exchanges) and the length says
    where the order id ends: no two orders' parts can share an id. A redelivered reservation
    finds the same ids. Characters the event contract's long ids allow, none a URL path escapes."""
    return f"SHP-{order_id}" if parts == 1 else f"SHP:{len(order_id)}:{order_id}:{warehouse}"


def shipment_ids_of(order_id: str, parts: Sequence[ShipmentPart]) -> list[str]:
    """The ids `cut` gives the parts' shipments (for a batch's read of which exist)."""
    return [shipment_id_for_part(order_id, p.warehouse, len(parts)) for p in parts] or [
        shipment_id_for_part(order_id, DEFAULT_WAREHOUSE, 1)]


def cut(order_id: str, lines: Sequence[OrderLine], parts: Sequence[ShipmentPart]) -> list[Part]:
    """One Part per ShipmentPart (no parts: the whole order from `main`), each with the order's
    lines cut to the part's quantities: a sku's quantity is taken from the order's lines of
    that sku in their order. Raises PartsRefused unless the parts together hold exactly the
    order's lines, each warehouse once."""
    if not parts:
        return [Part(shipment_id_for_part(order_id, DEFAULT_WAREHOUSE, 1), DEFAULT_WAREHOUSE, list(lines))]
    if len(parts) == 1 and _holds_line_for_line(parts[0], lines):
        # The whole order from one warehouse, its lines as the order's (what inventory sends for
        # nearly every order): the cut below would copy each line with its own quantity, so the
        # order's lines are the part's as they are, without the per-sku sums and copies.
        return [Part(shipment_id_for_part(order_id, parts[0].warehouse, 1), parts[0].warehouse, list(lines))]
    warehouses = [p.warehouse for p in parts]
    if len(set(warehouses)) != len(warehouses):
        raise PartsRefused(f"a warehouse has more than one part: {', '.join(warehouses)}")
    ordered = _per_sku(lines)
    reserved = {sku: sum(q for _, q in taken) for sku, taken in _per_sku_of_parts(parts).items()}
    if reserved != {sku: sum(line.quantity for line in found) for sku, found in ordered.items()}:
        raise PartsRefused("the parts do not add up to the order's lines: "
                           + _difference(ordered, reserved))
    left = {sku: [[line, line.quantity] for line in found] for sku, found in ordered.items()}
    out = []
    for part in parts:
        cut_lines: list[OrderLine] = []
        for wanted in part.lines:
            need = wanted.quantity
            for slot in left[wanted.sku]:
                take = min(need, slot[1])
                if take:
                    cut_lines.append(slot[0].model_copy(update={"quantity": take}))
                    slot[1] -= take
                    need -= take
        out.append(Part(shipment_id_for_part(order_id, part.warehouse, len(parts)), part.warehouse, cut_lines))
    return out


def part_contents(lines: Sequence[OrderLine]) -> list[SkuQuantity]:
    """What a parcel holds per sku, as `shipment.dispatched` tells it (a sku on two lines, such
    as a paid one and a gift, once with their sum)."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return [SkuQuantity(sku=sku, quantity=quantity) for sku, quantity in totals.items()]


def _holds_line_for_line(part: ShipmentPart, lines: Sequence[OrderLine]) -> bool:
    """The part names the order's lines one for one: same skus, same quantities, same order."""
    wanted = part.lines
    return len(wanted) == len(lines) and all(
        w.sku == line.sku and w.quantity == line.quantity for w, line in zip(wanted, lines))


def _per_sku(lines: Sequence[OrderLine]) -> dict[str, list[OrderLine]]:
    found: dict[str, list[OrderLine]] = {}
    for line in lines:
        found.setdefault(line.sku, []).append(line)
    return found


def _per_sku_of_parts(parts: Sequence[ShipmentPart]) -> dict[str, list[tuple[str, int]]]:
    found: dict[str, list[tuple[str, int]]] = {}
    for part in parts:
        for line in part.lines:
            found.setdefault(line.sku, []).append((part.warehouse, line.quantity))
    return found


def _difference(ordered: dict[str, list[OrderLine]], reserved: dict[str, int]) -> str:
    notes = []
    for sku in sorted(set(ordered) | set(reserved)):
        want = sum(line.quantity for line in ordered.get(sku, []))
        have = reserved.get(sku, 0)
        if sku not in ordered:
            notes.append(f"{sku} is not in the order ({have} in the parts)")
        elif want != have:
            notes.append(f"{sku}: {want} ordered, {have} in the parts")
    return "; ".join(notes)
