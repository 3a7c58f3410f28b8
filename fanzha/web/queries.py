"""Read models of the console: the dashboard's figures, trends, tables, ticker and a case's money trace.

Plain functions over a :class:`~sqlalchemy.orm.Session` and an explicit ``now`` so tests
can pin the clock. Counting and summing run in SQL with portable range filters (SQLite
and PostgreSQL alike); bucketing by local calendar day happens in Python over the rows
of the window, because day truncation in the center's time zone is spelled differently
on each database. Nothing here returns personal data: victims and account holders stay
on the (audited) case and order pages.

Comparisons (环比 / 同比) are period-to-date: "today so far" against "yesterday up to the
same time" and against "the same day last year up to the same time"; "this month so
far" likewise. Comparing a half-finished period with a whole one would always look
like a fall.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, aliased

from fanzha.response.caseledger import FOLLOWED
from fanzha.response.clocks import GOLDEN_WINDOW
from fanzha.store.models import (
    Case,
    CaseTransfer,
    FundReturn,
    ListDecision,
    ListKind,
    NumberListEntry,
    Order,
    OrderKind,
    OrderStatus,
    Organisation,
    StatementRow,
)
from fanzha.warning.store import WarningFigures
from fanzha.warning.store import figures as _warning_figures

OPEN_STATUSES = (OrderStatus.PENDING, OrderStatus.ACKNOWLEDGED, OrderStatus.ESCALATED)


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Windows:
    """The current period to date and its two comparison spans."""

    current: Window
    previous: Window  # 环比 (month-on-month / day-on-day)
    last_year: Window  # 同比 (year-on-year)


def _local_midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz)


def _shift_year(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February → 28 February
        return d.replace(year=d.year + years, day=28)


def _shift_month(d: date, months: int) -> date:
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    return date(year, month, 1)


def windows(period: Period, now: datetime, tz: ZoneInfo) -> Windows:
    """Period-to-date windows in the center's time zone (see the module doc)."""
    local = now.astimezone(tz)
    if period is Period.DAY:
        start_d = local.date()
        prev_d = start_d - timedelta(days=1)
    else:
        start_d = local.date().replace(day=1)
        prev_d = _shift_month(start_d, -1)
    start = _local_midnight(start_d, tz)
    elapsed = local - start
    prev_start = _local_midnight(prev_d, tz)
    # A month-to-date span longer than last month (31 March vs February) stops at its end.
    prev_end = min(prev_start + elapsed, start)
    ly_start = _local_midnight(_shift_year(start_d, -1), tz)
    utc = UTC
    return Windows(
        current=Window(start.astimezone(utc), now.astimezone(utc)),
        previous=Window(prev_start.astimezone(utc), prev_end.astimezone(utc)),
        last_year=Window(ly_start.astimezone(utc), (ly_start + elapsed).astimezone(utc)),
    )


def change(current: float, before: float) -> float | None:
    """Relative change (0.25 = +25 %); None when there is nothing to compare with."""
    if before == 0:
        return None
    return (current - before) / before


@dataclass(frozen=True)
class Metric:
    """One dashboard figure with its comparisons."""

    key: str
    value: int
    previous: int
    last_year: int
    money: bool = False

    @property
    def mom(self) -> float | None:
        """环比."""
        return change(self.value, self.previous)

    @property
    def yoy(self) -> float | None:
        """同比."""
        return change(self.value, self.last_year)


def _in(col: Any, w: Window) -> ColumnElement[bool]:
    result: ColumnElement[bool] = (col >= w.start) & (col < w.end)
    return result


def _scalar(session: Session, stmt: Select[Any]) -> int:
    return int(session.scalar(stmt) or 0)


