from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from fanzha.contracts.vocab import Channel, NumberClass, Typology
from fanzha.store.db import session_scope
from fanzha.store.models import (
    AuditLog,
    BlockOrder,
    Case,
    CaseElement,
    CaseTransfer,
    ElementKind,
    FreezeOrder,
    ImportRun,
    ListDecision,
    ListKind,
    NumberListEntry,
    Order,
    OrderKind,
    OrderStatus,
    Organisation,
    OrgKind,
    OutboxMessage,
    ResolutionRequest,
    Role,
    StatementRow,
    StopPaymentOrder,
    TakedownOrder,
    TraceJob,
    User,
)
from fanzha.store.types import NaiveDatetimeError

BEIJING = timezone(timedelta(hours=8))
T = datetime(2026, 11, 3, 10, 0, tzinfo=BEIJING)  # 02:00 UTC
BIG_CENTS = 12_345_678_901_234  # beyond 32 bits: 1234亿 yuan


def _orgs(s: Session) -> dict[str, Organisation]:
    orgs = {
        "ICBC": Organisation(code="ICBC", name="中国工商银行", kind=OrgKind.BANK),
        "CMB": Organisation(code="CMB", name="招商银行", kind=OrgKind.BANK),
        "CMCC": Organisation(code="CMCC", name="中国移动", kind=OrgKind.CARRIER),
        "ALIPAY": Organisation(code="ALIPAY", name="支付宝", kind=OrgKind.PAYMENT_PLATFORM),
        "XM-PS": Organisation(code="XM-PS", name="思明派出所", kind=OrgKind.POLICE_UNIT),
        "CENTER": Organisation(code="CENTER", name="反诈中心", kind=OrgKind.CENTER),
    }
    s.add_all(orgs.values())
    s.flush()
    return orgs


def _case(key: str, **kw: object) -> Case:
    return Case(idempotency_key=key, reported_at=T, typology=Typology.IMPERSONATE_POLICE, **kw)


