"""Dispatch board (warehouse): the queue, the next pick wave, pack, ship, exceptions, and the
live SLA panel (R13-R17)."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.session import Viewer, local_path, require
from console.dispatch_gauges import projected_gauge
from console.sla_chart import sla_chart
from console.upstream import UpstreamError, seg
from console.warehouses import Choice, choose, remember

if TYPE_CHECKING:
    from console.app import Console

ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
EXCEPTION_KINDS = ("delayed", "damaged", "lost")


# The most urgent at-risk orders the SLA panel lists (with "and N more"): a screen a picker
# reads, and GET /sla answers faster the fewer it lists.
AT_RISK_SHOWN = 20
LOOKUPS_AT_ONCE = 16
"""Shipments looked up at once when checking their warehouse (issue 34)."""


def sla_view(sla: dict[str, Any]) -> dict[str, Any]:
    targets = sla.get("targets", {})
    overall = sla.get("overall", {})
    projection = sla.get("projection") or {}  # coloured by where each target is heading (issue 30)
    return {
        "sla": sla,
        "chart": sla_chart(sla),
        "gauge_24h": projected_gauge(overall.get("within_24h_pct"), float(targets.get("within_24h_pct", 80)),
                                     "Shipped within 24 h", "24h", projection.get("within_24h")),
        "gauge_48h": projected_gauge(overall.get("within_48h_pct"), float(targets.get("within_48h_pct", 95)),
                                     "Shipped within 48 h", "48h", projection.get("within_48h")),
    }


def pick_list(shipments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every line of the wave, shipments in the wave's priority order, then by sku."""
    rows = []
    for position, shipment in enumerate(shipments, start=1):
        for line in sorted(shipment.get("lines") or [], key=lambda l: l.get("sku", "")):
            rows.append({"position": position, "shipment_id": shipment["shipment_id"],
                         "order_id": shipment["order_id"], "priority_class": shipment["priority_class"],
                         "sku": line.get("sku"), "quantity": line.get("quantity"), "gift": line.get("gift", False)})
    return rows


def can_act(viewer: Viewer) -> bool:
    """Logistics lets only warehouse staff take waves, pack and ship; others see the board."""
    return "warehouse" in viewer.roles


async def _nothing() -> tuple[None, None]:
    return None, None


def elsewhere(shipment: dict[str, Any], choice: Choice) -> str | None:
    """Why a shipment is not for this viewer now: it is another warehouse's (issue 34)."""
    if not choice.several or shipment.get("warehouse", "main") == choice.id:
        return None
    return (f"Shipment {shipment.get('shipment_id')} is in warehouse {shipment.get('warehouse')}, not "
            f"{choice.current.name} where you are working; it is not shown here.")


async def check_warehouse(console: "Console", viewer: Viewer, choice: Choice, shipment_ids: list[str]) -> str | None:
    """A step on shipments (pack, ship, a problem, a hand-over) only in the viewer's warehouse:
    each shipment is looked up first when the deployment has several warehouses."""
    if not choice.several:
        return None
    ids = list(dict.fromkeys(shipment_ids))
    if len(ids) > 1:  # a truck at the dock: its parcels are on this warehouse's dock list, one call
        dock, _ = await console.attempt(console.up.get("logistics", "/dock", viewer.token, limit=500,
                                                       warehouse=choice.id))
        on_dock = {s.get("shipment_id") for s in (dock or {}).get("shipments", [])}
        ids = [s for s in ids if s not in on_dock]
    gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    async def look_up(shipment_id: str) -> tuple[Any, str | None]:
        async with gate:
            try:
                return await up.get("logistics", f"/shipments/{seg(shipment_id)}", viewer.token), None
            except UpstreamError as exc:  # unknown: logistics refuses the step itself; else not checked, not done
                return None, None if exc.status == 404 else (
                    f"Could not check which warehouse shipment {shipment_id} is in: {exc.message}")

    up = console.up
    found = await asyncio.gather(*(look_up(s) for s in ids))
    for shipment, unchecked in found:
        if unchecked:
            return unchecked
        if shipment and (why := elsewhere(shipment, choice)):
            return why.replace("; it is not shown here.", "; this is not done here.")
    return None


