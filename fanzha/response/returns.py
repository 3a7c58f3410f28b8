"""Freeze after stop-payment (止付转冻结) and return of frozen money (资金返还) in the store.

A stop-payment holds money for 48 hours; to keep it, the center turns the executed stop
into a FreezeOrder to the same bank for the held amount. Once freezes are executed, the
money goes back to the victims: :func:`plan_returns` traces every case whose money met in
the same accounts together (the seeds: stopping one case's cards recovered other
victims' money too), and :func:`fanzha.tracing.restitution.restitution` splits each
frozen amount to the cent — directly where one victim's money is on the account, pro rata
where it is mixed. :func:`return_frozen_money` records the lines (``fund_returns``), once
per freeze and case, in the caller's transaction, audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.caseledger import FOLLOWED, case_ledger, case_of
from fanzha.response.clocks import freeze_expiry
from fanzha.response.escalation import DEFAULT_POLICY, EscalationPolicy
from fanzha.response.service import Conflict, Forbidden, NotFound, require_visible_case
from fanzha.store.audit import Actor, audit
from fanzha.store.models import (
    Case,
    CaseTransfer,
    FreezeOrder,
    FundReturn,
    Order,
    OrderKind,
    OrderStatus,
    Organisation,
    Role,
    StatementRow,
)
from fanzha.store.types import utcnow
from fanzha.tracing import trace
from fanzha.tracing.restitution import restitution

FREEZE_ROLES = frozenset({Role.STOP_PAYMENT_SPECIALIST, Role.FUND_ANALYST, Role.COMMANDER})
RETURN_ROLES = frozenset({Role.FUND_ANALYST, Role.COMMANDER})
MAX_LINKED_CASES = 500  # a component larger than this is a gang investigation, not one return decision


def _require(actor: Actor, roles: frozenset[Role], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role} may not {what}")


def freeze_stopped(session: Session, actor: Actor, order_id: int, *, now: datetime | None = None,
                   policy: EscalationPolicy = DEFAULT_POLICY) -> int:
    """止付转冻结: a FreezeOrder for the money an executed stop-payment holds; returns its id.

    Idempotent: a freeze already issued for the same account in the same case (not
    rejected) is returned instead of a second one.
    """
    _require(actor, FREEZE_ROLES, "freeze accounts")
    now = now or utcnow()
    stop = session.get(Order, order_id)
    if stop is None or stop.kind != OrderKind.STOP_PAYMENT:
        raise NotFound(f"stop-payment order {order_id} not found")
    if stop.status not in (OrderStatus.EXECUTED, OrderStatus.EXPIRED) or not stop.amount_held_cents:
        raise Conflict(f"order {order_id} holds no money to freeze (status {stop.status}, "
                       f"held {stop.amount_held_cents or 0} cents)")
    existing = session.scalar(select(Order.id).where(
        Order.kind == OrderKind.FREEZE, Order.case_id == stop.case_id, Order.target == stop.target,
        Order.status != OrderStatus.REJECTED))
    if existing is not None:
        return int(existing)
    freeze = FreezeOrder(
        case_id=stop.case_id, organisation_id=stop.organisation_id, target=stop.target,
        status=OrderStatus.PENDING, level=stop.level, parent_order_id=stop.id, amount_cents=stop.amount_held_cents,
        golden_window_start=stop.golden_window_start, deadline_at=policy.acknowledge_by(OrderKind.FREEZE, now),
        legal_expires_at=freeze_expiry(now), issued_by_id=actor.user_id, created_at=now, updated_at=now,
        reason="freeze the money the stop-payment holds (止付转冻结)",
    )
    session.add(freeze)
    session.flush()
    audit(session, actor, "freeze_stopped", "order", freeze.id,
          details={"stop_order": stop.id, "account": stop.target, "amount_cents": stop.amount_held_cents})
    return int(freeze.id)


def freezable_orders(session: Session, case_id: int) -> set[int]:
    """The case's executed stop-payments holding money that no freeze of the case covers yet."""
    frozen = set(session.scalars(select(Order.target).where(
        Order.case_id == case_id, Order.kind == OrderKind.FREEZE, Order.status != OrderStatus.REJECTED)))
    return {oid for oid, target in session.execute(select(Order.id, Order.target).where(
        Order.case_id == case_id, Order.kind == OrderKind.STOP_PAYMENT,
        Order.status.in_([OrderStatus.EXECUTED, OrderStatus.EXPIRED]), Order.amount_held_cents > 0)).tuples()
        if target not in frozen}


# --------------------------------------------------------------------------- returns


@dataclass(frozen=True)
class PlannedReturn:
    case_id: int
    freeze_order_id: int
    account: str
    institution: str
    cents: int
    basis: str  # direct | pro_rata
    share: float


