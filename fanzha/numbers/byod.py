"""Bring-your-own labelled numbers: a carrier trains on its own feature table (+ contact graph).

Pipeline: the carrier's numeric features, plus (when a contact graph is given) structure
features, neighbours' feature aggregates and out-of-fold label features (see
:mod:`fanzha.numbers.graph_features`), into a committee (seed-averaged LightGBM on the
whole design and on the carrier's features, extra-trees LightGBM, and a logistic regression
on normal scores: different kinds of model err on partly different rows). Probabilities are
calibrated (Platt scaling) and the 0/1 decision threshold is chosen to maximise macro-F1,
both on inner cross-validation predictions over the *training* rows only: the rows being
evaluated never tune anything.

The model file is a single JSON document (boosters as LightGBM text, the linear member's
quantiles and coefficients, calibration, the
threshold, the feature lists, a hash of the training data and the labels the model may
read for graph label features), so loading a model never runs pickled code.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fanzha.numbers.graph_features import (
    ContactGraph,
    GraphError,
    label_feature_names,
    label_features,
    neighbour_aggregates,
    read_edges,
    structure_features,
)

MODEL_FORMAT = "fanzha-numbers-byod"
# 3: the graph's direction is decided (auto-detected or given) at training, recorded in the
# model ("graph_directed") and reused when scoring; an undirected graph has no in/out columns.
MODEL_FORMAT_VERSION = 3
PIPELINE_VERSION = "byod-committee-3"


class ByodError(ValueError):
    """Input a carrier can fix (the message says what and where)."""


DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.5,
    "reg_lambda": 1.0,
    "verbosity": -1,
}


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of the pipeline; the defaults are what ``fanzha numbers train`` uses."""

    n_estimators: int = 500
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    seeds: tuple[int, ...] = (0, 1, 2)
    inner_folds: int = 4
    inner_seeds: int = 1  # boosters per inner fold (only used for calibration and threshold)
    use_graph: bool = True
    # "compact": neighbour differences only; "full": also neighbour mean/max and 2-hop mean
    # (on the Sichuan data the full set is no better and costs 3x the time).
    aggregates: str = "compact"
    # With a graph, also average in boosters that read the carrier's features alone, so an
    # uninformative graph cannot make the model worse than the features-only one.
    blend_features_only: bool = True
    # Also average in extremely randomised boosters and a linear model on the carrier's
    # features: different kinds of model err on partly different rows.
    extra_trees: bool = True
    extra_trees_estimators: int = 800
    linear: bool = True
    linear_c: float = 0.3  # inverse L2 strength of the linear member
    n_jobs: int = 1  # LightGBM threads; 1 is fastest on a small table on a shared machine
    random_state: int = 0
    # None: read an edge file stored as one triangle (all source < destination, or all >)
    # as undirected, anything else as directed; True/False: as the carrier says.
    graph_directed: bool | None = None


@dataclass
class Table:
    """A carrier's feature table: ids, numeric features (NaN = blank) and labels (NaN = unknown)."""

    ids: np.ndarray
    x: np.ndarray
    names: list[str]
    labels: np.ndarray | None
    id_col: str
    label_col: str | None
    digest: str


