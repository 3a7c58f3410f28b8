"""Sign-in for the API: short-lived JWT access tokens and a login rate limit.

Tokens are HS256-signed with ``Settings.secret_key`` (refused in production while it is
the development default) and live ``Settings.access_token_minutes``; they carry the user
id only as the subject, and every request re-reads the user so a deactivated account or
a changed role takes effect at once. Passwords are argon2id (see
:func:`fanzha.response.service.hash_password`).

The login limiter is an in-process token bucket per (username, client IP): enough for
one API process; several processes behind a balancer each keep their own buckets, so the
effective limit multiplies by the process count (documented in docs/response-api.md).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from fanzha.settings import Settings

ALGORITHM = "HS256"


class TokenError(Exception):
    """A token that is malformed, forged or expired."""


def create_access_token(user_id: int, settings: Settings, now: datetime | None = None) -> tuple[str, int]:
    """(token, lifetime in seconds)."""
    now = now or datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims = {"sub": str(user_id), "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex, "typ": "access"}
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), max(1, int(lifetime.total_seconds()))


_VERIFIED: dict[tuple[str, str], tuple[int, float]] = {}
"""(token, key) → (user id, expiry) of tokens whose signature was checked: a token is sent with
every request of a session, and checking its HMAC and parsing its JSON each time cost more
than the rest of authentication. The expiry is still checked on every use."""
_VERIFIED_MAX = 10_000


def decode_access_token(token: str, settings: Settings) -> int:
    """The user id in a valid token; raises TokenError otherwise."""
    return verify_access_token(token, settings)[0]


def verify_access_token(token: str, settings: Settings) -> tuple[int, float]:
    """(user id, expiry in epoch seconds) of a valid token; raises TokenError otherwise."""
    key = (token, settings.secret_key)
    known = _VERIFIED.get(key)
    if known is None:
        claims = _claims(token, settings)
        known = (int(claims["sub"]), float(claims["exp"]))
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[key] = known
    if known[1] <= time.time():
        _VERIFIED.pop(key, None)
        raise TokenError("token expired")
    return known


def _claims(token: str, settings: Settings) -> dict[str, Any]:
    """The claims of a valid access token, its signature checked (``sub`` an int string, ``exp`` epoch seconds)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, settings.secret_key, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "iat"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    if claims.get("typ") != "access":
        raise TokenError("not an access token")
    try:
        int(claims["sub"])
    except (TypeError, ValueError):
        raise TokenError("invalid token subject") from None
    return claims


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class LoginLimiter:
    """Token bucket per key: ``capacity`` tries at once, refilled at ``capacity`` per minute."""

    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, username: str, ip: str, now: float | None = None) -> tuple[bool, float]:
        """(allowed, seconds until the next try would be allowed)."""
        now = time.monotonic() if now is None else now
        key = (username.strip().lower(), ip)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True, 0.0
            return False, (1.0 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled (they hold no information)."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.capacity]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_keys:  # still full: drop the oldest half
            for k in sorted(self._buckets, key=lambda k: self._buckets[k].stamp)[: self.max_keys // 2]:
                del self._buckets[k]