def _metric_values(session: Session, w: Window) -> dict[str, int]:
    stop, freeze, block = OrderKind.STOP_PAYMENT, OrderKind.FREEZE, OrderKind.BLOCK
    executed = Order.status.in_([OrderStatus.EXECUTED, OrderStatus.EXPIRED])
    return {
        "cases": _scalar(session, select(func.count(Case.id)).where(_in(Case.reported_at, w))),
        "loss": _scalar(session, select(func.sum(Case.loss_cents)).where(_in(Case.reported_at, w))),
        "stops_issued": _scalar(
            session, select(func.count(Order.id)).where(Order.kind == stop, _in(Order.created_at, w))
        ),
        "stops_executed": _scalar(
            session, select(func.count(Order.id)).where(Order.kind == stop, executed, _in(Order.executed_at, w))
        ),
        "stopped": _scalar(
            session,
            select(func.sum(Order.amount_held_cents)).where(Order.kind == stop, executed, _in(Order.executed_at, w)),
        ),
        "frozen": _scalar(
            session,
            select(func.sum(Order.amount_held_cents)).where(Order.kind == freeze, executed, _in(Order.executed_at, w)),
        ),
        "returned": _scalar(session, select(func.sum(FundReturn.cents)).where(_in(FundReturn.created_at, w))),
        "numbers_blocked": _scalar(
            session, select(func.count(Order.id)).where(Order.kind == block, executed, _in(Order.executed_at, w))
        ),
        "numbers_blacklisted": _scalar(
            session,
            select(func.count(NumberListEntry.id)).where(
                NumberListEntry.list_kind == ListKind.BLACK,
                NumberListEntry.decision.in_([ListDecision.CONFIRMED, ListDecision.AUTO_CONFIRMED]),
                _in(NumberListEntry.decided_at, w),
            ),
        ),
    }


MONEY_METRICS = frozenset({"loss", "stopped", "frozen", "returned"})
METRIC_ORDER = ("cases", "loss", "stops_issued", "stops_executed", "stopped", "frozen", "returned",
                "numbers_blocked", "numbers_blacklisted")


def metrics(session: Session, period: Period, now: datetime, tz: ZoneInfo) -> list[Metric]:
    """The dashboard's headline figures for the period to date, with 环比 and 同比."""
    ws = windows(period, now, tz)
    cur, prev, ly = (_metric_values(session, w) for w in (ws.current, ws.previous, ws.last_year))
    return [Metric(k, cur[k], prev[k], ly[k], money=k in MONEY_METRICS) for k in METRIC_ORDER]


def open_orders(session: Session) -> dict[str, int]:
    """Orders waiting on a desk right now, by status (the live load of the platform)."""
    rows = session.execute(
        select(Order.status, func.count(Order.id)).where(Order.status.in_(OPEN_STATUSES)).group_by(Order.status)
    ).tuples()
    counts = {s.value: 0 for s in OPEN_STATUSES}
    for status, n in rows:
        counts[OrderStatus(status).value] = int(n)
    return counts


def warnings(session: Session) -> WarningFigures:
    """Stored warnings, open ones, and the feedback rate (share with any feedback, 反馈率)."""
    return _warning_figures(session)


# --------------------------------------------------------------------------- trend


@dataclass(frozen=True)
class Trend:
    days: list[str]  # local dates, ISO
    cases: list[int]
    stops_executed: list[int]
    stopped_yuan: list[float]


