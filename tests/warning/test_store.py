"""Warnings in the operations store, on SQLite and PostgreSQL: dedupe, upgrade, scoping, feedback, escalation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fanzha.response.service import Conflict, Forbidden, NotFound
from fanzha.store.audit import Actor
from fanzha.store.db import create_store_engine
from fanzha.store.models import AuditLog, Organisation, OrgKind, Role, WarningRecord, WarningStatus
from fanzha.warning.dispatch import ADDRESS_RESOLUTION, Feedback, dispatch
from fanzha.warning.store import escalate_overdue, figures, give_feedback, save_dispatched, station_queue

MIN = 60_000
T0 = 1_800_000_000_000
NOW = datetime.fromtimestamp(T0 / 1000, UTC)
REGISTER = pl.DataFrame({
    "number": ["p1", "p2", "p3", "p4"],
    "district": ["思明区", "湖里区", "思明区", "集美区"],
    "police_station": ["思明派出所", "湖里派出所", "XM-SIMING-PS", "集美派出所"],  # by name, name, code, none
})


def frame(rows: list[tuple[str, int, float]], at: int = T0) -> pl.DataFrame:
    """Dispatched warnings for (person, grade, p), all warned at ``at``."""
    w = pl.DataFrame({
        "person": [r[0] for r in rows], "warned_at": [at] * len(rows), "first_grade": [r[1] for r in rows],
        "grade": [r[1] for r in rows], "graded_at": [at] * len(rows), "p": [r[2] for r in rows],
        "elements": [["+8613900000000"]] * len(rows),
    })
    return dispatch(w, REGISTER)


@pytest.fixture
def sessions(store_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_store_engine(store_url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory.begin() as s:
        s.add_all([Organisation(code="XM-SIMING-PS", name="思明派出所", kind=OrgKind.POLICE_UNIT),
                   Organisation(code="XM-HULI-PS", name="湖里派出所", kind=OrgKind.POLICE_UNIT),
                   Organisation(code="ICBC", name="工商银行", kind=OrgKind.BANK)])
    yield factory
    engine.dispose()


def orgs(s: Session) -> dict[str, int]:
    return dict(s.execute(select(Organisation.code, Organisation.id)).tuples().all())


def actors(s: Session) -> tuple[Actor, Actor, Actor, Actor]:
    o = orgs(s)
    siming = Actor("station-siming", Role.STATION_OFFICER, None, o["XM-SIMING-PS"])
    huli = Actor("station-huli", Role.STATION_OFFICER, None, o["XM-HULI-PS"])
    commander = Actor("commander", Role.COMMANDER, None, None)
    bank = Actor("desk-icbc", Role.BANK_DESK, None, o["ICBC"])
    return siming, huli, commander, bank


def test_routes_by_station_name_or_code_and_unknown_goes_to_address_resolution(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        r = save_dispatched(s, frame([("p1", 3, 0.92), ("p2", 2, 0.5), ("p3", 1, 0.1), ("p4", 4, 0.97),
                                      ("p5", 2, 0.4)]), "m1")
        assert (r.created, r.upgraded, r.skipped) == (5, 0, 0)
    with sessions.begin() as s:
        o = orgs(s)
        by = {w.person: w for w in s.scalars(select(WarningRecord))}
        assert by["p1"].organisation_id == by["p3"].organisation_id == o["XM-SIMING-PS"]
        assert by["p2"].organisation_id == o["XM-HULI-PS"]
        assert by["p4"].organisation_id is None and by["p4"].station == "集美派出所"  # no unit on the platform
        assert by["p5"].organisation_id is None and by["p5"].station is None  # unknown jurisdiction
        assert by["p4"].channel == "visit" and by["p4"].deadline_at == NOW + timedelta(minutes=5)
        assert by["p1"].elements == ["+8613900000000"] and by["p1"].model_version == "m1"
        assert ADDRESS_RESOLUTION not in {w.station for w in by.values()}


def test_one_open_warning_per_person_upgraded_only_by_a_higher_grade(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        save_dispatched(s, frame([("p1", 2, 0.5)]), "m1")
    with sessions.begin() as s:
        r = save_dispatched(s, frame([("p1", 2, 0.6), ("p2", 1, 0.1)], at=T0 + MIN), "m2")
        assert (r.created, r.upgraded, r.skipped) == (1, 0, 1)
        r = save_dispatched(s, frame([("p1", 4, 0.96)], at=T0 + 2 * MIN), "m3")
        assert (r.created, r.upgraded, r.skipped) == (0, 1, 0)
    with sessions.begin() as s:
        rows = list(s.scalars(select(WarningRecord).where(WarningRecord.person == "p1")))
        assert len(rows) == 1
        w = rows[0]
        assert (w.grade, w.channel, w.model_version, w.p) == (4, "visit", "m3", 0.96)
        assert w.warned_at == NOW and w.deadline_at == NOW + timedelta(minutes=7)
        assert s.scalar(select(AuditLog.id).where(AuditLog.action == "upgrade", AuditLog.object_id == str(w.id)))
    # the database itself refuses a second open warning for a person
    with pytest.raises(IntegrityError), sessions.begin() as s:
        dup = s.scalars(select(WarningRecord)).first()
        assert dup is not None
        s.add(WarningRecord(person=dup.person, grade=1, channel="sms", deadline_at=NOW, warned_at=NOW,
                            graded_at=NOW, p=0.1, elements=[], model_version="x", escalations=0))
    # ...but a closed one does not count: the person can be warned again
    with sessions.begin() as s:
        siming, _, _, _ = actors(s)
        w = s.scalars(select(WarningRecord).where(WarningRecord.person == "p1")).one()
        give_feedback(s, siming, w.id, Feedback.DISSUADED, now=NOW)
        assert save_dispatched(s, frame([("p1", 1, 0.1)], at=T0 + 60 * MIN), "m4").created == 1


def test_station_sees_only_its_own_most_urgent_first_and_others_are_refused(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        save_dispatched(s, frame([("p1", 2, 0.5), ("p3", 4, 0.97), ("p2", 3, 0.91), ("p4", 1, 0.1)]), "m1")
    with sessions.begin() as s:
        siming, huli, commander, bank = actors(s)
        mine = station_queue(s, siming)
        assert [w.person for w in mine] == ["p3", "p1"] and mine[0].grade_zh == "特危"
        assert [w.person for w in station_queue(s, huli)] == ["p2"]
        assert [w.person for w in station_queue(s, commander)] == ["p3", "p2", "p1", "p4"]
        assert [w.person for w in station_queue(s, commander, address_resolution=True)] == ["p4"]
        with pytest.raises(Forbidden):
            station_queue(s, bank)
        reads = list(s.scalars(select(AuditLog).where(AuditLog.action == "read", AuditLog.object_type == "warning")))
        assert len(reads) == 4 and all(r.personal_data for r in reads)


def test_feedback_closes_or_escalates_audited_and_foreign_is_not_found(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        save_dispatched(s, frame([("p1", 1, 0.1), ("p3", 3, 0.92), ("p2", 2, 0.5)]), "m1")
    with sessions.begin() as s:
        siming, huli, _, bank = actors(s)
        ids = {w.person: w.id for w in s.scalars(select(WarningRecord))}
        later = NOW + timedelta(minutes=3)
        w = give_feedback(s, siming, ids["p1"], "not_reachable", "no answer", now=later)
        assert (w.status, w.channel, w.escalations) == (WarningStatus.OPEN, "call", 1)
        assert w.deadline_at == later + timedelta(minutes=10)
        w = give_feedback(s, siming, ids["p1"], Feedback.REACHED, now=later)
        assert w.status == WarningStatus.CLOSED and w.closed_at == later
        assert [f.state for f in w.feedback] == [Feedback.NOT_REACHABLE, Feedback.REACHED]
        with pytest.raises(Conflict):
            give_feedback(s, siming, ids["p1"], Feedback.DISSUADED)
        with pytest.raises(NotFound):
            give_feedback(s, huli, ids["p3"], Feedback.DISSUADED)  # 思明's warning
        with pytest.raises(Forbidden):
            give_feedback(s, bank, ids["p3"], Feedback.DISSUADED)
        fb = list(s.scalars(select(AuditLog).where(AuditLog.action == "feedback")))
        assert [a.details for a in fb] == [{"state": "not_reachable", "escalated_to": "call"}, {"state": "reached"}]
        assert fb[0].username == "station-siming" and fb[0].object_id == str(ids["p1"])
        f = figures(s)
        assert (f.warnings, f.with_feedback, f.open) == (3, 1, 2) and f.feedback_rate == pytest.approx(1 / 3)


def test_missed_deadlines_escalate_once_per_deadline(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        save_dispatched(s, frame([("p1", 3, 0.92), ("p3", 4, 0.97), ("p2", 2, 0.5)]), "m1")
    with sessions.begin() as s:
        ids = {w.person: w.id for w in s.scalars(select(WarningRecord))}
        at = NOW + timedelta(minutes=11)  # past 高危's 10 min and 特危's 5 min, before the day's end
        assert sorted(escalate_overdue(s, at)) == sorted([ids["p1"], ids["p3"]])
        assert escalate_overdue(s, at) == []  # the new clock has not run out
        by = {w.person: w for w in s.scalars(select(WarningRecord))}
        assert (by["p1"].channel, by["p3"].channel, by["p2"].channel) == ("visit", "visit", "call")
        assert by["p1"].deadline_at == at + timedelta(minutes=5)
        esc = list(s.scalars(select(AuditLog).where(AuditLog.action == "escalate")))
        assert len(esc) == 2 and {a.details["reason"] for a in esc if a.details} == {"deadline_missed"}


def test_station_feedback_becomes_labels_for_the_risk_model(sessions: sessionmaker[Session]) -> None:
    from fanzha.warning.risk import label_by_feedback
    from fanzha.warning.store import feedback_labels

    with sessions.begin() as s:
        save_dispatched(s, frame([("p1", 3, 0.92), ("p2", 2, 0.5), ("p3", 1, 0.1)]), "m1")
    with sessions.begin() as s:
        siming, huli, commander, _bank = actors(s)
        ids = {w.person: w.id for w in s.scalars(select(WarningRecord))}
        give_feedback(s, siming, ids["p1"], Feedback.ALREADY_LOST, now=NOW + timedelta(minutes=30))
        give_feedback(s, siming, ids["p3"], Feedback.FALSE_ALARM, now=NOW + timedelta(minutes=40))
        give_feedback(s, huli, ids["p2"], Feedback.REACHED, now=NOW + timedelta(minutes=50))  # says nothing
        with pytest.raises(Forbidden):
            feedback_labels(s, siming)
        labels = feedback_labels(s, commander)
    assert labels.sort("person").rows() == [("p1", 1, T0 + 30 * MIN), ("p3", 0, T0 + 40 * MIN)]
    with sessions.begin() as s:
        assert s.scalars(select(AuditLog).where(AuditLog.action == "export_labels")).one().personal_data
    rows = pl.DataFrame({"person": ["p1", "p1", "p3", "p9"], "decided_at": [T0, T0 + 60 * MIN, T0, T0],
                         "calls": [1, 2, 1, 5]})
    train = label_by_feedback(rows, labels)
    # p1's contact after the feedback and the unlabelled p9 are not training rows
    assert train.sort("person").select("person", "calls", "label").rows() == [("p1", 1, 1), ("p3", 1, 0)]