def board_context(choice: Choice) -> dict[str, Any]:
    return {"warehouse": choice, "warehouse_message": choice.message}


def router(console: "Console") -> APIRouter:
    r = APIRouter()
    up = lambda: console.up  # noqa: E731 (started in the lifespan)

    @r.get("/dispatch")
    async def board(request: Request) -> Response:
        viewer = require(request, "dispatch")
        choice = await choose(console, request, viewer, request.query_params.get("warehouse"))
        (sla, sla_error), (queue, queue_error) = await asyncio.gather(
            console.attempt(up().get("logistics", "/sla", viewer.token, at_risk_limit=AT_RISK_SHOWN,
                                     **choice.sla_params())),
            console.attempt(up().get("logistics", "/queue", viewer.token, limit=50, warehouse=choice.id)))
        return remember(console.render(request, "dispatch.html", viewer, sla_error=sla_error, queue=queue,
                                       queue_error=queue_error, picker_id=viewer.staff_id, can_act=can_act(viewer),
                                       **board_context(choice), **(sla_view(sla) if sla else {})),
                        console, viewer, choice)

    @r.get("/dispatch/sla")
    async def sla_panel(request: Request) -> Response:
        """The SLA panel alone, for the board's refresh every 30 seconds."""
        viewer = require(request, "dispatch")
        choice = await choose(console, request, viewer, request.query_params.get("warehouse"))
        sla, sla_error = await console.attempt(up().get("logistics", "/sla", viewer.token, at_risk_limit=AT_RISK_SHOWN,
                                                        **choice.sla_params()))
        return console.render(request, "_sla_panel.html", viewer, sla_error=sla_error, **board_context(choice),
                              **(sla_view(sla) if sla else {}))

    @r.post("/dispatch/waves")
    async def take_wave(request: Request) -> Response:
        viewer = require(request, "dispatch")
        form = await request.form()
        try:
            size = int(str(form.get("size", "10")))
        except ValueError:
            return console.redirect("/dispatch", error="The wave size must be a whole number, e.g. 10.")
        picker = str(form.get("picker_id") or viewer.staff_id).strip()
        asked = form.get("warehouse")
        choice = await choose(console, request, viewer, asked if isinstance(asked, str) else None)
        if choice.message:  # never a wave of a warehouse the person may not work in
            return console.redirect("/dispatch", error=choice.message + " No wave was taken.")
        try:
            wave = await up().post("logistics", "/waves", viewer.token,
                                   {"size": size, "picker_id": picker, "warehouse": choice.id})
        except UpstreamError as exc:
            return console.redirect("/dispatch", error=exc.message)
        if not wave["shipments"]:
            return console.redirect("/dispatch", ok=f"No shipments are waiting for a wave in {choice.current.name} "
                                                    "right now." if choice.several else
                                    "No shipments are waiting for a wave right now.")
        query = urlencode([("wave", wave["wave_id"]), ("picker", picker), ("until", wave["lease_until"])]
                          + [("s", s["shipment_id"]) for s in wave["shipments"]])
        return console.redirect(f"/dispatch/wave?{query}",
                                ok=f"Wave {wave['wave_id']}: {wave['size']} shipment(s) are yours until "
                                   f"{wave['lease_until'][11:16]} UTC.")

    @r.get("/dispatch/wave")
    async def wave_page(request: Request) -> Response:
        """A wave (or any shipments): the ids travel in the address, so nothing is kept here."""
        viewer = require(request, "dispatch")
        ids = [s.strip() for s in request.query_params.getlist("s") if s.strip()][:200]
        bad = [s for s in ids if not ID.match(s)]
        if bad or not ids:
            return console.redirect("/dispatch", error="Give a shipment id, e.g. SHP-O-1001." if not ids
                                    else f"{bad[0][:60]!r} is not a shipment id.")
        wave_id = request.query_params.get("wave")
        if wave_id is not None and not ID.match(wave_id):
            wave_id = None
        results = await asyncio.gather(*(console.attempt(up().get("logistics", f"/shipments/{seg(s)}", viewer.token))
                                         for s in ids),
                                       console.attempt(up().get("logistics", "/carriers", viewer.token)),
                                       console.attempt(up().get("logistics", f"/waves/{seg(wave_id)}", viewer.token))
                                       if wave_id else _nothing())
        choice = await choose(console, request, viewer)
        shipments = [s for s, _ in results[:-2] if s and not elsewhere(s, choice)]
        errors = [e for _, e in results[:-2] if e] + [why for s, _ in results[:-2] if s and (why := elsewhere(s, choice))]
        carriers, carriers_error = results[-2]
        wave, _ = results[-1]  # the lease and who still holds what; the page works without it
        still_here = {s["shipment_id"] for s in (wave or {}).get("still_in_this_wave", [])}
        for shipment in shipments:
            shipment["left_wave"] = bool(wave) and shipment["shipment_id"] not in still_here
        back = f"/dispatch/wave?{request.url.query}"
        from console.pages.dispatch_scan import pick_list_of  # its module imports this one

        totals, catalogue_error = await pick_list_of(console, viewer, shipments)
        return console.render(request, "wave.html", viewer, shipments=shipments, errors=errors,
                              totals=totals, catalogue_error=catalogue_error,
                              carriers=(carriers or {}).get("carriers", []), carriers_error=carriers_error,
                              wave_id=wave_id, wave=wave, can_act=can_act(viewer),
                              lease_until=(wave or {}).get("lease_until") or request.query_params.get("until"),
                              picks=pick_list(shipments), back=back, exception_kinds=EXCEPTION_KINDS,
                              **board_context(choice))

    @r.post("/dispatch/shipments/{shipment_id}/{action}")
    async def shipment_action(request: Request, shipment_id: str, action: str) -> Response:
        viewer = require(request, "dispatch")
        form = await request.form()
        back = local_path(str(form.get("back", "")), "/dispatch")
        path = f"/shipments/{seg(shipment_id)}/{action}"
        if action == "pack":
            body: dict[str, Any] = {"picker_id": viewer.staff_id}
            done = f"Shipment {shipment_id} is packed."
        elif action == "ship":
            tracking = str(form.get("tracking_number", "")).strip()
            carrier = str(form.get("carrier", "")).strip() or None
            if not tracking:
                return console.redirect(back, error=f"Shipment {shipment_id}: enter the carrier's tracking number.")
            body = {"tracking_number": tracking, "carrier": carrier}
            done = None
        elif action == "exception":
            kind = str(form.get("kind", ""))
            if kind not in EXCEPTION_KINDS:
                return console.redirect(back, error=f"Choose what happened: {', '.join(EXCEPTION_KINDS)}.")
            body = {"kind": kind, "note": str(form.get("note", "")).strip()[:1000], "reported_by": viewer.staff_id}
            done = None  # what the customer was told depends on the answer (below)
        else:
            return console.redirect(back, error=f"Unknown action {action[:30]!r}.")
        choice = await choose(console, request, viewer)
        if (why := await check_warehouse(console, viewer, choice, [shipment_id])) is not None:
            return console.redirect(back, error=why)
        try:
            result = await up().post("logistics", path, viewer.token, body)
        except UpstreamError as exc:
            return console.redirect(back, error=exc.message)
        if action == "exception":
            from console.pages.dispatch_scan import exception_words  # its module imports this one

            done = exception_words(shipment_id, kind, result)
        if action == "ship":
            done = (f"Shipment {shipment_id} handed to {result.get('carrier')} with tracking number "
                    f"{result.get('tracking_number')}" + (" — within 24 h." if result.get("shipped_within_24h")
                                                          else "."))
        return console.redirect(back, ok=done)

    return r