def _digest(*paths: Path | None) -> str:
    h = hashlib.sha256()
    for p in paths:
        if p is None:
            continue
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def read_table(
    path: Path,
    id_col: str = "phone_no_m",
    label_col: str | None = "label",
    require_labels: bool = True,
    features: Sequence[str] | None = None,
) -> Table:
    """Read and check a feature table; every column but id and label must be numeric.

    ``features`` (when scoring) names the columns the model was trained on: they must all
    be present; other extra columns are ignored.
    """
    try:
        df = pl.read_csv(path, infer_schema_length=None)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ByodError(f"cannot read the feature table {path}: {exc}") from exc
    if df.height == 0:
        raise ByodError(f"{path}: the feature table has no rows")
    if id_col not in df.columns:
        raise ByodError(f"{path}: no id column {id_col!r} (columns: {', '.join(df.columns[:10])}...)")
    labels: np.ndarray | None = None
    if label_col is not None and label_col in df.columns:
        lab = df[label_col]
        if not lab.dtype.is_numeric():  # e.g. an all-blank column reads as text
            text = lab.cast(pl.String).str.strip_chars().replace("", None)
            lab = text.cast(pl.Float64, strict=False)
            if lab.null_count() != text.null_count():
                raise ByodError(f"{path}: label column {label_col!r} must hold 0/1 or blank, found text")
        labels = lab.cast(pl.Float64).to_numpy().copy()
        seen = set(np.unique(labels[~np.isnan(labels)]).tolist())
        if not seen <= {0.0, 1.0}:
            raise ByodError(f"{path}: label column {label_col!r} must hold 0/1 or blank, found {sorted(seen)[:5]}")
    elif require_labels:
        raise ByodError(f"{path}: no label column {label_col!r}")
    if require_labels:
        assert labels is not None
        known = labels[~np.isnan(labels)]
        if known.size == 0:
            raise ByodError(f"{path}: no labelled rows in column {label_col!r}")
        if np.unique(known).size < 2:
            raise ByodError(f"{path}: all labelled rows are {int(known[0])}; training needs both 0 and 1")
    if features is None:
        names = [c for c in df.columns if c not in (id_col, label_col)]
    else:
        missing = [c for c in features if c not in df.columns]
        if missing:
            raise ByodError(f"{path}: columns the model was trained on are missing: {', '.join(missing[:10])}")
        names = list(features)
    if not names:
        raise ByodError(f"{path}: no feature columns besides {id_col!r} and {label_col!r}")
    # An all-blank column reads as text; it is a (useless) numeric column, not an error.
    bad = [c for c in names
           if not (df[c].dtype.is_numeric() or df[c].dtype == pl.Null or df[c].null_count() == df.height)]
    if bad:
        raise ByodError(f"{path}: feature columns must be numeric; not numeric: {', '.join(bad[:10])}")
    x = df.select(pl.col(names).cast(pl.Float64)).to_numpy().astype(np.float64)
    x[~np.isfinite(x)] = np.nan
    ids = df[id_col].cast(pl.String).to_numpy()
    if len(set(ids.tolist())) != len(ids):
        raise ByodError(f"{path}: id column {id_col!r} has duplicate values")
    return Table(ids=ids, x=x, names=names, labels=labels, id_col=id_col,
                 label_col=label_col, digest=_digest(path))


def load_graph(path: Path | None, n: int, directed: bool | None = None) -> ContactGraph | None:
    """The contact graph over ``n`` rows (``directed=None``: decided from the file)."""
    if path is None:
        return None
    try:
        return read_edges(path, n, directed=directed)
    except GraphError as exc:
        raise ByodError(str(exc)) from exc


def static_features(
    x: np.ndarray, names: list[str], graph: ContactGraph | None, aggregates: str = "compact"
) -> tuple[np.ndarray, list[str]]:
    """Everything that does not depend on labels: raw, structure and neighbour aggregates.

    The carrier's own features always come first, so a features-only booster reads the
    leading ``len(names)`` columns of the same design.
    """
    if graph is None:
        return x, list(names)
    if aggregates not in ("compact", "full"):
        raise ByodError(f"aggregates must be 'compact' or 'full', not {aggregates!r}")
    s, s_names = structure_features(graph)
    a, a_names = neighbour_aggregates(graph, x, names, full=aggregates == "full")
    return np.hstack([x, s, a]), [*names, *s_names, *a_names]


def _design(static: np.ndarray, graph: ContactGraph | None, visible: np.ndarray | None) -> np.ndarray:
    if graph is None or visible is None:
        return static
    return np.hstack([static, label_features(graph, visible)])


