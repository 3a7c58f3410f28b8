from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fanzha.response.planning import OrderKind as PlannedKind
from fanzha.store.models import (
    ORDER_CLASSES,
    ORDER_TRANSITIONS,
    BlockOrder,
    OrderKind,
    OrderStatus,
    OrderTransitionError,
    StopPaymentOrder,
)

T = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)


def test_store_speaks_the_planners_order_kinds() -> None:
    assert {k.value for k in OrderKind} == {k.value for k in PlannedKind}
    assert set(ORDER_CLASSES) == set(OrderKind)
    for kind, cls in ORDER_CLASSES.items():
        assert cls(target="x").kind is kind  # the subclass sets its own discriminator


def test_stop_payment_goes_pending_acknowledged_executed_expired() -> None:
    o = StopPaymentOrder(target="6222001")
    o.advance(OrderStatus.ACKNOWLEDGED, T)
    o.advance(OrderStatus.EXECUTED, T + timedelta(minutes=4))
    o.advance(OrderStatus.EXPIRED, T + timedelta(hours=48))
    assert o.status is OrderStatus.EXPIRED
    assert (o.acknowledged_at, o.executed_at, o.expired_at) == (T, T + timedelta(minutes=4), T + timedelta(hours=48))
    assert o.rejected_at is None and o.escalated_at is None


def test_an_escalated_order_can_still_be_acted_on() -> None:
    o = BlockOrder(target="+8617012345678")
    o.advance(OrderStatus.ESCALATED, T, reason="no action within 10 minutes")
    o.advance(OrderStatus.ACKNOWLEDGED, T + timedelta(minutes=1))
    o.advance(OrderStatus.EXECUTED, T + timedelta(minutes=2))
    assert o.reason == "no action within 10 minutes" and o.escalated_at == T


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([OrderStatus.REJECTED], OrderStatus.ACKNOWLEDGED),  # rejected is final
        ([OrderStatus.ACKNOWLEDGED, OrderStatus.EXECUTED], OrderStatus.REJECTED),  # executed cannot be un-done
        ([], OrderStatus.EXECUTED),  # a desk acknowledges before it executes
        ([OrderStatus.EXPIRED], OrderStatus.EXECUTED),
    ],
)
def test_illegal_moves_are_refused(path: list[OrderStatus], bad: OrderStatus) -> None:
    o = StopPaymentOrder(target="6222001")
    for step in path:
        o.advance(step, T)
    before = o.status
    with pytest.raises(OrderTransitionError, match=f"cannot go from {before or 'pending'} to {bad}"):
        o.advance(bad, T)
    assert o.status == before


def test_transition_times_must_be_aware() -> None:
    with pytest.raises(OrderTransitionError, match="no time zone"):
        StopPaymentOrder(target="x").advance(OrderStatus.ACKNOWLEDGED, datetime(2026, 11, 3, 10, 0))


def test_every_status_has_a_rule_and_final_ones_lead_nowhere() -> None:
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)
    assert ORDER_TRANSITIONS[OrderStatus.REJECTED] == ORDER_TRANSITIONS[OrderStatus.EXPIRED] == frozenset()
