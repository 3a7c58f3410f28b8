"""Simulated partners and the center run against a simulated city (issue 5, section 8).

The city's reports are filed at their report times; simulated bank desks act on each
stop-payment after a realistic delay (log-normal, median ``bank_delay_min`` minutes),
stop what the account still holds at that moment, and return its onward transactions up
to then from the city's ledger — which the money-following loop turns into the next
level's orders. Everything runs on the city's event clock through the real service
functions and the real operations store, so the figures are what the center would have
done. Without the center the victims' money is lost; with it, what was stopped is not.

After a stop-payment with money, the center turns it into a freeze (止付转冻结) half an
hour later and the bank executes that after its delay; when the replay ends the center
returns the frozen money (资金返还) case by case, as the trace attributes it.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.following import open_followed_orders
from fanzha.response.returns import freeze_stopped, return_frozen_money
from fanzha.response.schemas import ExecuteIn, ReportCreate, StatementRowIn
from fanzha.response.seed import seed_demo
from fanzha.response.service import actor_of, execute, submit_report
from fanzha.store.models import Order, OrderKind, Organisation, User

FREEZE_AFTER_MIN = 30  # the center converts a stop-payment well inside its 48 hours


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class CenterOutcome:
    """What the center did to a simulated city's reported cases."""

    reports: int = 0
    reported_loss_cents: int = 0
    stopped_cents: int = 0
    frozen_cents: int = 0
    returned_cents: int = 0
    orders: dict[str, int] = field(default_factory=dict)
    max_level: int = 0
    minutes_to_first_stop: list[float] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def lost_cents(self) -> int:
        """The reporting victims' money not given back: what the trace could not attribute to
        them stays lost to them even when it sits frozen (it is other victims' or the holder's)."""
        return self.reported_loss_cents - self.returned_cents

    @property
    def held_for_others_cents(self) -> int:
        """Frozen money the trace does not attribute to any reporting victim (unreported victims, mules)."""
        return self.frozen_cents - self.returned_cents


class SimulatedLedger:
    """The city's transfers, asked the questions a bank desk answers."""

    def __init__(self, city: Path) -> None:
        t = pl.read_parquet(city / "transfers.parquet").with_columns(pl.col("time").dt.epoch("ms").alias("ms"))
        accounts = pl.read_parquet(city / "accounts.parquet").select("account_id", "institution")
        # sorted once, so an account's rows are a slice found by binary search (not a scan per question)
        self.out = t.sort("from_account", "ms")
        self.inflow = t.filter(pl.col("to_account").is_not_null()).sort("to_account", "ms")
        self.bank = dict(zip(accounts["account_id"].to_list(), accounts["institution"].to_list(), strict=True))

    @staticmethod
    def _rows(frame: pl.DataFrame, column: str, account: str, until_ms: int) -> pl.DataFrame:
        keys = frame[column]
        lo, hi = int(keys.search_sorted(account, "left")), int(keys.search_sorted(account, "right"))
        part = frame.slice(lo, hi - lo)
        return part.filter(pl.col("ms") <= until_ms)

    def statement(self, account: str, until_ms: int) -> tuple[int, list[StatementRowIn]]:
        """(balance held at ``until_ms``, onward transactions before it) for one account."""
        out = self._rows(self.out, "from_account", account, until_ms)
        received = int(self._rows(self.inflow, "to_account", account, until_ms)["amount_cents"].sum())
        held = max(received - int(out["amount_cents"].sum()), 0)
        rows = [
            StatementRowIn(transfer_id=r["transfer_id"], time=_dt(r["ms"]), to_account=r["to_account"],
                           to_bank=self.bank.get(r["to_account"]) if r["to_account"] else None,
                           amount_cents=r["amount_cents"], channel=r["channel"], order_no=r["order_no"])
            for r in out.iter_rows(named=True)
        ]
        return held, rows


def _reports(city: Path, bank_of: dict[str, str]) -> list[tuple[int, ReportCreate, int]]:
    reports = pl.read_parquet(city / "reports.parquet")
    transfers = pl.read_parquet(city / "transfers.parquet")
    out = []
    for r in reports.sort("reported_at").iter_rows(named=True):
        own = transfers.filter(pl.col("transfer_id").is_in(r["transfer_ids"])).sort("time")
        items = [{"amount_cents": t["amount_cents"], "time": t["time"].isoformat(), "account": t["from_account"],
                  "to_bank": bank_of.get(t["to_account"]), "to_account": t["to_account"], "channel": t["channel"],
                  "order_no": t["order_no"], "platform": None}
                 for t in own.iter_rows(named=True)]
        report = ReportCreate.model_validate({
            "idempotency_key": r["report_id"], "reference": r["report_id"], "typology": r["typology"],
            "reported_at": r["reported_at"].isoformat(), "victim": {"number": r["victim_number"]},
            "transfers": items, "fraud_numbers": r["fraud_numbers"], "domains": r["domains"],
        })
        out.append((int(r["reported_at"].timestamp() * 1000), report, int(r["loss_cents"] or 0)))
    return out


