from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fanzha.response.clocks import (
    ClockError,
    GoldenWindow,
    freeze_expiry,
    renew_freeze,
    stop_payment_expiry,
)

T = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)


def test_golden_window_counts_down_from_the_transfer() -> None:
    g = GoldenWindow(T)
    assert g.ends_at == T + timedelta(minutes=30)
    assert g.remaining(T + timedelta(minutes=12)) == timedelta(minutes=18)
    assert g.remaining(T + timedelta(hours=2)) == timedelta(0)
    assert g.within(T + timedelta(minutes=30)) and not g.within(T + timedelta(minutes=31))


def test_stop_payment_holds_48_hours_and_at_most_twice() -> None:
    assert stop_payment_expiry(T, 0) == T + timedelta(hours=48)
    assert stop_payment_expiry(T, 1) == T + timedelta(hours=48)
    with pytest.raises(ClockError, match="at most 2 times"):
        stop_payment_expiry(T, 2)


def test_freeze_is_six_months_and_renewable_only_before_it_lapses() -> None:
    e = freeze_expiry(T)
    assert (e - T).days == 182
    assert renew_freeze(e, e - timedelta(days=1)) == e + timedelta(days=182)
    with pytest.raises(ClockError, match="lapsed"):
        renew_freeze(e, e + timedelta(seconds=1))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ClockError, match="timezone"):
        GoldenWindow(datetime(2026, 11, 3, 2, 0)).ends_at  # noqa: B018
