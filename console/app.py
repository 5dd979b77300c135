"""The console's composition root: settings, users, the service clients, pages and their routes."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import pages
from console.deadletters import DeadLetterCounter
from console.metrics import ConsoleMetrics
from console.session import (
    FLASH_COOKIE,
    PAGES,
    ROLE_WORDS,
    SESSION_COOKIE,
    NotAllowed,
    SignInRequired,
    Viewer,
    current_viewer,
    local_path,
    pop_flash,
    same_origin,
    set_flash,
)
from console.settings import ConsoleSettings
from console.signin_throttle import SignInThrottle
from console.upstream import Upstream, UpstreamError
from console.users import UserDirectory
from console.warehouses import WAREHOUSE_COOKIE, WarehouseList
from shared.auth import AuthSettings, issue_token
from shared.metrics import CONTENT_TYPE
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
T = TypeVar("T")


def _moment(value: str | datetime) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc_text(value: str | None) -> str:
    if not value:
        return "—"
    moment = _moment(value)
    return moment.astimezone(UTC).strftime("%d %b %Y %H:%M UTC") if moment else value


def _when(value: str | datetime | None, zone: Any = UTC) -> str:
    """A time in the warehouse's zone (setting CONSOLE_TIME_ZONE), UTC in its title for hover:
    `<time datetime="<UTC ISO>" title="<UTC>">local</time>`."""
    if not value:
        return "—"
    moment = _moment(value)
    if moment is None:
        return str(value)
    utc = moment.astimezone(UTC)
    local = moment.astimezone(zone)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.isoformat().replace("+00:00", "Z"), utc.strftime("%d %b %Y %H:%M:%S UTC"),
        local.strftime("%d %b %Y %H:%M ") + (local.tzname() or ""))


def _short(value: str | None) -> str:
    """For tables: day and time, UTC implied by the column heading."""
    text = _utc_text(value)
    return text[:6] + text[11:17] if text.endswith(" UTC") else text


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    minutes = int(round(abs(value) * 60))
    text = f"{minutes // 60} h {minutes % 60:02d} min"
    return f"overdue by {text}" if value < 0 else text


def _words(value: str | None) -> str:
    return (value or "").replace("_", " ")


def make_templates(zone: Any = UTC) -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=lambda value: _when(value, zone), short=_short, hours=_hours, words=_words)
    env.globals.update(PAGES=PAGES, ROLE_WORDS=ROLE_WORDS)
    return Jinja2Templates(env=env)


class Console:
    """What every route needs, built once."""

    def __init__(self, settings: ConsoleSettings, kafka: KafkaSettings, auth: AuthSettings) -> None:
        self.settings = settings
        self.kafka = kafka
        self.auth = auth
        self.production = auth.env == "production"
        self.users = UserDirectory(settings.users, production=self.production)
        self.metrics = ConsoleMetrics()
        self.templates = make_templates(settings.zone)
        self.cookie_secure = settings.cookie_secure if settings.cookie_secure is not None else self.production
        self.upstream: Upstream | None = None
        self.throttle = SignInThrottle(settings.signin_failures_per_account, settings.signin_failures_per_address,
                                       settings.signin_window_s)
        self.dead_letter_counter = DeadLetterCounter(kafka, settings.dead_letter_timeout_s)
        self.warehouses = WarehouseList()  # inventory's warehouses, kept a few seconds (issue 34)

    @property
    def up(self) -> Upstream:
        assert self.upstream is not None, "the console is not started"
        return self.upstream

    def render(self, request: Request, template: str, viewer: Viewer | None, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        flash = pop_flash(request, self.auth)
        response = self.templates.TemplateResponse(
            request, template, {"viewer": viewer, "flash": flash, "dev_users": self.users.using_dev_users,
                                **context}, status_code=status_code)
        if FLASH_COOKIE in request.cookies:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def redirect(self, path: str, *, ok: str | None = None, error: str | None = None) -> RedirectResponse:
        response = RedirectResponse(path, status_code=303)
        if ok or error:
            set_flash(response, self.auth, "error" if error else "ok", error or ok or "")
        return response

    async def attempt(self, call: Awaitable[T]) -> tuple[T | None, str | None]:
        """A section of a page: its data, or the reason it could not be loaded, in plain words."""
        try:
            return await call, None
        except UpstreamError as exc:
            return None, exc.message

    def warm_up_dead_letters(self) -> None:
        try:
            self.dead_letter_counter.counts()
        except Exception as exc:  # the pages say so when they ask; nothing to do at start-up
            log.info("dead-letter counts not read at start-up: %s", exc)

    async def dead_letters(self) -> tuple[list | None, str | None]:
        try:
            counts = await anyio.to_thread.run_sync(self.dead_letter_counter.counts)
            return counts, None
        except Exception as exc:  # broker down, timeouts: the rest of the page still shows
            log.warning("dead-letter counts unavailable: %s", exc)
            return None, (f"Dead-letter counts are unavailable: Kafka at {self.kafka.bootstrap_servers} "
                          "did not answer. The other figures on this page are unaffected.")


def build_app(settings: ConsoleSettings | None = None, kafka: KafkaSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    console = Console(settings, kafka or KafkaSettings(), AuthSettings().checked())

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        console.upstream = Upstream(settings.service_urls(), settings.request_timeout_s, console.metrics)
        # The dead-letter counts' Kafka client connects now, beside the start-up, rather than
        # during the first overview or war-room request.
        threading.Thread(target=console.warm_up_dead_letters, name="dlq-warm-up", daemon=True).start()
        try:
            yield
        finally:
            await console.upstream.close()
            await anyio.to_thread.run_sync(console.dead_letter_counter.close)

    app = FastAPI(title="Fulfilment console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    app.state.auth = console.auth
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def guard_and_measure(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        if request.method == "POST" and not same_origin(request):
            response: Response = HTMLResponse(
                "<h1>Refused</h1><p>This form was sent from another site, so the console did not act on it. "
                "Open the console page and try again.</p>", status_code=403)
        else:
            response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        console.metrics.requests.labels(route=route, status=str(response.status_code)).inc()
        elapsed = time.perf_counter() - started
        console.metrics.seconds.labels(route=route).observe(elapsed)
        # The page's own time on the server (the services' calls included), for tools/console_bench.py
        # and the browser's network panel; a stream's counts only up to its first byte.
        response.headers.setdefault("Server-Timing", f"app;dur={elapsed * 1000:.1f}")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # -- errors as pages ----------------------------------------------------------------------

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        target = "/signin" + (f"?next={_quote(exc.next_path)}" if exc.next_path not in ("/", "") else "")
        return console.redirect(target, error=exc.message or None)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        title, _, roles = PAGES[exc.page]
        return console.render(request, "forbidden.html", exc.viewer, status_code=403, page_title=title,
                              allowed=[words for r, words in ROLE_WORDS.items() if r in roles])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        viewer = current_viewer(request, console.auth)
        message = ("There is no such page in the console." if exc.status_code == 404
                   else f"The console could not answer this request ({exc.detail}).")
        return console.render(request, "error.html", viewer, status_code=exc.status_code, message=message)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("console error on %s %s", request.method, request.url.path)
        return HTMLResponse("<h1>Something went wrong in the console</h1><p>Nothing was sent to the services "
                            "by this page. Go back and try again; if it keeps happening, tell the on-call "
                            "engineer.</p>", status_code=500)

    # -- operations ---------------------------------------------------------------------------

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "console"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready once started: a service being down is shown on the pages that need it, so the
        console stays up; which services answer is reported for operators."""
        names = list(settings.service_urls())
        answers = await asyncio.gather(*(console.up.reachable(n) for n in names))
        return JSONResponse({"ready": True, "services": dict(zip(names, answers, strict=True))})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(console.metrics.render(), media_type=CONTENT_TYPE)

    # -- signing in ---------------------------------------------------------------------------

    @app.get("/")
    async def home(request: Request) -> Response:
        viewer = current_viewer(request, console.auth)
        return RedirectResponse(viewer.home if viewer else "/signin", status_code=303)

    @app.get("/signin")
    async def signin_page(request: Request, next: str = "") -> Response:
        return console.render(request, "signin.html", current_viewer(request, console.auth),
                              next_path=local_path(next, ""), username="")

    @app.post("/signin")
    async def signin(request: Request) -> Response:
        form = await request.form()
        username = str(form.get("username", "")).strip()[:100]
        password = str(form.get("password", ""))[:1000]
        next_path = local_path(str(form.get("next", "")), "")
        address = request.client.host if request.client else "unknown"
        wait = console.throttle.retry_after(username, address)
        if wait:  # checked before the password hash is computed: a refused attempt costs nothing
            console.metrics.signins.labels(outcome="throttled").inc()
            log.warning("sign-in throttled for %r from %s (%d s)", username, address, wait)
            response = console.render(request, "signin.html", None, status_code=429, next_path=next_path,
                                      username=username, error=f"Too many failed sign-ins. Try again in {wait} "
                                                                "seconds.")
            response.headers["Retry-After"] = str(wait)
            return response
        user = await anyio.to_thread.run_sync(console.users.authenticate, username, password)
        if user is None:
            console.throttle.failed(username, address)
            console.metrics.signins.labels(outcome="refused").inc()
            log.info("sign-in refused for %r", username)
            return console.render(request, "signin.html", None, status_code=401, next_path=next_path,
                                  username=username, error="That username and password do not match. Try again.")
        console.metrics.signins.labels(outcome="ok").inc()
        console.throttle.succeeded(username)
        token = issue_token(console.auth, user.username, user.roles)
        viewer = Viewer(user.username, user.roles, token)
        response = RedirectResponse(next_path or viewer.home, status_code=303)
        response.set_cookie(SESSION_COOKIE, token, max_age=console.auth.auth_token_ttl_s, httponly=True,
                            samesite="lax", secure=console.cookie_secure, path="/")
        log.info("%s signed in (%s)", user.username, ",".join(sorted(user.roles)))
        return response

    @app.post("/signout")
    async def signout() -> Response:
        response = console.redirect("/signin", ok="You are signed out.")
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(WAREHOUSE_COOKIE, path="/")
        return response

    for router in pages.routers(console):
        app.include_router(router)
    return app


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
