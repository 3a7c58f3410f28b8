"""The joint intake and response service (接处警合一): one report in, every first response out.

Functions over a SQLAlchemy :class:`~sqlalchemy.orm.Session` that the caller commits or
rolls back as a whole (the API opens one unit of work per request). Nothing here knows
HTTP: failures are :class:`ServiceError` subclasses the API maps to status codes.

Organisation scoping lives in the queries: a desk's read of an order is
``WHERE id = :id AND organisation_id = :own``, so another organisation's order is simply
not found (a 404, ids do not leak). Every read or write of personal data (the victim,
account holders, statement rows) adds an audit row in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, RowMapping, Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from fanzha.numbers.actions import number_class
from fanzha.response import escalation
from fanzha.response.clocks import GOLDEN_WINDOW, MAX_STOPS_PER_ACCOUNT, freeze_expiry, stop_payment_expiry
from fanzha.response.escalation import DEFAULT_POLICY, EscalationPolicy
from fanzha.response.loop import on_statement_rows
from fanzha.response.planning import UNKNOWN_ORG, PlannedOrder, VictimTransfer, plan_first_response
from fanzha.response.schemas import (
    AuditPublic,
    CasePublic,
    CaseSummary,
    ElementPublic,
    ExecuteIn,
    OrderDetail,
    OrderPublic,
    ReportCreate,
    StatementRowPublic,
    TransferPublic,
    VictimPublic,
    WebhookIn,
    golden_window_end,
    host_of,
)
from fanzha.store.audit import Actor, audit, audit_values
from fanzha.store.db import insert_rows, insert_with_ids
from fanzha.store.models import (
    AuditLog,
    Base,
    Case,
    CaseStatus,
    ElementKind,
    Order,
    OrderKind,
    OrderStatus,
    OrderTransitionError,
    Organisation,
    Role,
    TraceJobStatus,
    User,
)
from fanzha.store.types import utcnow

_TABLES = Base.metadata.tables

# --------------------------------------------------------------------------- who may do what

CENTER_ROLES = frozenset({Role.INTAKE_OFFICER, Role.STOP_PAYMENT_SPECIALIST, Role.FUND_ANALYST, Role.COMMANDER})
DESK_ROLES = frozenset({Role.BANK_DESK, Role.CARRIER_DESK, Role.PAYMENT_DESK})
INTAKE_ROLES = frozenset({Role.INTAKE_OFFICER, Role.STATION_OFFICER, Role.COMMANDER})
CASE_READERS = CENTER_ROLES | {Role.STATION_OFFICER}
# A desk acts on its own organisation's queue; the center's stop-payment specialists are the
# center's desk (orders whose addressee is unknown land there to be routed by hand).
QUEUE_ROLES = DESK_ROLES | {Role.STOP_PAYMENT_SPECIALIST}
ORDER_READERS = QUEUE_ROLES | CENTER_ROLES
AUDIT_READERS = frozenset({Role.AUDITOR, Role.ADMIN})
WEBHOOK_ROLES = DESK_ROLES | {Role.ADMIN}


class ServiceError(Exception):
    """A request the service refuses; the API maps each subclass to one status code."""


class NotFound(ServiceError):
    """Absent, or not visible to this actor (the two are deliberately indistinguishable)."""


class Forbidden(ServiceError):
    pass


class Conflict(ServiceError):
    """The order's lifecycle does not allow the move (e.g. executing a rejected order)."""


class SetupError(ServiceError):
    """The platform is missing something it needs (e.g. the CENTER organisation)."""


class InvalidInput(ServiceError):
    """One field is wrong in a way only the service can see (per order kind, per state)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


# --------------------------------------------------------------------------- users and passwords

# argon2id at the OWASP minimum (19 MiB, 2 passes, 1 lane): ~30 ms a login, still costly to brute-force.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """argon2id with a random salt (argon2-cffi defaults)."""
    return _hasher.hash(password)


def create_user(session: Session, username: str, password: str, role: Role, organisation: str | int,
                display_name: str | None = None) -> User:
    org_id = organisation if isinstance(organisation, int) else _org_id(session, organisation)
    user = User(username=username, password_hash=hash_password(password), role=role, organisation_id=org_id,
                display_name=display_name)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this password, else None; spends the same time either way."""
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    return user


def actor_of(user: User) -> Actor:
    return Actor(username=user.username, role=Role(user.role), user_id=user.id, organisation_id=user.organisation_id)


def _org_id(session: Session, code: str) -> int:
    org_id = session.scalars(select(Organisation.id).where(Organisation.code == code)).one_or_none()
    if org_id is None:
        raise NotFound(f"organisation {code!r} not found")
    return org_id


# --------------------------------------------------------------------------- intake

IntakeHook = Callable[[str, Session], None]
"""Called after each intake step ("checked", "case", "orders", "outbox") inside the transaction.

A documented seam for fault tests: a hook that raises proves the report leaves nothing
behind; a hook that waits on a barrier lines two submissions up for a race.
"""


@dataclass(frozen=True)
class IntakeResult:
    case: CasePublic
    created: bool  # False: the idempotency key matched an earlier report, nothing was written


