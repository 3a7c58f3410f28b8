"""Return of frozen money (资金返还): one line per victim per frozen account.

Revision ID: 0004_fund_returns
Revises: 0003_warnings
Created: 2026-12-01

* ``fund_returns``: what a return decision gave back to each victim's case from each
  executed freeze, direct or pro rata; unique per (freeze order, case), so deciding again
  adds nothing. Foreign keys to cases and orders are RESTRICT: money handed back is a
  financial record that outlives any clean-up of cases or orders.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_fund_returns"
down_revision: str | Sequence[str] | None = "0003_warnings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fund_returns",
        sa.Column("id", KEY, nullable=False),
        sa.Column("case_id", KEY, nullable=False),
        sa.Column("freeze_order_id", KEY, nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("institution", sa.String(length=32), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("batch", sa.String(length=36), nullable=False),
        sa.Column("created_by_id", KEY, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("cents > 0", name=op.f("ck_fund_returns_return_positive")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_fund_returns_case_id_cases"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["freeze_order_id"], ["orders.id"],
                                name=op.f("fk_fund_returns_freeze_order_id_orders"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_fund_returns_created_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_returns")),
        sa.UniqueConstraint("freeze_order_id", "case_id", name=op.f("uq_fund_returns_freeze_order_id_case_id")),
    )
    op.create_index(op.f("ix_fund_returns_case_id"), "fund_returns", ["case_id"])
    op.create_index(op.f("ix_fund_returns_freeze_order_id"), "fund_returns", ["freeze_order_id"])
    op.create_index(op.f("ix_fund_returns_batch"), "fund_returns", ["batch"])
    op.create_index(op.f("ix_fund_returns_created_at"), "fund_returns", ["created_at"])


def downgrade() -> None:
    for col in ("created_at", "batch", "freeze_order_id", "case_id"):
        op.drop_index(op.f(f"ix_fund_returns_{col}"), table_name="fund_returns")
    op.drop_table("fund_returns")
