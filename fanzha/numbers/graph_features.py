"""Contact-graph features for a carrier's own labelled numbers.

Fraud numbers call each other's victims and share infrastructure, so the neighbourhood
of a number says much about it. Three families, all as plain numpy arrays aligned with
the rows of the feature table:

- structure: degree (and, for a directed graph, in/out degree and reciprocity),
  neighbours' degree, triangles;
- neighbour aggregates: mean and max of the neighbours' own features (1 hop) and the
  mean of those means (2 hops), which needs no labels at all;
- label features: how many neighbours (1 and 2 hops) are *visibly* labelled fraud.

Leakage rule: :func:`label_features` only ever reads the labels it is given as visible
(NaN = not visible) and never a row's own label, not even through a 2-hop path that comes
back to the row. Cross-validation passes the training-fold labels only, so a held-out
row's label cannot reach any feature of its fold.

Direction: an undirected graph is often exported as its upper (or lower) triangle, each
edge once with the smaller row position first. Read as directed, such a file makes
"out-degree", "in-degree" and the in/out label shares functions of the row order, not of
who called whom. :func:`read_edges` recognises that shape (every edge one way round, at
least :data:`MIN_EDGES_TO_DETECT` edges) and treats the graph as undirected: the
direction-dependent columns are then left out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

log = logging.getLogger(__name__)

# Fewer edges than this, all one way round, can happen by chance in a directed graph.
MIN_EDGES_TO_DETECT = 100


class GraphError(ValueError):
    """The edge list cannot be used with this feature table (message says why)."""


def triangular_export(src: np.ndarray, dst: np.ndarray) -> bool:
    """True when the (self-loop-free) edges look like one triangle of a symmetric matrix:
    at least MIN_EDGES_TO_DETECT of them, and all with source < destination or all with
    source > destination. A directed contact graph with that many edges has both kinds."""
    src, dst = np.asarray(src), np.asarray(dst)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    if src.size < MIN_EDGES_TO_DETECT:
        return False
    return bool((src < dst).all() or (src > dst).all())


@dataclass(frozen=True)
class ContactGraph:
    """A contact graph over ``n`` rows: its undirected, self-loop-free view ``adj`` and,
    when ``directed``, who contacted whom (``out_adj``; for an undirected graph ``out_adj``
    is ``adj``, so nothing can read a direction that the data does not have)."""

    n: int
    out_adj: sp.csr_matrix  # binary: out_adj[i, j] = 1 if i contacted j (symmetric when undirected)
    adj: sp.csr_matrix  # undirected, binary, no self loops
    directed: bool = True

    @property
    def n_edges(self) -> int:
        """Distinct edges (an undirected edge counts once)."""
        return int(self.out_adj.nnz) if self.directed else int(self.adj.nnz // 2)

    @classmethod
    def from_edges(cls, src: np.ndarray, dst: np.ndarray, n: int, directed: bool = True) -> ContactGraph:
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        if src.shape != dst.shape:
            raise GraphError("source and destination columns differ in length")
        if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
            bad = int(np.flatnonzero((src < 0) | (src >= n) | (dst < 0) | (dst >= n))[0])
            raise GraphError(
                f"edge {bad} ({src[bad]} -> {dst[bad]}) points outside the feature table: "
                f"row positions must be 0..{n - 1}"
            )
        keep = src != dst
        src, dst = src[keep], dst[keep]
        ones = np.ones(src.size, dtype=np.float32)
        out_adj = sp.csr_matrix((ones, (src, dst)), shape=(n, n))
        out_adj.data[:] = 1.0  # duplicate edges count once
        adj = (out_adj + out_adj.T).tocsr()
        adj.data[:] = 1.0
        return cls(n=n, out_adj=out_adj if directed else adj, adj=adj, directed=directed)

    @property
    def degree(self) -> np.ndarray:
        return np.asarray(self.adj.sum(axis=1)).ravel()


def read_edges(path: Path, n: int, directed: bool | None = None) -> ContactGraph:
    """An edge CSV with two integer columns (0-based row positions: source, destination).

    ``directed=None`` decides from the file: a triangular export (see
    :func:`triangular_export`) is read as undirected, anything else as directed.
    """
    try:
        df = pl.read_csv(path, infer_schema_length=10_000)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise GraphError(f"cannot read the graph file {path}: {exc}") from exc
    if df.width < 2:
        raise GraphError(f"{path}: the graph needs two columns (source row, destination row), found {df.width}")
    cols = df.columns[:2]
    for c in cols:
        if not df[c].dtype.is_integer():
            raise GraphError(f"{path}: column {c!r} must hold integer row positions, found {df[c].dtype}")
        if df[c].null_count():
            raise GraphError(f"{path}: column {c!r} has blank cells")
    src, dst = df[cols[0]].to_numpy(), df[cols[1]].to_numpy()
    if directed is None:
        directed = not triangular_export(src, dst)
        if not directed:
            log.warning("%s: every edge has its %s row position first, as in one triangle of a symmetric "
                        "matrix; reading the graph as undirected (direction-dependent features left out)",
                        path, "smaller" if (src < dst).any() else "larger")
    return ContactGraph.from_edges(src, dst, n, directed=directed)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.full(a.shape, np.nan, dtype=np.float64)
    np.divide(a, b, out=out, where=b > 0)
    return out


STRUCTURE_FEATURES = ["g_out_degree", "g_in_degree", "g_degree", "g_out_share", "g_reciprocity", "g_nb_degree_mean",
                      "g_nb_degree_max", "g_two_hop_walks", "g_triangles", "g_clustering"]
DIRECTED_STRUCTURE = ["g_out_degree", "g_in_degree", "g_out_share", "g_reciprocity"]


def structure_feature_names(directed: bool) -> list[str]:
    """The columns :func:`structure_features` returns for a graph of this kind."""
    return [c for c in STRUCTURE_FEATURES if directed or c not in DIRECTED_STRUCTURE]


def structure_features(g: ContactGraph) -> tuple[np.ndarray, list[str]]:
    """Degrees, reciprocity, neighbours' degrees and triangles (no labels, no features), in the
    order of :data:`STRUCTURE_FEATURES`; the direction-dependent ones (:data:`DIRECTED_STRUCTURE`)
    only for a directed graph (an undirected graph's ``out_adj`` is symmetric: they would say nothing)."""
    deg = g.degree
    nb_deg_sum = g.adj @ deg
    nb_deg_max = _neighbour_max(g.adj, deg[:, None])[:, 0]
    # Triangles through i: (A^3)_ii / 2, computed row-wise as sum_j A_ij (A^2)_ij without forming A^3.
    tri = np.asarray((g.adj @ g.adj).multiply(g.adj).sum(axis=1)).ravel() / 2.0
    cols = {
        "g_degree": deg,
        "g_nb_degree_mean": _safe_div(nb_deg_sum, deg),
        "g_nb_degree_max": nb_deg_max,
        "g_two_hop_walks": g.adj @ deg - deg,  # walks of length 2 that do not return to i
        "g_triangles": tri,
        "g_clustering": _safe_div(2.0 * tri, deg * (deg - 1)),
    }
    if g.directed:
        out_deg = np.asarray(g.out_adj.sum(axis=1)).ravel()
        in_deg = np.asarray(g.out_adj.sum(axis=0)).ravel()
        mutual = np.asarray(g.out_adj.multiply(g.out_adj.T).sum(axis=1)).ravel()
        cols |= {"g_out_degree": out_deg, "g_in_degree": in_deg,
                 "g_out_share": _safe_div(out_deg, out_deg + in_deg), "g_reciprocity": _safe_div(mutual, out_deg)}
    names = structure_feature_names(g.directed)
    return np.column_stack([cols[c] for c in names]).astype(np.float64), names


def _neighbour_max(adj: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Per row, the NaN-ignoring maximum of the neighbours' values (NaN when none)."""
    n, k = x.shape
    out = np.full((n, k), np.nan, dtype=np.float64)
    has = np.diff(adj.indptr) > 0
    if not has.any():
        return out
    starts = adj.indptr[:-1][has]
    for c0 in range(0, k, 16):  # chunks keep the gathered edge matrix small
        vals = x[adj.indices, c0 : c0 + 16].astype(np.float64)
        vals = np.where(np.isnan(vals), -np.inf, vals)
        red = np.maximum.reduceat(vals, starts, axis=0)
        red[np.isneginf(red)] = np.nan
        out[has, c0 : c0 + 16] = red
    return out


def _neighbour_mean(adj: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Per row, the NaN-ignoring mean of the neighbours' values (NaN when none)."""
    known = ~np.isnan(x)
    total = adj @ np.where(known, x, 0.0)
    count = adj @ known.astype(np.float64)
    return _safe_div(total, count)


def neighbour_aggregates(
    g: ContactGraph, x: np.ndarray, names: list[str], full: bool = True
) -> tuple[np.ndarray, list[str]]:
    """Per feature: how a number differs from its neighbours' mean (``full``: also the
    neighbours' mean and max, and the 2-hop mean of means)."""
    x = np.asarray(x, dtype=np.float64)
    mean1 = _neighbour_mean(g.adj, x)
    if not full:
        return x - mean1, [f"nb_diff_{c}" for c in names]
    max1 = _neighbour_max(g.adj, x)
    mean2 = _neighbour_mean(g.adj, mean1)
    parts = [mean1, max1, mean2, x - mean1]
    out_names = (
        [f"nb_mean_{c}" for c in names]
        + [f"nb_max_{c}" for c in names]
        + [f"nb2_mean_{c}" for c in names]
        + [f"nb_diff_{c}" for c in names]
    )
    return np.hstack(parts), out_names


LABEL_FEATURES = [
    "lab_nb_fraud",
    "lab_nb_labelled",
    "lab_nb_fraud_share",
    "lab_in_fraud_share",
    "lab_out_fraud_share",
    "lab_2hop_fraud",
    "lab_2hop_labelled",
    "lab_2hop_fraud_share",
]
DIRECTED_LABEL_FEATURES = ["lab_in_fraud_share", "lab_out_fraud_share"]


def label_feature_names(directed: bool) -> list[str]:
    """The columns :func:`label_features` returns for a graph of this kind."""
    return [c for c in LABEL_FEATURES if directed or c not in DIRECTED_LABEL_FEATURES]


def label_features(g: ContactGraph, visible: np.ndarray, prior_weight: float = 2.0) -> np.ndarray:
    """Fraud share among *visibly* labelled neighbours, never reading a row's own label.

    ``visible`` holds 1/0 where a label may be used and NaN elsewhere. Shares are shrunk
    towards the visible fraud rate with ``prior_weight`` pseudo-neighbours so that one
    labelled neighbour does not look like certainty. 2-hop counts are walks i-j-k with
    k != i: the walks that come back to i (there are deg(i) of them) are subtracted, so
    a training row's own label never feeds its own feature. Columns:
    :func:`label_feature_names` (no in/out shares for an undirected graph).
    """
    visible = np.asarray(visible, dtype=np.float64)
    if visible.shape != (g.n,):
        raise GraphError(f"expected {g.n} labels, got {visible.shape}")
    lab = (~np.isnan(visible)).astype(np.float64)
    fraud = np.where(lab > 0, visible, 0.0)
    prior = float(fraud.sum() / lab.sum()) if lab.sum() else 0.0

    def share(f: np.ndarray, n: np.ndarray) -> np.ndarray:
        return (f + prior_weight * prior) / (n + prior_weight)

    # adj has no self loops, so the 1-hop sums never include the row itself.
    f1, n1 = g.adj @ fraud, g.adj @ lab
    deg = g.degree
    f2 = g.adj @ f1 - deg * fraud
    n2 = g.adj @ n1 - deg * lab
    cols = {"lab_nb_fraud": f1, "lab_nb_labelled": n1, "lab_nb_fraud_share": share(f1, n1),
            "lab_2hop_fraud": f2, "lab_2hop_labelled": n2, "lab_2hop_fraud_share": share(f2, n2)}
    if g.directed:
        cols["lab_in_fraud_share"] = share(g.out_adj.T @ fraud, g.out_adj.T @ lab)
        cols["lab_out_fraud_share"] = share(g.out_adj @ fraud, g.out_adj @ lab)
    return np.column_stack([cols[c] for c in label_feature_names(g.directed)]).astype(np.float64)