def test_a_whole_first_response_round_trips(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        orgs = _orgs(s)
        officer = User(username="li.wei", password_hash="x", role=Role.INTAKE_OFFICER, organisation=orgs["XM-PS"])
        s.add(officer)
        case = _case(
            "report-1",
            victim_name="王芳",
            victim_number="+8613912345678",
            loss_cents=BIG_CENTS,
            first_transfer_at=T,
            police_unit_id=orgs["XM-PS"].id,
        )
        case.elements = [
            CaseElement(kind=ElementKind.PHONE, value="+8617012345678"),
            CaseElement(kind=ElementKind.DOMAIN, value="yibao-tingyong.example"),
            CaseElement(kind=ElementKind.ORDER_NO, value="2026110322001"),
        ]
        case.transfers = [CaseTransfer(transferred_at=T, amount_cents=BIG_CENTS, to_bank="ICBC", to_account="6222001")]
        s.add(case)
        s.flush()
        stop = StopPaymentOrder(
            case=case, organisation=orgs["ICBC"], target="6222001", amount_cents=BIG_CENTS,
            golden_window_start=T, stop_sequence=1, issued_by_id=officer.id,
        )
        entry = NumberListEntry(
            list_kind=ListKind.BLACK, number="+8617012345678", detector="burst", confidence=0.97,
            evidence={"windows": [{"start": "2026-11-03T01:00:00Z", "calls": 412}]},
            decision=ListDecision.AUTO_CONFIRMED,
        )
        block = BlockOrder(
            case=case, organisation=orgs["CMCC"], target="+8617012345678",
            number_class=NumberClass.VIRTUAL, carrier_action="empty_number_tone", list_entry=entry,
        )
        s.add_all([
            stop,
            block,
            TakedownOrder(case=case, organisation=orgs["CENTER"], target="yibao-tingyong.example"),
            ResolutionRequest(case=case, organisation=orgs["ALIPAY"], target="2026110322001", platform="ALIPAY"),
            FreezeOrder(case=case, organisation=orgs["ICBC"], target="6222001", amount_cents=1, freeze_renewals=0),
            TraceJob(case=case),
            OutboxMessage(
                organisation=orgs["ICBC"], order=stop, topic="order.created",
                payload={"kind": "stop_payment", "account": "6222001", "note": "紧急止付"},
                idempotency_key="order-1-created", next_attempt_at=T,
            ),
            AuditLog(
                user_id=officer.id, username="li.wei", role=Role.INTAKE_OFFICER, action="create",
                object_type="case", object_id=str(case.id), personal_data=True, details={"fields": ["victim_name"]},
            ),
            ImportRun(file="cdr.csv", table_name="calls", rows_in=10, rows_ok=9, rows_quarantined=1),
        ])
        s.flush()
        stop.statement_rows.append(StatementRow(
            transfer_id="tx-9", occurred_at=T + timedelta(minutes=3), from_account="6222001",
            to_account="6217002", to_bank="CMB", amount_cents=BIG_CENTS - 1, channel=Channel.BANK,
        ))
        ids = {"case": case.id, "stop": stop.id, "block": block.id}

    with session_scope(sessions) as s:
        case = s.get_one(Case, ids["case"])
        assert case.victim_name == "王芳" and case.loss_cents == BIG_CENTS
        assert case.typology is Typology.IMPERSONATE_POLICE
        assert case.reported_at == T and case.reported_at.tzinfo == UTC and case.reported_at.hour == 2
        assert {e.kind for e in case.elements} == {ElementKind.PHONE, ElementKind.DOMAIN, ElementKind.ORDER_NO}
        assert case.transfers[0].amount_cents == BIG_CENTS

        by_kind = {o.kind: o for o in s.scalars(select(Order).where(Order.case_id == case.id))}
        assert {k: type(o) for k, o in by_kind.items()} == {
            OrderKind.STOP_PAYMENT: StopPaymentOrder,
            OrderKind.BLOCK: BlockOrder,
            OrderKind.TAKEDOWN: TakedownOrder,
            OrderKind.RESOLUTION: ResolutionRequest,
            OrderKind.FREEZE: FreezeOrder,
        }
        stop_order = by_kind[OrderKind.STOP_PAYMENT]
        assert stop_order.status is OrderStatus.PENDING and stop_order.organisation.code == "ICBC"
        assert stop_order.amount_cents == BIG_CENTS and stop_order.golden_window_start == T
        assert stop_order.stop_sequence == 1
        assert stop_order.statement_rows[0].to_account == "6217002"
        assert stop_order.statement_rows[0].amount_cents == BIG_CENTS - 1
        block = s.get_one(BlockOrder, ids["block"])
        assert block.number_class is NumberClass.VIRTUAL
        assert block.list_entry is not None and block.list_entry.evidence == {
            "windows": [{"start": "2026-11-03T01:00:00Z", "calls": 412}]
        }

        msg = s.scalars(select(OutboxMessage)).one()
        assert msg.payload["note"] == "紧急止付" and msg.attempts == 0 and msg.delivered_at is None
        assert msg.order_id == ids["stop"]
        audit = s.scalars(select(AuditLog)).one()
        assert audit.personal_data and audit.role is Role.INTAKE_OFFICER and audit.at.tzinfo == UTC
        assert s.scalars(select(TraceJob.status)).one() == "queued"
        assert s.scalars(select(ImportRun.rows_quarantined)).one() == 1


def test_desk_queue_and_due_outbox_queries(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        orgs = _orgs(s)
        mine_pending = StopPaymentOrder(organisation=orgs["ICBC"], target="a1")
        mine_done = StopPaymentOrder(organisation=orgs["ICBC"], target="a2")
        mine_done.advance(OrderStatus.ACKNOWLEDGED, T)
        mine_done.advance(OrderStatus.EXECUTED, T + timedelta(minutes=5))
        other = StopPaymentOrder(organisation=orgs["CMB"], target="b1")
        s.add_all([mine_pending, mine_done, other])
        s.add_all([
            OutboxMessage(organisation=orgs["ICBC"], topic="t", payload={}, idempotency_key="due",
                          next_attempt_at=T),  # 02:00 UTC
            OutboxMessage(organisation=orgs["ICBC"], topic="t", payload={}, idempotency_key="later",
                          next_attempt_at=T + timedelta(hours=2)),  # 04:00 UTC
            OutboxMessage(organisation=orgs["ICBC"], topic="t", payload={}, idempotency_key="sent",
                          next_attempt_at=T, delivered_at=T),
        ])

    with session_scope(sessions) as s:
        icbc = s.scalars(select(Organisation.id).where(Organisation.code == "ICBC")).one()
        queue = s.scalars(
            select(Order.target).where(Order.organisation_id == icbc, Order.status == OrderStatus.PENDING)
        ).all()
        assert queue == ["a1"]
        # "now" given in another zone than the rows were written in: comparison must be on UTC instants
        now = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
        due = s.scalars(
            select(OutboxMessage.idempotency_key)
            .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at)
        ).all()
        assert due == ["due"]
        done = s.scalars(select(Order).where(Order.target == "a2")).one()
        assert done.executed_at == T + timedelta(minutes=5) and done.acknowledged_at == T


def test_a_resubmitted_report_cannot_make_a_second_case(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        s.add(_case("same-key"))
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.add(_case("same-key"))
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1


def test_outbox_idempotency_key_is_unique(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        bank = _orgs(s)["ICBC"]
        s.add(OutboxMessage(organisation=bank, topic="t", payload={}, idempotency_key="k"))
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        bank2 = s.scalars(select(Organisation).where(Organisation.code == "CMB")).one()
        s.add(OutboxMessage(organisation=bank2, topic="t", payload={"other": 1}, idempotency_key="k"))


def test_a_transaction_that_fails_midway_leaves_nothing(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        s.add(_case("existing"))
        _orgs(s)

    # Case, orders and outbox are flushed (sent to the database), then the last insert breaks.
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        bank = s.scalars(select(Organisation).where(Organisation.code == "ICBC")).one()
        case = _case("new-report")
        s.add(case)
        s.add(StopPaymentOrder(case=case, organisation=bank, target="6222001", stop_sequence=1))
        s.add(OutboxMessage(organisation=bank, topic="t", payload={}, idempotency_key="new-msg"))
        s.flush()
        s.add(_case("existing"))  # duplicate idempotency key
        s.flush()

    # And an exception that is not the database's own.
    with pytest.raises(RuntimeError), session_scope(sessions) as s:
        s.add(_case("another"))
        s.flush()
        raise RuntimeError("desk connection dropped")

    with session_scope(sessions) as s:
        assert s.scalars(select(Case.idempotency_key)).all() == ["existing"]
        assert s.scalar(select(func.count()).select_from(Order)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_foreign_keys_and_checks_are_enforced(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.add(StopPaymentOrder(organisation_id=999_999, target="x"))
    with session_scope(sessions) as s:
        bank_id = _orgs(s)["ICBC"].id
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.add(StopPaymentOrder(organisation_id=bank_id, target="x", stop_sequence=3))  # a third stop is illegal
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.add(FreezeOrder(organisation_id=bank_id, target="x", amount_cents=-5))


def test_naive_timestamps_are_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(StatementError) as info, session_scope(sessions) as s:
        s.add(Case(idempotency_key="naive", reported_at=datetime(2026, 11, 3, 10, 0)))
    assert isinstance(info.value.orig, NaiveDatetimeError)
    assert "no time zone" in str(info.value.orig)


def test_unknown_vocabulary_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(StatementError, match="not among the defined enum values"), session_scope(sessions) as s:
        s.add(Organisation(code="X", name="x", kind="bakery"))
