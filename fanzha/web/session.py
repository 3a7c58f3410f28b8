"""Signing in to the console: the API's JWT in an HttpOnly cookie, CSRF tokens, the language cookie.

The cookie holds the very access token the API issues (same signer, same lifetime, same
re-read of the user on every request), so the console and the API cannot disagree on who
is signed in. A page view re-issues it (a sliding session: a desk that works all day stays
signed in, an idle one is signed out after ``access_token_minutes``); background polls do
not, so an open tab alone does not keep a session alive.

CSRF: ``SameSite=Strict`` already keeps the cookie off cross-site requests; on top of it
every POST must carry a token (form field or ``X-CSRF-Token`` header) equal to an HMAC of
a random nonce that lives in its own HttpOnly cookie. A cross-site page can neither read
the nonce nor compute the HMAC. The nonce is replaced at sign-in and sign-out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy.orm import Session

from fanzha.api.core.security import TokenError, create_access_token, decode_access_token
from fanzha.response.service import actor_of
from fanzha.settings import Settings
from fanzha.store.audit import Actor
from fanzha.store.models import Organisation, OrgKind, Role, User
from fanzha.web.i18n import DEFAULT_LANG, LANGS

SESSION_COOKIE = "fanzha_session"
CSRF_COOKIE = "fanzha_csrf"
LANG_COOKIE = "fanzha_lang"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
POLL_HEADER = "X-Fanzha-Poll"


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in person as the pages need them."""

    actor: Actor
    username: str
    display_name: str
    role: Role
    organisation_id: int
    organisation_code: str
    organisation_name: str
    organisation_kind: OrgKind


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, user_id: int, settings: Settings) -> None:
    token, lifetime = create_access_token(user_id, settings)
    response.set_cookie(SESSION_COOKIE, token, max_age=lifetime, httponly=True, samesite="strict",
                        secure=_secure(request), path="/")


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def load_user(request: Request, session: Session, settings: Settings) -> ConsoleUser | None:
    """The active user of the session cookie, or None (no cookie, expired, forged, deactivated)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        user_id = decode_access_token(token, settings)
    except TokenError:
        return None
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    org = session.get(Organisation, user.organisation_id)
    if org is None:
        return None
    return ConsoleUser(actor=actor_of(user), username=user.username, display_name=user.display_name or user.username,
                       role=Role(user.role), organisation_id=org.id, organisation_code=org.code,
                       organisation_name=org.name, organisation_kind=OrgKind(org.kind))


# --------------------------------------------------------------------------- CSRF


def _csrf_for(nonce: str, settings: Settings) -> str:
    return hmac.new(settings.secret_key.encode(), f"csrf|{nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_nonce(request: Request) -> tuple[str, bool]:
    """(nonce, is_new): the browser's nonce, or a fresh one to be set on the response."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if nonce and 16 <= len(nonce) <= 128:
        return nonce, False
    return csrf_nonce_new(), True


def csrf_nonce_new() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(nonce: str, settings: Settings) -> str:
    return _csrf_for(nonce, settings)


def set_csrf_cookie(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(request), path="/")


def csrf_ok(request: Request, submitted: str | None, settings: Settings) -> bool:
    """True when the submitted token matches the nonce cookie (constant-time)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not submitted:
        return False
    return hmac.compare_digest(_csrf_for(nonce, settings), submitted)


def same_origin(request: Request) -> bool:
    """An ``Origin`` header, when the browser sends one, must name this host."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


# --------------------------------------------------------------------------- language


def language(request: Request) -> str:
    """The language cookie, else the browser's preference (zh → zh-CN), else zh-CN."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANG


def set_language(response: Response, request: Request, lang: str) -> None:
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", secure=_secure(request),
                        path="/")
