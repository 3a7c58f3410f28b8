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
from fanzha.numbers.detectors import KEY_SEED, MINUTE, NumberIndex, WindowStats, grown, member_mask
from fanzha.numbers.kernels import (
    H32_CALLS,
    H32_IN,
    H32_NIGHT,
    H32_OUT,
    H32_REMOTE,
    H32_SHORT,
    H32_SMS,
    H32_UNANS,
    H64_DUR,
    H64_FIRST,
    KeyTable,
    history_table,
    history_update,
    prune_rows,
    tree_raw,
)
from fanzha.numbers.stream import ALERT_SCHEMA, empty_alerts

DAY = 24 * 60 * MINUTE
CLASS_CODE = {"local": 0, "out_of_town": 1, "virtual": 2}
FEATURES = [
    "w_n", "w_distinct", "w_short_share", "w_unanswered_share", "w_sms_share", "w_mean_dur",
    "h_out", "h_callback_ratio", "h_short_share", "h_unanswered_share", "h_sms_share", "h_mean_dur",
    "h_night_share", "h_remote_share", "h_imeis", "h_imei_sharing", "h_active_min",
    "r_class", "r_age_days", "r_verified",
]
# checkpointed columns of the history table: name -> (view, column) (see kernels.history_table)
_HISTORY = {"out_n": (32, H32_OUT), "out_calls": (32, H32_CALLS), "out_sms": (32, H32_SMS),
            "out_short": (32, H32_SHORT), "out_unans": (32, H32_UNANS), "out_dur": (64, H64_DUR),
            "out_night": (32, H32_NIGHT), "out_remote": (32, H32_REMOTE), "first_seen": (64, H64_FIRST),
            "in_n": (32, H32_IN)}


def register_frame(subscribers: pl.DataFrame) -> pl.DataFrame:
    """The subscriber register reduced to what the model reads (number, class, activation, verified)."""
    return subscribers.select(
        pl.col("number").alias("src"),
        pl.col("number_class").replace_strict(CLASS_CODE, default=3, return_dtype=pl.Int8).alias("r_class"),
        pl.col("activated_at").dt.epoch("ms").alias("activated_ms"),
        pl.col("real_name_verified").cast(pl.Int8).alias("r_verified"),
    )


