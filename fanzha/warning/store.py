"""Warnings in the operations store: saving dispatched warnings, station queues, feedback, escalation.

The batch pipeline (:mod:`fanzha.warning.risk`, :mod:`fanzha.warning.dispatch`) produces a
frame of dispatched warnings; :func:`save_dispatched` writes it with one open warning per
person (a higher grade upgrades the open one, anything else is skipped). A police
station works its own queue (:func:`station_queue`) and reports back
(:func:`give_feedback`); a closing state closes the warning, "not reachable" raises the
channel (SMS → call → visit) at once, and :func:`escalate_overdue` raises the channel of
every open warning whose deadline passed without feedback.

Routing to a police unit: the register names a station (e.g. "中华派出所"); the warning
goes to the platform's police-unit organisation whose code or name is exactly that
station. No fuzzy matching: a station without an organisation on the platform, or an
unknown jurisdiction, leaves ``organisation_id`` null, which is the city center's
address-resolution queue (commanders see and work it).

Like :mod:`fanzha.response.service`, nothing here knows HTTP: refusals are the service's
:class:`NotFound`, :class:`Forbidden`, :class:`Conflict` and :class:`InvalidInput`, and
every read of people's numbers or write is audited in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session, selectinload

from fanzha.response.service import Conflict, Forbidden, InvalidInput, NotFound
from fanzha.store.audit import SYSTEM, Actor, audit
from fanzha.store.models import (
    Organisation,
    OrgKind,
    Role,
    WarningFeedback,
    WarningRecord,
    WarningStatus,
)
from fanzha.store.types import utcnow
from fanzha.warning.dispatch import ADDRESS_RESOLUTION, CLOSING, NEXT_CHANNEL, POLICY, Channel, Feedback
from fanzha.warning.risk import WarningGrade

# Who sees which warnings: a station officer its own unit's; commanders and admins all of them.
ALL_WARNINGS_ROLES = frozenset({Role.COMMANDER, Role.ADMIN})
WARNING_READERS = ALL_WARNINGS_ROLES | {Role.STATION_OFFICER}
# Who reports back: the station, and the commander (the address-resolution queue is the center's).
FEEDBACK_ROLES = frozenset({Role.STATION_OFFICER, Role.COMMANDER})

CHANNEL_RANK = {Channel.SMS: 0, Channel.CALL: 1, Channel.VISIT: 2}
# An escalated warning's new clock: the fastest policy deadline of its new channel
# (call: 10 min as for 高危; visit: 5 min as for 特危).
ESCALATED_DEADLINE: dict[Channel, timedelta] = {
    ch: timedelta(minutes=min(m for c, m in POLICY.values() if c == ch and m is not None))
    for ch in (Channel.CALL, Channel.VISIT)
}
_INSERT_CHUNK = 5_000
_WARNINGS = WarningRecord.metadata.tables["warnings"]
_CHUNK = 500  # persons per IN (...) list: well under every backend's bound-parameter limit


class FeedbackPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    state: Feedback
    note: str | None
    user_id: int | None
    at: datetime


class WarningPublic(BaseModel):
    """A warning as a station works it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    person: str
    district: str | None
    station: str | None
    organisation_id: int | None
    grade: WarningGrade
    grade_zh: str
    channel: Channel
    deadline_at: datetime
    warned_at: datetime
    graded_at: datetime
    p: float
    elements: list[str]
    model_version: str
    status: WarningStatus
    push_seq: int | None
    escalations: int
    created_at: datetime
    closed_at: datetime | None
    feedback: list[FeedbackPublic]


def warning_public(w: WarningRecord) -> WarningPublic:
    grade = WarningGrade(w.grade)
    return WarningPublic(
        id=w.id, person=w.person, district=w.district, station=w.station, organisation_id=w.organisation_id,
        grade=grade, grade_zh=grade.zh, channel=Channel(w.channel), deadline_at=w.deadline_at,
        warned_at=w.warned_at, graded_at=w.graded_at, p=w.p, elements=list(w.elements or []),
        model_version=w.model_version, status=WarningStatus(w.status), push_seq=w.push_seq,
        escalations=w.escalations, created_at=w.created_at, closed_at=w.closed_at,
        feedback=[FeedbackPublic.model_validate(f) for f in w.feedback],
    )


