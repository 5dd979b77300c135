"""Which warehouse a viewer works in (issue 34): the dispatch board, waves, scans and the dock
are one warehouse's. The choice is made on the board among the warehouses the person may work in
(inventory's GET /warehouses, filtered by the user's configured `warehouses`), remembered in a
cookie the console signs (bound to the username), and checked against the user's list on every
request: a warehouse asked for by hand that the person may not work in, or a forged cookie, never
shows that warehouse's data. The per-warehouse SLA rows of the war room and the overview are here
too (logistics' GET /sla `by_warehouse`, plus each warehouse's at-risk count)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response

from console.session import Viewer
from shared.auth import AuthSettings
from shared.limits import ID_PATTERN

if TYPE_CHECKING:
    from console.app import Console

WAREHOUSE_COOKIE = "console_warehouse"
WAREHOUSE_ID = re.compile(ID_PATTERN)
"""The services' id alphabet (ASCII letters, digits, `._:@#/+-`, at most 64): a look-alike
letter from another script is not an id, so it can never name a warehouse."""
DEFAULT = "main"
LIST_KEPT_S = 5.0
"""Inventory's list of warehouses is kept this long: the board, its refresh and every scan ask."""
COOKIE_MAX_AGE_S = 12 * 3600


@dataclass(frozen=True)
class Warehouse:
    id: str
    name: str


@dataclass
class Choice:
    """The viewer's current warehouse, what they may choose from, and what to tell them."""

    current: Warehouse
    options: list[Warehouse]
    several: bool
    """The deployment has more than one warehouse: figures are asked per warehouse (with one,
    the console asks exactly what it asked before warehouses existed)."""
    message: str | None = None
    remember: bool = False
    known_error: str | None = None
    all_warehouses: list[Warehouse] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.current.id

    def sla_params(self) -> dict[str, Any]:
        return {"warehouse": self.id} if self.several else {}


def shown(value: str, limit: int = 40) -> str:
    """A value a person typed, safe and short enough to quote back."""
    text = "".join(c if c.isprintable() else "?" for c in value)
    return text if len(text) <= limit else text[:limit] + "…"


# -- the signed cookie ----------------------------------------------------------------------

def _key(auth: AuthSettings) -> bytes:
    return hashlib.sha256(b"console-warehouse:" + auth.auth_secret.encode()).digest()


