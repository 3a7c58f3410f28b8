"""Blacklist and whitelist of numbers (黑名单/白名单) with evidence, review, expiry and appeal.

Detector alerts become blacklist entries: above the model's auto-confirm threshold they
are confirmed at once (and the carrier action for the number's class applies), below it
they wait in a review queue. A protected (whitelisted) number is never blacklisted — a
spoof of it is intercepted per call instead. Every decision writes an audit row in the
same transaction. Entries expire (default 180 days after confirmation) and can be
appealed (申诉); an overturned appeal lifts the listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.numbers.actions import carrier_action, number_class
from fanzha.store.audit import SYSTEM, Actor, audit
from fanzha.store.models import AppealState, ListDecision, ListKind, NumberListEntry
from fanzha.store.types import utcnow

ACTIVE = (ListDecision.AUTO_CONFIRMED, ListDecision.CONFIRMED)
DEFAULT_TERM = timedelta(days=180)


class ListError(ValueError):
    """A list operation that is not allowed (unknown entry, wrong state)."""


@dataclass(frozen=True)
class Proposal:
    """What a detector says about a number."""

    number: str
    detector: str
    confidence: float
    rule_version: str
    evidence: dict[str, Any]


def is_protected(session: Session, number: str) -> bool:
    return session.scalar(
        select(NumberListEntry.id).where(NumberListEntry.list_kind == ListKind.WHITE,
                                         NumberListEntry.number == number,
                                         NumberListEntry.decision.in_(ACTIVE)).limit(1)
    ) is not None


def protect(session: Session, number: str, owner: str, actor: Actor) -> NumberListEntry:
    """Put a government or bank line on the whitelist (白名单)."""
    entry = NumberListEntry(list_kind=ListKind.WHITE, number=number, number_class=number_class(number), owner=owner,
                            decision=ListDecision.CONFIRMED, decided_at=utcnow())
    session.add(entry)
    session.flush()
    audit(session, actor, "whitelist_add", "number_list_entry", entry.id, details={"number": number, "owner": owner})
    return entry


def propose(session: Session, p: Proposal, auto_threshold: float, home_city: str = "Xiamen",
            now: datetime | None = None, term: timedelta = DEFAULT_TERM) -> NumberListEntry | None:
    """Record a detector's proposal; returns the entry, or None for a protected number.

    One open entry per number: a new proposal with a higher confidence updates the
    evidence and may confirm it; a lower one is kept out (the stronger evidence stands).
    """
    now = now or utcnow()
    if is_protected(session, p.number):
        return None
    entry = session.scalar(
        select(NumberListEntry).where(NumberListEntry.list_kind == ListKind.BLACK, NumberListEntry.number == p.number,
                                      NumberListEntry.decision.in_([*ACTIVE, ListDecision.PENDING_REVIEW]))
    )
    auto = p.confidence >= auto_threshold
    if entry is None:
        entry = NumberListEntry(list_kind=ListKind.BLACK, number=p.number,
                                number_class=number_class(p.number, home_city), decision=ListDecision.PENDING_REVIEW)
        session.add(entry)
    elif entry.confidence is not None and p.confidence <= entry.confidence:
        return entry
    entry.detector, entry.rule_version, entry.confidence = p.detector, p.rule_version, p.confidence
    entry.evidence = {**p.evidence, "carrier_action": carrier_action(p.number, home_city).value}
    if auto and entry.decision is ListDecision.PENDING_REVIEW:
        entry.decision, entry.decided_at, entry.expires_at = ListDecision.AUTO_CONFIRMED, now, now + term
    session.flush()
    audit(session, SYSTEM, "blacklist_auto_confirm" if auto else "blacklist_propose", "number_list_entry", entry.id,
          details={"number": p.number, "detector": p.detector, "confidence": p.confidence})
    return entry


def review_queue(session: Session, limit: int = 100) -> list[NumberListEntry]:
    """Pending blacklist entries, most confident first (what a number analyst works through)."""
    return list(session.scalars(
        select(NumberListEntry).where(NumberListEntry.list_kind == ListKind.BLACK,
                                      NumberListEntry.decision == ListDecision.PENDING_REVIEW)
        .order_by(NumberListEntry.confidence.desc(), NumberListEntry.id).limit(limit)
    ))


def _get(session: Session, entry_id: int) -> NumberListEntry:
    entry = session.get(NumberListEntry, entry_id)
    if entry is None:
        raise ListError(f"no list entry {entry_id}")
    return entry


def review(session: Session, entry_id: int, confirm: bool, actor: Actor, reason: str = "",
           now: datetime | None = None, term: timedelta = DEFAULT_TERM) -> NumberListEntry:
    """A reviewer confirms or rejects a pending entry."""
    now = now or utcnow()
    entry = _get(session, entry_id)
    if entry.decision is not ListDecision.PENDING_REVIEW:
        raise ListError(f"entry {entry_id} is {entry.decision.value}, not pending review")
    entry.decision = ListDecision.CONFIRMED if confirm else ListDecision.REJECTED
    entry.reviewed_by_id, entry.decided_at = actor.user_id, now
    entry.expires_at = now + term if confirm else None
    audit(session, actor, "blacklist_confirm" if confirm else "blacklist_reject", "number_list_entry", entry.id,
          details={"number": entry.number, "reason": reason})
    return entry


def appeal(session: Session, entry_id: int, actor: Actor, statement: str) -> NumberListEntry:
    """The number's holder appeals (申诉) an active listing."""
    entry = _get(session, entry_id)
    if entry.decision not in ACTIVE or entry.appeal_state is not AppealState.NONE:
        raise ListError(
            f"entry {entry_id} cannot be appealed ({entry.decision.value}, appeal {entry.appeal_state.value})"
        )
    entry.appeal_state = AppealState.FILED
    audit(session, actor, "blacklist_appeal", "number_list_entry", entry.id, personal_data=True,
          details={"statement": statement})
    return entry


def decide_appeal(session: Session, entry_id: int, upheld: bool, actor: Actor, reason: str) -> NumberListEntry:
    entry = _get(session, entry_id)
    if entry.appeal_state is not AppealState.FILED:
        raise ListError(f"entry {entry_id} has no open appeal")
    entry.appeal_state = AppealState.UPHELD if upheld else AppealState.OVERTURNED
    if not upheld:
        entry.decision = ListDecision.REJECTED
        entry.expires_at = None
    audit(session, actor, "appeal_upheld" if upheld else "appeal_overturned", "number_list_entry", entry.id,
          details={"reason": reason})
    return entry


def expire(session: Session, now: datetime | None = None) -> int:
    """Lift listings whose term ran out; returns how many."""
    now = now or utcnow()
    rows = list(session.scalars(select(NumberListEntry).where(NumberListEntry.decision.in_(ACTIVE),
                                                              NumberListEntry.expires_at <= now)))
    for entry in rows:
        entry.decision = ListDecision.REJECTED
        audit(session, SYSTEM, "blacklist_expire", "number_list_entry", entry.id, details={"number": entry.number})
    return len(rows)


def blacklisted(session: Session) -> list[str]:
    """Numbers currently on the blacklist (active)."""
    return list(session.scalars(select(NumberListEntry.number).where(
        NumberListEntry.list_kind == ListKind.BLACK, NumberListEntry.decision.in_(ACTIVE))))