def submit_report(
    session: Session,
    report: ReportCreate,
    actor: Actor,
    *,
    idempotency_key: str | None = None,
    home_city: str = "Xiamen",
    policy: EscalationPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
    hook: IntakeHook | None = None,
) -> IntakeResult:
    """Write the case, its elements, every first-response order, their outbox messages and a trace job.

    All in the caller's transaction: if any step fails the caller rolls back and nothing
    exists. Stop-payments take the account's next free legal slot (at most two across
    cases); an account with both slots taken gets a FreezeOrder instead.
    """
    outcome = submit_reports(session, [ReportJob(report, actor, idempotency_key)], home_city=home_city,
                             policy=policy, now=now, hook=hook)[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@dataclass(frozen=True)
class ReportJob:
    """One report to write, by whom, with the key from the header (else the body's)."""

    report: ReportCreate
    actor: Actor
    idempotency_key: str | None = None


@dataclass
class _Prepared:
    index: int
    job: ReportJob
    key: str
    plan_orders: list[PlannedOrder]
    domains: list[str]
    first_at: datetime | None
    station_id: int | None
    case_id: int = 0
    job_id: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)


def submit_reports(
    session: Session,
    jobs: list[ReportJob],
    *,
    home_city: str = "Xiamen",
    policy: EscalationPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
    hook: IntakeHook | None = None,
) -> list[IntakeResult | ServiceError]:
    """:func:`submit_report` for several reports at once: one statement per table for all of them.

    The group-commit writer hands a burst of reports here; writing them row set by row set
    costs a dozen round trips per batch instead of a dozen per report. The outcome of each
    report is the same as writing them one after the other in the given order: a key seen
    before (or earlier in the list) returns that case, a later report on an account sees
    the slots the earlier ones took, a report with bad input gets its error (and writes
    nothing) while the others go on. Any other failure raises, for the caller to roll the
    whole transaction (or its SAVEPOINT) back. ``hook`` sees each step once for the batch.
    """
    now = now or utcnow()
    out: list[IntakeResult | ServiceError | None] = [None] * len(jobs)
    keys: list[str | None] = [j.idempotency_key or j.report.idempotency_key for j in jobs]
    for i, key in enumerate(keys):
        if not key:
            out[i] = InvalidInput(("body", "idempotency_key"),
                                  "give an Idempotency-Key header or an idempotency_key field")
    wanted = {k for k in keys if k}
    existing: dict[str, int] = dict(session.execute(
        select(Case.idempotency_key, Case.id).where(Case.idempotency_key.in_(wanted))).tuples().all()) if wanted else {}
    firsts: dict[str, int] = {}  # key → index of the report in this batch that creates it
    later: list[int] = []  # resubmissions: answered with the case once it exists
    fresh: list[int] = []
    for i, key in enumerate(keys):
        if key is None or out[i] is not None:
            continue
        if key in existing or key in firsts:
            later.append(i)
        else:
            firsts[key] = i
            fresh.append(i)
    if not fresh:  # only resubmissions (or bad keys): nothing to write
        return _finish(session, jobs, out, later, existing)
    _step(hook, "checked", session)

    prepared: list[_Prepared] = []
    codes = {UNKNOWN_ORG}
    for i in fresh:
        report = jobs[i].report
        transfers = [
            VictimTransfer(amount_cents=t.amount_cents, at=t.time, to_account=t.to_account, to_bank=t.to_bank,
                           from_account=t.account, from_bank=t.bank, order_no=t.order_no, platform=t.platform)
            for t in report.transfers
        ]
        domains = sorted(set(report.domains) | {host_of(u) for u in report.urls})
        plan = plan_first_response(transfers, list(report.fraud_numbers), domains, home_city=home_city)
        planned_orders = {(o.kind, o.target) for o in plan.orders}
        for extra in report.order_numbers:
            if (OrderKind.RESOLUTION, extra.order_no) not in planned_orders:
                planned_orders.add((OrderKind.RESOLUTION, extra.order_no))
                plan.orders.append(PlannedOrder(OrderKind.RESOLUTION, extra.order_no, extra.platform))
        codes |= {o.addressee for o in plan.orders}
        if report.victim.station:
            codes.add(report.victim.station)
        prepared.append(_Prepared(i, jobs[i], keys[i] or "", plan.orders, domains,
                                  min((t.at for t in transfers), default=None), None))
    if not prepared:
        return _finish(session, jobs, out, later, existing)

    org_rows = session.execute(
        select(Organisation.code, Organisation.id, Organisation.webhook_url.is_not(None))
        .where(Organisation.code.in_(codes), Organisation.active.is_(True))
    ).tuples().all()
    orgs: dict[str, int] = {code: org_id for code, org_id, _ in org_rows}
    hooked = {org_id for _, org_id, has_hook in org_rows if has_hook}
    if UNKNOWN_ORG not in orgs:
        raise SetupError(f"organisation {UNKNOWN_ORG!r} (the center's own desk) is not registered; run the seed")
    valid: list[_Prepared] = []
    for p in prepared:
        station = p.job.report.victim.station
        if station:
            p.station_id = orgs.get(station)
            if p.station_id is None:
                error = InvalidInput(("body", "victim", "station"), f"unknown police unit {station!r}")
                out[p.index] = error
                # A resubmission of this key later in the batch carries the same body: the same answer.
                for i in [i for i in later if keys[i] == p.key]:
                    out[i] = error
                    later.remove(i)
                continue
        valid.append(p)
    if not valid:
        return _finish(session, jobs, out, later, existing)

    # Core inserts (one multi-row INSERT … RETURNING per table for the whole batch): the ORM
    # unit of work would cost several times more per report, and intake latency is the product.
    cases_t, jobs_t, orders_t = _TABLES["cases"], _TABLES["trace_jobs"], _TABLES["orders"]
    case_ids = insert_with_ids(session, cases_t, [{
        "idempotency_key": p.key, "reference": p.job.report.reference, "typology": p.job.report.typology,
        "status": CaseStatus.OPEN, "victim_name": p.job.report.victim.name,
        "victim_number": p.job.report.victim.number, "victim_id_hash": p.job.report.victim.id_hash,
        "victim_age_band": p.job.report.victim.age_band, "victim_district": p.job.report.victim.district,
        "narrative": p.job.report.narrative, "loss_cents": sum(t.amount_cents for t in p.job.report.transfers),
        "reported_at": p.job.report.reported_at or now, "first_transfer_at": p.first_at,
        "police_unit_id": p.station_id, "created_by_id": p.job.actor.user_id, "created_at": now,
    } for p in valid])
    for p, case_id in zip(valid, case_ids, strict=True):
        p.case_id = case_id
    transfer_rows = [
        {"case_id": p.case_id, "transferred_at": t.time, "amount_cents": t.amount_cents, "from_bank": t.bank,
         "from_account": t.account, "to_bank": t.to_bank, "to_account": t.to_account, "channel": t.channel,
         "order_no": t.order_no, "platform": t.platform}
        for p in valid for t in p.job.report.transfers
    ]
    if transfer_rows:
        insert_rows(session, _TABLES["case_transfers"], transfer_rows)
    elements = {p.index: list(_elements(p.job.report, p.domains)) for p in valid}
    element_rows = [{"case_id": p.case_id, "kind": k, "value": v, "note": None}
                    for p in valid for k, v in elements[p.index]]
    if element_rows:
        insert_rows(session, _TABLES["case_elements"], element_rows)
    job_ids = insert_with_ids(session, jobs_t, [
        {"case_id": p.case_id, "status": TraceJobStatus.QUEUED, "depth": 0, "created_at": now} for p in valid
    ])
    for p, job_id in zip(valid, job_ids, strict=True):
        p.job_id = job_id
    # Before the orders: inserting them takes the id-order lock (PostgreSQL), held to COMMIT.
    insert_rows(session, _TABLES["audit_log"], [
        audit_values(p.job.actor, "create", "case", p.case_id, personal_data=True,
                     details={"orders": len(p.plan_orders), "idempotency_key": p.key}, at=now)
        for p in valid
    ])
    _step(hook, "case", session)

    used_slots = used_stop_slots(session, sorted({o.target for p in valid for o in p.plan_orders
                                                  if o.kind is OrderKind.STOP_PAYMENT}))
    for p in valid:  # in report order: a later report on an account sees the slots earlier ones took
        p.rows = [order_row(planned, p.case_id, orgs.get(planned.addressee, orgs[UNKNOWN_ORG]), p.job.actor, now,
                            p.first_at, used_slots, policy, home_city) for planned in p.plan_orders]
    all_rows = [row for p in valid for row in p.rows]
    if all_rows:
        ids = insert_with_ids(session, orders_t, all_rows)
        for row, order_id in zip(all_rows, ids, strict=True):
            row["id"] = order_id
    _step(hook, "orders", session)

    codes_by_id = {v: k for k, v in orgs.items()}
    publics = {p.index: [_order_public_row(row, codes_by_id[row["organisation_id"]]) for row in p.rows]
               for p in valid}
    _enqueue_created(session, [(o, row["organisation_id"]) for p in valid
                               for o, row in zip(publics[p.index], p.rows, strict=True)], hooked, now)
    _step(hook, "outbox", session)

    for p in valid:
        report = p.job.report
        loss = sum(t.amount_cents for t in report.transfers)
        out[p.index] = IntakeResult(case=CasePublic(
            id=p.case_id, reference=report.reference, status=CaseStatus.OPEN, typology=report.typology,
            loss_cents=loss, reported_at=report.reported_at or now, first_transfer_at=p.first_at,
            idempotency_key=p.key,
            victim=VictimPublic(number=report.victim.number, name=report.victim.name, id_hash=report.victim.id_hash,
                                age_band=report.victim.age_band, district=report.victim.district),
            narrative=report.narrative, police_unit=report.victim.station,
            elements=[ElementPublic(kind=k, value=v) for k, v in elements[p.index]],
            transfers=[TransferPublic(time=t.time, amount_cents=t.amount_cents, bank=t.bank, account=t.account,
                                      to_bank=t.to_bank, to_account=t.to_account, channel=t.channel,
                                      order_no=t.order_no, platform=t.platform) for t in report.transfers],
            orders=publics[p.index], trace_job_id=p.job_id, trace_status=TraceJobStatus.QUEUED,
        ), created=True)
    return _finish(session, jobs, out, later, existing)