def sign(auth: AuthSettings, username: str, warehouse: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"u": username, "w": warehouse}).encode()).decode()
    mac = hmac.new(_key(auth), payload.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{payload}.{mac}"


def unsign(auth: AuthSettings, username: str, raw: str | None) -> str | None:
    """The warehouse in a cookie this console signed for this person; anything else is None."""
    if not raw or "." not in raw or len(raw) > 1000:
        return None
    payload, _, mac = raw.rpartition(".")
    expected = hmac.new(_key(auth), payload.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("u") != username or not isinstance(data.get("w"), str):
        return None
    return data["w"] if WAREHOUSE_ID.match(data["w"]) else None


def remember(response: Response, console: "Console", viewer: Viewer, choice: Choice) -> Response:
    if choice.remember:
        response.set_cookie(WAREHOUSE_COOKIE, sign(console.auth, viewer.username, choice.id),
                            max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="lax", path="/",
                            secure=console.cookie_secure)
    return response


# -- the list and the choice -----------------------------------------------------------------

class WarehouseList:
    """Inventory's warehouses, kept a few seconds (the same list for everyone who may read it)."""

    def __init__(self) -> None:
        self._at = -LIST_KEPT_S
        self._value: tuple[list[Warehouse] | None, str | None] = (None, None)
        self._lock = asyncio.Lock()

    async def get(self, console: "Console", token: str) -> tuple[list[Warehouse] | None, str | None]:
        """The list, or None and why; a failure is kept as long as an answer, so an inventory that
        hangs costs one wait per few seconds, not one per page (the calls take turns)."""
        async with self._lock:
            if time.monotonic() - self._at < LIST_KEPT_S:
                return self._value
            found, error = await console.attempt(console.up.get("inventory", "/warehouses", token))
            if found is None:
                self._value = (None, error)
            else:
                rows = [w for w in (found or {}).get("warehouses", []) if isinstance(w, dict)]
                self._value = ([Warehouse(str(w["id"]), str(w.get("name") or w["id"])) for w in rows
                                if isinstance(w.get("id"), str) and WAREHOUSE_ID.match(w["id"])] or None, None)
            self._at = time.monotonic()
            return self._value


def allowed_of(console: "Console", viewer: Viewer) -> tuple[str, ...]:
    """The warehouses the person is configured for; empty: any warehouse."""
    user = console.users.users.get(viewer.username)
    return tuple(user.warehouses) if user is not None else ()


async def choose(console: "Console", request: Request, viewer: Viewer, asked: str | None = None) -> Choice:
    """The viewer's warehouse for this request: `asked` (a query or form value) when they may work
    there, else the one in their signed cookie, else their first. Checked on every request."""
    allowed = allowed_of(console, viewer)
    known, known_error = await console.warehouses.get(console, viewer.token)
    if known is None:  # inventory unreachable: the person's own list, or main
        known = [Warehouse(w, w) for w in allowed] or [Warehouse(DEFAULT, DEFAULT)]
    options = [w for w in known if not allowed or w.id in allowed]
    if not options:  # configured for warehouses inventory does not list (yet): their ids as they are
        options = [Warehouse(w, w) for w in allowed]
    by_id = {w.id: w for w in options}
    several = len(known) > 1 or any(w.id != DEFAULT for w in known)
    message = None
    remembered = unsign(console.auth, viewer.username, request.cookies.get(WAREHOUSE_COOKIE))
    fallback = by_id.get(remembered or "") or options[0]
    current, remember_it = fallback, False
    if asked is not None and asked != "":
        if len(asked) > 64 or not WAREHOUSE_ID.match(asked):
            message = (f"“{shown(asked)}” is not a warehouse id (letters, digits and ._:@#/+- only, at most 64). "
                       f"Showing {fallback.name}.")
        elif asked in by_id:
            current, remember_it = by_id[asked], asked != remembered
        elif allowed and asked not in allowed:
            message = (f"You work in {', '.join(w.name for w in options)} only; {asked} is not one of your "
                       f"warehouses. Showing {fallback.name}.")
        else:
            message = f"There is no warehouse {asked}. Showing {fallback.name}."
    return Choice(current=current, options=options, several=several, message=message, remember=remember_it,
                  known_error=known_error, all_warehouses=known)


# -- per-warehouse figures (war room, overview) ----------------------------------------------

def _names(known: list[Warehouse] | None) -> dict[str, str]:
    return {w.id: w.name for w in known or []}


async def warehouse_figures(console: "Console", token: str, sla: dict[str, Any] | None
                            ) -> tuple[list[dict[str, Any]] | None, str | None]:
    """One row per warehouse from GET /sla's `by_warehouse`, with its at-risk count (GET
    /sla?warehouse=, at_risk_limit=0); None when the deployment has only `main` (nothing to break down)."""
    by = (sla or {}).get("by_warehouse") or {}
    if not by or set(by) == {DEFAULT}:
        return None, None
    ids = sorted(by)[:50]
    (known, _), *risks = await asyncio.gather(
        console.warehouses.get(console, token),
        *(console.attempt(console.up.get("logistics", "/sla", token, warehouse=w, at_risk_limit=0)) for w in ids))
    names = _names(known)
    rows, errors = [], []
    for w, (one, error) in zip(ids, risks):
        counts = by[w]
        rows.append({"warehouse": w, "name": names.get(w, w), "orders_paid": counts.get("orders_paid"),
                     "shipped": counts.get("shipped"), "not_yet_shipped": counts.get("not_yet_shipped"),
                     "within_24h_pct": counts.get("within_24h_pct"), "within_48h_pct": counts.get("within_48h_pct"),
                     "meets_24h_target": counts.get("meets_24h_target"),
                     "meets_48h_target": counts.get("meets_48h_target"),
                     "at_risk": None if one is None else (one.get("at_risk") or {}).get("count")})
        if error:
            errors.append(error)
    return rows, (errors[0] if errors else None)
