"""Calibrated gradient-boosted models with reasons: one recipe for every scorer of the center.

The firewall's behaviour model and the warning risk model both fit LightGBM, calibrate
its raw scores with isotonic regression on out-of-fold predictions (folds keep one
number's or one person's rows together, so calibration never sees its own training
rows), and explain a score by its largest positive SHAP contributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def fit_calibrated(X: np.ndarray, y: np.ndarray, fold: np.ndarray, params: dict[str, Any],
                   weight: np.ndarray | None = None) -> tuple[Any, Any]:
    """(LightGBM classifier on all rows, isotonic calibrator fitted on out-of-fold raw scores)."""
    import lightgbm as lgb
    from sklearn.isotonic import IsotonicRegression

    raw = np.zeros(len(y))
    for f in np.unique(fold):
        m = fold == f
        w = None if weight is None else weight[~m]
        raw[m] = np.asarray(lgb.LGBMClassifier(**params).fit(X[~m], y[~m], sample_weight=w).predict_proba(X[m]))[:, 1]
    calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    booster = lgb.LGBMClassifier(**params).fit(X, y, sample_weight=weight)
    return booster, calibrator


def calibrated(booster: Any, calibrator: Any, X: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of the positive class."""
    raw = np.asarray(booster.predict_proba(X))[:, 1]
    return np.asarray(calibrator.predict(raw), dtype=np.float64)


def top_reasons(booster: Any, X: np.ndarray, features: Sequence[str], top: int = 3,
                digits: int = 3) -> list[list[str]]:
    """Per row, the features that pushed its score up most (SHAP), as ``name=value``."""
    contrib = np.asarray(booster.booster_.predict(X, pred_contrib=True))[:, : len(features)]
    order = np.argsort(-contrib, axis=1)[:, :top]
    return [[f"{features[j]}={X[i, j]:.{digits}g}" for j in order[i] if contrib[i, j] > 0] for i in range(len(X))]
