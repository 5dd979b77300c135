"""Scan-first dispatch (issue 30): the wave page's pick list with product names and bins, the
JSON steps its scanner input calls (pack, ship, delivered: no page reloads), the dock screen that
hands a carrier's collection over at once, and the dispatch board's live part (the Waiting table
and the SLA panel from one refresh, so they never disagree).

The JSON answers carry `say`: one sentence for the person at the scanner, read out by the page's
aria-live region; refusals come back with the services' reasons in plain words, as RFC 9457
problem bodies with the refusal's status (`detail` and `say` the same sentence)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from console.pages.dispatch import AT_RISK_SHOWN, ID, board_context, can_act, check_warehouse, sla_view
from console.picking import by_carrier, pick_totals
from console.session import Viewer, require
from console.upstream import UpstreamError, seg
from console.warehouses import choose, remember

if TYPE_CHECKING:
    from console.app import Console

TRACKING = re.compile(r"^[A-Za-z0-9-]{1,64}$")  # logistics' own rule for tracking numbers
CARRIER = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
MAX_BODY_BYTES = 200_000
MAX_PARCELS = 500
MAX_SKUS_LOOKED_UP = 100


async def pick_list_of(console: "Console", viewer: Viewer,
                       shipments: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The wave's totals per sku with inventory's names and bins; without inventory the list still
    comes, by sku, with the reason the names are missing."""
    skus = sorted({line["sku"] for s in shipments for line in s.get("lines") or []})[:MAX_SKUS_LOOKED_UP]
    answers = await asyncio.gather(*(console.attempt(console.up.get("inventory", f"/stock/{seg(sku)}", viewer.token))
                                     for sku in skus))
    catalogue = {sku: figures for sku, (figures, _) in zip(skus, answers, strict=True)}
    errors = [e for _, e in answers if e and "unknown sku" not in e.lower()]
    return pick_totals(shipments, catalogue), (errors[0] if errors else None)


NOTIFICATION_WORDS = {
    "published": "The customer is told: the notification went to the platform's customer messaging.",
    "queued": "The customer's notification is queued in logistics' outbox; it has not reached the platform yet.",
    "refused": "The customer's notification was refused by the broker: tell the on-call engineer; the customer "
               "has not been told.",
}


def exception_words(shipment_id: str, kind: str, answer: dict[str, Any]) -> str:
    """What reporting an exception did, saying the customer is told only when logistics says the
    notification was published (its outbox row), not when it was merely asked for."""
    latest = (answer.get("exceptions") or [{}])[-1]
    told = NOTIFICATION_WORDS.get(latest.get("customer_notification") or "",
                                  "Logistics did not say whether the customer is told.")
    return f"Shipment {shipment_id} reported as {kind}. {told} Support sees it on the returns desk."


PROBLEM_TITLES = {403: "Not allowed for this role", 404: "Not found", 409: "Refused in this state",
                  422: "Not a valid scan", 502: "A service did not answer", 503: "A service is unavailable"}


def _answer(code: int, say: str, **more: Any) -> JSONResponse:
    """A step done: 200 with `ok` and `say`. A refused one: its status (the service's, or the
    console's own 4xx) with an RFC 9457 problem body whose `detail` is the sentence to say, and
    `say` / `ok` false beside it, so the page reads every answer the same way."""
    if code < 400:
        return JSONResponse({"ok": True, "say": say, **more})
    problem = {"type": "about:blank", "title": PROBLEM_TITLES.get(code, "Refused"), "status": code,
               "detail": say, "ok": False, "say": say, **more}
    return JSONResponse(problem, status_code=code, media_type="application/problem+json")


def _refused(exc: UpstreamError) -> JSONResponse:
    """A service's refusal keeps its 4xx; a service that failed or did not answer is a 502."""
    return _answer(exc.status if exc.status and 400 <= exc.status < 500 else 502, exc.message)