# --------------------------------------------------------------------------- saving dispatched warnings


@dataclass(frozen=True)
class SaveResult:
    created: int
    upgraded: int
    skipped: int  # an open warning of the same or a higher grade exists


def _ms(value: int | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def police_units(session: Session, stations: Iterable[str]) -> dict[str, int]:
    """Station name or code → police-unit organisation id, for the stations that have one."""
    names = sorted({s for s in stations if s and s != ADDRESS_RESOLUTION})
    if not names:
        return {}
    rows = session.execute(
        select(Organisation.id, Organisation.code, Organisation.name).where(
            Organisation.kind == OrgKind.POLICE_UNIT,
            Organisation.active.is_(True),
            or_(Organisation.code.in_(names), Organisation.name.in_(names)),
        )
    ).tuples()
    out: dict[str, int] = {}
    for org_id, code, name in rows:
        out.setdefault(code, org_id)
        out.setdefault(name, org_id)
    return out


def _open_by_person(session: Session, persons: Sequence[str]) -> dict[str, WarningRecord]:
    found: dict[str, WarningRecord] = {}
    for i in range(0, len(persons), _CHUNK):
        chunk = persons[i : i + _CHUNK]
        for w in session.scalars(
            select(WarningRecord).where(WarningRecord.person.in_(chunk), WarningRecord.status == WarningStatus.OPEN)
        ):
            found[w.person] = w
    return found


def save_dispatched(session: Session, frame: pl.DataFrame, model_version: str,
                    actor: Actor = SYSTEM) -> SaveResult:
    """Write the output of :func:`fanzha.warning.dispatch.dispatch`, one open warning per person.

    ``frame``: person, warned_at, grade, graded_at, p, elements, district, station,
    channel, deadline_at, push_seq (times in epoch ms, as the pipeline makes them). A
    person with an open warning of a lower grade gets it upgraded (grade, p, channel if
    higher, deadline if sooner, elements merged); of the same or a higher grade, nothing.
    Two writers racing on one person collide on ``uq_warnings_open_person``: the caller
    rolls back and retries.
    """
    rows = frame.unique(subset="person", keep="last", maintain_order=True).to_dicts()
    persons = [str(r["person"]) for r in rows]
    existing = _open_by_person(session, persons)
    units = police_units(session, (str(r.get("station") or "") for r in rows))
    created = upgraded = skipped = 0
    new_rows: list[dict[str, Any]] = []
    now = utcnow()
    for r in rows:
        grade = int(WarningGrade(int(r["grade"])))
        station = r.get("station")
        station = None if station in (None, "", ADDRESS_RESOLUTION) else str(station)
        org_id = units.get(station) if station else None
        channel = Channel(str(r["channel"]))
        deadline = _ms(r["deadline_at"])
        elements = sorted({str(e) for e in (r.get("elements") or [])})
        old = existing.get(str(r["person"]))
        if old is None:
            new_rows.append(dict(
                person=str(r["person"]), district=r.get("district"), station=station, organisation_id=org_id,
                grade=grade, channel=channel.value, deadline_at=deadline, warned_at=_ms(r["warned_at"]),
                graded_at=_ms(r.get("graded_at") or r["warned_at"]), p=float(r["p"]), elements=elements,
                model_version=model_version, status=WarningStatus.OPEN, push_seq=r.get("push_seq"), escalations=0,
                created_at=now, closed_at=None,
            ))
            continue
        if grade <= old.grade:
            skipped += 1
            continue
        before = old.grade
        old.grade = grade
        old.p = max(old.p, float(r["p"]))
        old.graded_at = _ms(r.get("graded_at") or r["warned_at"])
        if CHANNEL_RANK[channel] > CHANNEL_RANK[Channel(old.channel)]:
            old.channel = channel.value
        old.deadline_at = min(old.deadline_at, deadline)
        old.elements = sorted(set(old.elements or []) | set(elements))
        old.model_version = model_version
        if old.organisation_id is None and org_id is not None:
            old.station, old.organisation_id = station, org_id
        session.flush()
        audit(session, actor, "upgrade", "warning", old.id, details={"from": before, "to": grade})
        upgraded += 1
    # New warnings go in as one multi-row INSERT (a 90,000-person blitz: seconds, not half a
    # minute of ORM unit-of-work bookkeeping); upgrades above stay ORM updates.
    for i in range(0, len(new_rows), _INSERT_CHUNK):
        session.execute(insert(_WARNINGS), new_rows[i : i + _INSERT_CHUNK])
    created = len(new_rows)
    session.flush()
    if created:
        audit(session, actor, "create", "warning", None,
              details={"created": created, "upgraded": upgraded, "skipped": skipped, "model": model_version})
    return SaveResult(created, upgraded, skipped)


# --------------------------------------------------------------------------- station queues


def _scope(actor: Actor) -> Any:
    """The WHERE clause of what ``actor`` may see (Forbidden for roles that see no warnings)."""
    if actor.role in ALL_WARNINGS_ROLES:
        return WarningRecord.id.is_not(None)
    if actor.role == Role.STATION_OFFICER and actor.organisation_id is not None:
        return WarningRecord.organisation_id == actor.organisation_id
    raise Forbidden(f"role {actor.role} may not see warnings")


def station_queue(session: Session, actor: Actor, *, status: WarningStatus | None = WarningStatus.OPEN,
                  address_resolution: bool = False, limit: int = 200) -> list[WarningPublic]:
    """The warnings ``actor`` works, most urgent first (grade desc, then deadline, then push order).

    A station officer sees only their own police unit's; commanders and admins all
    (``address_resolution`` narrows to those without a police unit). Audited as a read
    of personal data (people's numbers).
    """
    where = [_scope(actor)]
    if status is not None:
        where.append(WarningRecord.status == status)
    if address_resolution:
        where.append(WarningRecord.organisation_id.is_(None))
    rows = list(session.scalars(
        select(WarningRecord).where(and_(*where)).options(selectinload(WarningRecord.feedback))
        .order_by(WarningRecord.grade.desc(), WarningRecord.deadline_at, WarningRecord.push_seq, WarningRecord.id)
        .limit(limit)
    ))
    audit(session, actor, "read", "warning", None, personal_data=True,
          details={"count": len(rows), "status": status.value if status else None})
    return [warning_public(w) for w in rows]


def _escalate(w: WarningRecord, now: datetime) -> Channel:
    up = NEXT_CHANNEL[Channel(w.channel)]
    w.channel = up.value
    w.deadline_at = now + ESCALATED_DEADLINE[up]
    w.escalations = (w.escalations or 0) + 1
    return up


def give_feedback(session: Session, actor: Actor, warning_id: int, state: Feedback | str, note: str | None = None,
                  *, now: datetime | None = None) -> WarningPublic:
    """Record a station's feedback; closing states close the warning, "not reachable" escalates it.

    Another station's warning is :class:`NotFound` (ids do not leak); a closed one is a
    :class:`Conflict`.
    """
    now = now or utcnow()
    if actor.role not in FEEDBACK_ROLES:
        raise Forbidden(f"role {actor.role} may not give warning feedback")
    try:
        fb = Feedback(state)
    except ValueError:
        allowed = ", ".join(f.value for f in Feedback)
        raise InvalidInput(("body", "state"), f"state must be one of {allowed}") from None
    w = session.scalars(
        select(WarningRecord).where(WarningRecord.id == warning_id, _scope(actor))
        .options(selectinload(WarningRecord.feedback))
    ).one_or_none()
    if w is None:
        raise NotFound(f"warning {warning_id} not found")
    if w.status != WarningStatus.OPEN:
        raise Conflict(f"warning {warning_id} is already closed")
    w.feedback.append(WarningFeedback(state=fb.value, note=(note or None), user_id=actor.user_id, at=now))
    details: dict[str, Any] = {"state": fb.value}
    if fb in CLOSING:
        w.status = WarningStatus.CLOSED
        w.closed_at = now
    elif fb == Feedback.NOT_REACHABLE:
        details["escalated_to"] = _escalate(w, now).value
    session.flush()
    audit(session, actor, "feedback", "warning", w.id, personal_data=True, details=details)
    return warning_public(w)


def escalate_overdue(session: Session, now: datetime | None = None, actor: Actor = SYSTEM) -> list[int]:
    """Raise the channel of every open warning past its deadline; returns their ids.

    The new deadline is the escalated channel's clock (:data:`ESCALATED_DEADLINE`), so a
    sweep raises each warning once per missed deadline; a visit that is still overdue is
    pushed again as a visit.
    """
    now = now or utcnow()
    due = list(session.scalars(
        select(WarningRecord).where(WarningRecord.status == WarningStatus.OPEN, WarningRecord.deadline_at < now)
        .order_by(WarningRecord.deadline_at, WarningRecord.id).with_for_update(skip_locked=True)
    ))
    for w in due:
        before = w.channel
        up = _escalate(w, now)
        audit(session, actor, "escalate", "warning", w.id,
              details={"reason": "deadline_missed", "from": before, "to": up.value})
    session.flush()
    return [w.id for w in due]


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class WarningFigures:
    warnings: int
    with_feedback: int
    open: int

    @property
    def feedback_rate(self) -> float | None:
        return self.with_feedback / self.warnings if self.warnings else None


def figures(session: Session) -> WarningFigures:
    """Stored warnings, how many have any feedback (the feedback rate, 反馈率), how many are open."""
    total = session.scalar(select(func.count(WarningRecord.id))) or 0
    with_fb = session.scalar(select(func.count(func.distinct(WarningFeedback.warning_id)))) or 0
    open_n = session.scalar(
        select(func.count(WarningRecord.id)).where(WarningRecord.status == WarningStatus.OPEN)
    ) or 0
    return WarningFigures(int(total), int(with_fb), int(open_n))


# --------------------------------------------------------------------------- feedback as training data

# What a station's closing word says about the person: already lost or talked out of paying
# mid-fraud are positives (the model should have warned them), a false alarm a negative;
# "reached" and "not reachable" say nothing about the outcome and are left out.
FEEDBACK_LABEL: dict[Feedback, int] = {Feedback.ALREADY_LOST: 1, Feedback.DISSUADED: 1, Feedback.FALSE_ALARM: 0}
LABEL_READERS = frozenset({Role.FUND_ANALYST, Role.COMMANDER, Role.ADMIN})


def feedback_labels(session: Session, actor: Actor) -> pl.DataFrame:
    """person, label, at (ms): the stations' feedback as labels for the risk model (an audited read)."""
    if actor.role is not None and actor.role not in LABEL_READERS:
        raise Forbidden(f"role {actor.role} may not export feedback labels")
    rows = session.execute(
        select(WarningRecord.person, WarningFeedback.state, WarningFeedback.at)
        .join(WarningFeedback, WarningFeedback.warning_id == WarningRecord.id)
        .where(WarningFeedback.state.in_([f.value for f in FEEDBACK_LABEL]))
        .order_by(WarningFeedback.at, WarningFeedback.id)
    ).tuples().all()
    audit(session, actor, "export_labels", "warning", None, personal_data=True, details={"count": len(rows)})
    frame = pl.DataFrame(
        {"person": [r[0] for r in rows], "label": [FEEDBACK_LABEL[Feedback(r[1])] for r in rows],
         "at": [int(_ms(r[2]).timestamp() * 1000) for r in rows]},
        schema={"person": pl.String, "label": pl.Int8, "at": pl.Int64})
    # a person with several labelled warnings keeps the latest word
    return frame.unique(subset="person", keep="last", maintain_order=True)