@dataclass
class ReturnPlan:
    """What returning the frozen money of a group of linked cases gives each case."""

    cases: list[int]
    lines: list[PlannedReturn] = field(default_factory=list)
    frozen_cents: int = 0  # on the freezes not returned yet
    not_attributable: dict[str, int] = field(default_factory=dict)  # account → cents no victim's money
    already_returned: list[int] = field(default_factory=list)  # freeze orders returned before

    def per_case(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for ln in self.lines:
            out[ln.case_id] = out.get(ln.case_id, 0) + ln.cents
        return out

    @property
    def returned_cents(self) -> int:
        return sum(ln.cents for ln in self.lines)


def linked_cases(session: Session, case_id: int) -> list[int]:
    """The case and every case whose money reached one of the same accounts (transitively)."""
    cases, accounts = {case_id}, set[str]()
    frontier = {case_id}
    while frontier:
        if len(cases) > MAX_LINKED_CASES:
            raise Conflict(f"more than {MAX_LINKED_CASES} cases share accounts with case {case_id}; "
                           "return their money per gang investigation")
        new_accounts = set(session.scalars(select(CaseTransfer.to_account).where(
            CaseTransfer.case_id.in_(frontier)))) | set(session.scalars(select(Order.target).where(
                Order.case_id.in_(frontier), Order.kind.in_(FOLLOWED))))
        for frm, to in session.execute(select(StatementRow.from_account, StatementRow.to_account).join(Order).where(
                Order.case_id.in_(frontier))).tuples():
            new_accounts.add(frm)
            if to:
                new_accounts.add(to)
        new_accounts -= accounts
        accounts |= new_accounts
        if not new_accounts:
            break
        found = set(session.scalars(select(CaseTransfer.case_id).where(CaseTransfer.to_account.in_(new_accounts))))
        found |= {c for c in session.scalars(select(Order.case_id).where(
            Order.target.in_(new_accounts), Order.kind.in_(FOLLOWED)))
            if c is not None}
        frontier = found - cases
        cases |= frontier
    return sorted(cases)


def plan_returns(session: Session, case_id: int) -> ReturnPlan:
    """Trace the linked cases together and split their executed, not yet returned freezes."""
    if session.get(Case, case_id) is None:
        raise NotFound(f"case {case_id} not found")
    cases = linked_cases(session, case_id)
    plan = ReturnPlan(cases=cases)
    freezes = list(session.execute(
        select(Order, Organisation.code).join(Organisation, Order.organisation_id == Organisation.id).where(
            Order.case_id.in_(cases), Order.kind == OrderKind.FREEZE, Order.status == OrderStatus.EXECUTED,
            Order.amount_held_cents > 0).order_by(Order.executed_at, Order.id)).tuples())
    if not freezes:
        return plan
    done = set(session.scalars(select(FundReturn.freeze_order_id).where(
        FundReturn.freeze_order_id.in_([o.id for o, _ in freezes]))))
    plan.already_returned = sorted(done)
    # One bank freezes an account's balance once, whichever cases asked: the first executed
    # freeze of an account carries its money; later freezes of the same account add nothing.
    by_account: dict[str, tuple[Order, str]] = {}
    for order, code in freezes:
        by_account.setdefault(order.target, (order, code))
    todo = {acc: (o, code) for acc, (o, code) in by_account.items() if o.id not in done}
    if not todo:
        return plan
    ledger, seeds = case_ledger(session, cases)
    result = trace(ledger, seeds, policy="fifo")
    frozen = {acc: int(o.amount_held_cents or 0) for acc, (o, _) in todo.items()}
    split = restitution(result, frozen)
    plan.frozen_cents = split.frozen_total
    plan.not_attributable = dict(split.not_attributable)
    for ln in split.lines:
        order, code = todo[ln.account]
        plan.lines.append(PlannedReturn(case_of(ln.victim), order.id, ln.account, code, ln.cents,
                                        ln.basis, ln.share))
    return plan


def return_frozen_money(session: Session, actor: Actor, case_id: int) -> ReturnPlan:
    """资金返还: record the plan's lines in ``fund_returns`` (one batch), audited per case."""
    _require(actor, RETURN_ROLES, "return frozen money")
    plan = plan_returns(session, case_id)
    if not plan.lines:
        return plan
    batch = str(uuid.uuid4())
    now = utcnow()
    session.add_all([FundReturn(case_id=ln.case_id, freeze_order_id=ln.freeze_order_id, account=ln.account,
                                institution=ln.institution, cents=ln.cents, basis=ln.basis, share=ln.share,
                                batch=batch, created_by_id=actor.user_id, created_at=now) for ln in plan.lines])
    for cid, cents in sorted(plan.per_case().items()):
        audit(session, actor, "return_funds", "case", cid, personal_data=True,
              details={"batch": batch, "cents": cents, "requested_for_case": case_id})
    session.flush()
    return plan


def case_returns(session: Session, actor: Actor, case_id: int) -> list[FundReturn]:
    """The victim's return statement: every line returned to the case (the read is audited)."""
    require_visible_case(session, actor, case_id)
    lines = list(session.scalars(select(FundReturn).where(FundReturn.case_id == case_id).order_by(FundReturn.id)))
    audit(session, actor, "read_returns", "case", case_id, personal_data=True, details={"lines": len(lines)})
    return lines


# --------------------------------------------------------------------------- API shapes


class ReturnLinePublic(BaseModel):
    """One victim's money back from one frozen account."""

    model_config = ConfigDict(from_attributes=True)

    case_id: int
    freeze_order_id: int
    account: str
    institution: str
    cents: int
    basis: str
    share: float


class ReturnPlanPublic(BaseModel):
    """A return decision (or its preview) for a group of linked cases."""

    cases: list[int]
    lines: list[ReturnLinePublic]
    per_case_cents: dict[int, int]
    frozen_cents: int
    returned_cents: int
    not_attributable: dict[str, int]
    already_returned: list[int]

    @classmethod
    def of(cls, plan: ReturnPlan) -> ReturnPlanPublic:
        return cls(cases=plan.cases, lines=[ReturnLinePublic.model_validate(ln) for ln in plan.lines],
                   per_case_cents=plan.per_case(), frozen_cents=plan.frozen_cents,
                   returned_cents=plan.returned_cents, not_attributable=plan.not_attributable,
                   already_returned=plan.already_returned)


class FreezePublic(BaseModel):
    freeze_order_id: int
