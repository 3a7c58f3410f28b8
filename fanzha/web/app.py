"""The console's plumbing: templates, filters, rendering, security headers, the signed-in user.

Routes (``fanzha.web.routes``) call :func:`render` with a template and a context; this
module adds what every page needs (translator, navigation, CSRF token, refreshed session
cookie, headers) so no page can forget it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.orm import Session

from fanzha.api.core.security import LoginLimiter
from fanzha.api.deps import Database
from fanzha.response.service import (
    AUDIT_READERS,
    CASE_READERS,
    CENTER_ROLES,
    INTAKE_ROLES,
    QUEUE_ROLES,
)
from fanzha.settings import Settings
from fanzha.store.models import Role
from fanzha.web import session as sess
from fanzha.web.i18n import LANGS, translator

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Who sees which page (the navigation and the page guards read the same table).
DASHBOARD_ROLES = CENTER_ROLES | {Role.ADMIN}
NUMBER_REVIEWERS = frozenset({Role.FUND_ANALYST, Role.COMMANDER, Role.ADMIN})
STATION_ROLES = frozenset({Role.STATION_OFFICER, Role.COMMANDER})

NAV: tuple[tuple[str, str, frozenset[Role]], ...] = (
    ("nav.dashboard", "/dashboard", DASHBOARD_ROLES),
    ("nav.intake", "/intake", INTAKE_ROLES),
    ("nav.cases", "/cases", CASE_READERS),
    ("nav.desk", "/desk", QUEUE_ROLES),
    ("nav.station", "/station", STATION_ROLES),
    ("nav.numbers", "/numbers", NUMBER_REVIEWERS),
    ("nav.audit", "/audit", AUDIT_READERS),
)
HOME: dict[Role, str] = {
    Role.INTAKE_OFFICER: "/intake",
    Role.STOP_PAYMENT_SPECIALIST: "/desk",
    Role.FUND_ANALYST: "/dashboard",
    Role.COMMANDER: "/dashboard",
    Role.BANK_DESK: "/desk",
    Role.CARRIER_DESK: "/desk",
    Role.PAYMENT_DESK: "/desk",
    Role.STATION_OFFICER: "/station",
    Role.ADMIN: "/dashboard",
    Role.AUDITOR: "/audit",
}

# script-src 'self' only: no inline scripts, no eval (htmx runs with allowEval off).
# style-src allows inline styles because ECharts writes style attributes into its tooltips.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


class LoginRequired(Exception):
    """No valid session: pages redirect to the sign-in form, htmx requests are told to."""


class PageError(Exception):
    """A page that cannot be shown to this user (403 role, 404 not found or not theirs)."""

    def __init__(self, status: int, message_key: str, detail: str = "") -> None:
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key
        self.detail = detail


@dataclass
class Console:
    """What the console needs from the application, kept on ``app.state.console``."""

    settings: Settings
    db: Database
    limiter: LoginLimiter
    tz: ZoneInfo


def console(request: Request) -> Console:
    c: Console = request.app.state.console
    return c


# --------------------------------------------------------------------------- formatting


def money(cents: int | None) -> str:
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    yuan, fen = divmod(abs(int(cents)), 100)
    return f"{sign}¥{yuan:,}.{fen:02d}"


def pct(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:+.1f}%"


def share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def install_filters(tz: ZoneInfo) -> None:
    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return "—" if value is None else value.astimezone(tz).strftime(fmt)

    def iso(value: datetime | None) -> str:
        return "" if value is None else value.isoformat()

    def options(values: list[str], prefix: str | None = None, t: Any = None) -> list[tuple[str, str]]:
        """(value, label) pairs for a select: labels translated under ``prefix`` when given."""
        return [(v, t(prefix + v) if t is not None and prefix is not None else v) for v in values]

    env = templates.env
    env.filters["options"] = options
    env.filters["money"] = money
    env.filters["pct"] = pct
    env.filters["share"] = share
    env.filters["local"] = local
    env.filters["iso"] = iso


# --------------------------------------------------------------------------- users


def current_user(request: Request) -> sess.ConsoleUser:
    c = console(request)
    with c.db.read() as session:
        user = sess.load_user(request, session, c.settings)
    if user is None:
        raise LoginRequired()
    return user


def require_role(user: sess.ConsoleUser, roles: frozenset[Role]) -> None:
    if user.role not in roles:
        raise PageError(403, "error.forbidden")


def nav_for(user: sess.ConsoleUser | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    return [(key, path) for key, path, roles in NAV if user.role in roles]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def is_poll(request: Request) -> bool:
    return request.headers.get(sess.POLL_HEADER) == "1"


@contextmanager
def reading(request: Request) -> Iterator[Session]:
    with console(request).db.read() as session:
        yield session


@contextmanager
def writing(request: Request) -> Iterator[Session]:
    with console(request).db.write() as session:
        yield session


# --------------------------------------------------------------------------- rendering


def secure_headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"


def nonce_of(request: Request) -> tuple[str, bool]:
    """The CSRF nonce of this request (and whether it must be set), fixed once per request."""
    cached: tuple[str, bool] | None = getattr(request.state, "csrf", None)
    if cached is None:
        cached = sess.csrf_nonce(request)
        request.state.csrf = cached
    return cached


def rotate_nonce(request: Request) -> None:
    """A new nonce for this response (sign-in and sign-out: a planted nonce dies there)."""
    request.state.csrf = (sess.csrf_nonce_new(), True)


def finish(request: Request, response: Response, user: sess.ConsoleUser | None) -> Response:
    """Headers, the CSRF nonce cookie and (for page views, not polls) a refreshed session cookie."""
    c = console(request)
    secure_headers(response)
    nonce, new = nonce_of(request)
    if new:
        sess.set_csrf_cookie(response, request, nonce)
    if user is not None and user.actor.user_id is not None and not is_poll(request):
        sess.set_session(response, request, user.actor.user_id, c.settings)
    return response


def context(request: Request, user: sess.ConsoleUser | None, **extra: Any) -> dict[str, Any]:
    c = console(request)
    lang = sess.language(request)
    nonce, _ = nonce_of(request)
    return {
        "request": request,
        "user": user,
        "lang": lang,
        "langs": LANGS,
        "t": translator(lang),
        "csrf": sess.csrf_token(nonce, c.settings),
        "csrf_field": sess.CSRF_FIELD,
        "nav": nav_for(user),
        "path": request.url.path,
        "now": datetime.now(c.tz),
        **extra,
    }


def render(request: Request, user: sess.ConsoleUser | None, template: str, status: int = 200,
           headers: dict[str, str] | None = None, **extra: Any) -> Response:
    ctx = context(request, user, **extra)
    response = templates.TemplateResponse(request, template, ctx, status_code=status, headers=headers)
    return finish(request, response, user)


def render_string(request: Request, user: sess.ConsoleUser | None, template: str, **extra: Any) -> str:
    return templates.get_template(template).render(context(request, user, **extra))


def live(request: Request, user: sess.ConsoleUser, inner: str, **extra: Any) -> tuple[Markup, str]:
    """A live fragment's HTML and its version (a hash of exactly what the person would see)."""
    html = render_string(request, user, inner, **extra)
    return Markup(html), hashlib.sha256(html.encode()).hexdigest()[:16]


def versioned(request: Request, user: sess.ConsoleUser, inner: str, wrapper: str, seen: str | None,
              **extra: Any) -> Response:
    """Live fragments: 204 (htmx keeps the page as it is) when nothing changed since ``seen``."""
    html, version = live(request, user, inner, **extra)
    if seen == version:
        return finish(request, Response(status_code=204), user)
    body = render_string(request, user, wrapper, inner_html=html, version=version, **extra)
    return finish(request, HTMLResponse(body), user)
