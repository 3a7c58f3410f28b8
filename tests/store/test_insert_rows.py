"""``insert_rows``: one ``COPY`` per table on PostgreSQL, and the same rows as a plain executemany."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, event, func, insert, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from fanzha.contracts.vocab import Typology
from fanzha.store.db import insert_rows, insert_with_ids, session_scope
from fanzha.store.models import AuditLog, Base, CaseStatus, Role
from fanzha.store.types import NaiveDatetimeError

AUDIT: Table = Base.metadata.tables["audit_log"]
CASES: Table = Base.metadata.tables["cases"]
T0 = datetime(2026, 12, 4, 9, 30, 0, 123456, tzinfo=UTC)


def _audit_rows(tag: str) -> list[dict[str, Any]]:
    """Nulls, enums, JSON documents (nested, non-ASCII, absent) and aware times in several zones."""
    return [
        {"at": T0 + timedelta(seconds=i), "user_id": None, "username": f"{tag}-{i}",
         "role": [Role.ADMIN, "bank_desk", None][i % 3], "organisation_id": None, "action": "create",
         "object_type": "case", "object_id": None if i == 2 else str(i), "personal_data": i % 2 == 0,
         "details": [None, {"orders": i, "note": "止付", "list": [1, 2]}, {}][i % 3]}
        for i in range(7)
    ]


def _stored(s: Session, tag: str) -> list[tuple[Any, ...]]:
    cols = [c for c in AUDIT.c if c.name not in ("id", "username")]  # the username carries the tag
    return [tuple(r) for r in s.execute(select(*cols, AUDIT.c.details.is_(None))
                                        .where(AUDIT.c.username.like(f"{tag}-%")).order_by(AUDIT.c.username))]


def test_rows_are_stored_as_an_executemany_stores_them(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        insert_rows(s, AUDIT, _audit_rows("bulk"))
        s.execute(insert(AUDIT), _audit_rows("each"))
    with session_scope(sessions) as s:
        bulk, each = _stored(s, "bulk"), _stored(s, "each")
    assert len(bulk) == 7
    assert bulk == each
    names = [c.name for c in AUDIT.c if c.name not in ("id", "username")]
    assert bulk[1][names.index("details")] == {"orders": 1, "note": "止付", "list": [1, 2]}
    assert bulk[0][names.index("at")] == T0


def test_python_side_defaults_are_filled_in(sessions: sessionmaker[Session]) -> None:
    before = datetime.now(UTC)
    with session_scope(sessions) as s:
        ids = insert_with_ids(s, CASES, [{"idempotency_key": f"k{i}", "reported_at": T0} for i in range(3)])
    with session_scope(sessions) as s:
        got = s.execute(select(CASES.c.id, CASES.c.status, CASES.c.typology, CASES.c.loss_cents, CASES.c.created_at)
                        .order_by(CASES.c.id)).all()
    assert [r.id for r in got] == ids
    assert {(r.status, r.typology, r.loss_cents) for r in got} == {(CaseStatus.OPEN, Typology.OTHER, 0)}
    assert all(r.created_at >= before - timedelta(seconds=1) for r in got)


def test_ids_follow_the_rows(sessions: sessionmaker[Session]) -> None:
    rows = [{"idempotency_key": f"order-{i}", "reported_at": T0 + timedelta(minutes=i)} for i in range(25)]
    with session_scope(sessions) as s:
        ids = insert_with_ids(s, CASES, rows)
        by_id = dict(s.execute(select(CASES.c.id, CASES.c.idempotency_key)).tuples().all())
    assert [by_id[i] for i in ids] == [r["idempotency_key"] for r in rows]


def test_rows_with_other_columns_are_refused(sessions: sessionmaker[Session]) -> None:
    rows = _audit_rows("odd")
    del rows[3]["details"]
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's executemany path takes what SQLAlchemy takes")
    with pytest.raises(ValueError, match="row 3 has other columns"), session_scope(sessions) as s:
        insert_rows(s, AUDIT, rows)


@pytest.mark.parametrize("bad, error", [
    ({"role": "bakery"}, "not among the defined enum values"),
    ({"at": datetime(2026, 12, 4, 9, 30)}, "no time zone"),
])
def test_bad_values_are_refused_and_nothing_is_written(sessions: sessionmaker[Session], bad: dict[str, Any],
                                                       error: str) -> None:
    rows = _audit_rows("bad")
    rows[4] |= bad
    with pytest.raises((StatementError, NaiveDatetimeError), match=error), session_scope(sessions) as s:
        insert_rows(s, AUDIT, rows)
    with session_scope(sessions) as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_one_copy_for_the_whole_batch_on_postgresql(sessions: sessionmaker[Session]) -> None:
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite takes an executemany")
    with session_scope(sessions) as s:
        seen: list[str] = []
        conn = s.connection()

        def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            seen.append(statement)

        event.listen(conn, "before_cursor_execute", count)
        try:
            insert_rows(s, AUDIT, _audit_rows("one"))
        finally:
            event.remove(conn, "before_cursor_execute", count)
        assert seen == []  # no INSERT at all, let alone one per row: the rows went in by COPY
        assert s.execute(text("SELECT count(*) FROM audit_log WHERE username LIKE 'one-%'")).scalar() == 7


def test_a_unique_index_violation_is_sqlalchemys_integrity_error(sessions: sessionmaker[Session]) -> None:
    """The intake writer retries a report that lost a race on a unique index: it must see the usual error."""
    rows = [{"idempotency_key": "same", "reported_at": T0}, {"idempotency_key": "same", "reported_at": T0}]
    with session_scope(sessions) as s:
        with pytest.raises(IntegrityError), s.begin_nested():
            insert_rows(s, CASES, rows)
        insert_rows(s, CASES, [{"idempotency_key": key, "reported_at": T0} for key in ("a", "b")])
    with session_scope(sessions) as s:
        assert sorted(s.execute(select(CASES.c.idempotency_key)).scalars()) == ["a", "b"]


def test_text_that_means_something_to_copy_is_stored_as_given(sessions: sessionmaker[Session]) -> None:
    """COPY's text format gives backslash, tab, newline and ``\\N`` (null) meanings: values must not take them."""
    tricky = ["back\\slash", "tab\there", "new\nline", "cr\rx", "\\N", "quote'\"", "", "全角\u3000空格"]
    rows = [{"at": T0, "username": f"t{i}", "action": "x", "object_type": t, "details": {"v": t, "k": [t]}}
            for i, t in enumerate(tricky)]
    with session_scope(sessions) as s:
        insert_rows(s, AUDIT, rows)
    with session_scope(sessions) as s:
        got = s.execute(select(AUDIT.c.object_type, AUDIT.c.details).order_by(AUDIT.c.username)).all()
    assert [tuple(r) for r in got] == [(t, {"v": t, "k": [t]}) for t in tricky]
