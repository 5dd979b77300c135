"""The console's pages and their actions, one module each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from console.app import Console


def routers(console: "Console") -> list[APIRouter]:
    from console.pages import complaints, dispatch, dispatch_scan, order360, overview, returns, stock, warroom

    return [dispatch.router(console), dispatch_scan.router(console), returns.router(console),
            overview.router(console), stock.router(console), order360.router(console), complaints.router(console),
            warroom.router(console)]
