from __future__ import annotations

import pyarrow as pa

T0 = 1_793_635_200_000
M = 60_000


def ledger_table(rows: list[tuple]) -> pa.Table:
    """rows: (transfer_id, minute, from, to, amount_cents, channel[, order_no])."""
    full = [r if len(r) == 7 else (*r, None) for r in rows]
    return pa.table({
        "transfer_id": [r[0] for r in full],
        "time": pa.array([T0 + int(r[1] * M) for r in full], pa.timestamp("ms", tz="UTC")),
        "from_account": [r[2] for r in full],
        "to_account": [r[3] for r in full],
        "amount_cents": pa.array([r[4] for r in full], pa.int64()),
        "channel": [r[5] for r in full],
        "order_no": pa.array([r[6] for r in full], pa.string()),
    })
