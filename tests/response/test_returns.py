"""Freeze after stop-payment and return of frozen money (资金返还) through the store, to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fanzha.response.returns import case_returns, freeze_stopped, linked_cases, plan_returns, return_frozen_money
from fanzha.response.schemas import ExecuteIn, ReportCreate, StatementRowIn
from fanzha.response.service import Conflict, Forbidden, actor_of, execute, submit_report
from fanzha.store.audit import Actor
from fanzha.store.models import AuditLog, FundReturn, Order, OrderKind, OrderStatus, User

T = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
MULE = "6222020000000001"


def actor(s: Session, username: str) -> Actor:
    return actor_of(s.scalars(select(User).where(User.username == username)).one())


def report(key: str, cents: int, minutes: int, to_account: str = MULE, number: str = "+8613906001234") -> ReportCreate:
    return ReportCreate.model_validate({
        "idempotency_key": key, "typology": "impersonate_police", "victim": {"number": number},
        "transfers": [{"amount_cents": cents, "time": (T + timedelta(minutes=minutes)).isoformat(),
                       "to_bank": "ICBC", "to_account": to_account}],
    })


def stop_of(s: Session, case_id: int, account: str = MULE) -> Order:
    return s.scalars(select(Order).where(Order.case_id == case_id, Order.kind == OrderKind.STOP_PAYMENT,
                                         Order.target == account)).one()


def two_victims_one_mule(s: Session) -> tuple[int, int, Order]:
    """Victim 1 pays 10,000 yuan, victim 2 pays 5,000 into the same card; 3,000 leave it; 12,000 stopped."""
    intake = actor(s, "intake")
    c1 = submit_report(s, report("r1", 1_000_000, 0), intake).case.id
    c2 = submit_report(s, report("r2", 500_000, 2, number="+8613906005678"), intake).case.id
    s.commit()
    stop = stop_of(s, c1)
    execute(s, actor(s, "desk-icbc"), stop.id, ExecuteIn(amount_stopped_cents=1_200_000, statement_rows=[
        StatementRowIn(transfer_id="out-1", time=T + timedelta(minutes=5), to_account="6217000000000002",
                       to_bank="CCB", amount_cents=300_000)]))
    s.commit()
    return c1, c2, stop


def test_mixed_money_goes_back_pro_rata_to_the_cent_and_only_once(session: Session) -> None:
    c1, c2, stop = two_victims_one_mule(session)
    assert linked_cases(session, c1) == linked_cases(session, c2) == sorted([c1, c2])
    analyst = actor(session, "analyst")
    freeze_id = freeze_stopped(session, analyst, stop.id)
    assert freeze_stopped(session, analyst, stop.id) == freeze_id  # idempotent
    session.commit()
    freeze = session.get(Order, freeze_id)
    assert freeze is not None and freeze.kind == OrderKind.FREEZE and freeze.amount_cents == 1_200_000
    assert plan_returns(session, c1).lines == []  # not executed yet: nothing frozen to return
    execute(session, actor(session, "desk-icbc"), freeze_id, ExecuteIn(amount_stopped_cents=1_200_000))
    session.commit()

    plan = return_frozen_money(session, actor(session, "commander"), c2)
    session.commit()
    # FIFO: the 3,000 yuan that left came from victim 1's earlier money: 7,000 + 5,000 remain
    assert plan.per_case() == {c1: 700_000, c2: 500_000}
    assert plan.returned_cents == plan.frozen_cents == 1_200_000
    assert {ln.basis for ln in plan.lines} == {"pro_rata"}
    assert sum(ln.share for ln in plan.lines) == pytest.approx(1.0)
    assert all(ln.institution == "ICBC" and ln.freeze_order_id == freeze_id for ln in plan.lines)

    again = return_frozen_money(session, actor(session, "commander"), c1)
    session.commit()
    assert again.lines == [] and again.already_returned == [freeze_id]
    assert session.scalar(select(func.count(FundReturn.id))) == 2
    statement = case_returns(session, actor(session, "commander"), c1)
    assert [(r.account, r.cents) for r in statement] == [(MULE, 700_000)]
    session.commit()
    actions = set(session.scalars(select(AuditLog.action).where(AuditLog.personal_data.is_(True))))
    assert {"return_funds", "read_returns"} <= actions


def test_frozen_money_above_the_traced_balance_is_not_handed_to_victims(session: Session) -> None:
    intake = actor(session, "intake")
    c1 = submit_report(session, report("solo", 400_000, 0), intake).case.id
    session.commit()
    stop = stop_of(session, c1)
    execute(session, actor(session, "desk-icbc"), stop.id, ExecuteIn(amount_stopped_cents=900_000))
    freeze_id = freeze_stopped(session, actor(session, "commander"), stop.id)
    execute(session, actor(session, "desk-icbc"), freeze_id, ExecuteIn(amount_stopped_cents=900_000))
    plan = return_frozen_money(session, actor(session, "commander"), c1)
    assert [(ln.case_id, ln.cents, ln.basis) for ln in plan.lines] == [(c1, 400_000, "direct")]
    assert plan.not_attributable == {MULE: 500_000}


def test_roles_and_lifecycle_are_enforced(session: Session) -> None:
    c1, _c2, stop = two_victims_one_mule(session)
    with pytest.raises(Forbidden):
        freeze_stopped(session, actor(session, "desk-icbc"), stop.id)
    with pytest.raises(Forbidden):
        return_frozen_money(session, actor(session, "desk-icbc"), c1)
    with pytest.raises(Forbidden):
        return_frozen_money(session, actor(session, "intake"), c1)
    pending = session.scalars(select(Order).where(Order.kind == OrderKind.STOP_PAYMENT,
                                                  Order.status == OrderStatus.PENDING)).first()
    assert pending is not None
    with pytest.raises(Conflict):
        freeze_stopped(session, actor(session, "commander"), pending.id)
