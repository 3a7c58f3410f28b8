"""Escalation (超时升级): orders nobody acted on in time are raised to the commander.

Each order carries ``deadline_at``: at issue, the time by which its desk must
acknowledge it; once acknowledged, the time by which it must be executed. The sweep
marks every pending or acknowledged order past its deadline ``escalated`` (the desk can
still act on it) and clears the deadline so it is raised once. Deadlines are per order
kind and configurable through :class:`EscalationPolicy`; a stop-payment gets minutes
because the 30-minute golden window is all there is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.store.audit import SYSTEM, audit
from fanzha.store.models import Order, OrderKind, OrderStatus
from fanzha.store.types import utcnow

DEFAULT_ACKNOWLEDGE: dict[OrderKind, timedelta] = {
    OrderKind.STOP_PAYMENT: timedelta(minutes=10),
    OrderKind.RESOLUTION: timedelta(minutes=10),
    OrderKind.FREEZE: timedelta(minutes=30),
    OrderKind.BLOCK: timedelta(minutes=30),
    OrderKind.TAKEDOWN: timedelta(hours=1),
}
DEFAULT_EXECUTE: dict[OrderKind, timedelta] = {
    OrderKind.STOP_PAYMENT: timedelta(minutes=30),
    OrderKind.RESOLUTION: timedelta(minutes=30),
    OrderKind.FREEZE: timedelta(hours=4),
    OrderKind.BLOCK: timedelta(hours=2),
    OrderKind.TAKEDOWN: timedelta(hours=24),
}


def _acknowledge_defaults() -> dict[OrderKind, timedelta]:
    return dict(DEFAULT_ACKNOWLEDGE)


def _execute_defaults() -> dict[OrderKind, timedelta]:
    return dict(DEFAULT_EXECUTE)


@dataclass(frozen=True)
class EscalationPolicy:
    """Per-kind time to acknowledge and, after acknowledging, to execute."""

    acknowledge: Mapping[OrderKind, timedelta] = field(default_factory=_acknowledge_defaults)
    execute: Mapping[OrderKind, timedelta] = field(default_factory=_execute_defaults)

    def acknowledge_by(self, kind: OrderKind, issued_at: datetime) -> datetime:
        return issued_at + self.acknowledge[OrderKind(kind)]

    def execute_by(self, kind: OrderKind, acknowledged_at: datetime) -> datetime:
        return acknowledged_at + self.execute[OrderKind(kind)]

    def with_overrides(self, acknowledge: str = "", execute: str = "") -> EscalationPolicy:
        """Override from text like ``"stop_payment=5m,block=1h"`` (CLI and settings)."""
        return replace(
            self,
            acknowledge={**self.acknowledge, **parse_durations(acknowledge)},
            execute={**self.execute, **parse_durations(execute)},
        )


_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h)$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_durations(text: str) -> dict[OrderKind, timedelta]:
    """``"stop_payment=10m,block=30m"`` → per-kind durations; a bad item raises ValueError naming it."""
    out: dict[OrderKind, timedelta] = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        kind_text, _, value = item.partition("=")
        try:
            kind = OrderKind(kind_text.strip())
        except ValueError:
            raise ValueError(f"unknown order kind {kind_text.strip()!r} in {item!r}") from None
        m = _DURATION_RE.fullmatch(value.strip())
        if not m:
            raise ValueError(f"bad duration {value.strip()!r} in {item!r} (use e.g. 90s, 10m, 2h)")
        out[kind] = timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])
    return out


DEFAULT_POLICY = EscalationPolicy()


def sweep(session: Session, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Escalate overdue orders in the caller's transaction; returns their ids.

    On PostgreSQL rows are locked ``SKIP LOCKED`` so a sweep never waits on (or fights)
    a desk acting on the same order right now; that order is simply looked at next time.
    """
    now = now or utcnow()
    stmt = (
        select(Order)
        .where(Order.status.in_([OrderStatus.PENDING, OrderStatus.ACKNOWLEDGED]), Order.deadline_at <= now)
        .order_by(Order.deadline_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    escalated: list[int] = []
    for order in session.scalars(stmt):
        step = "acknowledged" if order.status == OrderStatus.PENDING else "executed"
        late = now - order.deadline_at if order.deadline_at else timedelta(0)
        reason = f"not {step} by its deadline ({int(late.total_seconds())} s late)"
        order.advance(OrderStatus.ESCALATED, now, reason=reason)
        order.deadline_at = None
        audit(session, SYSTEM, "escalate", "order", order.id, details={"was": step})
        escalated.append(order.id)
    session.flush()
    return escalated
