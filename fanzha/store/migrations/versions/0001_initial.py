"""Initial operations store: organisations, users, cases, orders, statements, traces, lists, outbox, audit, imports.

Revision ID: 0001_initial
Revises:
Created: 2026-11-22

Written against the models of this revision but with plain column types, so later
changes to the models (or to fanzha's own column types) never change what this
migration creates. Vocabulary columns are VARCHAR(32): adding a value needs no migration.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments INTEGER PRIMARY KEY only
TS = sa.DateTime(timezone=True)  # always UTC (fanzha.store.types.UTCDateTime)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
VOCAB = sa.String(length=32)  # StrEnum values (fanzha.store.models)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", KEY, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", VOCAB, nullable=False),
        sa.Column("webhook_url", sa.String(length=1000), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("code", name=op.f("uq_organisations_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", KEY, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("role", VOCAB, nullable=False),
        sa.Column("organisation_id", KEY, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index(op.f("ix_users_organisation_id"), "users", ["organisation_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", KEY, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("user_id", KEY, nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("role", VOCAB, nullable=True),
        sa.Column("organisation_id", KEY, nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("personal_data", sa.Boolean(), nullable=False),
        sa.Column("details", JSON_DOC, nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_audit_log_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_log_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_object_type_object_id"), "audit_log", ["object_type", "object_id"])
    op.create_index(op.f("ix_audit_log_user_id"), "audit_log", ["user_id"])

    op.create_table(
        "cases",
        sa.Column("id", KEY, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("status", VOCAB, nullable=False),
        sa.Column("typology", VOCAB, nullable=False),
        sa.Column("victim_name", sa.String(length=200), nullable=True),
        sa.Column("victim_number", sa.String(length=32), nullable=True),
        sa.Column("victim_id_hash", sa.String(length=128), nullable=True),
        sa.Column("victim_age_band", VOCAB, nullable=True),
        sa.Column("victim_district", sa.String(length=100), nullable=True),
        sa.Column("narrative", sa.Text(), nullable=True),
        sa.Column("loss_cents", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", TS, nullable=False),
        sa.Column("first_transfer_at", TS, nullable=True),
        sa.Column("police_unit_id", KEY, nullable=True),
        sa.Column("created_by_id", KEY, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_cases_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["police_unit_id"],
            ["organisations.id"],
            name=op.f("fk_cases_police_unit_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_cases_idempotency_key")),
        sa.UniqueConstraint("reference", name=op.f("uq_cases_reference")),
    )
    op.create_index(op.f("ix_cases_reported_at"), "cases", ["reported_at"])

    op.create_table(
        "import_runs",
        sa.Column("id", KEY, nullable=False),
        sa.Column("file", sa.String(length=1024), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("mapping", sa.String(length=256), nullable=True),
        sa.Column("status", VOCAB, nullable=False),
        sa.Column("rows_in", sa.BigInteger(), nullable=False),
        sa.Column("rows_ok", sa.BigInteger(), nullable=False),
        sa.Column("rows_quarantined", sa.BigInteger(), nullable=False),
        sa.Column("quarantine_file", sa.String(length=1024), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("user_id", KEY, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_import_runs_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_table(
        "number_list_entries",
        sa.Column("id", KEY, nullable=False),
        sa.Column("list_kind", VOCAB, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("number_class", VOCAB, nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("detector", sa.String(length=64), nullable=True),
        sa.Column("rule_version", sa.String(length=64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("evidence", JSON_DOC, nullable=True),
        sa.Column("decision", VOCAB, nullable=False),
        sa.Column("reviewed_by_id", KEY, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("appeal_state", VOCAB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["users.id"],
            name=op.f("fk_number_list_entries_reviewed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_list_entries")),
    )
    op.create_index(op.f("ix_number_list_entries_decision"), "number_list_entries", ["decision"])
    op.create_index(op.f("ix_number_list_entries_list_kind_number"), "number_list_entries", ["list_kind", "number"])

    op.create_table(
        "case_elements",
        sa.Column("id", KEY, nullable=False),
        sa.Column("case_id", KEY, nullable=False),
        sa.Column("kind", VOCAB, nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_elements_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_elements")),
        sa.UniqueConstraint("case_id", "kind", "value", name=op.f("uq_case_elements_case_id_kind_value")),
    )
    op.create_index(op.f("ix_case_elements_kind_value"), "case_elements", ["kind", "value"])

    op.create_table(
        "case_transfers",
        sa.Column("id", KEY, nullable=False),
        sa.Column("case_id", KEY, nullable=False),
        sa.Column("transferred_at", TS, nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("from_bank", sa.String(length=32), nullable=True),
        sa.Column("from_account", sa.String(length=64), nullable=True),
        sa.Column("to_bank", sa.String(length=32), nullable=True),
        sa.Column("to_account", sa.String(length=64), nullable=False),
        sa.Column("channel", VOCAB, nullable=False),
        sa.Column("order_no", sa.String(length=64), nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_transfers_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transfers")),
    )
    op.create_index(op.f("ix_case_transfers_case_id"), "case_transfers", ["case_id"])

    op.create_table(
        "orders",
        sa.Column("id", KEY, nullable=False),
        sa.Column("kind", VOCAB, nullable=False),
        sa.Column("case_id", KEY, nullable=True),
        sa.Column("organisation_id", KEY, nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("status", VOCAB, nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("parent_order_id", KEY, nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("amount_held_cents", sa.BigInteger(), nullable=True),
        sa.Column("account_holder", sa.String(length=200), nullable=True),
        sa.Column("golden_window_start", TS, nullable=True),
        sa.Column("deadline_at", TS, nullable=True),
        sa.Column("legal_expires_at", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("result", JSON_DOC, nullable=True),
        sa.Column("issued_by_id", KEY, nullable=True),
        sa.Column("acted_by_id", KEY, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("executed_at", TS, nullable=True),
        sa.Column("rejected_at", TS, nullable=True),
        sa.Column("escalated_at", TS, nullable=True),
        sa.Column("expired_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("stop_sequence", sa.SmallInteger(), nullable=True),
        sa.Column("freeze_renewals", sa.SmallInteger(), nullable=True),
        sa.Column("number_class", VOCAB, nullable=True),
        sa.Column("carrier_action", sa.String(length=32), nullable=True),
        sa.Column("list_entry_id", KEY, nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.Column("resolved_bank", sa.String(length=32), nullable=True),
        sa.Column("resolved_account", sa.String(length=64), nullable=True),
        sa.CheckConstraint("amount_cents IS NULL OR amount_cents >= 0", name=op.f("ck_orders_amount_not_negative")),
        sa.CheckConstraint(
            "stop_sequence IS NULL OR stop_sequence BETWEEN 1 AND 2", name=op.f("ck_orders_stop_sequence_at_most_two")
        ),
        sa.ForeignKeyConstraint(
            ["acted_by_id"], ["users.id"], name=op.f("fk_orders_acted_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_orders_case_id_cases"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["users.id"], name=op.f("fk_orders_issued_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["list_entry_id"],
            ["number_list_entries.id"],
            name=op.f("fk_orders_list_entry_id_number_list_entries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_orders_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["parent_order_id"], ["orders.id"], name=op.f("fk_orders_parent_order_id_orders"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_case_id"), "orders", ["case_id"])
    op.create_index(op.f("ix_orders_kind_target"), "orders", ["kind", "target"])
    op.create_index(op.f("ix_orders_organisation_id_status"), "orders", ["organisation_id", "status"])
    op.create_index(op.f("ix_orders_status_deadline_at"), "orders", ["status", "deadline_at"])

    op.create_table(
        "trace_jobs",
        sa.Column("id", KEY, nullable=False),
        sa.Column("case_id", KEY, nullable=False),
        sa.Column("status", VOCAB, nullable=False),
        sa.Column("depth", sa.SmallInteger(), nullable=False),
        sa.Column("result", JSON_DOC, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_trace_jobs_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_jobs")),
    )
    op.create_index(op.f("ix_trace_jobs_case_id"), "trace_jobs", ["case_id"])
    op.create_index(op.f("ix_trace_jobs_status"), "trace_jobs", ["status"])

    op.create_table(
        "outbox_messages",
        sa.Column("id", KEY, nullable=False),
        sa.Column("organisation_id", KEY, nullable=False),
        sa.Column("order_id", KEY, nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_outbox_messages_order_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_outbox_messages_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_messages_idempotency_key")),
    )
    op.create_index(
        "ix_outbox_messages_due",
        "outbox_messages",
        ["next_attempt_at"],
        postgresql_where=sa.text("delivered_at IS NULL"),
        sqlite_where=sa.text("delivered_at IS NULL"),
    )
    op.create_index(op.f("ix_outbox_messages_organisation_id"), "outbox_messages", ["organisation_id"])

    op.create_table(
        "statement_rows",
        sa.Column("id", KEY, nullable=False),
        sa.Column("order_id", KEY, nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("from_account", sa.String(length=64), nullable=False),
        sa.Column("to_account", sa.String(length=64), nullable=True),
        sa.Column("to_bank", sa.String(length=32), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("channel", VOCAB, nullable=False),
        sa.Column("order_no", sa.String(length=64), nullable=True),
        sa.Column("balance_after_cents", sa.BigInteger(), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("traced_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_statement_rows_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_rows")),
        sa.UniqueConstraint("order_id", "transfer_id", name=op.f("uq_statement_rows_order_id_transfer_id")),
    )
    op.create_index(op.f("ix_statement_rows_from_account"), "statement_rows", ["from_account"])
    op.create_index(op.f("ix_statement_rows_order_id"), "statement_rows", ["order_id"])


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints; children before parents.
    op.drop_table("statement_rows")
    op.drop_table("outbox_messages")
    op.drop_table("trace_jobs")
    op.drop_table("orders")
    op.drop_table("case_transfers")
    op.drop_table("case_elements")
    op.drop_table("number_list_entries")
    op.drop_table("import_runs")
    op.drop_table("cases")
    op.drop_table("audit_log")
    op.drop_table("users")
    op.drop_table("organisations")