def _finish(session: Session, jobs: list[ReportJob], out: list[IntakeResult | ServiceError | None], later: list[int],
            existing: dict[str, int]) -> list[IntakeResult | ServiceError]:
    """Answer resubmissions with their case (now written, or from before) and an audit row each."""
    keys = [j.idempotency_key or j.report.idempotency_key for j in jobs]
    if later:
        missing = {keys[i] for i in later if keys[i] not in existing}
        if missing:
            existing = existing | dict(session.execute(
                select(Case.idempotency_key, Case.id).where(Case.idempotency_key.in_(missing))).tuples().all())
    for i in later:
        case_id = existing[keys[i] or ""]
        audit(session, jobs[i].actor, "read", "case", case_id, personal_data=True,
              details={"via": "idempotent resubmission"})
        out[i] = IntakeResult(case=_case_public(session, _load_case(session, case_id)), created=False)
    results = [o for o in out if o is not None]
    assert len(results) == len(out), "every report has an outcome"
    return results


def submit_report_retrying(
    unit_of_work: Callable[[], AbstractContextManager[Session]],
    report: ReportCreate,
    actor: Actor,
    attempts: int = 3,
    **kwargs: Any,
) -> IntakeResult:
    """:func:`submit_report` in a fresh transaction, retried when a unique constraint loses a race.

    Two submissions of one idempotency key, or two reports taking the same account's stop
    slot at once, collide on a unique index; the loser's transaction is rolled back whole
    and run again, where it finds the winner's case (or the next free slot).
    """
    for attempt in range(attempts):
        try:
            with unit_of_work() as session:
                return submit_report(session, report, actor, **kwargs)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _step(hook: IntakeHook | None, name: str, session: Session) -> None:
    if hook is not None:
        hook(name, session)


