"""Complaints desk (support; admins read): public complaints first, the time left to the first
response (1 hour) and to the resolution (24 hours), overdue ones flagged; opening a complaint,
the first response, the resolution (R27). The deadlines and overdue flags are the after-sales
service's, by its clock; this page only words them."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.session import require
from console.upstream import UpstreamError, seg

if TYPE_CHECKING:
    from console.app import Console

ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
PAGE = 100
"""Complaints a page of the desk shows."""
STATES = ("open", "closed", "all")


def hours_left(due: str, now: str) -> float:
    """Hours from the service's `now` to `due` (negative: overdue by that much)."""
    return (datetime.fromisoformat(due) - datetime.fromisoformat(now)).total_seconds() / 3600


def with_clocks(complaint: dict[str, Any]) -> dict[str, Any]:
    """The complaint with the hours left on each of its clocks, None once that clock stopped."""
    now = complaint["now"]
    return complaint | {
        "first_left": None if complaint["responded_at"] else hours_left(complaint["first_response_due"], now),
        "resolution_left": None if complaint["resolved_at"] else hours_left(complaint["resolution_due"], now),
        "overdue": complaint["first_response_overdue"] or complaint["resolution_overdue"]}


def router(console: "Console") -> APIRouter:
    r = APIRouter()
    up = lambda: console.up  # noqa: E731

    @r.get("/complaints")
    async def desk(request: Request, state: str = "open", cursor: str | None = None) -> Response:
        viewer = require(request, "complaints")
        state = state if state in STATES else "open"
        page, error = await console.attempt(up().get("aftersales", "/complaints", viewer.token, limit=PAGE,
                                                     state=state, cursor=cursor))
        listed = [with_clocks(c) for c in (page or {}).get("complaints", [])]
        q = request.query_params
        return console.render(request, "complaints.html", viewer, complaints=listed, error=error, state=state,
                              next_cursor=(page or {}).get("next_cursor"), can_act="support" in viewer.roles,
                              form_key=str(uuid.uuid4()), prefill={k: q.get(k, "") for k in (
                                  "order_id", "customer_id", "channel", "subject", "text")},
                              overdue=sum(1 for c in listed if c["overdue"]))

    @r.post("/complaints/new")
    async def open_complaint(request: Request) -> Response:
        viewer = require(request, "complaints")
        if "support" not in viewer.roles:  # aftersales would refuse it too
            return console.redirect("/complaints", error="Only support agents open complaints.")
        form = await request.form()
        fields = {k: str(form.get(k, "")).strip() for k in ("order_id", "customer_id", "channel", "subject", "text")}
        again = "/complaints?" + urlencode(fields)
        if not ID.match(fields["order_id"]):
            return console.redirect(again, error="Enter the order id the complaint is about, e.g. O-1001.")
        if fields["customer_id"] and not ID.match(fields["customer_id"]):
            return console.redirect(again, error=f"{fields['customer_id'][:60]!r} is not a customer id.")
        key = str(form.get("key", ""))
        if not KEY.match(key):
            key = str(uuid.uuid4())
        body = {"order_id": fields["order_id"], "channel": fields["channel"], "subject": fields["subject"],
                "text": fields["text"]} | ({"customer_id": fields["customer_id"]} if fields["customer_id"] else {})
        try:
            opened = await up().post_once("aftersales", "/complaints", viewer.token, body, f"console-{key}")
        except UpstreamError as exc:
            return console.redirect(again, error=exc.message)
        return console.redirect(f"/complaints/{seg(opened['complaint_id'])}",
                                ok=f"Complaint {opened['complaint_id']} opened for order {opened['order_id']}. "
                                   f"First response due within the hour.")

    @r.get("/complaints/{complaint_id}")
    async def complaint_page(request: Request, complaint_id: str) -> Response:
        viewer = require(request, "complaints")
        found, error = await console.attempt(up().get("aftersales", f"/complaints/{seg(complaint_id)}", viewer.token))
        return console.render(request, "complaint.html", viewer, complaint_id=complaint_id,
                              complaint=with_clocks(found) if found else None, error=error,
                              can_act="support" in viewer.roles)

    @r.post("/complaints/{complaint_id}/{step}")
    async def complaint_step(request: Request, complaint_id: str, step: str) -> Response:
        viewer = require(request, "complaints")
        back = f"/complaints/{seg(complaint_id)}"
        if "support" not in viewer.roles:
            return console.redirect(back, error="Only support agents answer and resolve complaints.")
        if step not in ("respond", "resolve"):
            return console.redirect(back, error=f"Unknown step {step[:30]!r}.")
        form = await request.form()
        words = str(form.get("words", "")).strip()
        if not words:
            return console.redirect(back, error="Write what the customer was told." if step == "respond"
                                    else "Write what was done to resolve it.")
        field = "response" if step == "respond" else "resolution"
        try:
            await up().post("aftersales", f"{back}/{step}", viewer.token, {field: words})
        except UpstreamError as exc:
            return console.redirect(back, error=exc.message)
        return console.redirect(back, ok=f"Complaint {complaint_id}: " + (
            "first response recorded." if step == "respond" else "resolved."))

    return r
