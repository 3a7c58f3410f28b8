"""Behaviour model of fraud numbers (号码行为画像): window features → gradient-boosted trees.

The same :class:`BehaviourFeatures` object computes features when replaying a training
city (to fit the model) and when running live (to score), so training and serving cannot
drift apart. Features per number and closed window: the window's volume, distinct
recipients, short/unanswered share and texting share; the number's history so far
(volume, call-back ratio = incoming/outgoing, duration profile, night share, share of
long-distance/international ingress, IMEIs used and how many numbers share its IMEI); and
its register entry (number class, days since activation, real-name verification).
Probabilities are calibrated (isotonic) and every alert carries its top reasons (SHAP
contributions of LightGBM).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import polars as pl

from fanzha.learning import calibrated, fit_calibrated, top_reasons
from fanzha.numbers.detectors import MINUTE, WindowStats
from fanzha.numbers.events import CALL, SMS
from fanzha.numbers.stream import ALERT_SCHEMA, empty_alerts

DAY = 24 * 60 * MINUTE
CLASS_CODE = {"local": 0, "out_of_town": 1, "virtual": 2}
FEATURES = [
    "w_n", "w_distinct", "w_short_share", "w_unanswered_share", "w_sms_share", "w_mean_dur",
    "h_out", "h_callback_ratio", "h_short_share", "h_unanswered_share", "h_sms_share", "h_mean_dur",
    "h_night_share", "h_remote_share", "h_imeis", "h_imei_sharing", "h_active_min",
    "r_class", "r_age_days", "r_verified",
]
KEY_SEED = 7  # the window stage hashes numbers with the same seed
_STATE_SCHEMA = {
    "key": pl.UInt64, "out_n": pl.Int64, "out_calls": pl.Int64, "out_sms": pl.Int64, "out_short": pl.Int64,
    "out_unans": pl.Int64, "out_dur": pl.Int64, "out_night": pl.Int64, "out_remote": pl.Int64,
    "first_seen": pl.Int64,
}


def register_frame(subscribers: pl.DataFrame) -> pl.DataFrame:
    """The subscriber register reduced to what the model reads (number, class, activation, verified)."""
    return subscribers.select(
        pl.col("number").alias("src"),
        pl.col("number_class").replace_strict(CLASS_CODE, default=3, return_dtype=pl.Int8).alias("r_class"),
        pl.col("activated_at").dt.epoch("ms").alias("activated_ms"),
        pl.col("real_name_verified").cast(pl.Int8).alias("r_verified"),
    )


class BehaviourFeatures:
    """Stateful feature builder over event batches (plain class: no engine, no I/O)."""

    def __init__(self, register: pl.DataFrame, stats: WindowStats | None = None,
                 exempt: list[str] | pl.Series | None = None) -> None:
        self.register = register
        self.own = stats is None
        self.stats = stats if stats is not None else WindowStats(min_events=3, exempt=exempt)
        # per-number history keyed by a 64-bit hash of the number (joins on integers, not strings)
        self.state = pl.DataFrame(schema=_STATE_SCHEMA)
        self.incoming = pl.DataFrame(schema={"key": pl.UInt64, "in_n": pl.Int64})
        self.devices = pl.DataFrame(schema={"key": pl.UInt64, "imei": pl.UInt64})

    def add(self, events: pl.DataFrame) -> None:
        if self.own:
            self.stats.add(events)
        hour = ((pl.col("time") // 3_600_000) + 8) % 24  # local time (UTC+8)
        events = events.with_columns(pl.col("src").hash(seed=KEY_SEED).alias("key"))
        upd = events.group_by("key").agg(
            pl.len().alias("out_n"),
            (pl.col("kind") == CALL).sum().cast(pl.Int64).alias("out_calls"),
            (pl.col("kind") == SMS).sum().cast(pl.Int64).alias("out_sms"),
            ((pl.col("kind") == CALL) & (pl.col("duration_s") < 10)).sum().cast(pl.Int64).alias("out_short"),
            ((pl.col("kind") == CALL) & (pl.col("duration_s") == 0)).sum().cast(pl.Int64).alias("out_unans"),
            pl.col("duration_s").clip(lower_bound=0).sum().cast(pl.Int64).alias("out_dur"),
            (hour < 6).sum().cast(pl.Int64).alias("out_night"),
            (pl.col("ingress") != "local").sum().cast(pl.Int64).alias("out_remote"),
            pl.col("time").min().alias("first_seen"),
        )
        cols = [c for c in _STATE_SCHEMA if c not in ("key", "first_seen")]
        self.state = (
            pl.concat([self.state, upd], how="vertical_relaxed")
            .group_by("key")
            .agg(*[pl.col(c).sum() for c in cols], pl.col("first_seen").min())
        )
        inc = events.group_by(pl.col("dst").hash(seed=KEY_SEED).alias("key")).agg(
            pl.len().cast(pl.Int64).alias("in_n"))
        self.incoming = pl.concat([self.incoming, inc]).group_by("key").agg(pl.col("in_n").sum())
        dev = events.filter(pl.col("imei").is_not_null()).select("key", pl.col("imei").hash(seed=KEY_SEED)).unique()
        if dev.height:
            self.devices = pl.concat([self.devices, dev]).unique()

    def close(self, watermark: int) -> pl.DataFrame:
        """Feature rows (src, window_end, FEATURES...) for numbers active in windows that just closed."""
        st = self.stats.advance(watermark) if self.own else self.stats.closed
        if st.height == 0:
            return pl.DataFrame()
        w = st.select(
            "src", "window_end",
            pl.col("n").alias("w_n"),
            pl.col("distinct").alias("w_distinct"),
            (pl.col("short") / pl.col("n")).alias("w_short_share"),
            (pl.col("unanswered") / pl.col("n")).alias("w_unanswered_share"),
            (pl.col("sms") / pl.col("n")).alias("w_sms_share"),
            pl.col("mean_dur").alias("w_mean_dur"),
        )
        w = w.with_columns(pl.col("src").hash(seed=KEY_SEED).alias("key"))
        mine = self.devices.join(w.select("key").unique(), on="key", how="semi")
        shared = self.devices.join(mine.select("imei").unique(), on="imei", how="semi")
        sharing = (
            mine.join(shared.group_by("imei").agg(pl.len().alias("k")), on="imei")
            .group_by("key").agg(pl.len().alias("h_imeis"), pl.col("k").max().alias("h_imei_sharing"))
        )
        out = (
            w.join(self.state, on="key", how="left")
            .join(self.incoming, on="key", how="left")
            .join(sharing, on="key", how="left")
            .join(self.register, on="src", how="left")
            .with_columns(
                pl.col("out_n").alias("h_out"),
                (pl.col("in_n").fill_null(0) / pl.col("out_n")).alias("h_callback_ratio"),
                (pl.col("out_short") / pl.col("out_calls").clip(lower_bound=1)).alias("h_short_share"),
                (pl.col("out_unans") / pl.col("out_calls").clip(lower_bound=1)).alias("h_unanswered_share"),
                (pl.col("out_sms") / pl.col("out_n")).alias("h_sms_share"),
                (pl.col("out_dur") / (pl.col("out_calls") - pl.col("out_unans")).clip(lower_bound=1))
                .alias("h_mean_dur"),
                (pl.col("out_night") / pl.col("out_n")).alias("h_night_share"),
                (pl.col("out_remote") / pl.col("out_n")).alias("h_remote_share"),
                pl.col("h_imeis").fill_null(0),
                pl.col("h_imei_sharing").fill_null(0),
                ((pl.col("window_end") - pl.col("first_seen")) / MINUTE).alias("h_active_min"),
                pl.col("r_class").fill_null(3),
                ((pl.col("window_end") - pl.col("activated_ms")) / DAY).fill_null(-1.0).alias("r_age_days"),
                pl.col("r_verified").fill_null(-1),
            )
        )
        return out.select("src", "window_end", *[pl.col(f).cast(pl.Float64) for f in FEATURES])

    def snapshot(self) -> dict[str, Any]:
        own = self.stats.snapshot() if self.own else {}
        return {**own, "state": self.state, "incoming": self.incoming, "devices": self.devices}

    def restore(self, state: dict[str, Any]) -> None:
        if self.own:
            self.stats.restore(state)
        self.state, self.incoming, self.devices = state["state"], state["incoming"], state["devices"]


@dataclass
class BehaviourModel:
    """A calibrated gradient-boosted model over :data:`FEATURES` with explainable scores."""

    booster: Any  # lightgbm.LGBMClassifier (raw, for SHAP reasons)
    calibrator: Any  # sklearn IsotonicRegression over raw scores
    version: str
    auto_threshold: float = 0.9  # above: confirmed automatically; below review_threshold: ignored
    review_threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return calibrated(self.booster, self.calibrator, X)

    def reasons(self, X: np.ndarray, top: int = 3) -> list[list[str]]:
        return top_reasons(self.booster, X, FEATURES, top)

    def save(self, path: Path) -> None:
        joblib.dump(self, path)

    @staticmethod
    def load(path: Path) -> BehaviourModel:
        model = joblib.load(path)
        if not isinstance(model, BehaviourModel):
            raise ValueError(f"{path} is not a fanzha behaviour model")
        return model


def fit_behaviour_model(train: pl.DataFrame, labels: pl.Series | list[str], seed: int = 0,
                        valid: pl.DataFrame | None = None, valid_labels: pl.Series | list[str] | None = None,
                        target_fpr: float = 5e-5) -> BehaviourModel:
    """Fit on feature rows of a training city; thresholds are set on a separate validation city.

    ``labels`` are the fraud numbers of the training city's ground truth; rows of other
    numbers are legitimate. ``auto_threshold`` is the lowest score at which, on the
    validation city, at most ``target_fpr`` of legitimate numbers would be confirmed.
    """
    fraud = pl.Series(list(labels), dtype=pl.String).implode()
    y = train.select(pl.col("src").is_in(fraud)).to_series().to_numpy().astype(int)
    X = train.select(FEATURES).to_numpy()
    if y.min() == y.max():
        raise ValueError("training rows hold only one class: simulate a bigger city or more days")
    # Each number contributes many windows; weight rows so each number counts about equally.
    per = train.group_by("src").agg(pl.len().alias("k"))
    k = train.join(per, on="src", how="left")["k"].to_numpy()
    weight = 1.0 / np.sqrt(k)
    params: dict[str, Any] = dict(n_estimators=150, learning_rate=0.08, num_leaves=15, min_child_samples=20,
                                  subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                                  verbose=-1, n_jobs=2)
    # numbers split by hash so one number's windows stay in one fold
    fold = train.select(pl.col("src").hash(seed=seed) % 3).to_series().to_numpy()
    clf, cal = fit_calibrated(X, y, fold, params, weight)
    digest = hashlib.sha256(X[:1000].tobytes()).hexdigest()[:12]
    model = BehaviourModel(booster=clf, calibrator=cal, version=f"behaviour-gbm-1-{digest}",
                           meta={"rows": len(y), "fraud_rows": int(y.sum()), "features": FEATURES})
    if valid is not None and valid_labels is not None:
        model.auto_threshold = choose_threshold(model, valid, valid_labels, target_fpr)
    return model


def choose_threshold(model: BehaviourModel, valid: pl.DataFrame, labels: pl.Series | list[str],
                     target_fpr: float) -> float:
    """Lowest per-number max score that keeps legit numbers confirmed at or under ``target_fpr``."""
    fraud = pl.Series(list(labels), dtype=pl.String).implode()
    p = model.predict(valid.select(FEATURES).to_numpy())
    per = valid.select("src").with_columns(pl.Series("p", p)).group_by("src").agg(pl.col("p").max())
    legit = per.filter(~pl.col("src").is_in(fraud))["p"].to_numpy()
    n_legit_numbers = max(len(legit), 1)
    allowed = int(np.floor(target_fpr * n_legit_numbers))
    s = np.sort(legit)[::-1]
    thr = float(s[allowed]) + 1e-9 if allowed < len(s) else 0.5
    return min(max(thr, 0.5), 0.999999)


class BehaviourDetector:
    """Streams :class:`BehaviourFeatures` through a :class:`BehaviourModel`; alerts at review level."""

    name = "behaviour"

    def __init__(self, model: BehaviourModel, features: BehaviourFeatures) -> None:
        self.model, self.features = model, features
        self.alerted = pl.DataFrame(schema={"src": pl.String, "prev": pl.Int8})

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame:
        self.features.add(events)
        return empty_alerts()

    def on_timer(self, watermark: int) -> pl.DataFrame:
        rows = self.features.close(watermark)
        if rows.height == 0:
            return empty_alerts()
        X = rows.select(FEATURES).to_numpy()
        p = self.model.predict(X)
        scored = rows.select("src", "window_end").with_columns(pl.Series("p", p), pl.Series("i", np.arange(len(p))))
        # Alert when a number first reaches review level, and again only when its score rises
        # past the auto-confirm threshold: one alert per step, not one per window.
        best = (
            scored.filter(pl.col("p") >= self.model.review_threshold)
            .with_columns((pl.col("p") >= self.model.auto_threshold).cast(pl.Int8).alias("level"))
            .sort("window_end", "src")
            .group_by("src", "level", maintain_order=True).first()
            .join(self.alerted, on="src", how="left")
            .filter(pl.col("level") > pl.col("prev").fill_null(-1))
        )
        if best.height == 0:
            return empty_alerts()
        self.alerted = pl.concat([self.alerted, best.select("src", pl.col("level").alias("prev"))]).group_by(
            "src").agg(pl.col("prev").max())
        hit = best["i"].to_numpy()
        sub = rows[hit]
        reasons = self.model.reasons(X[hit])
        ev = [json.dumps({"window_end": int(we), "reasons": r}, ensure_ascii=False)
              for we, r in zip(sub["window_end"].to_list(), reasons, strict=True)]
        return pl.DataFrame({
            "alert_id": [f"behaviour:{s}:{we}" for s, we in zip(sub["src"], sub["window_end"], strict=True)],
            "detector": self.name,
            "number": sub["src"],
            "time": sub["window_end"],
            "confidence": best["p"],
            "evidence": ev,
            "version": self.model.version,
        }, schema=ALERT_SCHEMA)

    def snapshot(self) -> dict[str, Any]:
        return {**self.features.snapshot(), "alerted": self.alerted}

    def restore(self, state: dict[str, Any]) -> None:
        self.features.restore(state)
        self.alerted = state["alerted"]