def _elements(report: ReportCreate, domains: list[str]) -> Iterator[tuple[ElementKind, str]]:
    seen: set[tuple[ElementKind, str]] = set()
    pairs: list[tuple[ElementKind, str]] = []
    pairs += [(ElementKind.PHONE, n) for n in report.fraud_numbers]
    pairs += [(ElementKind.ACCOUNT, t.to_account) for t in report.transfers]
    pairs += [(ElementKind.ORDER_NO, t.order_no) for t in report.transfers if t.order_no]
    pairs += [(ElementKind.ORDER_NO, o.order_no) for o in report.order_numbers]
    pairs += [(ElementKind.DOMAIN, d) for d in domains]
    pairs += [(ElementKind.URL, u) for u in report.urls]
    pairs += [(ElementKind.APP, a) for a in report.apps]
    pairs += [(ElementKind.SOCIAL, s) for s in report.social_accounts]
    for pair in pairs:
        if pair not in seen:
            seen.add(pair)
            yield pair


def used_stop_slots(session: Session, accounts: list[str]) -> dict[str, set[int]]:
    """Legal stop slots already held per account, across all cases (rejected stops free theirs)."""
    used: dict[str, set[int]] = {a: set() for a in accounts}
    if not accounts:
        return used
    rows = session.execute(
        select(Order.target, Order.stop_sequence).where(
            Order.kind == OrderKind.STOP_PAYMENT, Order.target.in_(accounts), Order.status != OrderStatus.REJECTED
        )
    ).tuples()
    for target, seq in rows:
        if seq is not None:
            used[target].add(seq)
    return used


_ORDER_COLUMNS = (
    "kind", "case_id", "organisation_id", "target", "status", "level", "amount_cents", "golden_window_start",
    "deadline_at", "legal_expires_at", "reason", "issued_by_id", "created_at", "updated_at", "stop_sequence",
    "number_class", "carrier_action", "platform",
)


