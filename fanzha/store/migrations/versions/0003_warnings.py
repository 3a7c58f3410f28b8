"""Precision warnings: dispatched warnings and the stations' feedback.

Revision ID: 0003_warnings
Revises: 0002_response_api
Created: 2026-11-22

* ``warnings``: one row per dispatched warning; ``uq_warnings_open_person`` (partial,
  ``WHERE status = 'open'``, on PostgreSQL and SQLite alike) keeps one open warning per
  person.
* ``warning_feedback``: each feedback a station gives (reached, dissuaded, not reachable,
  already lost, false alarm), with who and when.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_warnings"
down_revision: str | Sequence[str] | None = "0002_response_api"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
VOCAB = sa.String(length=32)
OPEN_WHERE = "status = 'open'"


def upgrade() -> None:
    op.create_table(
        "warnings",
        sa.Column("id", KEY, nullable=False),
        sa.Column("person", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=True),
        sa.Column("station", sa.String(length=100), nullable=True),
        sa.Column("organisation_id", KEY, nullable=True),
        sa.Column("grade", sa.SmallInteger(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("deadline_at", TS, nullable=False),
        sa.Column("warned_at", TS, nullable=False),
        sa.Column("graded_at", TS, nullable=False),
        sa.Column("p", sa.Float(), nullable=False),
        sa.Column("elements", JSON_DOC, nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("status", VOCAB, nullable=False),
        sa.Column("push_seq", sa.BigInteger(), nullable=True),
        sa.Column("escalations", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.CheckConstraint("grade BETWEEN 1 AND 4", name=op.f("ck_warnings_grade_1_to_4")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_warnings_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warnings")),
    )
    op.create_index(op.f("ix_warnings_organisation_id_status"), "warnings", ["organisation_id", "status"])
    op.create_index(op.f("ix_warnings_status_deadline_at"), "warnings", ["status", "deadline_at"])
    op.create_index(
        "uq_warnings_open_person",
        "warnings",
        ["person"],
        unique=True,
        postgresql_where=sa.text(OPEN_WHERE),
        sqlite_where=sa.text(OPEN_WHERE),
    )

    op.create_table(
        "warning_feedback",
        sa.Column("id", KEY, nullable=False),
        sa.Column("warning_id", KEY, nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("user_id", KEY, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["warning_id"], ["warnings.id"], name=op.f("fk_warning_feedback_warning_id_warnings"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_warning_feedback_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_feedback")),
    )
    op.create_index(op.f("ix_warning_feedback_warning_id"), "warning_feedback", ["warning_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_warning_feedback_warning_id"), table_name="warning_feedback")
    op.drop_table("warning_feedback")
    op.drop_index("uq_warnings_open_person", table_name="warnings")
    op.drop_index(op.f("ix_warnings_status_deadline_at"), table_name="warnings")
    op.drop_index(op.f("ix_warnings_organisation_id_status"), table_name="warnings")
    op.drop_table("warnings")
