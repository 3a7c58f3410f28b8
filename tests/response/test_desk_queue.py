"""A busy desk's queue: the status filter is in the query, so open orders are never cut off behind done ones."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fanzha.response.schemas import ExecuteIn, ReportCreate
from fanzha.response.service import (
    actor_of,
    desk_last_order_id,
    desk_orders,
    desk_orders_after,
    execute,
    submit_report,
)
from fanzha.store.db import create_store_engine, session_scope
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


def test_a_desk_cursor_misses_no_order_when_two_writers_commit_out_of_id_order(
        sessions: sessionmaker[Session], store_url: str) -> None:
    """Writer A inserts an order and holds its transaction; writer B inserts one and commits; a
    desk reading "orders after the last id I saw" in between, then after A's commit, must see both.

    On PostgreSQL ids come at insert and visibility at commit: without the store's lock B's
    higher id was visible first, the cursor moved past A's, and A's order was never read.
    """
    t = datetime.now(UTC) - timedelta(minutes=5)
    engine = create_store_engine(store_url, sqlite_immediate=True)  # as the API's writers (SQLite queues them)
    writers = sessionmaker(bind=engine, expire_on_commit=False)

    def report(key: str, account: str) -> ReportCreate:
        return ReportCreate.model_validate({
            "idempotency_key": key, "victim": {"number": "+8613906001234"},
            "transfers": [{"amount_cents": 10_000, "time": t.isoformat(), "to_bank": "ICBC", "to_account": account}]})

    with sessions() as s:
        intake = actor_of(s.scalars(select(User).where(User.username == "intake")).one())
        desk = actor_of(s.scalars(select(User).where(User.username == "desk-icbc")).one())
        cursor = desk_last_order_id(s, desk)
    seen: list[int] = []

    def read() -> None:
        nonlocal cursor
        with sessions() as s:
            got = [o.id for o in desk_orders_after(s, desk, cursor)]
        seen.extend(got)
        cursor = max([cursor, *got])

    a = writers()
    submit_report(a, report("cursor-a", "6222020000000801"), intake)  # A's order: the lower id, not committed
    b_done = threading.Event()

    def writer_b() -> None:
        with session_scope(writers) as b:
            submit_report(b, report("cursor-b", "6222020000000802"), intake)
        b_done.set()

    thread = threading.Thread(target=writer_b)
    thread.start()
    b_done.wait(1.0)  # B either committed (nothing made it wait) or is waiting for A
    read()
    a.commit()
    a.close()
    thread.join(30)
    assert b_done.is_set()
    read()
    with sessions() as s:
        every = [o.id for o in desk_orders_after(s, desk, 0) if o.id > min(seen, default=0) - 10]
    engine.dispose()
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 2, f"the desk saw {seen} of {every}"