def visible_labels(y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Labels of ``rows`` only; every other row's label is hidden (NaN)."""
    v = np.full(y.shape, np.nan)
    v[rows] = y[rows]
    return v


def _normal_scores(x: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Each column mapped through its training quantiles to a standard-normal score; blank = 0
    (the median), so a linear model sees rank-like, outlier-free inputs."""
    from scipy.special import ndtri

    k = quantiles.shape[0]
    u = np.linspace(0.0, 1.0, k)
    out = np.zeros(x.shape, dtype=np.float64)
    for j in range(x.shape[1]):
        col, q = x[:, j], quantiles[:, j]
        ok = ~np.isnan(col)
        if not ok.any() or np.isnan(q).any():
            continue
        # Mean of the left and right interpolation, so tied quantiles (discrete features) map to their middle.
        lo = np.interp(col[ok], q, u)
        hi = -np.interp(-col[ok], -q[::-1], -u[::-1])
        out[ok, j] = ndtri(np.clip((lo + hi) / 2.0, 1e-3, 1.0 - 1e-3))
    return out


@dataclass
class LinearMember:
    """Logistic regression on normal scores of the carrier's features: a different kind of
    model from the trees, whose errors partly differ, so averaging it in helps."""

    quantiles: np.ndarray  # (k, d) training quantiles per feature
    coef: np.ndarray  # (d,)
    intercept: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, c: float, n_quantiles: int = 200) -> LinearMember:
        import warnings

        from sklearn.linear_model import LogisticRegression

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-blank columns: NaN quantiles, skipped
            q = np.nanquantile(x, np.linspace(0.0, 1.0, n_quantiles), axis=0)
        q[:, np.isnan(q).any(axis=0)] = np.nan
        lr = LogisticRegression(C=c, max_iter=3000).fit(_normal_scores(x, q), y.astype(int))
        return cls(quantiles=q, coef=lr.coef_[0].astype(np.float64), intercept=float(lr.intercept_[0]))

    def raw(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(_normal_scores(x[:, : self.coef.size], self.quantiles) @ self.coef + self.intercept)

    def to_json(self) -> dict[str, Any]:
        q = [[None if np.isnan(v) else float(v) for v in row] for row in self.quantiles]
        return {"quantiles": q, "coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LinearMember:
        q = np.array([[np.nan if v is None else v for v in row] for row in d["quantiles"]], dtype=np.float64)
        return cls(quantiles=q, coef=np.asarray(d["coef"], dtype=np.float64), intercept=float(d["intercept"]))


@dataclass
class Committee:
    """Boosters grouped by family plus an optional linear member; the score is the mean of the
    families' mean margins, so three seeds of one family do not outvote another family."""

    boosters: list[Any]
    families: list[str]  # one per booster: "graph", "plain" or "extra"
    linear: LinearMember | None = None

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Averaged margin (log-odds), the quantity that is calibrated; each member reads the
        leading columns it was trained on."""
        by_family: dict[str, list[np.ndarray]] = {}
        for b, fam in zip(self.boosters, self.families, strict=True):
            by_family.setdefault(fam, []).append(b.predict(x[:, : b.num_feature()], raw_score=True))
        parts = [np.mean(v, axis=0) for v in by_family.values()]
        if self.linear is not None:
            parts.append(self.linear.raw(x))
        return np.asarray(np.mean(parts, axis=0))


def _fit_committee(
    x: np.ndarray, y: np.ndarray, cfg: TrainConfig, seeds: Sequence[int], n_input: int, graph: bool
) -> Committee:
    """Per seed: a booster on the whole design ("graph", only with a graph), one on the
    carrier's own ``n_input`` features ("plain"; with a graph only if ``blend_features_only``)
    and an extremely randomised one on them ("extra"); plus the linear member."""
    import lightgbm as lgb

    specs: list[tuple[str, int, int, dict[str, Any]]] = []
    if graph:
        specs.append(("graph", x.shape[1], cfg.n_estimators, {}))
    if not graph or cfg.blend_features_only:
        specs.append(("plain", n_input, cfg.n_estimators, {}))
    if cfg.extra_trees:
        specs.append(("extra", n_input, cfg.extra_trees_estimators, {"extra_trees": True}))
    boosters, families = [], []
    for fam, width, rounds, extra in specs:
        for s in seeds:
            clf = lgb.LGBMClassifier(n_estimators=rounds, random_state=s, n_jobs=cfg.n_jobs,
                                     **{**cfg.params, **extra})
            clf.fit(x[:, :width], y)
            boosters.append(clf.booster_)
            families.append(fam)
    linear = LinearMember.fit(x[:, :n_input], y, cfg.linear_c) if cfg.linear else None
    return Committee(boosters=boosters, families=families, linear=linear)


def _stratified_folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedKFold

    k = max(2, min(k, int(np.bincount(y.astype(int)).min())))
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [test for _, test in skf.split(np.zeros(y.size), y)]


def _platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4).fit(raw.reshape(-1, 1), y.astype(int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))))


def macro_f1_threshold(prob: np.ndarray, y: np.ndarray) -> float:
    """The probability cut that maximises macro-F1 on these (training) predictions."""
    from sklearn.metrics import f1_score

    grid = np.unique(np.quantile(prob, np.linspace(0.02, 0.98, 193)))
    scores = [f1_score(y, prob >= t, average="macro") for t in grid]
    best = float(np.max(scores))
    # Middle of the best plateau: less sensitive to where exactly the grid fell.
    good = grid[np.asarray(scores) >= best - 1e-9]
    return float(np.median(good))


@dataclass
class ByodModel:
    """A trained pipeline: boosters, calibration, threshold and what it needs to score."""

    committee: Committee
    platt: tuple[float, float]
    threshold: float
    input_features: list[str]
    design_features: list[str]
    uses_graph: bool
    known_labels: dict[str, int]
    meta: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.meta["model_version"])

    def probability(self, raw: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return _sigmoid(a * raw + b)

    def score_rows(self, static: np.ndarray, graph: ContactGraph | None, visible: np.ndarray | None) -> np.ndarray:
        """Calibrated fraud probability for every row of the (static) design."""
        x = _design(static, graph if self.uses_graph else None, visible)
        return self.probability(self.committee.raw(x))


def fit(
    static: np.ndarray,
    n_input: int,
    graph: ContactGraph | None,
    y: np.ndarray,
    train_rows: np.ndarray,
    cfg: TrainConfig,
) -> tuple[Committee, tuple[float, float], float, dict[str, float]]:
    """Fit the committee on ``train_rows``; calibrate and pick the threshold by inner CV on them.

    ``static`` starts with the carrier's ``n_input`` own features. ``y`` may hold labels
    for other rows too; only ``train_rows``' labels are ever read (label features
    included), so the caller's evaluation rows stay unseen.
    """
    graph = graph if cfg.use_graph else None
    train_rows = np.asarray(train_rows)
    y_tr = y[train_rows]
    inner_raw = np.zeros(train_rows.size)
    for k, val_pos in enumerate(_stratified_folds(y_tr, cfg.inner_folds, cfg.random_state + 17)):
        fit_pos = np.setdiff1d(np.arange(train_rows.size), val_pos)
        vis = visible_labels(y, train_rows[fit_pos]) if graph is not None else None
        x = _design(static, graph, vis)
        c = _fit_committee(x[train_rows[fit_pos]], y_tr[fit_pos], cfg, cfg.seeds[: cfg.inner_seeds] or (k,),
                           n_input, graph is not None)
        inner_raw[val_pos] = c.raw(x[train_rows[val_pos]])
    platt = _platt(inner_raw, y_tr)
    prob = _sigmoid(platt[0] * inner_raw + platt[1])
    threshold = macro_f1_threshold(prob, y_tr)
    vis = visible_labels(y, train_rows) if graph is not None else None
    x = _design(static, graph, vis)
    committee = _fit_committee(x[train_rows], y_tr, cfg, cfg.seeds, n_input, graph is not None)
    from sklearn.metrics import f1_score, roc_auc_score

    inner = {"inner_cv_auc": float(roc_auc_score(y_tr, inner_raw)),
             "inner_cv_macro_f1": float(f1_score(y_tr, prob >= threshold, average="macro"))}
    return committee, platt, threshold, inner


def train(
    features: Path,
    label_col: str = "label",
    id_col: str = "phone_no_m",
    graph_path: Path | None = None,
    cfg: TrainConfig | None = None,
) -> ByodModel:
    """Train on every labelled row of a carrier's table (unlabelled rows still feed the graph)."""
    cfg = cfg or TrainConfig()
    table = read_table(features, id_col=id_col, label_col=label_col, require_labels=True)
    assert table.labels is not None
    graph = load_graph(graph_path, table.x.shape[0], cfg.graph_directed) if cfg.use_graph else None
    use_graph = graph is not None
    static, names = static_features(table.x, table.names, graph, cfg.aggregates)
    design_names = names + (label_feature_names(graph.directed) if graph is not None else [])
    y = table.labels
    rows = np.flatnonzero(~np.isnan(y))
    committee, platt, threshold, inner = fit(static, len(table.names), graph, y, rows, cfg)
    data_hash = hashlib.sha256((table.digest + _digest(graph_path)).encode()).hexdigest()
    meta = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "pipeline": PIPELINE_VERSION,
        "model_version": f"{PIPELINE_VERSION}-{data_hash[:12]}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_data_sha256": data_hash,
        "id_col": id_col,
        "label_col": label_col,
        "n_rows": int(y.size),
        "n_labelled": int(rows.size),
        "n_fraud": int(np.nansum(y)),
        "graph": bool(use_graph),
        # How the edge file was read; scoring reads its graph the same way.
        "graph_directed": graph.directed if graph is not None else None,
        "graph_direction": ("auto" if cfg.graph_directed is None else "given") if graph is not None else None,
        "graph_edges": graph.n_edges if graph is not None else 0,
        "threshold": threshold,
        "platt": list(platt),
        "n_estimators": cfg.n_estimators,
        "params": cfg.params,
        "seeds": list(cfg.seeds),
        "aggregates": cfg.aggregates,
        "blend_features_only": cfg.blend_features_only,
        "extra_trees": cfg.extra_trees,
        "extra_trees_estimators": cfg.extra_trees_estimators,
        "linear": cfg.linear,
        "linear_c": cfg.linear_c,
        "inner_folds": cfg.inner_folds,
        **inner,
    }
    known = {str(i): int(v) for i, v in zip(table.ids[rows], y[rows], strict=True)}
    return ByodModel(committee=committee, platt=platt, threshold=threshold, input_features=table.names,
                     design_features=design_names, uses_graph=use_graph, known_labels=known, meta=meta)