def order_row(planned: PlannedOrder, case_id: int, org_id: int, actor: Actor, now: datetime,
               first_at: datetime | None, used_slots: dict[str, set[int]], policy: EscalationPolicy,
               home_city: str) -> dict[str, Any]:
    """One ``orders`` row for a planned order (every row has the same keys: one multi-row INSERT)."""
    kind = planned.kind
    row: dict[str, Any] = dict.fromkeys(_ORDER_COLUMNS)
    row.update(
        kind=kind, case_id=case_id, organisation_id=org_id, target=planned.target, status=OrderStatus.PENDING,
        level=1, amount_cents=planned.amount_cents, issued_by_id=actor.user_id, created_at=now, updated_at=now,
        # The golden window runs from the victim's transfer into this account (else the first transfer).
        golden_window_start=planned.golden_window_ends - GOLDEN_WINDOW if planned.golden_window_ends else first_at,
        deadline_at=policy.acknowledge_by(kind, now),
    )
    if kind is OrderKind.STOP_PAYMENT:
        free = [s for s in range(1, MAX_STOPS_PER_ACCOUNT + 1) if s not in used_slots[planned.target]]
        if not free:
            # Both legal stops used on this account (across cases): the money must be frozen instead.
            row.update(kind=OrderKind.FREEZE, legal_expires_at=freeze_expiry(now),
                       deadline_at=policy.acknowledge_by(OrderKind.FREEZE, now),
                       reason=f"account stopped {MAX_STOPS_PER_ACCOUNT} times already: freeze instead")
            return row
        used_slots[planned.target].add(free[0])
        # Provisional: the 48 h run from execution and are reset then.
        previous = len(used_slots[planned.target]) - 1
        row.update(stop_sequence=free[0], legal_expires_at=stop_payment_expiry(now, previous))
    elif kind is OrderKind.BLOCK:
        row.update(number_class=number_class(planned.target, home_city), carrier_action=planned.action)
    elif kind is OrderKind.RESOLUTION:
        row.update(platform=planned.addressee if planned.addressee != UNKNOWN_ORG else None)
    return row


def _order_public_row(row: dict[str, Any], addressee: str) -> OrderPublic:
    return OrderPublic(
        id=row["id"], kind=row["kind"], status=row["status"], case_id=row["case_id"], addressee=addressee,
        target=row["target"], level=row["level"], amount_cents=row["amount_cents"], stop_sequence=row["stop_sequence"],
        number_class=row["number_class"], carrier_action=row["carrier_action"], platform=row["platform"],
        golden_window_start=row["golden_window_start"],
        golden_window_ends_at=golden_window_end(row["golden_window_start"]), deadline_at=row["deadline_at"],
        legal_expires_at=row["legal_expires_at"], reason=row["reason"], created_at=row["created_at"],
        acknowledged_at=None, executed_at=None, rejected_at=None, escalated_at=None,
    )


def _enqueue_created(session: Session, orders_with_org: list[tuple[OrderPublic, int]], hooked: set[int],
                     now: datetime) -> None:
    """One outbox message per order addressed to an organisation with a webhook, same transaction."""
    messages = [
        {"organisation_id": org_id, "order_id": o.id, "topic": "order.created",
         "payload": {"topic": "order.created", "order": o.model_dump(mode="json")},
         "idempotency_key": f"order.created:{o.id}", "attempts": 0, "next_attempt_at": now, "created_at": now}
        for o, org_id in orders_with_org
        if org_id in hooked
    ]
    if messages:
        insert_rows(session, _TABLES["outbox_messages"], messages)


# --------------------------------------------------------------------------- views


def order_public(order: Order, codes: dict[int, str] | None = None) -> OrderPublic:
    addressee = codes[order.organisation_id] if codes and order.organisation_id in codes else order.organisation.code
    return OrderPublic(
        id=order.id, kind=order.kind, status=order.status, case_id=order.case_id, addressee=addressee,
        target=order.target, level=order.level, amount_cents=order.amount_cents, stop_sequence=order.stop_sequence,
        number_class=order.number_class, carrier_action=order.carrier_action, platform=order.platform,
        golden_window_start=order.golden_window_start,
        golden_window_ends_at=golden_window_end(order.golden_window_start), deadline_at=order.deadline_at,
        legal_expires_at=order.legal_expires_at, reason=order.reason, created_at=order.created_at,
        acknowledged_at=order.acknowledged_at, executed_at=order.executed_at, rejected_at=order.rejected_at,
        escalated_at=order.escalated_at,
    )


def order_detail(order: Order) -> OrderDetail:
    base = order_public(order).model_dump()
    return OrderDetail(
        **base, amount_held_cents=order.amount_held_cents, account_holder=order.account_holder,
        resolved_bank=order.resolved_bank, resolved_account=order.resolved_account, result=order.result,
        statement_rows=[StatementRowPublic.model_validate(r) for r in order.statement_rows],
    )


def _load_case(session: Session, case_id: int) -> Case:
    case = session.scalars(
        select(Case).where(Case.id == case_id).options(
            selectinload(Case.elements), selectinload(Case.transfers), selectinload(Case.trace_jobs),
            selectinload(Case.orders).joinedload(Order.organisation),
        )
    ).one_or_none()
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


def _case_public(session: Session, case: Case, orders: list[Order] | None = None,
                 codes: dict[int, str] | None = None) -> CasePublic:
    orders = list(case.orders) if orders is None else orders
    station = session.get(Organisation, case.police_unit_id) if case.police_unit_id else None
    job = case.trace_jobs[0] if case.trace_jobs else None
    return CasePublic(
        id=case.id, reference=case.reference, status=case.status, typology=case.typology, loss_cents=case.loss_cents,
        reported_at=case.reported_at, first_transfer_at=case.first_transfer_at, idempotency_key=case.idempotency_key,
        victim=VictimPublic(number=case.victim_number, name=case.victim_name, id_hash=case.victim_id_hash,
                            age_band=case.victim_age_band, district=case.victim_district),
        narrative=case.narrative, police_unit=station.code if station else None,
        elements=[ElementPublic.model_validate(e) for e in case.elements],
        transfers=[TransferPublic.model_validate(t) for t in case.transfers],
        orders=[order_public(o, codes) for o in sorted(orders, key=lambda o: o.id)],
        trace_job_id=job.id if job else None, trace_status=job.status if job else None,
    )


