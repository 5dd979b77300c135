"""The session: a cookie holding the signed JWT (HttpOnly, SameSite=Lax), role checks per page,
and one-shot flash messages (a signed cookie; the console keeps nothing server-side)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import Response

from shared.auth import AuthSettings, verify_token

SESSION_COOKIE = "console_session"
FLASH_COOKIE = "console_flash"

PAGES = {
    # page -> (title, path, roles that may open it)
    "dispatch": ("Dispatch board", "/dispatch", frozenset({"warehouse", "admin"})),
    "returns": ("Returns desk", "/returns", frozenset({"support", "admin"})),
    "overview": ("Overview", "/overview", frozenset({"admin"})),
    "order360": ("Order 360", "/orders", frozenset({"support", "admin", "warehouse"})),
    "complaints": ("Complaints desk", "/complaints", frozenset({"support", "admin"})),
    "stock": ("Stock", "/stock", frozenset({"warehouse", "support", "admin"})),
    "warroom": ("War room", "/warroom", frozenset({"warehouse", "support", "admin"})),  # read-only for all (issue 30)
}
ROLE_WORDS = {"warehouse": "warehouse staff", "support": "support agents", "admin": "administrators"}


@dataclass(frozen=True)
class Viewer:
    username: str
    roles: frozenset[str]
    token: str

    def may_open(self, page: str) -> bool:
        return bool(self.roles & PAGES[page][2])

    @property
    def pages(self) -> list[tuple[str, str, str]]:
        return [(key, title, path) for key, (title, path, _) in PAGES.items() if self.may_open(key)]

    @property
    def home(self) -> str:
        if "admin" in self.roles:  # an administrator runs the day from the war room (issue 30)
            return PAGES["warroom"][1]
        if self.may_open("overview"):
            return PAGES["overview"][1]
        pages = self.pages
        return pages[0][2] if pages else "/signin"

    @property
    def staff_id(self) -> str:
        """The username as the services' staff-id pattern allows it (picker, reporter)."""
        cleaned = "".join(c if c.isalnum() or c in "._:-" else "-" for c in self.username)[:64]
        return cleaned or "staff"


class SignInRequired(Exception):
    def __init__(self, next_path: str, message: str = "") -> None:
        self.next_path = next_path
        self.message = message


class NotAllowed(Exception):
    def __init__(self, viewer: Viewer, page: str) -> None:
        self.viewer = viewer
        self.page = page


def current_viewer(request: Request, auth: AuthSettings) -> Viewer | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        principal = verify_token(auth, token)
    except HTTPException:
        return None
    return Viewer(principal.subject, principal.roles, token)


def require(request: Request, page: str) -> Viewer:
    """Every page asks this first: signed in, and a role that may open `page`."""
    auth: AuthSettings = request.app.state.auth
    viewer = current_viewer(request, auth)
    if viewer is None:
        expired = SESSION_COOKIE in request.cookies
        raise SignInRequired(local_path(request.url.path + (f"?{request.url.query}" if request.url.query else "")),
                             "Your session has ended; sign in again." if expired else "")
    if not viewer.may_open(page):
        raise NotAllowed(viewer, page)
    return viewer


def local_path(value: str | None, default: str = "/") -> str:
    """Only paths on this console: no scheme, no host, no `//evil.example`."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def same_origin(request: Request) -> bool:
    """Form posts must come from the console's own pages (on top of SameSite=Lax)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        referer = request.headers.get("referer")
        if referer is None:
            return origin is None  # old clients and tools send neither
        origin = referer
    return urlsplit(origin).netloc == request.headers.get("host", "")


# -- flash messages -----------------------------------------------------------------------

def _flash_key(auth: AuthSettings) -> bytes:
    return hashlib.sha256(b"console-flash:" + auth.auth_secret.encode()).digest()


def set_flash(response: Response, auth: AuthSettings, kind: str, text: str) -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"kind": kind, "text": text[:1500]}).encode()).decode()
    mac = hmac.new(_flash_key(auth), payload.encode(), hashlib.sha256).hexdigest()[:32]
    response.set_cookie(FLASH_COOKIE, f"{payload}.{mac}", max_age=120, httponly=True, samesite="lax", path="/")


def pop_flash(request: Request, auth: AuthSettings) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    payload, _, mac = raw.rpartition(".")
    expected = hmac.new(_flash_key(auth), payload.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if data.get("kind") not in ("ok", "error") or not isinstance(data.get("text"), str):
        return None
    return data
