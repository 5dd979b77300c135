"""The three pages and their actions, one module each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from console.app import Console


def routers(console: "Console") -> list[APIRouter]:
    from console.pages import dispatch, overview, returns
    from console.pages import warroom  # issue 30: the war room

    return [dispatch.router(console), returns.router(console), overview.router(console), warroom.router(console)]
