"""The money-following loop (资金追踪闭环): statements in, next level's stop-payments out.

Each time a bank desk returns a stopped account's onward transactions, the case's ledger
(the victim's own transfers plus every statement row returned so far) is traced again
from the victim's transfers, and every account now holding the victims' money that no
order of this case covers yet gets a StopPaymentOrder to its bank — or a FreezeOrder
where the account has already been stopped twice (across all cases). Level after level,
until the money is stopped or cashed out. A case's ledger is small (hundreds of rows),
so tracing it whole each time is cheaper and simpler than keeping trace state in the
database; the incremental engine (``fanzha.tracing.extend``) serves the large ledgers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.caseledger import FOLLOWED, ledger_of
from fanzha.response.clocks import GOLDEN_WINDOW
from fanzha.response.escalation import DEFAULT_POLICY, EscalationPolicy
from fanzha.response.planning import UNKNOWN_ORG, PlannedOrder
from fanzha.response.service import order_row, used_stop_slots
from fanzha.store.audit import SYSTEM, Actor, audit
from fanzha.store.db import insert_with_ids
from fanzha.store.models import (
    CaseTransfer,
    Order,
    OrderKind,
    OrderStatus,
    Organisation,
    StatementRow,
    TraceJob,
    TraceJobStatus,
)
from fanzha.store.types import utcnow
from fanzha.tracing import trace

MIN_HELD_CENTS = 100_00  # below 100 yuan a stop-payment is not worth a bank's time


def follow_money(session: Session, case_id: int, *, now: datetime | None = None, actor: Actor = SYSTEM,
                 policy: EscalationPolicy = DEFAULT_POLICY, home_city: str = "Xiamen",
                 min_held_cents: int = MIN_HELD_CENTS) -> list[int]:
    """Trace the case's known money and order the next level; returns the new order ids."""
    now = now or utcnow()
    transfers = list(session.scalars(select(CaseTransfer).where(CaseTransfer.case_id == case_id)))
    orders = list(session.scalars(select(Order).where(Order.case_id == case_id)))
    followed = [o for o in orders if o.kind in FOLLOWED]
    rows = list(session.scalars(select(StatementRow).where(StatementRow.order_id.in_([o.id for o in followed]))))
    if not transfers:
        return []
    ledger, seeds = ledger_of(transfers, rows)
    result = trace(ledger, seeds)
    accounts = result.accounts_table().to_pylist()
    covered = {o.target for o in orders if o.kind in FOLLOWED}
    bank_of: dict[str, str] = {}
    parent_of: dict[str, int] = {}
    for r in rows:  # the statement that showed money going into an account names its bank and parent order
        if r.to_account:
            bank_of.setdefault(r.to_account, r.to_bank or UNKNOWN_ORG)
            parent_of.setdefault(r.to_account, r.order_id)
    todo = [a for a in accounts if a["held_cents"] >= min_held_cents and not a["payment_pool"]
            and a["account_id"] not in covered and a["account_id"] in parent_of]
    if not todo:
        _mark_traced(session, case_id, rows, now)
        return []
    codes = {bank_of[a["account_id"]] for a in todo}
    org_rows = session.execute(select(Organisation.code, Organisation.id).where(
        Organisation.code.in_(codes | {UNKNOWN_ORG}))).all()
    org_ids = {code: oid for code, oid in org_rows}
    used = used_stop_slots(session, [a["account_id"] for a in todo])
    new_rows = []
    for a in todo:
        acct, code = a["account_id"], bank_of[a["account_id"]]
        planned = PlannedOrder(OrderKind.STOP_PAYMENT, acct, code if code in org_ids else UNKNOWN_ORG,
                               golden_window_ends=a["first_tainted_at"] + GOLDEN_WINDOW,
                               amount_cents=int(a["held_cents"]))
        row = order_row(planned, case_id, org_ids[planned.addressee], actor, now, a["first_tainted_at"], used,
                         policy, home_city)
        row.update(level=int(a["level_min"]), parent_order_id=parent_of[acct])
        new_rows.append(row)
    created = insert_with_ids(session, Order.metadata.tables["orders"], new_rows)  # ids in the order of the rows
    for oid, a in zip(created, todo, strict=True):
        audit(session, actor, "follow_money", "order", oid,
              details={"account": a["account_id"], "level": int(a["level_min"]), "held_cents": int(a["held_cents"])})
    _mark_traced(session, case_id, rows, now)
    return created


def _mark_traced(session: Session, case_id: int, rows: list[StatementRow], now: datetime) -> None:
    for r in rows:
        if r.traced_at is None:
            r.traced_at = now
    for job in session.scalars(select(TraceJob).where(TraceJob.case_id == case_id)):
        job.status = TraceJobStatus.DONE
        job.finished_at = now
    session.flush()


def open_followed_orders(session: Session, case_id: int) -> list[Order]:
    """The case's stop-payments and freezes still waiting for a desk."""
    return list(session.scalars(select(Order).where(
        Order.case_id == case_id, Order.kind.in_(FOLLOWED),
        Order.status.in_([OrderStatus.PENDING, OrderStatus.ACKNOWLEDGED, OrderStatus.ESCALATED]))))
