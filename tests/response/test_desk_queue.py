"""A busy desk's queue: the status filter is in the query, so open orders are never cut off behind done ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.schemas import ExecuteIn, ReportCreate
from fanzha.response.service import actor_of, desk_orders, execute, submit_report
from fanzha.store.models import OrderStatus, User

OPEN = (OrderStatus.PENDING, OrderStatus.ACKNOWLEDGED, OrderStatus.ESCALATED)


def test_open_orders_come_first_even_behind_many_done_ones(session: Session) -> None:
    intake = actor_of(session.scalars(select(User).where(User.username == "intake")).one())
    desk = actor_of(session.scalars(select(User).where(User.username == "desk-icbc")).one())
    t = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(4):
        submit_report(session, ReportCreate.model_validate({
            "idempotency_key": f"busy-{i}", "victim": {"number": "+8613906001234"},
            "transfers": [{"amount_cents": 10_000 + i, "time": t.isoformat(), "to_bank": "ICBC",
                           "to_account": f"62220200000009{i:02d}"}]}), intake)
    session.commit()
    oldest_first = desk_orders(session, desk)
    for order in oldest_first[:3]:
        execute(session, desk, order.id, ExecuteIn(amount_stopped_cents=0))
    session.commit()
    # a page of one: the old in-Python filter would have read the oldest (done) order and shown nothing
    page = desk_orders(session, desk, limit=1, statuses=OPEN)
    assert [o.id for o in page] == [oldest_first[3].id]
    done = desk_orders(session, desk, limit=2, statuses=(OrderStatus.EXECUTED,), newest_first=True)
    assert [o.id for o in done] == [oldest_first[2].id, oldest_first[1].id]
