"""Delivering orders to partners' systems through the transactional outbox (事务性发件箱).

An order and its :class:`~fanzha.store.models.OutboxMessage` are committed together
(see :func:`fanzha.response.service.submit_report`); this dispatcher delivers the
messages afterwards by HTTP POST:

* body: the message's JSON payload; headers ``X-Fanzha-Signature: sha256=<hex HMAC-SHA256
  of the body with the organisation's webhook secret>``, ``Idempotency-Key`` (stable per
  message: a receiver that saw it already ignores it) and ``X-Fanzha-Topic``;
* any 2xx marks the message delivered; anything else (or no answer) schedules a retry
  after an exponential backoff with full jitter, capped;
* several dispatchers may run at once (two processes, or the API's background task and
  the CLI): each first *claims* a batch, on PostgreSQL with ``SELECT … FOR UPDATE SKIP
  LOCKED``, on SQLite with one conditional ``UPDATE`` (SQLite runs it atomically). A claim
  lapses after ``claim_seconds`` so a dispatcher that died mid-batch loses nothing.

Delivery is at least once; with the idempotency key it is exactly once in effect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from fanzha.store.db import session_scope
from fanzha.store.models import Organisation, OutboxMessage
from fanzha.store.types import utcnow

SIGNATURE_HEADER = "X-Fanzha-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def encode(payload: dict[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, UTF-8): what is signed is what is sent."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``attempt`` (1-based): uniform in [0, min(cap, base·factor^(attempt-1))]."""

    base_seconds: float = 1.0
    factor: float = 2.0
    cap_seconds: float = 600.0

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        ceiling = min(self.cap_seconds, self.base_seconds * self.factor ** max(attempt - 1, 0))
        return timedelta(seconds=rng.uniform(0.0, ceiling))


@dataclass(frozen=True)
class Claimed:
    id: int
    url: str
    secret: str
    body: bytes
    idempotency_key: str
    topic: str
    attempts: int


@dataclass
class DispatchStats:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0

    def add(self, other: DispatchStats) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.failed += other.failed


@dataclass
class Dispatcher:
    """Claims due messages, POSTs them, records the outcome. One per process or thread."""

    sessions: sessionmaker[Session]
    worker: str = field(default_factory=lambda: f"dispatcher-{uuid.uuid4().hex[:12]}")
    batch: int = 50
    claim_seconds: float = 60.0
    timeout_seconds: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)
    rng: random.Random = field(default_factory=random.Random)
    client: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        if self.client is None:
            self.client = httpx.Client(timeout=self.timeout_seconds)
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    # ------------------------------------------------------------------ claiming

    def claim(self, now: datetime | None = None) -> list[Claimed]:
        """Take up to ``batch`` due, undelivered, unclaimed messages for this worker."""
        now = now or utcnow()
        token = f"{self.worker}:{uuid.uuid4().hex[:8]}"  # this batch only
        until = now + timedelta(seconds=self.claim_seconds)
        due = and_(
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        with session_scope(self.sessions) as session:
            if session.get_bind().dialect.name == "postgresql":
                ids = list(session.scalars(
                    select(OutboxMessage.id).where(due).order_by(OutboxMessage.next_attempt_at)
                    .limit(self.batch).with_for_update(skip_locked=True)
                ))
                if not ids:
                    return []
                session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                    .values(claimed_by=token, claimed_until=until)
                )
            else:
                # One statement: SQLite evaluates the subquery and the UPDATE under one write lock.
                candidates = (
                    select(OutboxMessage.id).where(due).order_by(OutboxMessage.next_attempt_at)
                    .limit(self.batch).scalar_subquery()
                )
                session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(candidates), due)
                    .values(claimed_by=token, claimed_until=until).execution_options(synchronize_session=False)
                )
            rows = session.execute(
                select(OutboxMessage, Organisation.webhook_url, Organisation.webhook_secret)
                .join(Organisation, Organisation.id == OutboxMessage.organisation_id)
                .where(OutboxMessage.claimed_by == token)
                .order_by(OutboxMessage.id)
            ).tuples().all()
            return [
                Claimed(id=m.id, url=url or "", secret=secret or "", body=encode(m.payload),
                        idempotency_key=m.idempotency_key, topic=m.topic, attempts=m.attempts)
                for m, url, secret in rows
            ]

    # ------------------------------------------------------------------ delivering

    def _post(self, msg: Claimed) -> str | None:
        """None on success, else why it failed."""
        if not msg.url:
            return "organisation has no webhook URL"
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": msg.idempotency_key,
            "X-Fanzha-Topic": msg.topic,
            SIGNATURE_HEADER: sign(msg.secret, msg.body),
        }
        try:
            response = self._client().post(msg.url, content=msg.body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:1000]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"

    def _record(self, msg: Claimed, error: str | None, now: datetime) -> bool:
        """Write the outcome unless another dispatcher (after our claim lapsed) already delivered it.

        One UPDATE and nothing read first: on SQLite a transaction that reads and then writes
        fails at once ("database is locked") when another writer committed in between,
        while a transaction that starts by writing waits its turn on the busy timeout.
        """
        values: dict[str, Any] = {"attempts": OutboxMessage.attempts + 1, "claimed_by": None, "claimed_until": None}
        if error is None:
            values |= {"delivered_at": now, "last_error": None}
        else:
            values |= {"last_error": error, "next_attempt_at": now + self.backoff.delay(msg.attempts + 1, self.rng)}
        with session_scope(self.sessions) as session:
            done = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == msg.id, OutboxMessage.delivered_at.is_(None))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(done, "rowcount", 0))

    def dispatch_once(self, now: datetime | None = None) -> DispatchStats:
        """Claim one batch and deliver it."""
        stats = DispatchStats()
        for msg in self.claim(now):
            stats.claimed += 1
            error = self._post(msg)
            self._record(msg, error, utcnow())
            if error is None:
                stats.delivered += 1
            else:
                stats.failed += 1
        return stats

    def run_until_idle(self, max_batches: int = 10_000) -> DispatchStats:
        """Dispatch batches until nothing is due right now (retries scheduled later are left)."""
        total = DispatchStats()
        for _ in range(max_batches):
            stats = self.dispatch_once()
            total.add(stats)
            if stats.claimed == 0:
                break
        return total


def pending_count(session: Session) -> int:
    """Messages not yet delivered (due now or later)."""
    return session.scalar(select(func.count()).where(OutboxMessage.delivered_at.is_(None))) or 0
