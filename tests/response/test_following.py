"""The money-following loop: a desk's statement rows → next level's stop-payments, level after level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.following import follow_money
from fanzha.response.schemas import ExecuteIn, ReportCreate, StatementRowIn
from fanzha.response.service import actor_of, execute, submit_report
from fanzha.store.models import Order, OrderKind, User

T = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)


def actor(s: Session, username: str):  # type: ignore[no-untyped-def]
    return actor_of(s.scalars(select(User).where(User.username == username)).one())


def report(amount: int, to_account: str, key: str) -> ReportCreate:
    return ReportCreate.model_validate({
        "idempotency_key": key, "typology": "impersonate_police",
        "victim": {"number": "+8613906001234"},
        "transfers": [{"amount_cents": amount, "time": T.isoformat(), "to_bank": "ICBC", "to_account": to_account}],
    })


def row(minutes: int, to: str | None, bank: str | None, cents: int, channel: str = "bank",
        tid: str = "") -> StatementRowIn:
    return StatementRowIn(transfer_id=tid or f"{to}-{minutes}", time=T + timedelta(minutes=minutes), to_account=to,
                          to_bank=bank, amount_cents=cents, channel=channel)  # type: ignore[arg-type]


def stops(s: Session, case_id: int) -> dict[str, Order]:
    return {o.target: o for o in s.scalars(select(Order).where(
        Order.case_id == case_id, Order.kind.in_([OrderKind.STOP_PAYMENT, OrderKind.FREEZE])))}


def test_statements_open_the_next_level_until_the_money_is_cashed_out(session: Session) -> None:
    case = submit_report(session, report(10_000_000, "6222020000000001", "k1"), actor(session, "intake")).case
    session.commit()
    first = stops(session, case.id)["6222020000000001"]
    # ICBC stops what is left (20,000 yuan) and returns the onward transfers: two level-2 cards
    # executing with statement rows runs the loop in the same transaction (fanzha.response.loop)
    execute(session, actor(session, "desk-icbc"), first.id, ExecuteIn(
        amount_stopped_cents=2_000_000, statement_rows=[
            row(3, "6217000000000002", "CCB", 5_000_000), row(4, "6228480000000003", "ABC", 3_000_000)]))
    session.commit()
    level2 = stops(session, case.id)
    assert {a: (o.level, o.amount_cents, o.parent_order_id) for a, o in level2.items() if o.level == 2} == {
        "6217000000000002": (2, 5_000_000, first.id), "6228480000000003": (2, 3_000_000, first.id)}
    assert follow_money(session, case.id) == []  # nothing new: no duplicate orders
    # CCB returns a cash-out and a move to level 3; ABC finds the money already withdrawn
    ccb = level2["6217000000000002"]
    execute(session, actor(session, "desk-ccb"), ccb.id, ExecuteIn(
        amount_stopped_cents=0, statement_rows=[row(8, None, None, 2_000_000, "atm", "atm1"),
                                                row(9, "6214830000000004", "CMB", 3_000_000)]))
    abc = level2["6228480000000003"]
    execute(session, actor(session, "desk-abc"), abc.id, ExecuteIn(
        amount_stopped_cents=0, statement_rows=[row(7, None, None, 3_000_000, "atm", "atm2")]))
    session.commit()
    level3 = {o.target: o for o in stops(session, case.id).values() if o.level == 3}
    assert {a: (o.level, o.amount_cents) for a, o in level3.items()} == {"6214830000000004": (3, 3_000_000)}


def test_an_account_stopped_twice_is_frozen_instead(session: Session) -> None:
    mule = "6222020000000009"
    ids = []
    for k in ("a", "b"):
        rep = report(1_000_000, f"62220200000000{ord(k)}", f"k-{k}")
        c = submit_report(session, rep, actor(session, "intake")).case
        first = next(iter(stops(session, c.id).values()))
        execute(session, actor(session, "desk-icbc"), first.id, ExecuteIn(
            amount_stopped_cents=0, statement_rows=[row(5, mule, "ICBC", 900_000, tid=f"m-{k}")]))
        session.commit()
        ids += [o.id for o in stops(session, c.id).values() if o.target == mule]
    c = submit_report(session, report(1_000_000, "6222020000000100", "k-c"), actor(session, "intake")).case
    first = next(iter(stops(session, c.id).values()))
    execute(session, actor(session, "desk-icbc"), first.id, ExecuteIn(
        amount_stopped_cents=0, statement_rows=[row(5, mule, "ICBC", 900_000, tid="m-c")]))
    session.commit()
    third = [o.id for o in stops(session, c.id).values() if o.target == mule]
    kinds = [session.get(Order, i).kind for i in ids + third]  # type: ignore[union-attr]
    assert kinds == [OrderKind.STOP_PAYMENT, OrderKind.STOP_PAYMENT, OrderKind.FREEZE]