def run_center(city: Path, session: Session, bank_delay_min: float = 6.0, seed: int = 0,
               password: str | None = None, speed: float | None = None) -> CenterOutcome:
    """File every report of a simulated city and let simulated banks act on the orders, in event time.

    Demo organisations and users are added if missing; their passwords (random unless
    given) are in ``outcome.passwords`` for the users added now. With ``speed`` (event
    seconds per wall second) the city replays live, so a console watching the store sees
    cases arrive and desks act as they would; without it, flat out.
    """
    rng = np.random.default_rng(seed)
    added = seed_demo(session, password=password)
    session.commit()
    users = {u.organisation.code: u for u in session.scalars(select(User)) if u.username.startswith("desk-")}
    intake = actor_of(session.scalars(select(User).where(User.username == "intake")).one())
    commander = actor_of(session.scalars(select(User).where(User.username == "commander")).one())
    ledger = SimulatedLedger(city)
    outcome = CenterOutcome(passwords=added.passwords)
    queue: list[tuple[int, int, str, object]] = []  # (time ms, seq, kind, payload)
    seq = 0
    for at, report, loss in _reports(city, ledger.bank):
        heapq.heappush(queue, (at, seq, "report", (report, loss)))
        seq += 1
    scheduled: set[int] = set()
    stopped_at: dict[str, int] = {}
    first_stop: dict[int, tuple[int, int]] = {}  # case → (reported at, first executed stop with money)

    def schedule_desks(case_id: int, now_ms: int) -> None:
        nonlocal seq
        for order in open_followed_orders(session, case_id):
            if order.id in scheduled:
                continue
            scheduled.add(order.id)
            delay = max(1.0, float(rng.lognormal(np.log(bank_delay_min), 0.5)))
            heapq.heappush(queue, (now_ms + int(delay * 60_000), seq, "desk", order.id))
            seq += 1

    wall0, event0 = time.monotonic(), queue[0][0] if queue else 0
    while queue:
        at, _, kind, payload = heapq.heappop(queue)
        if speed:
            lag = (at - event0) / 1000 / speed - (time.monotonic() - wall0)
            if lag > 0:
                # Live next to the API: hold no transaction while waiting. An open one keeps an old
                # SQLite snapshot, and its next write then fails with "database is locked" once
                # anyone else (the API's outbox, a desk) has committed in between.
                session.commit()
                time.sleep(lag)
        now = _dt(at)
        if kind == "report":
            report, loss = payload  # type: ignore[misc]
            if not report.transfers:
                continue
            case = submit_report(session, report, intake, now=now).case
            outcome.reports += 1
            outcome.reported_loss_cents += loss
            first_stop[case.id] = (at, 0)
            session.commit()
            schedule_desks(case.id, at)
        elif kind == "freeze":
            stop = session.get(Order, payload)
            assert stop is not None and stop.case_id is not None
            freeze_stopped(session, commander, stop.id, now=now)
            session.commit()
            schedule_desks(stop.case_id, at)
        else:
            order = session.get(Order, payload)
            assert order is not None
            org = session.get(Organisation, order.organisation_id)
            user = users.get(org.code) if org is not None else None
            if user is None:  # addressed to the center's own desk (bank unknown): not simulated
                continue
            parent = session.get(Order, order.parent_order_id) if order.parent_order_id else None
            if order.kind == OrderKind.FREEZE and parent is not None and parent.target == order.target:
                # 止付转冻结: the bank freezes what its own stop-payment on this account holds (a freeze
                # the loop ordered for an account stopped twice elsewhere is an ordinary desk order)
                execute(session, actor_of(user), order.id, ExecuteIn(amount_stopped_cents=order.amount_cents or 0),
                        now=now)
                outcome.frozen_cents += order.amount_cents or 0
                session.commit()
                continue
            # once an account is stopped its money stays put: later orders on it find nothing new,
            # and its statement ends where the first stop caught it
            first = stopped_at.setdefault(order.target, at)
            held, rows = ledger.statement(order.target, first)
            if first != at:
                held = 0
            execute(session, actor_of(user), order.id,
                    ExecuteIn(amount_stopped_cents=held, account_holder="(simulated)", statement_rows=rows), now=now)
            outcome.stopped_cents += held
            if held and order.kind == OrderKind.STOP_PAYMENT:
                heapq.heappush(queue, (at + FREEZE_AFTER_MIN * 60_000, seq, "freeze", order.id))
                seq += 1
            case_id = order.case_id
            assert case_id is not None
            reported_at, seen = first_stop[case_id]
            if held and not seen:
                first_stop[case_id] = (reported_at, at)
                outcome.minutes_to_first_stop.append((at - reported_at) / 60_000)
            session.commit()  # executing with statement rows already followed the money (loop.py)
            schedule_desks(case_id, at)
    returned: set[int] = set()
    for case_id in sorted(first_stop):
        if case_id in returned:
            continue
        plan = return_frozen_money(session, commander, case_id)
        returned.update(plan.cases)
        outcome.returned_cents += plan.returned_cents
        session.commit()
    for o in session.scalars(select(Order)):
        outcome.orders[str(o.kind)] = outcome.orders.get(str(o.kind), 0) + 1
        outcome.max_level = max(outcome.max_level, o.level)
    return outcome