class BehaviourFeatures:
    """Stateful feature builder over event batches (plain class: no engine, no I/O).

    History is a set of numpy arrays indexed by number id (see
    :class:`~fanzha.numbers.detectors.NumberIndex`), updated by one compiled pass per batch,
    so its cost follows the batch, not the number of numbers seen. IMEIs get ids of their
    own; each (number, IMEI) pair is kept once, with how many numbers use each IMEI.
    """

    def __init__(self, register: pl.DataFrame, stats: WindowStats | None = None,
                 exempt: list[str] | pl.Series | None = None) -> None:
        self.register = register
        self.own = stats is None
        self.stats = stats if stats is not None else WindowStats(min_events=3, exempt=exempt)
        self.index = self.stats.index
        self.table = history_table(0)  # one 64-byte history row per number id (kernels.H32_*/H64_*)
        self.imeis = NumberIndex()
        self._pairs = KeyTable()
        self.pair_num = np.zeros(0, np.int64)
        self.pair_imei = np.zeros(0, np.int64)
        self._register_arrays()

    def _register_arrays(self) -> None:
        """Register columns as arrays by number id (numbers outside the register: class 3, age and verified -1)."""
        reg = self.register
        ids = self.index.encode(reg["src"])
        n = self.index.size
        self.r_class = np.full(n, 3, np.int64)
        self.r_class[ids] = reg["r_class"].fill_null(3).to_numpy()
        act = reg["activated_ms"]
        self.r_known = np.zeros(n, np.bool_)
        self.r_known[ids] = act.is_not_null().to_numpy()
        self.r_activated = np.zeros(n, np.int64)
        self.r_activated[ids] = act.fill_null(0).to_numpy()
        self.r_verified = np.full(n, -1, np.int64)
        self.r_verified[ids] = reg["r_verified"].fill_null(-1).to_numpy()

    def _grow(self, n: int) -> None:
        have = len(self.table)
        if have < n:
            t = history_table(max(n, have + have // 4))
            t[:have] = self.table
            self.table = t
        self.r_class = grown(self.r_class, n, 3)
        self.r_known = grown(self.r_known, n, False)
        self.r_activated = grown(self.r_activated, n, 0)
        self.r_verified = grown(self.r_verified, n, -1)

    def add(self, events: pl.DataFrame) -> None:
        if self.own:
            self.stats.add(events)
        src, dst = self.index.events(events)
        self._grow(self.index.size)
        remote = (events["ingress"] != "local").fill_null(False).to_numpy()
        imei = events["imei"]
        check = history_update(src, dst, events["time"].to_numpy(), events["kind"].to_numpy(),
                               events["duration_s"].fill_null(-1).to_numpy(), remote,
                               imei.hash(seed=KEY_SEED).to_numpy().view(np.int64), imei.is_not_null().to_numpy(),
                               10, self.table, self.table.view(np.int64))
        if len(check):
            self._add_devices(src[check], self.imeis.encode(imei.gather(check)))

    def _add_devices(self, num: np.ndarray, imei: np.ndarray) -> None:
        _, new = self._pairs.intern((num.astype(np.uint64) << np.uint64(32)) | imei.astype(np.uint64))
        if len(new):
            self.pair_num = np.concatenate([self.pair_num, num[new]])
            self.pair_imei = np.concatenate([self.pair_imei, imei[new]])

    def close(self, watermark: int) -> pl.DataFrame:
        """Feature rows (src, window_end, FEATURES...) for numbers active in windows that just closed."""
        st, X, _ = self.close_matrix(watermark)
        if st.height == 0:
            return pl.DataFrame()
        return pl.DataFrame({"src": st["src"], "window_end": st["window_end"],
                             **{f: X[:, j] for j, f in enumerate(FEATURES)}})

    def close_matrix(self, watermark: int) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
        """The closed windows, their feature matrix (columns :data:`FEATURES`) and number ids.

        Rows are grouped by number, windows in time order. The matrix is built from numpy
        columns directly: the detector scores it without a round trip through a frame.
        """
        st = self.stats.advance(watermark) if self.own else self.stats.closed
        if st.height == 0:
            return st, np.zeros((0, len(FEATURES))), np.zeros(0, np.int64)
        ids = st["id"].to_numpy()
        self._grow(self.index.size)
        end = st["window_end"].to_numpy()
        n = st["n"].to_numpy()
        h = self.table[ids]
        h64 = h.view(np.int64)
        first = h64[:, H64_FIRST].copy()
        # history as contiguous float rows (exact: counts are far below 2**53)
        out_n, calls, sms, short, unans, night, remote, incoming = np.ascontiguousarray(
            h[:, [H32_OUT, H32_CALLS, H32_SMS, H32_SHORT, H32_UNANS, H32_NIGHT, H32_REMOTE, H32_IN]].T,
            dtype=np.float64)
        dur = h64[:, H64_DUR].astype(np.float64)
        calls1 = np.maximum(calls, 1)
        # IMEIs: how many this number used, and the most numbers sharing one of them
        n_ids = self.index.size
        users = np.bincount(self.pair_imei, minlength=self.imeis.size)
        mine = member_mask(ids, n_ids)[self.pair_num]
        n_imeis = np.bincount(self.pair_num[mine], minlength=n_ids)
        sharing = np.zeros(n_ids, np.int64)
        np.maximum.at(sharing, self.pair_num[mine], users[self.pair_imei[mine]])
        cols = {
            "w_n": n, "w_distinct": st["distinct"].to_numpy(),
            "w_short_share": st["short"].to_numpy() / n, "w_unanswered_share": st["unanswered"].to_numpy() / n,
            "w_sms_share": st["sms"].to_numpy() / n, "w_mean_dur": st["mean_dur"].to_numpy(),
            "h_out": out_n, "h_callback_ratio": incoming / out_n,
            "h_short_share": short / calls1, "h_unanswered_share": unans / calls1, "h_sms_share": sms / out_n,
            "h_mean_dur": dur / np.maximum(calls - unans, 1), "h_night_share": night / out_n,
            "h_remote_share": remote / out_n, "h_imeis": n_imeis[ids], "h_imei_sharing": sharing[ids],
            # times the reciprocal, as Polars divides by a constant: training rows stay bit-identical
            "h_active_min": (end - first) * (1.0 / MINUTE), "r_class": self.r_class[ids],
            "r_age_days": np.where(self.r_known[ids], (end - self.r_activated[ids]) * (1.0 / DAY), -1.0),
            "r_verified": self.r_verified[ids],
        }
        XT = np.empty((len(FEATURES), len(ids)), np.float64)  # feature-major: each column a contiguous copy
        for j, f in enumerate(FEATURES):
            XT[j] = cols[f]
        return st, XT.T, ids

    def snapshot(self) -> dict[str, Any]:
        own = self.stats.snapshot() if self.own else {}
        n = self.index.size
        self._grow(n)
        views = {32: self.table[:n], 64: self.table[:n].view(np.int64)}
        history = pl.DataFrame({k: views[v][:, c].astype(np.int64) for k, (v, c) in _HISTORY.items()})
        devices = pl.DataFrame({"id": self.pair_num, "imei": self.pair_imei}, schema={"id": pl.Int64, "imei": pl.Int64})
        return {**own, "history": history, "devices": devices, "imeis": self.imeis.snapshot()["numbers"]}

    def restore(self, state: dict[str, Any]) -> None:
        if self.own:
            self.stats.restore(state)
        h = state["history"]
        self.table = history_table(h.height)  # last-IMEI columns start empty: they are a cache
        views = {32: self.table, 64: self.table.view(np.int64)}
        for k, (v, c) in _HISTORY.items():
            views[v][:, c] = h[k].to_numpy()
        self.imeis.restore({"numbers": state["imeis"]})
        self._pairs = KeyTable()
        self.pair_num = np.zeros(0, np.int64)
        self.pair_imei = np.zeros(0, np.int64)
        d = state["devices"]
        self._add_devices(d["id"].to_numpy().astype(np.int64), d["imei"].to_numpy().astype(np.int64))
        self._register_arrays()
        self._grow(self.index.size)


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


class ScoreBound:
    """Which feature rows can reach a probability at all: an upper bound read off the model's trees.

    A tree ensemble's raw score over a box of feature values (per-feature min and max of a
    number's windows) is at most the sum, over trees, of the best leaf the box can reach;
    sigmoid and the isotonic calibrator are non-decreasing, so a box whose bound stays
    under a threshold holds no row that reaches it. The detector scores only rows that may
    raise an alert; the model still scores those rows exactly as before. The flattened
    trees are checked against LightGBM on the first rows seen; any mismatch (or a model
    this bound does not model: categorical or zero-as-missing splits, a decreasing
    calibrator) switches pruning off and every row is scored.
    """

    def __init__(self, model: BehaviourModel) -> None:
        self.model = model
        self.checked = False
        self.ok = self._flatten()
        self._cuts: dict[float, float] = {}

    def _flatten(self) -> bool:
        try:
            booster = self.model.booster.booster_
            dump = booster.dump_model()
            objective = str(dump.get("objective", ""))
            increasing = bool(getattr(self.model.calibrator, "increasing_", False))
        except AttributeError:
            return False
        if not objective.startswith("binary") or not increasing or dump.get("num_class", 1) != 1:
            return False
        self.sigmoid = float(objective.split("sigmoid:")[1].split()[0]) if "sigmoid:" in objective else 1.0
        feature: list[int] = []
        threshold: list[float] = []
        left: list[int] = []
        right: list[int] = []
        value: list[float] = []
        roots: list[int] = []

        def node(n: dict[str, Any]) -> int:
            i = len(feature)
            feature.append(-1)
            threshold.append(0.0)
            left.append(-1)
            right.append(-1)
            value.append(float(n.get("leaf_value", 0.0)))
            if "split_feature" in n:
                if n.get("decision_type") != "<=" or n.get("missing_type") not in ("None", "NaN"):
                    raise ValueError("split kind outside the bound")
                feature[i] = int(n["split_feature"])
                threshold[i] = float(n["threshold"])
                left[i] = node(n["left_child"])
                right[i] = node(n["right_child"])
            return i

        try:
            for tree in dump["tree_info"]:
                roots.append(node(tree["tree_structure"]))
        except (ValueError, KeyError):
            return False
        self.roots = np.asarray(roots, np.int64)
        self.trees = (np.asarray(feature, np.int64), np.asarray(threshold, np.float64), np.asarray(left, np.int64),
                      np.asarray(right, np.int64), np.asarray(value, np.float64))
        return True

    def _check(self, X: np.ndarray) -> None:
        self.checked = True
        sample = X[: 512]
        mine = tree_raw(sample, self.roots, *self.trees)
        theirs = np.asarray(self.model.booster.booster_.predict(sample, raw_score=True), np.float64)
        self.ok = bool(np.allclose(mine, theirs, rtol=0, atol=1e-9))

    def raw_cut(self, p: float) -> float:
        """A raw score below which the calibrated probability is surely under ``p`` (±inf at the ends)."""
        if p not in self._cuts:
            def reaches(r: float) -> bool:
                prob = 1.0 / (1.0 + np.exp(-self.sigmoid * r))
                return bool(self.model.calibrator.predict(np.array([prob]))[0] >= p)


            lo, hi = -60.0, 60.0
            if p == np.inf or not reaches(hi):
                cut = np.inf
            elif reaches(lo):
                cut = -np.inf
            else:
                for _ in range(7):  # invariant: not reaches(lo), reaches(hi); 1024-way splits
                    grid = np.linspace(lo, hi, 1025)
                    prob = 1.0 / (1.0 + np.exp(-self.sigmoid * grid))
                    ok = self.model.calibrator.predict(prob) >= p
                    first = int(np.argmax(ok)) if ok.any() else len(grid) - 1
                    lo, hi = float(grid[max(first - 1, 0)]), float(grid[first])
                    if first == 0 or hi - lo < 1e-12:
                        break
                cut = lo - 1e-6
            self._cuts[p] = cut
        return self._cuts[p]

    def keep(self, X: np.ndarray, ids: np.ndarray, need: np.ndarray) -> np.ndarray:
        """Rows (grouped by number id) that may reach their number's ``need`` probability."""
        if not self.checked and len(X):
            self._check(X)
        if not self.ok or len(X) == 0:
            return need < np.inf
        start = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        levels, which = np.unique(need[start], return_inverse=True)  # two or three distinct levels
        cuts = np.array([self.raw_cut(float(p)) for p in levels])[which]
        bounds = np.r_[start, len(ids)].astype(np.int64)
        keep: np.ndarray = prune_rows(np.ascontiguousarray(X.T, np.float64), bounds, cuts, self.roots, *self.trees, 4)
        return keep


class BehaviourDetector:
    """Streams :class:`BehaviourFeatures` through a :class:`BehaviourModel`; alerts at review level.

    A number alerts when it first reaches review level and again when it reaches the
    auto-confirm threshold, so only rows that could do that are scored: rows of numbers
    already confirmed are not, and :class:`ScoreBound` drops windows that provably stay
    under the level the number still has to reach. The alerts are the same as scoring
    every window.
    """

    name = "behaviour"

    def __init__(self, model: BehaviourModel, features: BehaviourFeatures) -> None:
        self.model, self.features = model, features
        self.level = np.zeros(0, np.int8)  # per number id: -1 none, 0 review alert sent, 1 confirm alert sent
        self.bound = ScoreBound(model)
        self.scored_rows = 0  # windows the model actually scored (the rest provably could not alert)
        self.window_rows = 0

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame:
        self.features.add(events)
        return empty_alerts()

    def on_timer(self, watermark: int) -> pl.DataFrame:
        rows, X, ids = self.features.close_matrix(watermark)
        if rows.height == 0:
            return empty_alerts()
        self.level = grown(self.level, self.features.index.size, -1)
        review, auto = self.model.review_threshold, max(self.model.auto_threshold, self.model.review_threshold)
        prev = self.level[ids]
        need = np.where(prev < 0, review, np.where(prev == 0, auto, np.inf))
        sel = np.flatnonzero(self.bound.keep(X, ids, need))
        self.window_rows += len(X)
        self.scored_rows += len(sel)
        if len(sel) == 0:
            return empty_alerts()
        p = self.model.predict(X[sel])
        scored = pl.DataFrame({"src": rows["src"].gather(sel), "window_end": rows["window_end"].gather(sel),
                               "p": p, "i": sel, "id": ids[sel], "prev": prev[sel]})
        # Alert when a number first reaches review level, and again only when its score rises
        # past the auto-confirm threshold: one alert per step, not one per window.
        best = (
            scored.filter(pl.col("p") >= self.model.review_threshold)
            .with_columns((pl.col("p") >= self.model.auto_threshold).cast(pl.Int8).alias("level"))
            .sort("window_end", "src")
            .group_by("src", "level", maintain_order=True).first()
            .filter(pl.col("level") > pl.col("prev"))
        )
        if best.height == 0:
            return empty_alerts()
        np.maximum.at(self.level, best["id"].to_numpy(), best["level"].to_numpy())
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
        has = np.flatnonzero(self.level >= 0)
        alerted = pl.DataFrame({"id": has, "prev": self.level[has]}, schema={"id": pl.Int64, "prev": pl.Int8})
        return {**self.features.snapshot(), "alerted": alerted}

    def restore(self, state: dict[str, Any]) -> None:
        self.features.restore(state)
        a = state["alerted"]
        self.level = np.full(self.features.index.size, -1, np.int8)
        self.level[a["id"].to_numpy()] = a["prev"].to_numpy()
