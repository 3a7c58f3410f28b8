"""``fanzha bench text``: the SMS content detector on texts it never trained on.

Trains on the shipped corpus only, then measures on (1) the hand-written held-out set,
worded differently from the training templates, and (2) a simulated city's SMS, where a
text is positive when its sender is one of the city's fraud numbers. The simulator's
templates are never part of training, so (2) is a second unseen wording. Speed is texts per
second through ``score_texts`` on the city's SMS column (normalisation, flags, n-grams and
the linear model). Bars: ``text_eval_f1`` >= 0.9, ``text_eval_auc`` >= 0.95.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fanzha.bench import Bar, result_line


def _metrics(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    p, r, f, _ = precision_recall_fscore_support(y, score >= threshold, average="binary", zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f), "auc": float(roc_auc_score(y, score)),
            "n": int(y.size), "n_fraud": int(y.sum())}


def city_texts(subscribers: int, seed: int, out: Path) -> pl.DataFrame:
    """The simulated city's SMS with ``label`` = 1 when the sender is a ground-truth fraud number."""
    from fanzha.sim import SimConfig, simulate_city

    simulate_city(SimConfig(subscribers=subscribers, days=1, seed=seed), out)
    sms = pl.read_parquet(out / "sms.parquet", columns=["sender", "text"])
    fraud = pl.read_parquet(out / "gt_fraud_numbers.parquet", columns=["number"]).unique()
    return sms.with_columns(pl.col("sender").is_in(fraud["number"].implode()).cast(pl.Int8).alias("label"))


def run(subscribers: int = 20_000, seed: int = 5, echo: Any = print) -> dict[str, Any]:
    """Print the figures and the last-line JSON; returns the figures."""
    from fanzha.numbers import text

    t0 = time.perf_counter()
    model = text.train()
    train_s = time.perf_counter() - t0
    thr = model.threshold

    ev = text.load_corpus(text.EVAL_PATH)
    ev_m = _metrics(ev["label"].to_numpy(), model.score(ev["text"]), thr)
    echo(f"model {model.version}: {model.meta['n_texts']} training texts ({model.meta['n_fraud']} fraud), "
         f"{model.meta['n_features']} features, trained in {train_s:.2f} s; "
         f"template-held-out CV AUC {model.meta['oof_auc']:.4f}")
    echo(f"held-out eval ({ev_m['n']} texts, {ev_m['n_fraud']} fraud): precision {ev_m['precision']:.3f} "
         f"recall {ev_m['recall']:.3f} F1 {ev_m['f1']:.3f} AUC {ev_m['auc']:.4f}")

    with tempfile.TemporaryDirectory(prefix="fanzha-bench-text-") as tmp:
        sms = city_texts(subscribers, seed, Path(tmp))
    texts = sms["text"]
    model.score(texts.head(1000))  # warm the regex and vocabulary paths outside the timing
    t1 = time.perf_counter()
    scores = model.score(texts)
    score_s = time.perf_counter() - t1
    y = sms["label"].to_numpy()
    sim_m = _metrics(y, scores, thr)
    uniq = sms.with_columns(pl.Series("score", scores)).group_by("text").agg(
        pl.col("label").max(), pl.col("score").first())
    uniq_m = _metrics(uniq["label"].to_numpy(), uniq["score"].to_numpy(), thr)
    rate = len(texts) / score_s if score_s > 0 else float("inf")
    distinct = texts.unique()
    t2 = time.perf_counter()
    model.score(distinct)
    distinct_s = time.perf_counter() - t2
    distinct_rate = distinct.len() / distinct_s if distinct_s > 0 else float("inf")
    echo(f"simulated city ({sim_m['n']} SMS, {sim_m['n_fraud']} from fraud numbers): precision "
         f"{sim_m['precision']:.3f} recall {sim_m['recall']:.3f} F1 {sim_m['f1']:.3f} AUC {sim_m['auc']:.4f}; "
         f"distinct texts ({uniq_m['n']}): F1 {uniq_m['f1']:.3f} AUC {uniq_m['auc']:.4f}")
    echo(f"scoring speed: {rate:,.0f} texts/s on the city's stream ({len(texts)} texts in {score_s:.2f} s, "
         f"repeated texts scored once); {distinct_rate:,.0f} texts/s when every text is distinct")

    figures = {
        "eval": ev_m,
        "sim": sim_m,
        "sim_distinct": uniq_m,
        "texts_per_s": rate,
        "distinct_texts_per_s": distinct_rate,
        "train_s": train_s,
        "oof_auc": model.meta["oof_auc"],
        "threshold": thr,
        "model": model.version,
    }
    bars = [
        Bar("text_eval_f1", round(ev_m["f1"], 4), ">=", 0.9),
        Bar("text_eval_auc", round(ev_m["auc"], 4), ">=", 0.95),
    ]
    echo(result_line("text", figures, bars))
    return figures
