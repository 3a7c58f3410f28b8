"""Which commits wake the desk streams: those that made orders, once each, heard from any process."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

from api_helpers import PASSWORD, actor_named, report_body
from sqlalchemy import select

from fanzha.api.deps import Database
from fanzha.api.feed import OrderFeed, watch_commits
from fanzha.response import service
from fanzha.response.schemas import OrderPublic, ReportCreate
from fanzha.response.seed import seed_demo
from fanzha.store.audit import audit
from fanzha.store.db import new_orders_max_id, session_factory, session_scope
from fanzha.store.models import Order, OrderKind, OrderStatus, StopPaymentOrder


def test_only_a_transaction_that_inserted_orders_names_its_highest_order_id(store_url: str) -> None:
    factory = session_factory(store_url, sqlite_immediate=True)
    with session_scope(factory) as s:
        seed_demo(s, password=PASSWORD)
        assert new_orders_max_id(s) is None  # organisations and users, no order
    with session_scope(factory) as s:
        intake = actor_named(s, "intake")
        service.submit_report(s, ReportCreate.model_validate(report_body(1)), intake, idempotency_key="feed-1")
        top = new_orders_max_id(s)
        assert top == max(s.scalars(select(Order.id)))
    with session_scope(factory) as s:  # the same pooled connection, a new transaction: no orders in it
        audit(s, actor_named(s, "intake"), "read", "case", 1, personal_data=True)
        assert new_orders_max_id(s) is None
    with session_scope(factory) as s:  # orders added through the ORM are seen too (flushed first)
        case_id = s.scalars(select(Order.case_id)).first()
        order = s.scalars(select(Order)).first()
        assert order is not None and case_id is not None
        s.add(StopPaymentOrder(case_id=case_id, target="6222000000009999", organisation_id=order.organisation_id))
        assert new_orders_max_id(s) == (top or 0) + 1
    with session_scope(factory) as s:
        s.rollback()
        assert new_orders_max_id(s) is None


def test_a_report_wakes_the_streams_once_an_audit_only_write_not_at_all(store_url: str, tmp_path: Path) -> None:
    """The writer hears its own commit and the watcher hears it again (SQLite data_version,
    PostgreSQL NOTIFY): one wake-up; a write that made no order: none."""
    with session_scope(session_factory(store_url)) as s:
        seed_demo(s, password=PASSWORD)

    async def run() -> tuple[int, int]:
        db = Database(store_url)
        db.feed.bind(asyncio.get_running_loop())
        watcher = asyncio.create_task(watch_commits(db.feed, store_url, db.sqlite_file))
        try:
            await asyncio.sleep(0.5)  # the watcher has its connection (and LISTENs)
            with db.write() as s:
                audit(s, actor_named(s, "intake"), "read", "case", 1, personal_data=True)
            await asyncio.sleep(0.5)
            after_audit = db.feed.generation
            with db.write() as s:
                service.submit_report(s, ReportCreate.model_validate(report_body(2)), actor_named(s, "intake"),
                                      idempotency_key="feed-2")
            await asyncio.sleep(0.5)
            return after_audit, db.feed.generation
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            db.feed.bind(None)
            db.dispose()
            db.close()

    after_audit, after_report = asyncio.run(run())
    assert after_audit == 0, "an audit-only write woke the streams"
    assert after_report == 1, f"one report's commit woke the streams {after_report} times"


def _order(order_id: int) -> OrderPublic:
    return OrderPublic(id=order_id, kind=OrderKind.STOP_PAYMENT, status=OrderStatus.PENDING, case_id=1,
                       addressee="ICBC", target=f"acct-{order_id}", level=1, amount_cents=100, stop_sequence=1,
                       number_class=None, carrier_action=None, platform=None, golden_window_start=None,
                       golden_window_ends_at=None, deadline_at=None, legal_expires_at=None, reason=None,
                       created_at=datetime.now(UTC), acknowledged_at=None, executed_at=None, rejected_at=None,
                       escalated_at=None)


def test_the_feed_hands_each_organisation_its_orders_within_its_window_and_pages_through_a_burst() -> None:
    """The shared read: orders of two organisations, committed in id order, read in pages of the
    feed's limit; a stream behind the window or a feed that nobody listened to gets None (reads itself)."""
    committed: list[tuple[int, OrderPublic]] = []
    asked: list[frozenset[int]] = []

    def reader(after_id: int, limit: int, organisations: frozenset[int]) -> list[tuple[int, OrderPublic]]:
        asked.append(organisations)
        return [row for row in committed if row[1].id > after_id and row[0] in organisations][:limit]

    async def run() -> None:
        feed = OrderFeed()
        feed.READ_LIMIT = 3
        feed.bind(asyncio.get_running_loop(), reader=reader, cursor=10)
        with feed.opened(7), feed.opened(8), feed.opened(9):  # streams are open (busy or waiting)
            waiting = asyncio.ensure_future(feed.wait(feed.generation, 5))
            await asyncio.sleep(0)
            committed.extend((7 if i % 2 else 8, _order(i)) for i in range(11, 19))  # 8 orders, two organisations
            committed.append((5, _order(19)))  # an organisation without a stream here: not read
            feed.saw(19)
            assert await waiting
            assert feed.reads == 3  # 3 + 3 + 2 rows
            assert asked == [frozenset({7, 8, 9})] * 3
            assert [o.id for o in feed.take(7, 10) or []] == [11, 13, 15, 17]
            assert [o.id for o in feed.take(8, 14) or []] == [16, 18]
            assert feed.take(9, 10) == []  # an organisation with nothing new
            assert feed.take(5, 10) is None  # no stream of its own here: the feed does not read for it
            assert feed.take(7, 9) is None  # before the window: the stream reads its own queue
            with feed.opened(5):  # joins the window now: its orders up to the cursor are its own to read
                assert feed.take(5, 10) is None and feed.take(5, 19) == []
                committed.append((5, _order(20)))
                feed.saw(20)
                assert [o.id for o in feed.take(5, 19) or []] == [20]
            assert feed.take(5, 19) is None  # its last stream closed: dropped from the window
            committed.pop()
            assert feed.reads == 4
            feed.saw(20)  # heard again (the watcher after the writer): no read, no wake-up
            assert (feed.reads, feed.generation) == (4, 2)
            committed.append((7, _order(21)))
            feed.saw(21)  # the stream is busy, not waiting: the window is kept up to date all the same
            assert [o.id for o in feed.take(7, 18) or []] == [21] and feed.reads == 5
            assert asked[-1] == frozenset({7, 8, 9})

        committed.append((7, _order(22)))
        feed.saw(22)  # no stream open: the window is let go rather than read for nobody
        assert feed.take(7, 21) is None and feed.reads == 5
        with feed.opened(7):
            committed.append((7, _order(23)))
            feed.saw(23)  # a new window from the highest id heard before (22): 23 is in it, 22 is not
            assert [o.id for o in feed.take(7, 22) or []] == [23]
            assert feed.take(7, 21) is None
            assert asked[-1] == frozenset({7})
        feed.bind(None)

    asyncio.run(run())
