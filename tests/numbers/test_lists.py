"""Blacklist/whitelist lifecycle on the operations store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.numbers import lists
from fanzha.store.audit import Actor
from fanzha.store.db import create_store_engine
from fanzha.store.models import AppealState, AuditLog, ListDecision, Role
from fanzha.store.types import utcnow

ANALYST = Actor(username="analyst1", role=Role.FUND_ANALYST)


@pytest.fixture
def session(store_url: str) -> Iterator[Session]:
    engine = create_store_engine(store_url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def prop(number: str, conf: float) -> lists.Proposal:
    return lists.Proposal(number, "behaviour", conf, "behaviour-gbm-1-test", {"reasons": ["w_distinct=40"]})


def test_high_confidence_confirms_at_once_with_the_carrier_action(session: Session) -> None:
    e = lists.propose(session, prop("+8617012345678", 0.99), auto_threshold=0.9)
    assert e is not None and e.decision is ListDecision.AUTO_CONFIRMED
    assert e.evidence is not None and e.evidence["carrier_action"] == "empty_number_tone"
    assert e.expires_at is not None and e.expires_at - e.decided_at == timedelta(days=180)  # type: ignore[operator]
    assert lists.blacklisted(session) == ["+8617012345678"]


def test_low_confidence_waits_for_review_and_the_reviewer_decides(session: Session) -> None:
    e = lists.propose(session, prop("+8613800138000", 0.6), auto_threshold=0.9)
    assert e is not None and e.decision is ListDecision.PENDING_REVIEW
    assert [x.id for x in lists.review_queue(session)] == [e.id]
    assert lists.blacklisted(session) == []
    lists.review(session, e.id, confirm=True, actor=ANALYST, reason="burst + victims' reports")
    assert lists.blacklisted(session) == ["+8613800138000"]
    with pytest.raises(lists.ListError, match="not pending"):
        lists.review(session, e.id, confirm=False, actor=ANALYST)
    # a stronger later proposal updates the same entry, never a second one
    again = lists.propose(session, prop("+8613800138000", 0.95), auto_threshold=0.9)
    assert again is not None and again.id == e.id and again.confidence == 0.95


def test_protected_numbers_are_never_blacklisted(session: Session) -> None:
    lists.protect(session, "+865922345678", "思明区中华派出所值班电话", ANALYST)
    assert lists.propose(session, prop("+865922345678", 0.999), auto_threshold=0.9) is None
    assert lists.blacklisted(session) == []


def test_appeal_overturned_lifts_the_listing_and_expiry_lifts_old_ones(session: Session) -> None:
    a = lists.propose(session, prop("+8613906000000", 0.99), auto_threshold=0.9)
    b = lists.propose(session, prop("+8617112345678", 0.99), auto_threshold=0.9)
    assert a is not None and b is not None
    lists.appeal(session, a.id, Actor(username="holder"), "this is my shop's line")
    with pytest.raises(lists.ListError, match="cannot be appealed"):
        lists.appeal(session, a.id, Actor(username="holder"), "again")
    lists.decide_appeal(session, a.id, upheld=False, actor=ANALYST, reason="courier line, verified")
    assert a.appeal_state is AppealState.OVERTURNED
    assert lists.blacklisted(session) == ["+8617112345678"]
    assert lists.expire(session, now=utcnow() + timedelta(days=181)) == 1
    assert lists.blacklisted(session) == []


def test_every_decision_is_audited(session: Session) -> None:
    e = lists.propose(session, prop("+8613800138000", 0.6), auto_threshold=0.9)
    assert e is not None
    lists.review(session, e.id, confirm=False, actor=ANALYST, reason="a courier")
    session.commit()
    actions = [(r.action, r.username) for r in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == [("blacklist_propose", "system"), ("blacklist_reject", "analyst1")]