def trend(session: Session, now: datetime, tz: ZoneInfo, days: int = 30) -> Trend:
    """Daily cases, executed stop-payments and money stopped over the last ``days`` local days."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    start = _local_midnight(first, tz).astimezone(UTC)
    labels = [first + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(labels)}
    cases = [0] * days
    stops = [0] * days
    stopped = [0] * days
    for (reported,) in session.execute(select(Case.reported_at).where(Case.reported_at >= start)).tuples():
        i = index.get(reported.astimezone(tz).date())
        if i is not None:
            cases[i] += 1
    stmt = select(Order.executed_at, Order.amount_held_cents).where(
        Order.kind == OrderKind.STOP_PAYMENT, Order.executed_at >= start
    )
    for executed, held in session.execute(stmt).tuples():
        if executed is None:
            continue
        i = index.get(executed.astimezone(tz).date())
        if i is not None:
            stops[i] += 1
            stopped[i] += held or 0
    return Trend(days=[d.isoformat() for d in labels], cases=cases, stops_executed=stops,
                 stopped_yuan=[c / 100 for c in stopped])


# --------------------------------------------------------------------------- time to stop


TTS_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 10), (10, 20), (20, 30), (30, 60), (60, 240), (240, None))


@dataclass(frozen=True)
class TimeToStop:
    """Minutes from the victim's transfer to the bank's stop, against the 30-minute window."""

    count: int
    within_window: int
    median_min: float | None
    buckets: list[tuple[str, int]] = field(default_factory=list)

    @property
    def within_share(self) -> float | None:
        return None if self.count == 0 else self.within_window / self.count


def _bucket_label(lo: int, hi: int | None) -> str:
    return f"{lo}–{hi}" if hi is not None else f"≥{lo}"


def time_to_stop(session: Session, w: Window) -> TimeToStop:
    """Executed stop-payments in ``w``: how long after the transfer the money was stopped."""
    stmt = select(Order.golden_window_start, Order.executed_at).where(
        Order.kind == OrderKind.STOP_PAYMENT, Order.executed_at.is_not(None), Order.golden_window_start.is_not(None),
        _in(Order.executed_at, w),
    )
    minutes = [max((done - start).total_seconds() / 60, 0.0) for start, done in session.execute(stmt).tuples()
               if start is not None and done is not None]
    limit = GOLDEN_WINDOW.total_seconds() / 60
    buckets = []
    for lo, hi in TTS_BUCKETS:
        n = sum(1 for m in minutes if m >= lo and (hi is None or m < hi))
        buckets.append((_bucket_label(lo, hi), n))
    return TimeToStop(count=len(minutes), within_window=sum(1 for m in minutes if m <= limit),
                      median_min=median(minutes) if minutes else None, buckets=buckets)


# --------------------------------------------------------------------------- districts and stations


@dataclass(frozen=True)
class AreaRow:
    district: str | None
    station: str | None  # police unit name
    cases: int
    loss_cents: int
    stopped_cents: int


def by_area(session: Session, w: Window) -> list[AreaRow]:
    """Cases, loss and money stopped per district and reporting police station in ``w``."""
    station = aliased(Organisation)
    cases = session.execute(
        select(Case.victim_district, station.name, func.count(Case.id), func.sum(Case.loss_cents))
        .outerjoin(station, station.id == Case.police_unit_id)
        .where(_in(Case.reported_at, w))
        .group_by(Case.victim_district, station.name)
    ).tuples().all()
    stopped = dict(
        ((d, s), int(v or 0))
        for d, s, v in session.execute(
            select(Case.victim_district, station.name, func.sum(Order.amount_held_cents))
            .join(Order, Order.case_id == Case.id)
            .outerjoin(station, station.id == Case.police_unit_id)
            .where(_in(Case.reported_at, w), Order.kind == OrderKind.STOP_PAYMENT)
            .group_by(Case.victim_district, station.name)
        ).tuples()
    )
    rows = [AreaRow(d, s, int(n), int(loss or 0), stopped.get((d, s), 0)) for d, s, n, loss in cases]
    return sorted(rows, key=lambda r: (-r.cases, r.district or "", r.station or ""))


# --------------------------------------------------------------------------- ticker


@dataclass(frozen=True)
class TickerEvent:
    at: datetime
    event: str  # case_reported, or an order status (acknowledged, executed, rejected, escalated, expired)
    kind: str | None  # order kind
    object_id: int
    case_id: int | None
    organisation: str | None
    amount_cents: int | None


_STATUS_TIME = {
    OrderStatus.ACKNOWLEDGED: "acknowledged_at",
    OrderStatus.EXECUTED: "executed_at",
    OrderStatus.REJECTED: "rejected_at",
    OrderStatus.ESCALATED: "escalated_at",
    OrderStatus.EXPIRED: "expired_at",
}


def ticker(session: Session, limit: int = 12) -> list[TickerEvent]:
    """The newest happenings: reports filed and orders moving, newest first (no personal data)."""
    events: list[TickerEvent] = []
    for case_id, at, loss in session.execute(
        select(Case.id, Case.reported_at, Case.loss_cents).order_by(Case.id.desc()).limit(limit)
    ).tuples():
        events.append(TickerEvent(at, "case_reported", None, case_id, case_id, None, loss))
    stmt = (
        select(Order, Organisation.code)
        .join(Organisation, Organisation.id == Order.organisation_id)
        .where(Order.status != OrderStatus.PENDING)
        .order_by(Order.updated_at.desc())
        .limit(limit)
    )
    for order, code in session.execute(stmt).tuples():
        status = OrderStatus(order.status)
        at = getattr(order, _STATUS_TIME[status]) or order.updated_at
        amount = order.amount_held_cents if status is OrderStatus.EXECUTED else order.amount_cents
        events.append(TickerEvent(at, status.value, OrderKind(order.kind).value, order.id, order.case_id, code, amount))
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]


# --------------------------------------------------------------------------- a case's money trace


@dataclass
class TraceAccount:
    account: str
    bank: str | None
    level: int
    received_cents: int = 0
    held_cents: int = 0  # what a bank stopped or froze on it
    order_status: str | None = None  # latest stop-payment/freeze status, if any
    cashed_out: bool = False


@dataclass(frozen=True)
class TraceEdge:
    source: str
    target: str
    amount_cents: int
    channel: str


@dataclass(frozen=True)
class MoneyTrace:
    """Victim → level-1 payees → onward accounts, from the reported transfers and the desks' statements."""

    accounts: list[TraceAccount]
    edges: list[TraceEdge]

    @property
    def depth(self) -> int:
        return max((a.level for a in self.accounts), default=0)

    def by_level(self) -> dict[int, list[TraceAccount]]:
        levels: dict[int, list[TraceAccount]] = defaultdict(list)
        for a in self.accounts:
            levels[a.level].append(a)
        return dict(sorted(levels.items()))

    def echarts(self, victim_label: str) -> dict[str, Any]:
        """Nodes and links for an ECharts Sankey (acyclic by construction: links only go down a level)."""
        nodes = [{"name": victim_label, "depth": 0, "itemStyle": {"color": "#64748b"}}]
        for a in self.accounts:
            color = "#15803d" if a.held_cents > 0 else ("#b45309" if a.order_status else "#2563eb")
            if a.cashed_out:
                color = "#b91c1c"
            nodes.append({"name": a.account, "depth": a.level, "itemStyle": {"color": color},
                          "value": a.received_cents / 100, "held": a.held_cents / 100, "level": a.level})
        links = [{"source": victim_label if e.source == VICTIM else e.source, "target": e.target,
                  "value": e.amount_cents / 100} for e in self.edges]
        return {"nodes": nodes, "links": links}


