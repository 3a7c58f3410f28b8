"""A case's known money as a tracing ledger: the victims' own transfers and the desks' statement rows.

Shared by the money-following loop (one case) and the return of frozen money (every case
whose money met in the same accounts): both trace what the store knows, the same way.
Victim ``case{id}``; the victim's transfer ``case{id}-t{transfer id}``; a statement row
keeps the bank's transfer id (a row two desks returned is one movement) or ``sr{id}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.store.models import CaseTransfer, Order, OrderKind, StatementRow
from fanzha.tracing import LedgerIndex, Seed

FOLLOWED = (OrderKind.STOP_PAYMENT, OrderKind.FREEZE)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def victim_of(case_id: int) -> str:
    return f"case{case_id}"


def case_of(victim: str) -> int:
    """The case id a trace victim name stands for (the inverse of :func:`victim_of`)."""
    return int(victim.removeprefix("case"))


def case_ledger(session: Session, case_ids: Sequence[int]) -> tuple[LedgerIndex, list[Seed]]:
    """The cases' transfers and statement rows as one ledger, and one seed per victim transfer."""
    transfers = list(session.scalars(select(CaseTransfer).where(CaseTransfer.case_id.in_(case_ids))
                                     .order_by(CaseTransfer.id)))
    rows = list(session.scalars(select(StatementRow).join(Order, StatementRow.order_id == Order.id).where(
        Order.case_id.in_(case_ids), Order.kind.in_(FOLLOWED)).order_by(StatementRow.id)))
    return ledger_of(transfers, rows)


def ledger_of(transfers: Sequence[CaseTransfer], rows: Sequence[StatementRow]) -> tuple[LedgerIndex, list[Seed]]:
    """Ledger and seeds from already loaded transfers and statement rows."""
    ids = [f"{victim_of(t.case_id)}-t{t.id}" for t in transfers] + [r.transfer_id or f"sr{r.id}" for r in rows]
    ledger = LedgerIndex.from_arrow(pa.table({
        "transfer_id": ids,
        "time": pa.array([_ms(t.transferred_at) for t in transfers] + [_ms(r.occurred_at) for r in rows],
                         pa.timestamp("ms", tz="UTC")),
        "from_account": [t.from_account or f"VICTIM-{t.case_id}" for t in transfers] + [r.from_account for r in rows],
        "to_account": [t.to_account for t in transfers] + [r.to_account for r in rows],
        "amount_cents": pa.array([t.amount_cents for t in transfers] + [r.amount_cents for r in rows], pa.int64()),
        "channel": [str(t.channel) for t in transfers] + [str(r.channel) for r in rows],
        "order_no": [t.order_no for t in transfers] + [r.order_no for r in rows],
    }))
    seeds = [Seed(victim=victim_of(t.case_id), transfer_id=i)
             for t, i in zip(transfers, ids[: len(transfers)], strict=True)]
    return ledger, seeds