def save(model: ByodModel, path: Path) -> None:
    """One JSON document (gzip when the name ends in .gz) plus a small ``.meta.json`` beside it."""
    doc = {
        "meta": model.meta,
        "input_features": model.input_features,
        "design_features": model.design_features,
        "known_labels": model.known_labels,
        "boosters": [b.model_to_string() for b in model.committee.boosters],
        "families": model.committee.families,
        "linear": model.committee.linear.to_json() if model.committee.linear is not None else None,
    }
    data = json.dumps(doc).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    side = path.with_name(path.name + ".meta.json")
    side.write_text(json.dumps({**model.meta, "input_features": model.input_features,
                                "design_features": model.design_features}, indent=2))


def load(path: Path) -> ByodModel:
    import lightgbm as lgb

    try:
        data = path.read_bytes()
        doc = json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        meta = doc["meta"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ByodError(f"{path} is not a fanzha numbers model: {exc}") from exc
    if meta.get("format") != MODEL_FORMAT:
        raise ByodError(f"{path} is not a fanzha numbers model (format {meta.get('format')!r})")
    if meta.get("format_version") == 2:
        raise ByodError(f"{path}: model format version 2 (pipeline {meta.get('pipeline')}) read every contact "
                        f"graph as directed, so a graph stored as one triangle gave it features that depend "
                        f"on the row order; this fanzha reads version {MODEL_FORMAT_VERSION}: retrain it")
    if meta.get("format_version") != MODEL_FORMAT_VERSION:
        raise ByodError(f"{path}: model format version {meta.get('format_version')} is not supported "
                        f"(this fanzha reads {MODEL_FORMAT_VERSION}); retrain it")
    try:
        boosters = [lgb.Booster(model_str=s) for s in doc["boosters"]]
        linear = LinearMember.from_json(doc["linear"]) if doc.get("linear") else None
        committee = Committee(boosters=boosters, families=[str(f) for f in doc["families"]], linear=linear)
    except (lgb.basic.LightGBMError, KeyError, TypeError, ValueError) as exc:
        raise ByodError(f"{path}: damaged model members: {exc}") from exc
    return ByodModel(committee=committee, platt=(float(meta["platt"][0]), float(meta["platt"][1])),
                     threshold=float(meta["threshold"]), input_features=list(doc["input_features"]),
                     design_features=list(doc["design_features"]), uses_graph=bool(meta["graph"]),
                     known_labels={str(k): int(v) for k, v in doc["known_labels"].items()}, meta=meta)


def score(
    model: ByodModel,
    features: Path,
    graph_path: Path | None = None,
    id_col: str | None = None,
) -> pl.DataFrame:
    """``<id>, score, pred`` for every row of ``features``, in file order.

    Graph label features read the labels the model was trained with (matched by id) and
    any labels present in the scored file's label column; a row's own label is never
    read for its own score.
    """
    id_col = id_col or str(model.meta["id_col"])
    label_col = str(model.meta["label_col"])
    table = read_table(features, id_col=id_col, label_col=label_col, require_labels=False,
                       features=model.input_features)
    if model.uses_graph and graph_path is None:
        raise ByodError("this model was trained with a contact graph: pass --graph (edges over the scored rows)")
    # The graph is read the way it was read in training (not re-detected from this file).
    directed = bool(model.meta["graph_directed"]) if model.uses_graph else None
    graph = load_graph(graph_path, table.x.shape[0], directed) if model.uses_graph else None
    static, names = static_features(table.x, table.names, graph, str(model.meta.get("aggregates", "compact")))
    if graph is not None and names + label_feature_names(graph.directed) != model.design_features:
        raise ByodError("the scored design does not match the model's design features: retrain the model")
    visible = None
    if graph is not None:
        visible = np.array([model.known_labels.get(i, np.nan) for i in table.ids.tolist()], dtype=np.float64)
        if table.labels is not None:
            own = ~np.isnan(table.labels)
            visible[own] = table.labels[own]
    prob = model.score_rows(static, graph, visible)
    return pl.DataFrame({id_col: table.ids, "score": prob, "pred": (prob >= model.threshold).astype(np.int8)})