# --------------------------------------------------------------------------- reading cases


def case_scope(stmt: Select[Any], actor: Actor) -> Select[Any]:
    """Center roles see every case; a station officer only its own unit's (or its own) reports."""
    if actor.role in CENTER_ROLES:
        return stmt
    if actor.role is Role.STATION_OFFICER:
        return stmt.where((Case.police_unit_id == actor.organisation_id) | (Case.created_by_id == actor.user_id))
    raise Forbidden(f"role {actor.role} does not read cases")


def require_visible_case(session: Session, actor: Actor, case_id: int) -> None:
    """:class:`NotFound` unless ``actor`` may read the case (absent and out of scope look the same)."""
    visible = session.scalars(case_scope(select(Case.id).where(Case.id == case_id), actor)).one_or_none()
    if visible is None:
        raise NotFound(f"case {case_id} not found")


def get_case(session: Session, actor: Actor, case_id: int) -> CasePublic:
    """A whole case with the victim's data; audited as a personal-data read."""
    require_visible_case(session, actor, case_id)
    audit(session, actor, "read", "case", case_id, personal_data=True)
    return _case_public(session, _load_case(session, case_id))


def list_cases(session: Session, actor: Actor, limit: int = 50, offset: int = 0) -> list[CaseSummary]:
    """Newest cases first, without victim data (so listing is not a personal-data read)."""
    stmt = case_scope(select(Case), actor).order_by(Case.id.desc()).limit(limit).offset(offset)
    return [
        CaseSummary(id=c.id, reference=c.reference, status=c.status, typology=c.typology, loss_cents=c.loss_cents,
                    reported_at=c.reported_at, first_transfer_at=c.first_transfer_at)
        for c in session.scalars(stmt)
    ]


# --------------------------------------------------------------------------- desks


_ORDERS = _TABLES["orders"]
_ORGS = _TABLES["organisations"]
_QUEUE_COLUMNS = (
    _ORDERS.c.id, _ORDERS.c.kind, _ORDERS.c.status, _ORDERS.c.case_id, _ORGS.c.code.label("addressee"),
    _ORDERS.c.target, _ORDERS.c.level, _ORDERS.c.amount_cents, _ORDERS.c.stop_sequence, _ORDERS.c.number_class,
    _ORDERS.c.carrier_action, _ORDERS.c.platform, _ORDERS.c.golden_window_start, _ORDERS.c.deadline_at,
    _ORDERS.c.legal_expires_at, _ORDERS.c.reason, _ORDERS.c.created_at, _ORDERS.c.acknowledged_at,
    _ORDERS.c.executed_at, _ORDERS.c.rejected_at, _ORDERS.c.escalated_at,
)
_QUEUE_SELECT = select(*_QUEUE_COLUMNS).join(_ORGS, _ORGS.c.id == _ORDERS.c.organisation_id)


def desk_orders(session: Session, actor: Actor, status: OrderStatus | None = None, case_id: int | None = None,
                after_id: int | None = None, limit: int = 200, *,
                statuses: Collection[OrderStatus] | None = None, newest_first: bool = False) -> list[OrderPublic]:
    """The actor's own organisation's queue, oldest first (no personal data in it).

    One Core SELECT of the queue's columns joined to the addressee's code: desks poll this
    constantly, and loading ORM objects plus their organisations cost several times more.
    ``statuses`` filters in the query (a busy desk's open orders are never cut off behind
    a thousand done ones); ``newest_first`` is for the history view.
    """
    stmt = _QUEUE_SELECT.where(_ORDERS.c.organisation_id == _desk_organisation(actor))
    if status is not None:
        stmt = stmt.where(_ORDERS.c.status == status)
    if statuses is not None:
        stmt = stmt.where(_ORDERS.c.status.in_(list(statuses)))
    if case_id is not None:
        stmt = stmt.where(_ORDERS.c.case_id == case_id)
    if after_id is not None:
        stmt = stmt.where(_ORDERS.c.id > after_id)
    stmt = stmt.order_by(_ORDERS.c.id.desc() if newest_first else _ORDERS.c.id).limit(limit)
    return _queue_public(session.execute(stmt).mappings())


_DESK_AFTER = _QUEUE_SELECT.where(
    _ORDERS.c.organisation_id == bindparam("organisation_id"), _ORDERS.c.id > bindparam("after_id"),
).order_by(_ORDERS.c.id).limit(bindparam("limit"))


def _desk_organisation(actor: Actor) -> int:
    """The organisation whose queue ``actor`` sees; Forbidden for roles without a desk queue."""
    if actor.role not in QUEUE_ROLES or actor.organisation_id is None:
        raise Forbidden(f"role {actor.role} has no desk queue")
    return actor.organisation_id


