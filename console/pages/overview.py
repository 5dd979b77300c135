"""Overview (admin): orders and GMV by priority class and state, low stock and open
replenishment, dead letters per topic, events the broker refused, and the dispatch and
after-sales targets at a glance."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.session import require
from console.warehouses import warehouse_figures

if TYPE_CHECKING:
    from console.app import Console


SERVICES = ("orders", "inventory", "logistics", "aftersales")


def router(console: "Console") -> APIRouter:
    r = APIRouter()

    @r.get("/overview")
    async def overview(request: Request) -> Response:
        viewer = require(request, "overview")
        up = console.up
        (stats, stats_error), (low, low_error), (sla, sla_error), (cases, cases_error), (dlq, dlq_error) = \
            await asyncio.gather(
                console.attempt(up.get("orders", "/stats", viewer.token)),
                console.attempt(up.get("inventory", "/stock/low", viewer.token)),
                console.attempt(up.get("logistics", "/sla", viewer.token, at_risk_limit=0)),
                console.attempt(up.get("aftersales", "/cases/sla", viewer.token)),
                console.dead_letters())
        held = await asyncio.gather(*(console.attempt(up.get(name, "/outbox", viewer.token)) for name in SERVICES))
        warehouse_rows, warehouse_error = await warehouse_figures(console, viewer.token, sla)  # issue 34
        refused = [{"service": name, "refused": (body or {}).get("refused"), "error": error}
                   for name, (body, error) in zip(SERVICES, held)]
        return console.render(request, "overview.html", viewer, stats=stats, stats_error=stats_error,
                              low=(low or {}).get("skus"), low_error=low_error, sla=sla, sla_error=sla_error,
                              cases=cases, cases_error=cases_error, dlq=dlq, dlq_error=dlq_error,
                              dlq_total=sum(c.count or 0 for c in dlq or []), refused=refused,
                              warehouse_rows=warehouse_rows, warehouse_error=warehouse_error)

    return r
