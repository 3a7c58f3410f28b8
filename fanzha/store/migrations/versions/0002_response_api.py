"""Response API: webhook secrets, outbox claims, one holder per legal stop slot.

Revision ID: 0002_response_api
Revises: 0001_initial
Created: 2026-11-22

* ``organisations.webhook_secret``: the HMAC key a partner registers with its webhook URL.
* ``outbox_messages.claimed_by`` / ``claimed_until``: a dispatcher claims rows with a
  conditional UPDATE on SQLite (PostgreSQL uses ``FOR UPDATE SKIP LOCKED``); a claim
  lapses so a crashed dispatcher's rows are picked up again.
* ``uq_orders_stop_slot``: an account has at most two live stop-payment slots across
  cases; two reports racing for the same slot collide on this index.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_response_api"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
STOP_SLOT_WHERE = "kind = 'stop_payment' AND status <> 'rejected'"


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("webhook_secret", sa.String(length=200), nullable=True))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("claimed_until", TS, nullable=True))
    op.create_index(
        "uq_orders_stop_slot",
        "orders",
        ["target", "stop_sequence"],
        unique=True,
        postgresql_where=sa.text(STOP_SLOT_WHERE),
        sqlite_where=sa.text(STOP_SLOT_WHERE),
    )


def downgrade() -> None:
    op.drop_index("uq_orders_stop_slot", table_name="orders")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("webhook_secret")