def _queue_public(rows: Iterable[RowMapping]) -> list[OrderPublic]:
    return [OrderPublic.model_validate({**row, "golden_window_ends_at": golden_window_end(row["golden_window_start"])})
            for row in rows]


def desk_orders_after(conn: Connection | Session, actor: Actor, after_id: int, limit: int = 200) -> list[OrderPublic]:
    """The actor's organisation's orders with ids above ``after_id``, oldest first: a desk stream's read.

    One statement built once with bound parameters: building and keying a fresh SELECT
    cost three times the query itself, and a stream reads after every commit.
    """
    return _queue_public(conn.execute(_DESK_AFTER, {"organisation_id": _desk_organisation(actor),
                                                    "after_id": after_id, "limit": limit}).mappings())


_FEED_AFTER = _QUEUE_SELECT.add_columns(_ORDERS.c.organisation_id).where(
    _ORDERS.c.id > bindparam("after_id"), _ORDERS.c.organisation_id.in_(bindparam("organisations", expanding=True)),
).order_by(_ORDERS.c.id).limit(bindparam("limit"))


def orders_after_for_feed(conn: Connection, after_id: int, limit: int,
                          organisations: Collection[int]) -> list[tuple[int, OrderPublic]]:
    """The ``organisations``' orders above ``after_id``, oldest first, each with its organisation id.

    The API process's one read per commit for all its desk streams (:class:`fanzha.api.feed.OrderFeed`),
    instead of one read per stream. Not scoped to an actor: the feed asks for the
    organisations of its open streams and hands each stream only its own organisation's orders.
    """
    if not organisations:
        return []
    rows = list(conn.execute(_FEED_AFTER, {"after_id": after_id, "limit": limit,
                                           "organisations": sorted(organisations)}).mappings())
    return [(row["organisation_id"], order) for row, order in zip(rows, _queue_public(rows), strict=True)]


def desk_last_order_id(session: Session, actor: Actor) -> int:
    """The newest order id in the actor's own organisation's queue (0 if none): where a desk stream starts."""
    stmt = select(func.max(_ORDERS.c.id)).where(_ORDERS.c.organisation_id == _desk_organisation(actor))
    return int(session.execute(stmt).scalar() or 0)


def list_orders(session: Session, actor: Actor, status: OrderStatus | None = None, kind: OrderKind | None = None,
                case_id: int | None = None, limit: int = 200) -> list[OrderPublic]:
    """Every organisation's orders, for the center (commander's board of escalations, analysts)."""
    if actor.role not in CENTER_ROLES:
        raise Forbidden(f"role {actor.role} does not see other organisations' orders")
    stmt = select(Order)
    if status is not None:
        stmt = stmt.where(Order.status == status)
    if kind is not None:
        stmt = stmt.where(Order.kind == kind)
    if case_id is not None:
        stmt = stmt.where(Order.case_id == case_id)
    stmt = stmt.options(selectinload(Order.organisation)).order_by(Order.id.desc()).limit(limit)
    return [order_public(o) for o in session.scalars(stmt)]


def _scoped_order(session: Session, actor: Actor, order_id: int, for_update: bool) -> Order:
    """The order if this actor may see it: desks only their own organisation's (else NotFound)."""
    stmt = select(Order).where(Order.id == order_id)
    if actor.role in QUEUE_ROLES:
        # The center's specialist is the CENTER desk: scoped like any desk when acting.
        if actor.role in DESK_ROLES or for_update:
            stmt = stmt.where(Order.organisation_id == actor.organisation_id)
    elif actor.role not in CENTER_ROLES:
        raise Forbidden(f"role {actor.role} does not see orders")
    if for_update:
        if actor.role not in QUEUE_ROLES:
            raise Forbidden(f"role {actor.role} does not act on orders")
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
    stmt = stmt.options(selectinload(Order.organisation), selectinload(Order.statement_rows))
    order = session.scalars(stmt).one_or_none()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


def get_order(session: Session, actor: Actor, order_id: int) -> OrderDetail:
    """One order with its result; audited as a personal-data read once a holder or statement is attached."""
    order = _scoped_order(session, actor, order_id, for_update=False)
    personal = order.account_holder is not None or bool(order.statement_rows)
    audit(session, actor, "read", "order", order.id, personal_data=personal)
    return order_detail(order)


def _advance(order: Order, to: OrderStatus, now: datetime, reason: str | None = None) -> None:
    try:
        order.advance(to, now, reason)
    except OrderTransitionError as exc:
        raise Conflict(str(exc)) from None


def acknowledge(session: Session, actor: Actor, order_id: int, *, policy: EscalationPolicy = DEFAULT_POLICY,
                now: datetime | None = None) -> OrderDetail:
    """签收: the desk has seen the order; the clock to execute starts."""
    now = now or utcnow()
    order = _scoped_order(session, actor, order_id, for_update=True)
    _advance(order, OrderStatus.ACKNOWLEDGED, now)
    order.acted_by_id = actor.user_id
    order.deadline_at = policy.execute_by(order.kind, now)
    audit(session, actor, "acknowledge", "order", order.id)
    session.flush()
    return order_detail(order)


