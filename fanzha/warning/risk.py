"""Risk of becoming a victim (受骗风险) for people a fraud element reached, and warning grades.

Evidence arrives as contacts with flagged elements (a call or SMS with a confirmed fraud
number, a visit to a flagged domain). Each contact is a decision point: the person's
features are the cumulative evidence up to that moment (calls, answered calls, total,
longest and last call duration, who called whom, SMS, site visits, how many distinct
fraud numbers, minutes since the first contact, hour of day) plus the register's age
band; a calibrated gradient-boosted model turns them into a probability and the
probability into a grade with fixed, documented thresholds:

=========  =====  ======================================
grade      p >=   meaning
=========  =====  ======================================
特危       0.95   CRITICAL: call at once and visit
高危       0.90   HIGH: call within 10 minutes
中危       0.30   MEDIUM: call or SMS the same day
低危       0      LOW: a link-free warning SMS
=========  =====  ======================================

The probabilities are calibrated, so a 高危 or 特危 grade means at least nine in ten such
people go on to pay unless stopped: the thresholds are a statement about precision, not
knobs tuned to a test city. Trained on one simulated city's ground truth (a contact is positive when the person
later pays the gang and has not paid yet), evaluated on another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import polars as pl

from fanzha.learning import calibrated, fit_calibrated, top_reasons

HOUR = 3_600_000
MINUTE = 60_000
AGE_CODE = {"0-17": 0, "18-29": 1, "30-44": 2, "45-59": 3, "60+": 4}
FEATURES = [
    "calls", "calls_answered", "call_s_total", "call_s_max", "call_s_last", "calls_out", "sms_in", "visits",
    "elements", "minutes_since_first", "hour", "age", "this_call_s", "this_channel",
]
CHANNEL_CODE = {"call_in": 0, "call_out": 1, "sms_in": 2, "sms_out": 3, "visit": 4}


class WarningGrade(IntEnum):
    """Warning grades (预警等级); higher is more urgent."""

    LOW = 1  # 低危
    MEDIUM = 2  # 中危
    HIGH = 3  # 高危
    CRITICAL = 4  # 特危

    @property
    def zh(self) -> str:
        return {1: "低危", 2: "中危", 3: "高危", 4: "特危"}[self.value]


GRADE_THRESHOLDS: tuple[tuple[WarningGrade, float], ...] = (
    (WarningGrade.CRITICAL, 0.95),
    (WarningGrade.HIGH, 0.90),
    (WarningGrade.MEDIUM, 0.30),
    (WarningGrade.LOW, 0.0),
)


def grade_of(p: np.ndarray) -> np.ndarray:
    """Grades (as ints) for calibrated probabilities."""
    out = np.full(len(p), int(WarningGrade.LOW), dtype=np.int8)
    for grade, thr in reversed(GRADE_THRESHOLDS):
        out[p >= thr] = int(grade)
    return out


def contact_evidence(events: pl.DataFrame, visits: pl.DataFrame, flagged_numbers: pl.DataFrame,
                     flagged_domains: pl.DataFrame, register: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per contact with a flagged element, with the person's cumulative features at that moment.

    ``events``: src, dst, time, kind (0 call / 1 SMS), duration_s. ``visits``: number, time, domain.
    ``flagged_numbers``: number, flagged_at (ms). ``flagged_domains``: domain, flagged_at.
    ``register``: number, age_band. A contact made before its element was flagged is
    decided when the flag comes (that is the reverse lookup); one made after, when it ends
    (the live trigger: a call with a suspected number just ended).
    """
    fn = flagged_numbers.select("number", "flagged_at")
    fraud_set = fn["number"].implode()
    ev = events.select("src", "dst", "time", "kind", "duration_s")
    inbound = ev.join(fn, left_on="src", right_on="number").filter(~pl.col("dst").is_in(fraud_set)).select(
        pl.col("dst").alias("person"), pl.col("src").alias("element"), "time", "kind", "duration_s", "flagged_at",
        pl.lit(True).alias("inbound"))
    outbound = ev.join(fn, left_on="dst", right_on="number").filter(~pl.col("src").is_in(fraud_set)).select(
        pl.col("src").alias("person"), pl.col("dst").alias("element"), "time", "kind", "duration_s", "flagged_at",
        pl.lit(False).alias("inbound"))
    calls_sms = pl.concat([inbound, outbound]).with_columns(
        pl.when(pl.col("kind") == 0)
        .then(pl.when(pl.col("inbound")).then(pl.lit("call_in")).otherwise(pl.lit("call_out")))
        .otherwise(pl.when(pl.col("inbound")).then(pl.lit("sms_in")).otherwise(pl.lit("sms_out"))).alias("channel"),
        (pl.col("time") + pl.col("duration_s").clip(lower_bound=0) * 1000).alias("ended"),
    )
    vis = visits.select(pl.col("number").alias("person"), pl.col("domain").alias("element"), "time").join(
        flagged_domains.select(pl.col("domain").alias("element"), "flagged_at"), on="element"
    ).filter(~pl.col("person").is_in(fraud_set)).with_columns(
        pl.lit("visit").alias("channel"), pl.col("time").alias("ended"), pl.lit(-1, pl.Int32).alias("duration_s"))
    cols = ["person", "element", "channel", "time", "ended", "duration_s", "flagged_at"]
    rows = pl.concat([calls_sms.select(cols), vis.select(cols)], how="vertical_relaxed").with_columns(
        pl.max_horizontal("ended", "flagged_at").alias("decided_at")
    ).sort("person", "decided_at", "time")
    is_call = pl.col("channel").is_in(["call_in", "call_out"])
    secs = pl.when(is_call).then(pl.col("duration_s").clip(lower_bound=0)).otherwise(0)
    rows = rows.with_columns(
        is_call.cast(pl.Int64).cum_sum().over("person").alias("calls"),
        (is_call & (pl.col("duration_s") > 0)).cast(pl.Int64).cum_sum().over("person").alias("calls_answered"),
        secs.cum_sum().over("person").alias("call_s_total"),
        secs.cum_max().over("person").alias("call_s_max"),
        (pl.col("channel") == "call_out").cast(pl.Int64).cum_sum().over("person").alias("calls_out"),
        (pl.col("channel") == "sms_in").cast(pl.Int64).cum_sum().over("person").alias("sms_in"),
        (pl.col("channel") == "visit").cast(pl.Int64).cum_sum().over("person").alias("visits"),
        pl.struct("person", "element").is_first_distinct().cast(pl.Int64).cum_sum().over("person").alias("elements"),
        ((pl.col("decided_at") - pl.col("time").min().over("person")) / MINUTE).alias("minutes_since_first"),
        (((pl.col("decided_at") // HOUR) + 8) % 24).alias("hour"),
        secs.alias("this_call_s"),
        pl.col("channel").replace_strict(CHANNEL_CODE, return_dtype=pl.Int8).alias("this_channel"),
    ).with_columns(
        # duration of the latest call so far (0 before the first call)
        pl.when(is_call).then(secs).otherwise(None).forward_fill().over("person").fill_null(0).alias("call_s_last"),
    )
    if register is not None:
        rows = rows.join(register.select(pl.col("number").alias("person"),
                                         pl.col("age_band").replace_strict(AGE_CODE, default=-1,
                                                                           return_dtype=pl.Int8).alias("age")),
                         on="person", how="left")
    else:
        rows = rows.with_columns(pl.lit(-1, pl.Int8).alias("age"))
    return rows.with_columns(pl.col("age").fill_null(-1))


@dataclass
class RiskModel:
    """Calibrated LightGBM over :data:`FEATURES`; grades by :data:`GRADE_THRESHOLDS`."""

    booster: Any
    calibrator: Any
    version: str
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, rows: pl.DataFrame) -> np.ndarray:
        return calibrated(self.booster, self.calibrator, rows.select(FEATURES).to_numpy().astype(np.float64))

    def reasons(self, rows: pl.DataFrame, top: int = 3) -> list[list[str]]:
        return top_reasons(self.booster, rows.select(FEATURES).to_numpy().astype(np.float64), FEATURES, top, 4)


def label_rows(rows: pl.DataFrame, victims: pl.DataFrame) -> pl.DataFrame:
    """Label 1 when the person later pays and has not paid yet; rows after the payment are dropped."""
    v = victims.select(pl.col("number").alias("person"), pl.col("first_transfer").dt.epoch("ms").alias("paid_at"))
    out = rows.join(v, on="person", how="left")
    out = out.filter(pl.col("paid_at").is_null() | (pl.col("decided_at") < pl.col("paid_at")))
    return out.with_columns(pl.col("paid_at").is_not_null().cast(pl.Int8).alias("label"))


def label_by_feedback(rows: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Training rows from station feedback: each labelled person's contacts up to the feedback.

    ``labels``: person, label (1 already lost or dissuaded, 0 false alarm), at (ms), as
    :func:`fanzha.warning.store.feedback_labels` exports them. Contacts after the feedback
    are left out (what came after the station's word is not what it judged).
    """
    return rows.join(labels.select("person", pl.col("label").cast(pl.Int8), "at"), on="person").filter(
        pl.col("decided_at") <= pl.col("at")).drop("at")


def fit_risk_model(labelled: pl.DataFrame, seed: int = 0) -> RiskModel:
    y = labelled["label"].to_numpy().astype(int)
    if y.min() == y.max():
        raise ValueError("risk training rows hold one class only: simulate a bigger city or more days")
    X = labelled.select(FEATURES).to_numpy().astype(np.float64)
    params: dict[str, Any] = dict(n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=20,
                                  subsample=0.8, subsample_freq=1, colsample_bytree=0.9, random_state=seed,
                                  verbose=-1, n_jobs=1)
    fold = labelled.select(pl.col("person").hash(seed=seed) % 4).to_series().to_numpy()
    clf, cal = fit_calibrated(X, y, fold, params)
    digest = hashlib.sha256(X[:2000].tobytes()).hexdigest()[:12]
    return RiskModel(clf, cal, f"risk-gbm-1-{digest}", {"rows": len(y), "positives": int(y.sum())})


def issue_warnings(rows: pl.DataFrame, model: RiskModel) -> pl.DataFrame:
    """One warning per person: opened at the first contact, upgraded when a later contact scores higher.

    Returns person, warned_at, first_grade, grade (highest), graded_at (when it reached it),
    p (highest), elements (the fraud elements that reached the person).
    """
    scored = rows.with_columns(pl.Series("p", model.predict(rows)))
    scored = scored.with_columns(pl.Series("g", grade_of(scored["p"].to_numpy())))
    first = scored.sort("decided_at").group_by("person", maintain_order=True).agg(
        pl.col("decided_at").first().alias("warned_at"),
        pl.col("g").first().alias("first_grade"),
        pl.col("g").max().alias("grade"),
        pl.col("p").max().alias("p"),
        pl.col("element").unique().sort().alias("elements"),
    )
    reached = scored.join(first.select("person", "grade"), on="person").filter(pl.col("g") == pl.col("grade")) \
        .group_by("person").agg(pl.col("decided_at").min().alias("graded_at"))
    return first.join(reached, on="person").sort("warned_at")


def flagged_payments(transfers: pl.DataFrame, accounts: pl.DataFrame, flagged_accounts: pl.DataFrame,
                     fraud_numbers: pl.DataFrame | None = None) -> pl.DataFrame:
    """Payments from people's own accounts into flagged accounts, at or after the flag (受害人向涉诈账户转账).

    Movements between flagged accounts (layering) and payments by holders of fraud numbers
    are nobody's; payment pools (third-party platforms) are never flagged here.
    ``transfers``: from_account, to_account, time (ms). ``accounts``: account_id,
    holder_number. ``flagged_accounts``: account, flagged_at (ms). Returns person,
    to_account, time.
    """
    flagged = flagged_accounts.select(pl.col("account").alias("to_account"), "flagged_at")
    frauds = (fraud_numbers["number"] if fraud_numbers is not None else pl.Series("number", [], pl.String)).implode()
    return (
        transfers.select("from_account", "to_account", "time")
        .join(flagged, on="to_account")
        .filter((pl.col("time") >= pl.col("flagged_at"))
                & ~pl.col("from_account").is_in(flagged["to_account"].implode()))
        .join(accounts.select(pl.col("account_id").alias("from_account"), pl.col("holder_number").alias("person")),
              on="from_account")
        .filter(pl.col("person").is_not_null() & ~pl.col("person").is_in(frauds))
        .select("person", "to_account", "time")
    )


def transfer_triggers(payments: pl.DataFrame) -> pl.DataFrame:
    """People caught paying a flagged account: immediate 特危 warnings, one per person.

    Such a person is not a risk to estimate: they are paying the gang now, and the next
    payment is what the warning must stop. So it is a rule, not a model score: grade 特危
    with p = 1, decided at the first payment. ``payments``: :func:`flagged_payments`.
    Output has the columns of :func:`issue_warnings`.
    """
    return payments.sort("time").group_by("person", maintain_order=True).agg(
        pl.col("time").first().alias("warned_at"),
        pl.lit(int(WarningGrade.CRITICAL), pl.Int8).alias("first_grade"),
        pl.lit(int(WarningGrade.CRITICAL), pl.Int8).alias("grade"),
        pl.lit(1.0).alias("p"),
        pl.col("to_account").unique().sort().alias("elements"),
        pl.col("time").first().alias("graded_at"),
    )


def merge_warnings(*parts: pl.DataFrame) -> pl.DataFrame:
    """One warning per person from several sources: opened at the earliest, graded at the highest."""
    cols = ["person", "warned_at", "first_grade", "grade", "p", "elements", "graded_at"]
    rows = pl.concat([p.select(cols).with_columns(pl.col("first_grade", "grade").cast(pl.Int8)) for p in parts],
                     how="vertical_relaxed")
    top = rows.group_by("person").agg(pl.col("grade").max().alias("top"))
    graded = rows.join(top, on="person").filter(pl.col("grade") == pl.col("top")).group_by("person").agg(
        pl.col("graded_at").min())
    merged = rows.sort("warned_at").group_by("person", maintain_order=True).agg(
        pl.col("warned_at").first(), pl.col("first_grade").first(), pl.col("grade").max(), pl.col("p").max(),
        pl.col("elements").list.explode(keep_nulls=False, empty_as_null=False).unique().sort())
    return merged.join(graded, on="person").select(cols).sort("warned_at")
