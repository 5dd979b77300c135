"""Returns desk (support): the case queue with its 48-hour timers, opening a return, and each
step of a case up to the refund or exchange (R19-R23)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.session import require
from console.upstream import UpstreamError, seg

if TYPE_CHECKING:
    from console.app import Console

ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

NEXT_STEPS: dict[str, dict[str, tuple[str, ...]]] = {
    # The buttons a case shows; aftersales decides (it refuses a step out of turn with the reason).
    "return": {"requested": ("approve", "reject"), "approved": ("receive", "reject"),
               "received": ("inspect",), "inspected": ("refund", "reject")},
    "exchange": {"requested": ("approve", "reject"), "approved": ("receive", "reject"),
                 "received": ("inspect",), "inspected": ("exchange", "reject")},
    "shipment_exception": {"requested": ("approve", "refund", "exchange", "reject"),
                           "approved": ("refund", "exchange", "reject")},
}
STEP_WORDS = {"approve": "approved", "receive": "marked as received", "inspect": "inspected",
              "refund": "refunded", "exchange": "sent as an exchange", "reject": "rejected",
              "dispute": "escalated as a dispute"}
GIFT_POLICY_WORDS = {
    "return_with_item": "A free gift comes back with the item that brought it; the refund is unchanged. "
                        "Gifts are not returned on their own.",
    "deduct_value": "The customer keeps a free gift; its stated value is deducted from the refund. "
                    "Gifts are not returned on their own.",
}


def chosen_lines(skus: list[str], quantities: list[str]) -> list[tuple[str, int]]:
    lines = []
    for sku, quantity in zip(skus, quantities, strict=False):
        quantity = quantity.strip()
        if quantity.isdigit() and int(quantity) > 0:
            lines.append((sku, int(quantity)))
    return lines


PAGE = 200
"""Cases a page of the returns desk shows."""


def router(console: "Console") -> APIRouter:
    r = APIRouter()
    up = lambda: console.up  # noqa: E731

    @r.get("/returns")
    async def desk(request: Request, closed: bool = False, cursor: str | None = None) -> Response:
        viewer = require(request, "returns")
        # A page of the queue as aftersales orders it; `cursor` (its next_cursor) turns the page.
        cases, error = await console.attempt(up().get("aftersales", "/cases", viewer.token, limit=PAGE,
                                                      include_closed="true" if closed else None, cursor=cursor))
        return console.render(request, "returns.html", viewer, cases=(cases or {}).get("cases"), error=error,
                              closed=closed, can_act="support" in viewer.roles,
                              next_cursor=(cases or {}).get("next_cursor"))

    @r.get("/returns/new")
    async def new_return(request: Request) -> Response:
        viewer = require(request, "returns")
        q = request.query_params
        order_id = q.get("order_id", "").strip()
        kind = q.get("kind", "return") if q.get("kind") in ("return", "exchange") else "return"
        if not order_id:
            return console.redirect("/returns", error="Enter the order id the customer gives you, e.g. O-1001.")
        if not ID.match(order_id):
            return console.redirect("/returns", error=f"{order_id[:60]!r} is not an order id.")
        wanted = chosen_lines(q.getlist("sku"), q.getlist("qty"))
        preview_asked = q.get("preview") == "1"
        if preview_asked and not wanted:
            preview_asked = False
            hint = "Choose a quantity of at least one line to preview."
        else:
            hint = None
        lines_param = ",".join(f"{s}:{n}" for s, n in wanted) if preview_asked else None
        order, error = await console.attempt(up().get("aftersales", f"/orders/{seg(order_id)}/returnable",
                                                      viewer.token, lines=lines_param))
        chosen = dict(wanted)
        return console.render(request, "return_new.html", viewer, order_id=order_id, order=order, error=error,
                              kind=kind, chosen=chosen, preview=(order or {}).get("refund_preview") if preview_asked
                              else None, hint=hint, reason=q.get("reason", ""), dispute=q.get("dispute") == "1",
                              gift_words=GIFT_POLICY_WORDS.get((order or {}).get("gift_policy", ""), ""))

    @r.post("/returns/new")
    async def open_return(request: Request) -> Response:
        viewer = require(request, "returns")
        form = await request.form()
        order_id = str(form.get("order_id", "")).strip()
        kind = str(form.get("kind", "return"))
        wanted = chosen_lines([str(s) for s in form.getlist("sku")], [str(n) for n in form.getlist("qty")])
        reason = str(form.get("reason", "")).strip()[:500]
        dispute = form.get("dispute") == "1"
        again = "/returns/new?" + urlencode(
            [("order_id", order_id), ("kind", kind), ("reason", reason), ("dispute", "1" if dispute else "")]
            + [p for s, n in wanted for p in (("sku", s), ("qty", str(n)))])
        if not wanted:
            return console.redirect(again, error="Choose a quantity of at least one line to return.")
        try:
            case = await up().post("aftersales", "/returns", viewer.token, {
                "order_id": order_id, "kind": kind, "reason": reason, "dispute": dispute,
                "lines": [{"sku": s, "quantity": n} for s, n in wanted]})
        except UpstreamError as exc:
            return console.redirect(again, error=exc.message)
        return console.redirect(f"/returns/cases/{seg(case['case_id'])}",
                                ok=f"Case {case['case_id']} opened for order {order_id}. Next: approve it.")

    @r.get("/returns/cases/{case_id}")
    async def case_page(request: Request, case_id: str) -> Response:
        viewer = require(request, "returns")
        case, error = await console.attempt(up().get("aftersales", f"/cases/{seg(case_id)}", viewer.token))
        steps = NEXT_STEPS.get(case["kind"], {}).get(case["status"], ()) if case else ()
        if "support" not in viewer.roles:
            steps = ()  # aftersales lets only support agents act on cases
        return console.render(request, "case.html", viewer, case_id=case_id, case=case, error=error, steps=steps,
                              can_act="support" in viewer.roles)

    @r.post("/returns/cases/{case_id}/{step}")
    async def case_step(request: Request, case_id: str, step: str) -> Response:
        viewer = require(request, "returns")
        form = await request.form()
        back = f"/returns/cases/{seg(case_id)}"
        note = str(form.get("note", "")).strip()[:500]
        body: dict[str, Any]
        if step in ("approve", "receive", "refund", "exchange", "dispute"):
            body = {"note": note}
        elif step == "inspect":
            if form.get("passed") not in ("yes", "no"):
                return console.redirect(back, error="Record whether the goods passed inspection.")
            body = {"passed": form.get("passed") == "yes", "note": note}
        elif step == "reject":
            reason = str(form.get("reason", "")).strip()[:500]
            if not reason:
                return console.redirect(back, error="Give the customer a reason for the rejection.")
            body = {"reason": reason}
        else:
            return console.redirect(back, error=f"Unknown step {step[:30]!r}.")
        try:
            case = await up().post("aftersales", f"/cases/{seg(case_id)}/{step}", viewer.token, body)
        except UpstreamError as exc:
            return console.redirect(back, error=exc.message)
        text = f"Case {case_id} {STEP_WORDS[step]}."
        if step == "refund" and case.get("refund_amount"):
            text = f"Case {case_id} refunded: {case['refund_amount']} goes back to the customer."
        if step == "inspect":
            text += (" The goods go back to stock." if body["passed"]
                     else " The goods failed inspection: refund anyway or reject.")
        return console.redirect(back, ok=text)

    return r
