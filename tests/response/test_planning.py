from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fanzha.response.planning import OrderKind, VictimTransfer, plan_first_response

T = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)


def test_one_report_plans_every_first_response() -> None:
    plan = plan_first_response(
        [
            VictimTransfer(5_000_000, T, "6222020000000001", "ICBC"),
            VictimTransfer(3_000_000, T + timedelta(minutes=4), "6222020000000001", "ICBC"),
            VictimTransfer(1_000_000, T + timedelta(minutes=2), "6217000000000002", None),
            VictimTransfer(200_000, T + timedelta(minutes=1), "TP-ALIPAY-POOL", order_no="2026110300000042",
                           platform="ALIPAY"),
        ],
        fraud_numbers=["+8617012345678", "+8613906000000", "+8613800138000", "+8617012345678"],
        domains=["Abc123.top", "abc123.top.", " "],
    )
    stops = plan.of_kind(OrderKind.STOP_PAYMENT)
    assert [(o.target, o.addressee, o.amount_cents) for o in stops] == [
        ("6222020000000001", "ICBC", 8_000_000),  # two transfers to one account: one order, summed
        ("6217000000000002", "CENTER", 1_000_000),  # bank unknown: the center routes it by hand
    ]
    assert stops[0].golden_window_ends == T + timedelta(minutes=30)  # from the first transfer
    blocks = {o.target: (o.addressee, o.action) for o in plan.of_kind(OrderKind.BLOCK)}
    assert blocks == {
        "+8613800138000": ("CMCC", "caller_interception"),
        "+8613906000000": ("CMCC", "forced_shutdown"),
        "+8617012345678": ("CTCC", "empty_number_tone"),
    }
    assert [o.target for o in plan.of_kind(OrderKind.TAKEDOWN)] == ["abc123.top"]
    res = plan.of_kind(OrderKind.RESOLUTION)
    assert [(o.target, o.addressee) for o in res] == [("2026110300000042", "ALIPAY")]
    assert [t.at for t in plan.trace_seeds] == sorted(t.at for t in plan.trace_seeds)


def test_non_positive_amount_is_refused() -> None:
    with pytest.raises(ValueError, match="non-positive"):
        plan_first_response([VictimTransfer(0, T, "x")], [], [])