VICTIM = "\x00victim"
CASH_OUT = "cash-out"


def money_trace(session: Session, case_id: int) -> MoneyTrace:
    """Levels by breadth-first order over the case's transfers and statement rows.

    An account's level is the shortest path from the victim (level 1 = the victim's own
    payees). Links that would point back up or sideways are dropped from the picture
    (money going round in circles between mules), so the Sankey stays acyclic.
    """
    transfers: Sequence[tuple[str, str | None, int, str]] = session.execute(
        select(CaseTransfer.to_account, CaseTransfer.to_bank, CaseTransfer.amount_cents, CaseTransfer.channel)
        .where(CaseTransfer.case_id == case_id)
    ).tuples().all()
    statements: Sequence[tuple[str, str | None, str | None, int, str]] = session.execute(
        select(StatementRow.from_account, StatementRow.to_account, StatementRow.to_bank, StatementRow.amount_cents,
               StatementRow.channel)
        .join(Order, Order.id == StatementRow.order_id)
        .where(Order.case_id == case_id)
        .order_by(StatementRow.occurred_at, StatementRow.id)
    ).tuples().all()
    orders: Sequence[tuple[str, str, str, int | None, int]] = session.execute(
        select(Order.target, Order.kind, Order.status, Order.amount_held_cents, Order.id)
        .where(Order.case_id == case_id, Order.kind.in_([OrderKind.STOP_PAYMENT, OrderKind.FREEZE]))
        .order_by(Order.id)
    ).tuples().all()

    accounts: dict[str, TraceAccount] = {}
    raw_edges: list[tuple[str, str, int, str]] = []
    for to_account, to_bank, amount, channel in transfers:
        payee = accounts.setdefault(to_account, TraceAccount(to_account, to_bank, 1))
        payee.received_cents += amount
        raw_edges.append((VICTIM, to_account, amount, str(channel)))
    # Statement rows may arrive in any order of levels: relax until nothing changes.
    pending = list(statements)
    progressed = True
    while pending and progressed:
        progressed = False
        rest = []
        for src, dst, bank, amount, channel in pending:
            parent = accounts.get(src)
            if parent is None:
                rest.append((src, dst, bank, amount, channel))
                continue
            progressed = True
            target = dst if dst else f"{CASH_OUT}:{channel}:{src}"
            child = accounts.get(target)
            if child is None:
                child = accounts[target] = TraceAccount(target, bank, parent.level + 1, cashed_out=dst is None)
            if child.level > parent.level:
                child.received_cents += amount
                raw_edges.append((src, target, amount, str(channel)))
        pending = rest
    for target, _kind, status, held, _id in orders:
        ordered = accounts.get(target)
        if ordered is not None:
            ordered.order_status = OrderStatus(status).value
            ordered.held_cents += held or 0
    merged: dict[tuple[str, str], list[Any]] = {}
    for src, dst, amount, channel in raw_edges:
        key = (src, dst)
        if key in merged:
            merged[key][0] += amount
        else:
            merged[key] = [amount, channel]
    edges = [TraceEdge(s, t, int(v[0]), str(v[1])) for (s, t), v in merged.items()]
    by_level = sorted(accounts.values(), key=lambda a: (a.level, -a.received_cents, a.account))
    return MoneyTrace(accounts=by_level, edges=edges)


