"""A ledger whose only tainted money waits at a payment platform (an order leg without its partner)."""

from __future__ import annotations

import pyarrow as pa

from fanzha.tracing import LedgerIndex, Seed, trace


def test_money_pending_at_a_platform_is_held_there_without_error() -> None:
    ledger = LedgerIndex.from_arrow(pa.table({
        "transfer_id": ["t1"],
        "time": pa.array([1_800_000_000_000], pa.timestamp("ms", tz="UTC")),
        "from_account": ["victim"],
        "to_account": ["TP-ALIPAY-POOL"],
        "amount_cents": pa.array([500_000], pa.int64()),
        "channel": ["third_party"],
        "order_no": ["2026110300000001"],
    }), pool_accounts=["TP-ALIPAY-POOL"])
    res = trace(ledger, [Seed(victim="v", transfer_id="t1")])
    accounts = {r["account_id"]: r for r in res.accounts_table().to_pylist()}
    assert accounts["TP-ALIPAY-POOL"]["held_cents"] == 500_000