def execute(session: Session, actor: Actor, order_id: int, result: ExecuteIn, *, now: datetime | None = None,
            ) -> OrderDetail:
    """执行: record the desk's result; statement rows go to the money-following loop.

    Executing a pending order acknowledges it on the way. A stop-payment's 48 hours (and
    a freeze's six months) run from now.
    """
    now = now or utcnow()
    order = _scoped_order(session, actor, order_id, for_update=True)
    kind = OrderKind(order.kind)
    if kind in (OrderKind.STOP_PAYMENT, OrderKind.FREEZE) and result.amount_stopped_cents is None:
        raise InvalidInput(("body", "amount_stopped_cents"), f"a {kind} result needs the amount stopped")
    if kind is OrderKind.RESOLUTION and not (result.resolved_account and result.resolved_bank):
        field = "resolved_account" if not result.resolved_account else "resolved_bank"
        raise InvalidInput(("body", field), "a resolution result names the bank card (resolved_bank, resolved_account)")
    if result.statement_rows and kind not in (OrderKind.STOP_PAYMENT, OrderKind.FREEZE):
        raise InvalidInput(("body", "statement_rows"), f"a {kind} result carries no statement rows")
    if order.status == OrderStatus.PENDING:
        _advance(order, OrderStatus.ACKNOWLEDGED, now)
    _advance(order, OrderStatus.EXECUTED, now)
    order.acted_by_id = actor.user_id
    order.deadline_at = None
    if kind is OrderKind.STOP_PAYMENT:
        order.legal_expires_at = stop_payment_expiry(now, (order.stop_sequence or 1) - 1)
    elif kind is OrderKind.FREEZE:
        order.legal_expires_at = freeze_expiry(now)
    order.amount_held_cents = result.amount_stopped_cents
    order.account_holder = result.account_holder
    order.resolved_bank = result.resolved_bank
    order.resolved_account = result.resolved_account
    order.result = result.model_dump(mode="json", exclude={"statement_rows"}, exclude_none=True) | {
        "statement_rows": len(result.statement_rows)
    }
    stored = on_statement_rows(session, order, result.statement_rows, now=now) if result.statement_rows else []
    personal = result.account_holder is not None or bool(stored)
    audit(session, actor, "execute", "order", order.id, personal_data=personal,
          details={"statement_rows": len(stored), "amount_stopped_cents": result.amount_stopped_cents})
    session.flush()
    session.refresh(order, ["statement_rows"])
    return order_detail(order)


def reject(session: Session, actor: Actor, order_id: int, reason: str, *, now: datetime | None = None) -> OrderDetail:
    """拒绝: the desk cannot act (wrong bank, account closed ...); the reason is required."""
    now = now or utcnow()
    order = _scoped_order(session, actor, order_id, for_update=True)
    _advance(order, OrderStatus.REJECTED, now, reason=reason.strip())
    order.acted_by_id = actor.user_id
    order.deadline_at = None
    audit(session, actor, "reject", "order", order.id, details={"reason": reason.strip()})
    session.flush()
    return order_detail(order)


def escalate_overdue(session: Session, now: datetime | None = None) -> list[int]:
    """The escalation sweep (see :mod:`fanzha.response.escalation`)."""
    return escalation.sweep(session, now)


# --------------------------------------------------------------------------- webhooks and audit


def set_webhook(session: Session, actor: Actor, code: str, hook: WebhookIn) -> Organisation:
    """Register where an organisation's orders are POSTed. Admin: any organisation; a desk: its own."""
    if actor.role not in WEBHOOK_ROLES:
        raise Forbidden(f"role {actor.role} does not manage webhooks")
    stmt = select(Organisation).where(Organisation.code == code)
    if actor.role is not Role.ADMIN:
        stmt = stmt.where(Organisation.id == actor.organisation_id)
    org = session.scalars(stmt).one_or_none()
    if org is None:
        raise NotFound(f"organisation {code!r} not found")
    org.webhook_url = hook.url
    org.webhook_secret = hook.secret
    audit(session, actor, "set_webhook", "organisation", org.id, details={"url": hook.url})
    session.flush()
    return org


def read_audit(session: Session, actor: Actor, *, object_type: str | None = None, object_id: str | None = None,
               personal_data: bool | None = None, after_id: int | None = None, limit: int = 200) -> list[AuditPublic]:
    """The audit log, newest first; for auditors and admins only."""
    if actor.role not in AUDIT_READERS:
        raise Forbidden(f"role {actor.role} does not read the audit log")
    stmt = select(AuditLog)
    if object_type is not None:
        stmt = stmt.where(AuditLog.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditLog.object_id == object_id)
    if personal_data is not None:
        stmt = stmt.where(AuditLog.personal_data == personal_data)
    if after_id is not None:
        stmt = stmt.where(AuditLog.id > after_id)
    stmt = stmt.order_by(AuditLog.id.desc()).limit(limit)
    return [AuditPublic.model_validate(row) for row in session.scalars(stmt)]
