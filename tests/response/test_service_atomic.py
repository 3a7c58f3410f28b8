"""Intake is one transaction: a failure at any step leaves nothing; racing submissions make one case."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fanzha.response.schemas import ReportCreate, WebhookIn
from fanzha.response.service import actor_of, set_webhook, submit_report, submit_report_retrying
from fanzha.store.db import session_scope
from fanzha.store.models import (
    AuditLog,
    Base,
    Case,
    CaseElement,
    CaseTransfer,
    Order,
    OrderKind,
    OrderStatus,
    OutboxMessage,
    TraceJob,
    User,
)

TABLES = (Case, CaseElement, CaseTransfer, Order, TraceJob, OutboxMessage)


@pytest.fixture
def sessions(sessions: sessionmaker[Session], store_url: str) -> sessionmaker[Session]:
    """The seeded platform (conftest), with a webhook on ICBC so the outbox is part of every intake."""
    with session_scope(sessions) as s:
        admin = actor_of(s.scalars(select(User).where(User.username == "admin")).one())
        set_webhook(s, admin, "ICBC", WebhookIn(url="http://127.0.0.1:9/hook", secret="x" * 20))
    return sessions


def _actor(factory: sessionmaker[Session], username: str = "intake"):  # type: ignore[no-untyped-def]
    with session_scope(factory) as s:
        return actor_of(s.scalars(select(User).where(User.username == username)).one())


def _report(key: str, account: str = "6222000000000001") -> ReportCreate:
    t = datetime.now(UTC) - timedelta(minutes=3)
    return ReportCreate.model_validate({
        "idempotency_key": key, "victim": {"number": "13812345678", "name": "张三"},
        "transfers": [{"amount_cents": 10_000, "time": t.isoformat(), "to_bank": "ICBC", "to_account": account}],
        "fraud_numbers": ["13912345678"], "domains": ["evil.cn"],
    })


def _counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with session_scope(factory) as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0 for m in TABLES}


@pytest.mark.parametrize("failing_step", ["case", "orders", "outbox"])
def test_a_failure_mid_way_leaves_nothing(sessions: sessionmaker[Session], failing_step: str) -> None:
    actor = _actor(sessions)
    audit_before = _counts(sessions)

    def hook(step: str, session: Session) -> None:
        if step == failing_step:
            # Prove the earlier steps really were written in this transaction before failing.
            assert session.scalar(select(func.count()).select_from(Case)) == 1
            raise RuntimeError(f"injected failure after {step}")

    with pytest.raises(RuntimeError, match="injected failure"), session_scope(sessions) as s:
        submit_report(s, _report("k-fail"), actor, hook=hook)
    assert _counts(sessions) == audit_before == dict.fromkeys(audit_before, 0)
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "create")) == 0

    # The same report then goes through whole: case, orders and an outbox row for ICBC's webhook.
    with session_scope(sessions) as s:
        result = submit_report(s, _report("k-fail"), actor)
    assert result.created
    counts = _counts(sessions)
    assert counts["cases"] == 1 and counts["orders"] == 3 and counts["outbox_messages"] == 1


def test_the_stop_slot_index_refuses_a_third_holder(sessions: sessionmaker[Session]) -> None:
    """The legal limit is a constraint, not only a check: a second holder of slot 1 cannot be written."""
    actor = _actor(sessions)
    with session_scope(sessions) as s:
        first = submit_report(s, _report("slot-1"), actor).case.orders
    stop = next(o for o in first if o.kind == OrderKind.STOP_PAYMENT)
    orders = Base.metadata.tables["orders"]
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.execute(insert(orders), {
            "kind": OrderKind.STOP_PAYMENT, "organisation_id": 1, "target": stop.target, "status": OrderStatus.PENDING,
            "level": 1, "stop_sequence": 1,
        })


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_racing_submissions_make_one_case_through_the_unique_key(sessions: sessionmaker[Session]) -> None:
    """Both transactions pass the "already submitted?" check before either inserts; the unique
    idempotency key stops the second at INSERT, its whole transaction rolls back, and the retry
    returns the winner's case. (PostgreSQL: there both really run at once.)"""
    actor = _actor(sessions)
    barrier = threading.Barrier(2, timeout=20)
    collisions: list[str] = []

    def hook(step: str, session: Session) -> None:
        if step == "checked":  # the retry finds the case and returns before this step
            barrier.wait()

    @contextmanager
    def unit() -> Iterator[Session]:
        try:
            with session_scope(sessions) as s:
                yield s
        except IntegrityError as exc:
            collisions.append(str(exc.orig))
            raise

    results = []

    def submit() -> None:
        results.append(submit_report_retrying(unit, _report("raced"), actor, hook=hook))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].case.id == results[1].case.id
    assert len(collisions) == 1 and "idempotency_key" in collisions[0]
    counts = _counts(sessions)
    assert counts["cases"] == 1 and counts["orders"] == 3 and counts["trace_jobs"] == 1
