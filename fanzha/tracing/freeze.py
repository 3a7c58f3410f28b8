"""Freeze plan (止付冻结方案): which account each bank must stop, in which order, until when.

Accounts are ranked by urgency first — those whose tainted money arrived within the
golden window (30 minutes) are the ones where stopping still catches money before the next
hop — then by the tainted balance they still hold (what a stop can actually keep). Each
item carries its legal clock: a stop-payment (紧急止付) holds 48 hours and may be placed at
most twice per account; after that the money must be frozen (冻结) for a renewable six
months. Money sitting in a payment platform's pool is not stopped on the pool: the plan asks
the platform to resolve the order number to the card instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np

from fanzha.response.clocks import (
    MAX_STOPS_PER_ACCOUNT,
    GoldenWindow,
    freeze_expiry,
    stop_payment_expiry,
)
from fanzha.tracing.trace import TraceResult


class FreezeAction(StrEnum):
    STOP_PAYMENT = "stop_payment"  # 紧急止付, 48 h
    FREEZE = "freeze"  # 冻结, 6 months renewable
    RESOLVE_ORDER = "resolve_order"  # ask the platform which card the pooled money went to


@dataclass(frozen=True)
class FreezeItem:
    """One order for one account: how much it should keep, for whom, and until when."""

    account: str
    institution: str
    action: FreezeAction
    held_cents: int
    victims: tuple[str, ...]
    level: int
    tainted_at: datetime
    golden_window_left: timedelta
    expires_at: datetime
    previous_stops: int


@dataclass
class FreezePlan:
    """Items in priority order; grouped by bank for the desks (one batch per bank)."""

    made_at: datetime
    items: list[FreezeItem] = field(default_factory=list)

    def by_institution(self) -> dict[str, list[FreezeItem]]:
        out: dict[str, list[FreezeItem]] = {}
        for it in self.items:
            out.setdefault(it.institution, []).append(it)
        return out

    @property
    def total_cents(self) -> int:
        return sum(i.held_cents for i in self.items)

    def as_rows(self) -> list[dict[str, object]]:
        return [{"account": i.account, "institution": i.institution, "action": i.action.value,
                 "held_cents": i.held_cents, "victims": list(i.victims), "level": i.level,
                 "tainted_at": i.tainted_at.isoformat(),
                 "golden_window_left_s": int(i.golden_window_left.total_seconds()),
                 "expires_at": i.expires_at.isoformat(), "previous_stops": i.previous_stops} for i in self.items]


def freeze_plan(result: TraceResult, now: datetime, previous_stops: Mapping[str, int] | None = None,
                min_held_cents: int = 100) -> FreezePlan:
    """Rank accounts holding tainted money into stop-payment / freeze / order-resolution items."""
    if now.tzinfo is None:
        raise ValueError("now must carry a timezone")
    stops = dict(previous_stops or {})
    if any(v < 0 for v in stops.values()):
        raise ValueError("previous stop counts cannot be negative")
    held = np.round(result.a_held).astype(np.int64)
    keep = np.flatnonzero(held >= min_held_cents)
    codes = result.a_account[keep]
    ids = result.account_ids(codes)
    inst = result.institutions(codes)
    victims_of: dict[int, list[str]] = {}
    m = result.h_held > 0
    for a, v in zip(result.h_account[m].tolist(), result.h_victim[m].tolist(), strict=True):
        victims_of.setdefault(a, []).append(result.victims[v])
    items = []
    for j, k in enumerate(keep.tolist()):
        tainted_at = datetime.fromtimestamp(int(result.a_first_in[k]) / 1000, tz=UTC)
        left = GoldenWindow(tainted_at).remaining(now)
        n_prev = int(stops.get(ids[j], 0))
        if result.a_pool[k]:
            action, expires = FreezeAction.RESOLVE_ORDER, now + timedelta(hours=48)
        elif n_prev >= MAX_STOPS_PER_ACCOUNT:
            action, expires = FreezeAction.FREEZE, freeze_expiry(now)
        else:
            action, expires = FreezeAction.STOP_PAYMENT, stop_payment_expiry(now, n_prev)
        items.append(FreezeItem(
            account=ids[j], institution=inst[j], action=action, held_cents=int(held[k]),
            victims=tuple(sorted(victims_of.get(int(codes[j]), []))), level=int(result.a_level_min[k]),
            tainted_at=tainted_at, golden_window_left=left, expires_at=expires, previous_stops=n_prev))
    items.sort(key=lambda i: (i.golden_window_left <= timedelta(0), -i.held_cents, i.account))
    return FreezePlan(made_at=now, items=items)
