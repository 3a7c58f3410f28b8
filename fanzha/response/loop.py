"""Where a desk's statement rows enter the money-following loop (资金追踪闭环, issue 5 section 5).

A bank desk that executes a stop-payment returns the account's onward transactions.
They are stored, and in the same transaction :func:`fanzha.response.following.follow_money`
traces the case again and issues the next level's stop-payments (or freezes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.schemas import StatementRowIn
from fanzha.store.models import Order, StatementRow, TraceJob, TraceJobStatus


def on_statement_rows(session: Session, order: Order, rows: Sequence[StatementRowIn],
                      now: datetime | None = None) -> list[StatementRow]:
    """Store a desk's statement rows for ``order`` and mark its case's trace job as needing work.

    A row the desk already sent (same ``transfer_id`` on the same order) is skipped, so a
    desk re-sending its result adds nothing. New rows are traced at once (see module doc).
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
    if stored and order.case_id is not None:
        from fanzha.response.following import follow_money  # late: following builds on the service

        follow_money(session, order.case_id, now=now)
    return stored
