"""Dispatch of warnings city → district → police station (市局→分局→派出所), feedback, escalation.

"First found, first pushed": warnings go out in the order they were opened. Each goes
to the police station of the person's registered jurisdiction with the channel and
deadline of its grade; a person whose jurisdiction is unknown goes to the city center's
address-resolution queue. Feedback closes a warning or escalates it: a missed deadline
or "not reachable" raises the channel (SMS → call → in-person visit).
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl

from fanzha.warning.risk import MINUTE, WarningGrade

ADDRESS_RESOLUTION = "市反诈中心-地址研判"


class Channel(StrEnum):
    SMS = "sms"  # link-free warning SMS
    CALL = "call"  # 96110-style call
    VISIT = "visit"  # in-person visit (上门劝阻)


class Feedback(StrEnum):
    REACHED = "reached"  # 已触达
    DISSUADED = "dissuaded"  # 已劝阻
    NOT_REACHABLE = "not_reachable"  # 无法联系
    ALREADY_LOST = "already_lost"  # 已被骗
    FALSE_ALARM = "false_alarm"  # 误报


CLOSING = frozenset({Feedback.REACHED, Feedback.DISSUADED, Feedback.ALREADY_LOST, Feedback.FALSE_ALARM})

# grade → (channel, deadline in minutes from the warning; None = by the end of the local day)
POLICY: dict[WarningGrade, tuple[Channel, int | None]] = {
    WarningGrade.CRITICAL: (Channel.VISIT, 5),  # immediate call and in-person visit
    WarningGrade.HIGH: (Channel.CALL, 10),
    WarningGrade.MEDIUM: (Channel.CALL, None),  # call or SMS the same day
    WarningGrade.LOW: (Channel.SMS, 1),  # sent automatically at once
}
NEXT_CHANNEL = {Channel.SMS: Channel.CALL, Channel.CALL: Channel.VISIT, Channel.VISIT: Channel.VISIT}


def _end_of_local_day(ms: pl.Expr) -> pl.Expr:
    day = 24 * 60 * MINUTE
    return ((ms + 8 * 60 * MINUTE) // day + 1) * day - 8 * 60 * MINUTE


def dispatch(warnings: pl.DataFrame, register: pl.DataFrame) -> pl.DataFrame:
    """Route warnings (person, warned_at, grade) to stations with channel and deadline.

    ``register``: number, district, police_station. Output adds district, station
    (address-resolution queue when unknown), channel, deadline_at, push_seq.
    """
    policy = pl.DataFrame({
        "grade": [int(g) for g in POLICY],
        "channel": [c.value for c, _ in POLICY.values()],
        "deadline_min": [m for _, m in POLICY.values()],
    }, schema={"grade": pl.Int8, "channel": pl.String, "deadline_min": pl.Int64})
    out = (
        warnings.with_columns(pl.col("grade").cast(pl.Int8))
        .join(register.select(pl.col("number").alias("person"), "district", "police_station"), on="person", how="left")
        .join(policy, on="grade", how="left")
        .with_columns(
            pl.col("police_station").fill_null(ADDRESS_RESOLUTION).alias("station"),
            pl.when(pl.col("deadline_min").is_null()).then(_end_of_local_day(pl.col("warned_at")))
            .otherwise(pl.col("warned_at") + pl.col("deadline_min") * MINUTE).alias("deadline_at"),
        )
        .sort("warned_at", "person")
        .with_row_index("push_seq", offset=1)
    )
    return out.drop("deadline_min", "police_station")


def escalate(dispatched: pl.DataFrame, feedback: pl.DataFrame, now: int) -> pl.DataFrame:
    """Warnings that must go up a channel now: deadline passed without closing feedback, or not reachable.

    ``feedback``: person, state (a :class:`Feedback` value), at. Returns person, station,
    channel (the new one), reason.
    """
    last = feedback.sort("at").group_by("person").agg(pl.col("state").last())
    joined = dispatched.join(last, on="person", how="left")
    closed = pl.col("state").is_in([f.value for f in CLOSING])
    overdue = (pl.col("deadline_at") < now) & pl.col("state").is_null()
    unreachable = pl.col("state") == Feedback.NOT_REACHABLE.value
    up = pl.col("channel").replace_strict({k.value: v.value for k, v in NEXT_CHANNEL.items()}, return_dtype=pl.String)
    return joined.filter(~closed.fill_null(False) & (overdue | unreachable)).select(
        "person", "station", up.alias("channel"),
        pl.when(unreachable).then(pl.lit("not_reachable")).otherwise(pl.lit("deadline_missed")).alias("reason"),
    )