async def _body(request: Request) -> dict[str, Any] | None:
    """The step's JSON object, or None for anything else: over MAX_BODY_BYTES (declared, or sent
    in chunks without a length), not UTF-8 or not JSON, or nested deeper than the parser goes."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        return None
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _shipment_id(body: dict[str, Any]) -> str | None:
    value = body.get("shipment_id")
    return value if isinstance(value, str) and ID.match(value) else None


def router(console: "Console") -> APIRouter:
    r = APIRouter()

    def refusal(viewer: Viewer) -> JSONResponse | None:
        if not can_act(viewer):
            return _answer(403, "Packing, hand-over and delivery are for warehouse staff; you see this read-only.")
        return None

    async def blocked(request: Request, viewer: Viewer, shipment_ids: list[str]) -> JSONResponse | None:
        """Refused for the role, or for a shipment of another warehouse than the viewer's (409)."""
        if (refused := refusal(viewer)) is not None:
            return refused
        choice = await choose(console, request, viewer)
        if (why := await check_warehouse(console, viewer, choice, shipment_ids)) is not None:
            return _answer(409, why)
        return None

    @r.get("/dispatch/live")
    async def live(request: Request) -> Response:
        """The board's Waiting table and SLA panel, read together, for the board's refresh."""
        viewer = require(request, "dispatch")
        choice = await choose(console, request, viewer, request.query_params.get("warehouse"))
        (sla, sla_error), (queue, queue_error) = await asyncio.gather(
            console.attempt(console.up.get("logistics", "/sla", viewer.token, at_risk_limit=AT_RISK_SHOWN,
                                           **choice.sla_params())),
            console.attempt(console.up.get("logistics", "/queue", viewer.token, limit=50, warehouse=choice.id)))
        return console.render(request, "_board_live.html", viewer, sla_error=sla_error, queue=queue,
                              queue_error=queue_error, **board_context(choice), **(sla_view(sla) if sla else {}))

    @r.post("/dispatch/scan/pack")
    async def pack(request: Request) -> Response:
        viewer = require(request, "dispatch")
        body = await _body(request)
        shipment_id = _shipment_id(body or {})
        if shipment_id is None:
            return _answer(422, "That is not a shipment id.")
        if (refused := await blocked(request, viewer, [shipment_id])) is not None:
            return refused
        try:
            result = await console.up.post("logistics", f"/shipments/{seg(shipment_id)}/pack", viewer.token,
                                           {"picker_id": viewer.staff_id})
        except UpstreamError as exc:
            return _refused(exc)
        carrier = (result.get("suggested_carrier") or {}).get("carrier")
        said = (f"Shipment {shipment_id} was packed already." if not result.get("changed")
                else f"Shipment {shipment_id} packed.")
        then = (f" Scan the tracking number to hand it to {carrier}." if carrier
                else " No carrier fits it: hand it over on the shipment's card.")
        return _answer(200, said + then, shipment_id=shipment_id, status=result.get("status"), carrier=carrier)

    @r.post("/dispatch/scan/ship")
    async def ship(request: Request) -> Response:
        viewer = require(request, "dispatch")
        body = await _body(request) or {}
        shipment_id, tracking = _shipment_id(body), body.get("tracking_number")
        if shipment_id is None:
            return _answer(422, "That is not a shipment id.")
        if not isinstance(tracking, str) or not TRACKING.match(tracking):
            return _answer(422, "A tracking number is 1 to 64 letters, digits or dashes; scan the carrier's label.")
        if (refused := await blocked(request, viewer, [shipment_id])) is not None:
            return refused
        try:
            result = await console.up.post("logistics", f"/shipments/{seg(shipment_id)}/ship", viewer.token,
                                           {"tracking_number": tracking, "carrier": None})
        except UpstreamError as exc:
            return _refused(exc)
        said = (f"Shipment {shipment_id} was handed to {result.get('carrier')} already, tracking "
                f"{result.get('tracking_number')}." if not result.get("changed") else
                f"Shipment {shipment_id} handed to {result.get('carrier')}, tracking {result.get('tracking_number')}"
                + (", within 24 hours." if result.get("shipped_within_24h") else "."))
        return _answer(200, said, shipment_id=shipment_id, status=result.get("status"),
                       carrier=result.get("carrier"), tracking_number=result.get("tracking_number"))

    @r.post("/dispatch/scan/delivered")
    async def delivered(request: Request) -> Response:
        viewer = require(request, "dispatch")
        shipment_id = _shipment_id(await _body(request) or {})
        if shipment_id is None:
            return _answer(422, "That is not a shipment id.")
        if (refused := await blocked(request, viewer, [shipment_id])) is not None:
            return refused
        try:
            result = await console.up.post("logistics", f"/shipments/{seg(shipment_id)}/delivered", viewer.token, {})
        except UpstreamError as exc:
            return _refused(exc)
        said = (f"Shipment {shipment_id} was confirmed delivered already." if not result.get("changed")
                else f"Shipment {shipment_id} confirmed delivered.")
        return _answer(200, said, shipment_id=shipment_id, status=result.get("status"))

    @r.post("/dispatch/scan/handover")
    async def handover(request: Request) -> Response:
        """A carrier's collection at the dock: every parcel scanned with its tracking number."""
        viewer = require(request, "dispatch")
        body = await _body(request) or {}
        carrier, parcels = body.get("carrier"), body.get("parcels")
        if not isinstance(carrier, str) or not CARRIER.match(carrier):
            return _answer(422, "Choose the carrier whose truck is at the dock.")
        if not isinstance(parcels, list) or not parcels or len(parcels) > MAX_PARCELS:
            return _answer(422, f"Scan 1 to {MAX_PARCELS} parcels with their tracking numbers first.")
        clean = []
        for parcel in parcels:
            shipment_id = _shipment_id(parcel) if isinstance(parcel, dict) else None
            tracking = parcel.get("tracking_number") if isinstance(parcel, dict) else None
            if shipment_id is None or not isinstance(tracking, str) or not TRACKING.match(tracking):
                return _answer(422, "Every parcel needs its shipment id and a tracking number of letters, digits "
                                    "or dashes.")
            clean.append({"shipment_id": shipment_id, "tracking_number": tracking})
        if (refused := await blocked(request, viewer, [p["shipment_id"] for p in clean])) is not None:
            return refused
        try:
            result = await console.up.post("logistics", "/shipments/ship-batch", viewer.token,
                                           {"carrier": carrier, "parcels": clean})
        except UpstreamError as exc:
            return _refused(exc)
        shipped, refused_ = result.get("shipped", []), result.get("refused", [])
        said = f"{len(shipped)} parcel{'' if len(shipped) == 1 else 's'} handed to {carrier}."
        if refused_:
            said += " Not handed over: " + "; ".join(f"{p['shipment_id']} ({p['reason']})" for p in refused_[:5]) + "."
        return _answer(200, said, shipped=shipped, refused=refused_)

    @r.get("/dispatch/dock")
    async def dock(request: Request) -> Response:
        viewer = require(request, "dispatch")
        choice = await choose(console, request, viewer, request.query_params.get("warehouse"))
        found, error = await console.attempt(console.up.get("logistics", "/dock", viewer.token, limit=500,
                                                            warehouse=choice.id))
        return remember(console.render(request, "dock.html", viewer, dock=found, dock_error=error,
                                       groups=by_carrier((found or {}).get("shipments", [])), can_act=can_act(viewer),
                                       **board_context(choice)), console, viewer, choice)

    return r
