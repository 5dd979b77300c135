"""Order 360 (support and admins act; warehouse staff read): find an order by its id, its
customer's id or a parcel's tracking number, then one page with everything the services know of
it: the timeline, the lines with product names, shipments, the hold, return cases, complaints,
refunds, and the actions the viewer's role may take. Each section is loaded on its own: a service
that does not answer leaves its section saying why, and the rest of the page shows."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.session import require
from console.upstream import UpstreamError, seg

if TYPE_CHECKING:
    from console.app import Console

ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
TRACKING = re.compile(r"^[A-Za-z0-9-]{1,64}$")
"""What logistics accepts as a tracking number."""
MAX_NAMED_SKUS = 40
"""Product names looked up for one order (one inventory call each)."""

CANCELLABLE = frozenset({"accepted", "backordered", "reserved", "awaiting_balance", "held", "needs_attention"})
"""Before dispatch (orders' domain.CANCELLABLE): where the cancel button shows; orders decides (409 otherwise)."""
RELEASABLE = frozenset({"held", "needs_attention"})
RETURNABLE = frozenset({"delivered", "return_requested", "returned", "partially_refunded"})
"""After delivery: where the link to the returns desk shows; after-sales checks the seven days."""
CANCELLERS = frozenset({"support"})  # orders' access.py: POST /orders/{id}/cancel (platform, support)
RELEASERS = frozenset({"support", "admin"})  # POST /orders/{id}/release
AFTERSALES_READERS = frozenset({"support", "admin"})  # GET /cases, GET /complaints


async def _found(call: Awaitable[Any]) -> tuple[Any, str | None]:
    """Like Console.attempt, but a 404 is an answer (nothing found), not a failure."""
    try:
        return await call, None
    except UpstreamError as exc:
        return (None, None) if exc.status == 404 else (None, exc.message)


async def _nothing() -> None:
    return None


def router(console: "Console") -> APIRouter:
    r = APIRouter()
    up = lambda: console.up  # noqa: E731

    @r.get("/orders")
    async def search(request: Request, q: str = "") -> Response:
        viewer = require(request, "order360")
        q = q.strip()
        if not q:
            return console.render(request, "order360_search.html", viewer, q="", searched=False)
        if not ID.match(q):
            return console.render(request, "order360_search.html", viewer, q=q[:80], searched=False,
                                  error=f"{q[:60]!r} is not an order id, customer id or tracking number "
                                        "(letters, digits and . _ : - only).")
        # All three at once: one person's words may be any of them, and a service down only
        # takes its own kind of match away.
        (order, order_error), (customers, customer_error), (parcels, parcel_error) = await asyncio.gather(
            _found(up().get("orders", f"/orders/{seg(q)}", viewer.token)),
            console.attempt(up().get("orders", "/orders", viewer.token, customer_id=q, limit=50)),
            console.attempt(up().get("logistics", "/shipments", viewer.token, tracking_number=q, limit=20))
            if TRACKING.match(q) else _found(_nothing()))
        by_customer = (customers or {}).get("items", [])
        by_tracking = (parcels or {}).get("items", [])
        matches = {o["order_id"] for o in by_customer} | {s["order_id"] for s in by_tracking}
        if order is not None:
            return console.redirect(f"/orders/{seg(order['order_id'])}")
        if len(matches) == 1 and not order_error:
            return console.redirect(f"/orders/{seg(matches.pop())}")
        errors = list(dict.fromkeys(e for e in (order_error, customer_error, parcel_error) if e))  # one per service
        return console.render(request, "order360_search.html", viewer, q=q, searched=True, by_customer=by_customer,
                              by_tracking=by_tracking, errors=errors)

    @r.get("/orders/{order_id}")
    async def order_page(request: Request, order_id: str) -> Response:
        viewer = require(request, "order360")
        if not ID.match(order_id):
            return console.redirect("/orders", error=f"{order_id[:60]!r} is not an order id.")
        reads_aftersales = bool(viewer.roles & AFTERSALES_READERS)
        path = f"/orders/{seg(order_id)}"
        (order, order_error), (shipments, shipments_error), (cases, cases_error), (complaints, complaints_error) = (
            await asyncio.gather(
                console.attempt(up().get("orders", path, viewer.token)),
                console.attempt(up().get("logistics", "/shipments", viewer.token, order_id=order_id, limit=50)),
                console.attempt(up().get("aftersales", "/cases", viewer.token, order_id=order_id,
                                         include_closed="true", limit=100))
                if reads_aftersales else _found(_nothing()),
                console.attempt(up().get("aftersales", "/complaints", viewer.token, order_id=order_id, state="all",
                                         limit=100))
                if reads_aftersales else _found(_nothing())))
        lines = (order or {}).get("lines") or []
        skus = list(dict.fromkeys(str(line.get("sku")) for line in lines if line.get("sku")))[:MAX_NAMED_SKUS]
        named = await asyncio.gather(*(console.attempt(up().get("inventory", f"/stock/{seg(sku)}", viewer.token))
                                       for sku in skus))
        names = {sku: figures["name"] for sku, (figures, _) in zip(skus, named, strict=True)
                 if figures and figures.get("name")}
        names_error = next((error for _, error in named if error), None)
        status = (order or {}).get("status", "")
        case_list = (cases or {}).get("cases", [])
        return console.render(
            request, "order360.html", viewer, order_id=order_id, order=order, order_error=order_error,
            lines=lines, names=names, names_error=names_error,
            shipments=(shipments or {}).get("items", []), shipments_error=shipments_error,
            reads_aftersales=reads_aftersales, read_only=not reads_aftersales, cases=case_list, cases_error=cases_error,
            complaints=(complaints or {}).get("complaints", []), complaints_error=complaints_error,
            case_refunds=[c for c in case_list if c.get("refund_amount")],
            can_cancel=bool(viewer.roles & CANCELLERS) and status in CANCELLABLE,
            can_release=bool(viewer.roles & RELEASERS) and status in RELEASABLE,
            can_return="support" in viewer.roles and status in RETURNABLE,
            can_complain="support" in viewer.roles and order is not None and status != "rejected")

    async def order_step(request: Request, order_id: str, step: str, allowed: frozenset[str], refusal: str,
                         field: str) -> tuple[dict | None, Response]:
        """Asks orders to take `step` with the form's `field` (a reason or note): its answer, or
        None and the page to go back to with the refusal in words."""
        viewer = require(request, "order360")
        back = f"/orders/{seg(order_id)}"
        if not viewer.roles & allowed:  # orders would refuse it too; say so before asking
            return None, console.redirect(back, error=refusal)
        text = str((await request.form()).get(field, "")).strip()[:200]
        try:
            return await up().post("orders", f"{back}/{step}", viewer.token, {field: text}), console.redirect(back)
        except UpstreamError as exc:
            return None, console.redirect(back, error=exc.message)

    @r.post("/orders/{order_id}/cancel")
    async def cancel(request: Request, order_id: str) -> Response:
        answer, refused = await order_step(request, order_id, "cancel", CANCELLERS,
                                           "Only support agents cancel orders for customers.", "reason")
        if answer is None:
            return refused
        back = f"/orders/{seg(order_id)}"
        if answer.get("already_cancelled"):
            return console.redirect(back, ok=f"Order {order_id} was already cancelled; nothing changed.")
        return console.redirect(back, ok=f"Order {order_id} cancelled. Orders published order.cancelled: inventory "
                                         "releases its stock and logistics withdraws its shipment.")

    @r.post("/orders/{order_id}/release")
    async def release(request: Request, order_id: str) -> Response:
        answer, refused = await order_step(request, order_id, "release", RELEASERS,
                                           "Only support agents and administrators release held orders.", "note")
        if answer is None:
            return refused
        back = f"/orders/{seg(order_id)}"
        if answer.get("already_released"):
            return console.redirect(back, ok=f"Order {order_id} was released before; nothing changed.")
        return console.redirect(back, ok=f"Order {order_id} released: it is {answer.get('status', 'accepted')} "
                                         "and goes on to stock reservation.")

    return r
