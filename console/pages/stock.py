"""Stock (warehouse, support, admin read; warehouse and admin count): every sku's on hand,
reserved, available, mode, cover at the current sell rate and open replenishment; the 2-hourly
stock snapshots with their tables and CSV downloads; the count reconciliation form (R12).

The console keeps nothing: figures and snapshots come from inventory with the viewer's token,
a CSV download is passed through as inventory wrote it, and a count is sent once per form
(the form carries its own Idempotency-Key, so a double click books it once)."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.session import require
from console.upstream import UpstreamError

if TYPE_CHECKING:
    from console.app import Console

SKU = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
REFERENCE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
KEY = re.compile(r"^[a-f0-9]{32}$")
COUNT_LINES = 4
"""Lines of the count form; a bigger count goes through the API (POST /counts) in one body."""
PAGE = 200
"""Skus a page of the stock table shows."""
SNAPSHOTS = 12
"""Snapshots listed on the page (a day of 2-hour slots)."""
COUNTERS = frozenset({"warehouse", "admin"})
"""Who inventory lets book a count (its POST /counts); the others see the form's place explained."""
SHORT_COVER_H = 2.0
"""Cover shorter than this runs out before the next snapshot: it is flagged."""


def count_words(answer: dict[str, Any]) -> str:
    """A count's result as a person reads it: per sku what was counted against the books."""
    parts = []
    for line in answer.get("lines", []):
        counted, recorded, diff = line["counted"], line["recorded_on_hand"], line["difference"]
        if diff == 0:
            parts.append(f"{line['sku']}: counted {counted}, as the books say; nothing changed.")
        elif diff < 0:
            parts.append(f"{line['sku']}: counted {counted}, the books said {recorded}; "
                         f"{-diff} unit{'s' if diff != -1 else ''} written off.")
        else:
            parts.append(f"{line['sku']}: counted {counted}, the books said {recorded}; "
                         f"{diff} unit{'s' if diff != 1 else ''} added.")
    return f"Count {answer.get('reference', '')} booked. " + " ".join(parts)


def read_count(form: Any) -> tuple[list[tuple[str, int]], str | None]:
    """The form's filled lines, or the first mistake in plain words."""
    lines: list[tuple[str, int]] = []
    for sku, quantity in zip(form.getlist("sku"), form.getlist("qty"), strict=False):
        sku, quantity = str(sku).strip(), str(quantity).strip()
        if not sku and not quantity:
            continue
        if not sku:
            return [], f"Say which SKU the {quantity} units were counted for."
        if not SKU.match(sku):
            return [], f"{sku[:60]!r} is not a SKU code (letters, digits and . _ : - only)."
        if not quantity:
            return [], f"Enter how many units of {sku} are on the shelf (0 if none)."
        if not quantity.isascii() or not quantity.isdigit():
            return [], f"The count of {sku} must be a whole number of units, not {quantity[:20]!r}."
        if any(sku == seen for seen, _ in lines):
            return [], f"{sku} is in the count twice: count each SKU once."
        lines.append((sku, int(quantity)))
    if not lines:
        return [], "Enter at least one SKU and the units counted on its shelf."
    return lines, None


def router(console: "Console") -> APIRouter:
    r = APIRouter()

    @r.get("/stock")
    async def stock_page(request: Request, cursor: str | None = None) -> Response:
        viewer = require(request, "stock")
        up = console.up
        (page, stock_error), (snaps, snaps_error) = await asyncio.gather(
            console.attempt(up.get("inventory", "/stock", viewer.token, limit=PAGE, cursor=cursor)),
            console.attempt(up.get("inventory", "/stock/snapshots", viewer.token, limit=SNAPSHOTS)))
        q = request.query_params
        refill = list(zip(q.getlist("sku"), q.getlist("qty"), strict=False))[:COUNT_LINES]
        refill += [("", "")] * (COUNT_LINES - len(refill))
        return console.render(
            request, "stock.html", viewer, skus=(page or {}).get("skus"), as_of=(page or {}).get("as_of"),
            next_cursor=(page or {}).get("next_cursor"), stock_error=stock_error,
            snapshots=(snaps or {}).get("snapshots"), snapshots_error=snaps_error, short_cover=SHORT_COVER_H,
            can_count=bool(viewer.roles & COUNTERS), count_key=uuid.uuid4().hex, refill=refill,
            reference=q.get("reference", "")[:64])

    @r.post("/stock/counts")
    async def post_count(request: Request) -> Response:
        viewer = require(request, "stock")
        form = await request.form()
        lines, mistake = read_count(form)
        reference = str(form.get("reference", "")).strip()
        again = "/stock?" + urlencode([("reference", reference[:64])] + [p for s, n in zip(
            form.getlist("sku"), form.getlist("qty"), strict=False) for p in (("sku", str(s)[:64]), ("qty", str(n)[:20]))
            if str(s).strip() or str(n).strip()]) + "#count"
        if not viewer.roles & COUNTERS:
            return console.redirect("/stock", error="Stock counts are booked by warehouse staff and administrators; "
                                                    "your role reads the figures only.")
        if mistake:
            return console.redirect(again, error=mistake)
        if reference and not REFERENCE.match(reference):
            return console.redirect(again, error=f"{reference[:60]!r} is not a count reference "
                                                 "(letters, digits and . _ : - only), or leave it empty.")
        key = str(form.get("key", ""))
        if not KEY.match(key):
            key = uuid.uuid4().hex
        body: dict[str, Any] = {"counts": [{"sku": s, "quantity": n} for s, n in lines]}
        if reference:
            body["reference"] = reference
        try:
            answer = await console.up.post_once("inventory", "/counts", viewer.token, body, key)
        except UpstreamError as exc:
            return console.redirect(again, error=f"The count was not booked: {exc.message}")
        return console.redirect("/stock#count", ok=count_words(answer))

    # The .csv route first: /stock/snapshots/{snapshot_id} would take `7.csv` for its id.
    @r.get("/stock/snapshots/{snapshot_id}.csv")
    async def snapshot_csv(request: Request, snapshot_id: str) -> Response:
        viewer = require(request, "stock")
        if not snapshot_id.isascii() or not snapshot_id.isdigit():
            return console.redirect("/stock", error=f"{snapshot_id[:30]!r} is not a snapshot number.")
        try:
            text, disposition = await console.up.get_text("inventory", f"/stock/snapshots/{snapshot_id}.csv",
                                                           viewer.token)
        except UpstreamError as exc:
            return console.redirect("/stock", error=f"The CSV could not be downloaded: {exc.message}")
        return Response(text, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": disposition or f'attachment; filename="stock-snapshot-{snapshot_id}.csv"'})

    @r.get("/stock/snapshots/{snapshot_id}")
    async def snapshot_page(request: Request, snapshot_id: str, cursor: str | None = None) -> Response:
        viewer = require(request, "stock")
        if not snapshot_id.isascii() or not snapshot_id.isdigit():
            return console.redirect("/stock", error=f"{snapshot_id[:30]!r} is not a snapshot number.")
        snapshot, error = await console.attempt(console.up.get(
            "inventory", f"/stock/snapshots/{snapshot_id}", viewer.token, limit=500, cursor=cursor))
        return console.render(request, "stock_snapshot.html", viewer, snapshot_id=snapshot_id, snapshot=snapshot,
                              error=error, short_cover=SHORT_COVER_H)

    return r
