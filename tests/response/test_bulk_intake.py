"""Bulk intake (service.submit_reports): one statement per table, each report's outcome as if written alone in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fanzha.response.schemas import ReportCreate
from fanzha.response.service import IntakeResult, InvalidInput, ReportJob, actor_of, submit_reports
from fanzha.store.db import session_scope
from fanzha.store.models import AuditLog, Case, Order, OrderKind, TraceJob, User


def _report(key: str, account: str, station: str | None = None) -> ReportCreate:
    t = datetime.now(UTC) - timedelta(minutes=3)
    victim: dict[str, str] = {"number": "13812345678", "name": "张三"}
    if station:
        victim["station"] = station
    return ReportCreate.model_validate({
        "idempotency_key": key, "victim": victim,
        "transfers": [{"amount_cents": 10_000, "time": t.isoformat(), "to_bank": "ICBC", "to_account": account}],
        "fraud_numbers": ["13912345678"], "urls": ["https://pay.evil.cn/x"],
    })


def test_a_batch_writes_each_report_as_if_alone_in_order(sessions: sessionmaker[Session]) -> None:
    shared = "6222000000000900"
    with session_scope(sessions) as s:
        actor = actor_of(s.scalars(select(User).where(User.username == "intake")).one())
        jobs = [
            ReportJob(_report("b-1", shared), actor),
            ReportJob(_report("b-bad", "6222000000000901", station="NO-SUCH-UNIT"), actor),
            ReportJob(_report("b-2", shared), actor),
            ReportJob(_report("b-1", shared), actor),  # the same report again, in the same burst
            ReportJob(_report("b-3", shared), actor),
            ReportJob(_report("b-bad", "6222000000000901", station="NO-SUCH-UNIT"), actor),
        ]
        out = submit_reports(s, jobs)
    first, bad, second, again, third, bad_again = out
    assert isinstance(first, IntakeResult) and first.created
    assert isinstance(second, IntakeResult) and second.created
    assert isinstance(third, IntakeResult) and third.created
    assert isinstance(again, IntakeResult) and not again.created and again.case.id == first.case.id
    assert isinstance(bad, InvalidInput) and bad.loc == ("body", "victim", "station")
    assert isinstance(bad_again, InvalidInput)

    def stop(result: IntakeResult) -> tuple[str, int | None]:
        o = next(o for o in result.case.orders if o.target == shared)
        return o.kind, o.stop_sequence

    # Two legal stops per account across cases, taken in report order; the third report gets a freeze.
    assert [stop(first), stop(second), stop(third)] == [
        (OrderKind.STOP_PAYMENT, 1), (OrderKind.STOP_PAYMENT, 2), (OrderKind.FREEZE, None)]
    assert len({o.id for r in (first, second, third) for o in r.case.orders}) == 3 * len(first.case.orders)
    with session_scope(sessions) as s:
        assert sorted(s.scalars(select(Case.idempotency_key))) == ["b-1", "b-2", "b-3"]
        assert s.scalar(select(func.count()).select_from(TraceJob)) == 3
        assert s.scalar(select(func.count()).select_from(Order).where(Order.target == "6222000000000901")) == 0
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "create")) == 3
        reads = s.scalars(select(AuditLog).where(AuditLog.action == "read")).all()
        assert [(r.object_id, r.personal_data) for r in reads] == [(str(first.case.id), True)]
        stored = s.execute(select(Order.id, Order.case_id, Order.kind, Order.target)).tuples().all()
    returned = {(o.id, o.case_id, o.kind, o.target) for r in (first, second, third) for o in r.case.orders}
    assert set(stored) == returned  # the ids handed back are the rows written, report by report
