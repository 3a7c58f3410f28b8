"""Legal clocks of the first response (法定时限).

* Golden window (黄金止付时间): 30 minutes from the victim's transfer; every order shows
  how much of it is left.
* Stop-payment (紧急止付): holds 48 hours; an account may be stopped at most twice; after
  that the money must be frozen (冻结) by a police decision.
* Freeze (冻结): 6 months, renewable (续冻) before it lapses.

Plain functions over aware datetimes so the API, the console and the money-following
loop compute the same deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

GOLDEN_WINDOW = timedelta(minutes=30)
STOP_PAYMENT_HOLD = timedelta(hours=48)
MAX_STOPS_PER_ACCOUNT = 2
FREEZE_TERM_DAYS = 182  # six months


class ClockError(ValueError):
    """A legal limit would be broken (third stop-payment, renewing a lapsed freeze...)."""


def _aware(t: datetime, name: str) -> datetime:
    if t.tzinfo is None:
        raise ClockError(f"{name} must carry a timezone (got naive {t.isoformat()})")
    return t


@dataclass(frozen=True)
class GoldenWindow:
    """The 30 minutes after the victim's transfer in which stopping the money works best."""

    transfer_at: datetime

    @property
    def ends_at(self) -> datetime:
        return _aware(self.transfer_at, "transfer_at") + GOLDEN_WINDOW

    def remaining(self, now: datetime) -> timedelta:
        """Time left (never negative)."""
        return max(self.ends_at - _aware(now, "now"), timedelta(0))

    def within(self, at: datetime) -> bool:
        return _aware(at, "at") <= self.ends_at


def stop_payment_expiry(stopped_at: datetime, previous_stops: int) -> datetime:
    """When a stop-payment placed now lapses; refuses a third stop on the same account."""
    if previous_stops < 0:
        raise ClockError("previous_stops cannot be negative")
    if previous_stops >= MAX_STOPS_PER_ACCOUNT:
        raise ClockError(
            f"an account may be stopped at most {MAX_STOPS_PER_ACCOUNT} times; freeze it instead"
        )
    return _aware(stopped_at, "stopped_at") + STOP_PAYMENT_HOLD


def freeze_expiry(frozen_at: datetime) -> datetime:
    return _aware(frozen_at, "frozen_at") + timedelta(days=FREEZE_TERM_DAYS)


def renew_freeze(expires_at: datetime, now: datetime) -> datetime:
    """A renewal runs from the old expiry; a freeze that has lapsed cannot be renewed."""
    if _aware(now, "now") > _aware(expires_at, "expires_at"):
        raise ClockError(f"the freeze lapsed at {expires_at.isoformat()}; it cannot be renewed")
    return expires_at + timedelta(days=FREEZE_TERM_DAYS)
