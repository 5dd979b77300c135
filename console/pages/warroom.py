"""War room (issue 30; admin's home, read-only for every role): GMV gross and net, orders,
average basket and conversion, dispatch speed per minute or hour, the 24h/48h shares over time
against their targets, stock cover per sku with open replenishment, carrier capacity used today
and dead letters, as Apache ECharts charts (vendored in static/vendor/echarts) that update
without a reload: console/static/warroom.js asks /warroom/data every 2 seconds, with the
viewer's own session, and this asks the services with the viewer's token."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from console.session import require
from console.warehouses import warehouse_figures

if TYPE_CHECKING:
    from console.app import Console

STOCK_SKUS = 100
"""Skus shown in the cover table: the first page of /stock, lowest cover first."""
DEAD_LETTERS_EVERY_S = 10.0
"""Dead letters are counted from Kafka's offsets at most this often, whoever is watching: every
viewer asks every 2 seconds, the broker need not be asked that often."""


WAREHOUSES_EVERY_S = 5.0
"""The per-warehouse figures (one GET /sla, then one per warehouse for its at-risk count) are
asked at most this often, whoever is watching: every role that opens the war room may read them."""


def _cover_key(sku: dict[str, Any]) -> tuple[int, float, str]:
    cover = sku.get("cover_hours")
    return (0, float(cover), sku.get("sku", "")) if isinstance(cover, (int, float)) else (1, 0.0, sku.get("sku", ""))


def router(console: "Console") -> APIRouter:
    r = APIRouter()
    dead_letters: dict[str, Any] = {"at": 0.0, "value": (None, None)}
    lock = asyncio.Lock()
    per_warehouse: dict[str, Any] = {"at": -WAREHOUSES_EVERY_S, "value": {}}
    warehouse_lock = asyncio.Lock()

    async def warehouse_part(token: str) -> dict[str, Any]:
        """Each warehouse's 24h/48h shares, shipped, unshipped and at-risk count beside the overall
        figures (issue 34); `warehouses` null with only `main` (nothing to break down)."""
        async with warehouse_lock:
            if time.monotonic() - per_warehouse["at"] >= WAREHOUSES_EVERY_S:
                sla, error = await console.attempt(console.up.get("logistics", "/sla", token, at_risk_limit=0))
                rows, rows_error = await warehouse_figures(console, token, sla)
                per_warehouse["value"] = {
                    "warehouses": rows, "warehouses_error": error or rows_error,
                    "warehouses_overall": None if sla is None else {**sla["overall"],
                                                                    "at_risk": sla["at_risk"]["count"]},
                    "warehouses_as_of": None if sla is None else sla["now"],
                    "warehouses_targets": None if sla is None else sla["targets"]}
                per_warehouse["at"] = time.monotonic()
            return per_warehouse["value"]

    async def counted_dead_letters() -> tuple[Any, str | None]:
        async with lock:
            if time.monotonic() - dead_letters["at"] >= DEAD_LETTERS_EVERY_S:
                dead_letters["value"] = await console.dead_letters()
                dead_letters["at"] = time.monotonic()
            return dead_letters["value"]

    @r.get("/warroom")
    async def warroom(request: Request) -> Response:
        viewer = require(request, "warroom")
        return console.render(request, "warroom.html", viewer, time_zone=console.settings.time_zone,
                              is_admin="admin" in viewer.roles)

    @r.get("/warroom/data")
    async def warroom_data(request: Request, bucket: str = Query(default="minute", pattern="^(minute|hour)$")
                           ) -> Response:
        """Everything the charts show, as JSON; each part carries its own error in words, so one
        service being down leaves the rest live."""
        viewer = require(request, "warroom")
        up = console.up
        (orders, orders_error), (sla, sla_error), (stock, stock_error), (carriers, carriers_error), \
            (dlq, dlq_error), warehouses = await asyncio.gather(
                console.attempt(up.get("orders", "/stats/series", viewer.token, bucket=bucket)),
                console.attempt(up.get("logistics", "/sla/series", viewer.token, bucket=bucket)),
                console.attempt(up.get("inventory", "/stock", viewer.token, limit=STOCK_SKUS)),
                console.attempt(up.get("logistics", "/carriers", viewer.token)),
                counted_dead_letters(), warehouse_part(viewer.token))
        skus = sorted((stock or {}).get("skus", []), key=_cover_key)
        return JSONResponse({
            "now": datetime.now(UTC).isoformat(), "bucket": bucket, "time_zone": console.settings.time_zone,
            "orders": orders, "orders_error": orders_error,
            "sla": sla, "sla_error": sla_error,
            "stock": [{k: s.get(k) for k in ("sku", "name", "available", "on_hand", "reserved", "mode",
                                             "cover_hours", "sell_rate_per_hour", "open_replenishment")}
                      for s in skus], "stock_error": stock_error,
            "carriers": (carriers or {}).get("carriers"), "carriers_day": (carriers or {}).get("day"),
            "carriers_error": carriers_error,
            "dead_letters": None if dlq is None else {
                "total": sum(c.count or 0 for c in dlq), "topics": [{"topic": c.topic, "count": c.count} for c in dlq]},
            "dead_letters_error": dlq_error,
            **warehouses,
        })

    return r
