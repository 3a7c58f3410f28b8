"""The seam where the money-following loop (资金追踪闭环, issue 5 section 5) plugs in.

A bank desk that executes a stop-payment returns the account's onward transactions.
Today this stores them and flags the case's trace job as having new work; the tracing
engine will plug in here: read the untraced rows (``StatementRow.traced_at IS NULL``),
find the next level's accounts and issue their stop-payments in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.schemas import StatementRowIn
from fanzha.store.models import Order, StatementRow, TraceJob, TraceJobStatus


def on_statement_rows(session: Session, order: Order, rows: Sequence[StatementRowIn]) -> list[StatementRow]:
    """Store a desk's statement rows for ``order`` and mark its case's trace job as needing work.

    A row the desk already sent (same ``transfer_id`` on the same order) is skipped, so a
    desk re-sending its result adds nothing. The tracing loop hooks in here (see module doc).
    """
    seen = set(
        session.scalars(select(StatementRow.transfer_id).where(StatementRow.order_id == order.id)).all()
    )
    stored: list[StatementRow] = []
    for row in rows:
        if row.transfer_id is not None and row.transfer_id in seen:
            continue
        if row.transfer_id is not None:
            seen.add(row.transfer_id)
        stored.append(
            StatementRow(
                order_id=order.id,
                transfer_id=row.transfer_id,
                occurred_at=row.time,
                from_account=row.from_account or order.target,
                to_account=row.to_account,
                to_bank=row.to_bank,
                amount_cents=row.amount_cents,
                channel=row.channel,
                order_no=row.order_no,
                balance_after_cents=row.balance_after_cents,
            )
        )
    session.add_all(stored)
    if stored and order.case_id is not None:
        for job in session.scalars(select(TraceJob).where(TraceJob.case_id == order.case_id)):
            if job.status in (TraceJobStatus.DONE, TraceJobStatus.FAILED):
                job.status = TraceJobStatus.QUEUED  # new statements: the trace has work again
                job.finished_at = None
    session.flush()
    return stored