# --------------------------------------------------------------------------- a case's timeline


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    event: str
    detail: str
    order_id: int | None = None


def timeline(case_transfers: Iterable[tuple[datetime, int, str]], reported_at: datetime,
             orders: Iterable[Any]) -> list[TimelineEvent]:
    """Transfers, the report and every order's status moments, oldest first.

    ``orders`` are :class:`~fanzha.response.schemas.OrderPublic`-like objects (duck-typed,
    so the page can pass what the service returned).
    """
    events = [TimelineEvent(at, "transfer", f"{amount}|{to}") for at, amount, to in case_transfers]
    events.append(TimelineEvent(reported_at, "reported", ""))
    for o in orders:
        label = f"{o.kind}|{o.target}|{o.addressee}"
        events.append(TimelineEvent(o.created_at, "issued", label, o.id))
        for status, attr in (("acknowledged", "acknowledged_at"), ("executed", "executed_at"),
                             ("rejected", "rejected_at"), ("escalated", "escalated_at")):
            at = getattr(o, attr, None)
            if at is not None:
                events.append(TimelineEvent(at, status, label, o.id))
    events.sort(key=lambda e: (e.at, e.order_id or 0))
    return events


# --------------------------------------------------------------------------- money-following progress


@dataclass(frozen=True)
class FollowProgress:
    """How far the money-following loop of one case has got (the case's long job)."""

    orders: int  # stop-payments and freezes issued for the case
    answered: int  # executed, rejected or expired: the desk is done with them
    levels: int  # deepest level ordered so far
    held_cents: int  # money the case's stop-payments hold (a freeze holds the same money again)

    @property
    def waiting(self) -> int:
        return self.orders - self.answered


def follow_progress(session: Session, case_id: int) -> FollowProgress:
    """Counts only (no personal data): orders answered of issued, depth, money stopped."""
    done = (OrderStatus.EXECUTED, OrderStatus.REJECTED, OrderStatus.EXPIRED)
    row = session.execute(
        select(func.count(Order.id), func.count(Order.id).filter(Order.status.in_(done)),
               func.coalesce(func.max(Order.level), 0),
               func.coalesce(func.sum(Order.amount_held_cents).filter(Order.kind == OrderKind.STOP_PAYMENT), 0))
        .where(Order.case_id == case_id, Order.kind.in_(FOLLOWED))
    ).one()
    return FollowProgress(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
