"""The dashboard's read models over a real store: period windows, 环比/同比, time to stop, areas, trace levels."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from fanzha.store.db import session_factory, session_scope
from fanzha.store.models import (
    Case,
    CaseTransfer,
    FundReturn,
    Order,
    OrderKind,
    OrderStatus,
    Organisation,
    OrgKind,
    StatementRow,
)
from fanzha.web import queries
from fanzha.web.queries import Period

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 3, 15, 12, 0, tzinfo=TZ)  # mid-day, mid-month


def test_windows_are_period_to_date_in_local_time() -> None:
    day = queries.windows(Period.DAY, NOW, TZ)
    assert day.current.start == datetime(2025, 3, 15, tzinfo=TZ)
    assert day.current.end == NOW
    assert (day.previous.start, day.previous.end) == (datetime(2025, 3, 14, tzinfo=TZ),
                                                      datetime(2025, 3, 14, 12, tzinfo=TZ))
    assert (day.last_year.start, day.last_year.end) == (datetime(2024, 3, 15, tzinfo=TZ),
                                                         datetime(2024, 3, 15, 12, tzinfo=TZ))
    month = queries.windows(Period.MONTH, NOW, TZ)
    assert month.previous.start == datetime(2025, 2, 1, tzinfo=TZ)
    assert month.previous.end == datetime(2025, 2, 15, 12, tzinfo=TZ)
    # 31 March: February's comparison span stops at February's end, never runs into March
    late = queries.windows(Period.MONTH, datetime(2025, 3, 31, 20, tzinfo=TZ), TZ)
    assert late.previous.end == datetime(2025, 3, 1, tzinfo=TZ)
    # a leap day compares with 28 February a year earlier
    leap = queries.windows(Period.DAY, datetime(2024, 2, 29, 9, tzinfo=TZ), TZ)
    assert leap.last_year.start == datetime(2023, 2, 28, tzinfo=TZ)
    # January's month-on-month is December of the year before
    jan = queries.windows(Period.MONTH, datetime(2025, 1, 10, tzinfo=TZ), TZ)
    assert jan.previous.start == datetime(2024, 12, 1, tzinfo=TZ)


def test_change_is_relative_and_undefined_without_a_base() -> None:
    assert queries.change(15, 10) == pytest.approx(0.5)
    assert queries.change(5, 10) == pytest.approx(-0.5)
    assert queries.change(3, 0) is None


@pytest.fixture
def session(store_url: str) -> Iterator[Session]:
    with session_scope(session_factory(store_url)) as s:
        yield s


def _org(session: Session, code: str, kind: OrgKind, name: str | None = None) -> Organisation:
    org = Organisation(code=code, name=name or code, kind=kind)
    session.add(org)
    session.flush()
    return org


def _case(session: Session, key: str, at: datetime, loss: int, district: str | None = None,
          station: Organisation | None = None) -> Case:
    case = Case(idempotency_key=key, reported_at=at, loss_cents=loss, victim_district=district,
                police_unit_id=station.id if station else None, first_transfer_at=at - timedelta(minutes=5))
    session.add(case)
    session.flush()
    return case


def _stop(session: Session, case: Case, bank: Organisation, target: str, sent: datetime, done: datetime | None,
          held: int | None, level: int = 1, seq: int = 1) -> Order:
    order = Order(kind=OrderKind.STOP_PAYMENT, case_id=case.id, organisation_id=bank.id, target=target,
                  status=OrderStatus.EXECUTED if done else OrderStatus.PENDING, level=level, stop_sequence=seq,
                  golden_window_start=sent, executed_at=done, amount_held_cents=held, created_at=sent)
    session.add(order)
    session.flush()
    return order


def test_metrics_trend_time_to_stop_and_areas(session: Session) -> None:
    bank = _org(session, "ICBC", OrgKind.BANK)
    siming = _org(session, "XM-SIMING-PS", OrgKind.POLICE_UNIT, "思明派出所")
    today_a = _case(session, "a", NOW - timedelta(hours=3), 100_00, "思明区", siming)
    today_b = _case(session, "b", NOW - timedelta(hours=1), 300_00, "思明区", siming)
    _case(session, "later-today", NOW + timedelta(hours=2), 999_00)  # after "now": not counted yet
    yesterday = _case(session, "y", NOW - timedelta(days=1, hours=2), 50_00, "湖里区")
    _case(session, "y-late", NOW - timedelta(days=1) + timedelta(hours=3), 70_00)  # after yesterday's same point
    _case(session, "ly", NOW.replace(year=2024) - timedelta(hours=1), 10_00)
    t = NOW - timedelta(hours=3)
    _stop(session, today_a, bank, "acc-1", t, t + timedelta(minutes=12), 80_00)
    _stop(session, today_b, bank, "acc-2", t, t + timedelta(minutes=45), 20_00)
    _stop(session, today_b, bank, "acc-3", t, None, None)
    _stop(session, yesterday, bank, "acc-4", t - timedelta(days=1), t - timedelta(days=1, minutes=-5), 10_00)

    figures = {m.key: m for m in queries.metrics(session, Period.DAY, NOW, TZ)}
    cases = figures["cases"]
    assert (cases.value, cases.previous, cases.last_year) == (2, 1, 1)
    assert cases.mom == pytest.approx(1.0) and cases.yoy == pytest.approx(1.0)
    assert figures["loss"].value == 400_00 and figures["loss"].money
    assert figures["stops_issued"].value == 3
    assert figures["stops_executed"].value == 2 and figures["stops_executed"].previous == 1
    assert figures["stopped"].value == 100_00
    assert figures["frozen"].value == 0 and figures["frozen"].mom is None
    assert figures["returned"].value == 0 and figures["returned"].money

    # money returned (资金返还) counts on the day the return was decided
    freeze = Order(kind=OrderKind.FREEZE, case_id=today_a.id, organisation_id=bank.id, target="acc-1",
                   status=OrderStatus.EXECUTED, executed_at=t, amount_held_cents=80_00, created_at=t)
    session.add(freeze)
    session.flush()
    for case, cents, at in ((today_a, 60_00, NOW - timedelta(hours=1)), (today_b, 20_00, NOW - timedelta(hours=1)),
                            (yesterday, 5_00, NOW - timedelta(days=1, hours=1))):
        session.add(FundReturn(case_id=case.id, freeze_order_id=freeze.id, account="acc-1", institution="ICBC",
                               cents=cents, basis="pro_rata", share=0.5, batch=f"b-{case.id}", created_at=at))
    session.flush()
    returned = {m.key: m for m in queries.metrics(session, Period.DAY, NOW, TZ)}["returned"]
    assert (returned.value, returned.previous) == (80_00, 5_00)

    assert queries.open_orders(session) == {"pending": 1, "acknowledged": 0, "escalated": 0}

    trend = queries.trend(session, NOW, TZ, days=3)
    assert trend.days == ["2025-03-13", "2025-03-14", "2025-03-15"]
    assert trend.cases == [0, 2, 3]  # the case reported later today counts on today's bar
    assert trend.stops_executed == [0, 1, 2]
    assert trend.stopped_yuan == [0, 10.0, 100.0]

    ws = queries.windows(Period.DAY, NOW, TZ)
    tts = queries.time_to_stop(session, ws.current)
    assert (tts.count, tts.within_window) == (2, 1)
    assert tts.median_min == pytest.approx(28.5)
    assert dict(tts.buckets)["10–20"] == 1 and dict(tts.buckets)["30–60"] == 1

    areas = queries.by_area(session, ws.current)
    assert [(a.district, a.station, a.cases, a.loss_cents, a.stopped_cents) for a in areas] == [
        ("思明区", "思明派出所", 2, 400_00, 100_00)
    ]


def test_ticker_lists_reports_and_order_moves_newest_first(session: Session) -> None:
    bank = _org(session, "CCB", OrgKind.BANK)
    case = _case(session, "t", NOW - timedelta(minutes=30), 5_00)
    order = _stop(session, case, bank, "acc-9", NOW - timedelta(minutes=20), NOW - timedelta(minutes=10), 5_00)
    events = queries.ticker(session)
    assert [(e.event, e.object_id) for e in events] == [("executed", order.id), ("case_reported", case.id)]
    assert events[0].organisation == "CCB" and events[0].amount_cents == 5_00


def test_money_trace_levels_follow_statements_in_any_order(session: Session) -> None:
    bank = _org(session, "ICBC", OrgKind.BANK)
    case = _case(session, "m", NOW, 1000_00)
    at = NOW.astimezone(UTC)
    session.add_all([CaseTransfer(case_id=case.id, transferred_at=at, amount_cents=600_00, to_account="L1a"),
                     CaseTransfer(case_id=case.id, transferred_at=at, amount_cents=400_00, to_account="L1b")])
    first = _stop(session, case, bank, "L1a", at, at + timedelta(minutes=5), 100_00)
    second = _stop(session, case, bank, "L2", at, at + timedelta(minutes=9), 0, level=2)
    # the level-2 account's statement arrives before the level-1 statement that reveals it
    session.add_all([
        StatementRow(order_id=second.id, occurred_at=at, from_account="L2", to_account="L3", amount_cents=200_00),
        StatementRow(order_id=second.id, occurred_at=at, from_account="L2", to_account="L1a", amount_cents=1_00),
        StatementRow(order_id=first.id, occurred_at=at, from_account="L1a", to_account="L2", amount_cents=300_00),
        StatementRow(order_id=first.id, occurred_at=at, from_account="L1a", to_account=None, amount_cents=50_00,
                     channel="atm"),
    ])
    session.flush()
    trace = queries.money_trace(session, case.id)
    levels = {a.account: a.level for a in trace.accounts}
    assert levels == {"L1a": 1, "L1b": 1, "L2": 2, "cash-out:atm:L1a": 2, "L3": 3}
    assert trace.depth == 3
    held = {a.account: a.held_cents for a in trace.accounts}
    assert held["L1a"] == 100_00
    assert next(a for a in trace.accounts if a.account == "cash-out:atm:L1a").cashed_out
    # the back-link L2 → L1a is left out, so the Sankey is acyclic
    assert ("L2", "L1a") not in {(e.source, e.target) for e in trace.edges}
    chart = trace.echarts("受害人")
    assert {n["name"] for n in chart["nodes"]} == {"受害人", *levels}
    assert {(link["source"], link["target"]) for link in chart["links"]} >= {("受害人", "L1a"), ("L1a", "L2")}
