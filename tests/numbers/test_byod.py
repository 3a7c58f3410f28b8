"""Bring-your-own labelled numbers: CLI round trip, leakage guard, graph features, bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import networkx as nx
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from fanzha.bench.numbers import cross_validate
from fanzha.cli.main import app
from fanzha.numbers import byod
from fanzha.numbers.graph_features import (
    DIRECTED_STRUCTURE,
    ContactGraph,
    label_features,
    read_edges,
    structure_features,
    triangular_export,
)

SICHUAN = Path("/work/shared/data/sichuan")
runner = CliRunner()


def synthetic(tmp: Path, n: int = 400, seed: int = 3) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Fraud shifts two of five features and fraud numbers mostly contact fraud numbers.

    Returns features CSV (30% of labels blank), edges CSV, the true labels and the blank mask.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    x = rng.normal(size=(n, 5))
    x[:, 0] += 1.2 * y
    x[:, 1] -= 0.8 * y
    x[rng.random((n, 5)) < 0.03] = np.nan
    edges = set()
    fraud, legit = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for i in range(n):
        pool = fraud if (y[i] == 1 and rng.random() < 0.8) else legit
        for j in rng.choice(pool, size=4, replace=False):
            if i != j:
                edges.add((i, int(j)))
    blank = rng.random(n) < 0.3
    label = [None if b else int(v) for v, b in zip(y, blank, strict=True)]
    df = pl.DataFrame({"phone_no_m": [f"n{i:04d}" for i in range(n)],
                       **{f"f{k}": x[:, k] for k in range(5)}, "label": label})
    feats, graph = tmp / "numbers.csv", tmp / "contacts.csv"
    df.write_csv(feats)
    e = np.array(sorted(edges))
    pl.DataFrame({"src_row": e[:, 0], "dst_row": e[:, 1]}).write_csv(graph)
    return feats, graph, y, blank


def test_train_score_round_trip_through_cli(tmp_path: Path) -> None:
    feats, graph, y, blank = synthetic(tmp_path)
    model, out = tmp_path / "m.json.gz", tmp_path / "scores.csv"
    r = runner.invoke(app, ["numbers", "train", "--features", str(feats), "--label-col", "label",
                            "--graph", str(graph), "--model", str(model), "--seeds", "1", "--trees", "150",
                            "--threads", "1"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "m.json.gz.meta.json").read_text())
    assert meta["graph"] is True and meta["n_labelled"] == int((~blank).sum())
    assert meta["input_features"] == [f"f{k}" for k in range(5)]
    assert "lab_nb_fraud_share" in meta["design_features"]
    assert len(meta["training_data_sha256"]) == 64 and 0 < meta["threshold"] < 1

    r = runner.invoke(app, ["numbers", "score", "--features", str(feats), "--graph", str(graph),
                            "--model", str(model), "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = pl.read_csv(out)
    assert s.columns == ["phone_no_m", "score", "pred"]
    assert s["phone_no_m"].to_list() == [f"n{i:04d}" for i in range(len(y))]
    assert s["score"].is_between(0, 1).all() and set(s["pred"].unique()) <= {0, 1}
    # Held-back labels were never seen: scoring them must still separate fraud from legit.
    assert roc_auc_score(y[blank], s["score"].to_numpy()[blank]) > 0.85
    assert ((s["score"].to_numpy() >= meta["threshold"]).astype(int) == s["pred"].to_numpy()).all()

    # The same table without its label column scores the same: labels come from the model file.
    pl.read_csv(feats).drop("label").write_csv(tmp_path / "nolabel.csv")
    r = runner.invoke(app, ["numbers", "score", "--features", str(tmp_path / "nolabel.csv"), "--graph",
                            str(graph), "--model", str(model), "--out", str(tmp_path / "s2.csv")])
    assert r.exit_code == 0, r.output
    assert np.allclose(pl.read_csv(tmp_path / "s2.csv")["score"].to_numpy(), s["score"].to_numpy(), atol=1e-6)


def test_features_only_model_needs_no_graph(tmp_path: Path) -> None:
    feats, _, y, blank = synthetic(tmp_path)
    m = byod.train(feats, cfg=byod.TrainConfig(seeds=(0,), n_estimators=100, n_jobs=1))
    byod.save(m, tmp_path / "m.json")
    s = byod.score(byod.load(tmp_path / "m.json"), feats)
    assert not m.uses_graph
    assert roc_auc_score(y[blank], s["score"].to_numpy()[blank]) > 0.75


def test_committee_round_trips_through_json(tmp_path: Path) -> None:
    """Every member (graph, plain, extra-trees boosters and the linear model) survives save/load,
    blank and constant columns included."""
    feats, graph, y, blank = synthetic(tmp_path)
    df = pl.read_csv(feats).with_columns(pl.lit(None, dtype=pl.Float64).alias("blank"), pl.lit(7.0).alias("const"))
    feats2 = _write(tmp_path, "wide.csv", df)
    cfg = byod.TrainConfig(seeds=(0,), n_estimators=60, extra_trees_estimators=60, inner_folds=3, n_jobs=1)
    m = byod.train(feats2, graph_path=graph, cfg=cfg)
    assert set(m.committee.families) == {"graph", "plain", "extra"} and m.committee.linear is not None
    byod.save(m, tmp_path / "m.json.gz")
    m2 = byod.load(tmp_path / "m.json.gz")
    s1 = byod.score(m, feats2, graph_path=graph)["score"].to_numpy()
    s2 = byod.score(m2, feats2, graph_path=graph)["score"].to_numpy()
    assert np.isfinite(s1).all() and np.allclose(s1, s2, atol=1e-9)
    assert roc_auc_score(y[blank], s1[blank]) > 0.85


def test_normal_scores_are_monotone_and_blank_is_median() -> None:
    x = np.array([[1.0], [2.0], [2.0], [3.0], [np.nan], [10.0]])
    q = np.nanquantile(x, np.linspace(0, 1, 50), axis=0)
    z = byod._normal_scores(x, q)[:, 0]
    assert z[4] == 0.0 and z[0] < z[1] == z[2] < z[3] < z[5]
    assert byod._normal_scores(np.array([[99.0]]), q)[0, 0] == z[5]  # beyond the range: clipped, finite


def test_held_out_labels_cannot_reach_their_fold(tmp_path: Path) -> None:
    """Permuting the held-out rows' labels changes neither their features nor their scores."""
    feats, graph_path, _, _ = synthetic(tmp_path, n=300)
    t = byod.read_table(feats)
    assert t.labels is not None
    g = byod.load_graph(graph_path, t.x.shape[0])
    static, names = byod.static_features(t.x, t.names, g)
    rows = np.flatnonzero(~np.isnan(t.labels))
    rng = np.random.default_rng(0)
    held = rng.choice(rows, size=rows.size // 5, replace=False)
    train = np.setdiff1d(rows, held)
    y2 = t.labels.copy()
    y2[held] = 1 - y2[held]  # every held-out label flipped
    lf1 = label_features(g, byod.visible_labels(t.labels, train))
    lf2 = label_features(g, byod.visible_labels(y2, train))
    assert np.array_equal(lf1, lf2, equal_nan=True)
    cfg = byod.TrainConfig(seeds=(0,), n_estimators=60, inner_folds=3, n_jobs=1)
    scores = []
    for y in (t.labels, y2):
        c, platt, thr, _ = byod.fit(static, len(t.names), g, y, train, cfg)
        m = byod.ByodModel(c, platt, thr, t.names, names, True, {}, {})
        scores.append(m.score_rows(static, g, byod.visible_labels(y, train))[held])
    assert np.allclose(scores[0], scores[1])


def test_own_label_never_feeds_own_label_features() -> None:
    rng = np.random.default_rng(1)
    n = 60
    src, dst = rng.integers(0, n, 400), rng.integers(0, n, 400)
    g = ContactGraph.from_edges(src, dst, n)
    vis = rng.integers(0, 2, n).astype(float)
    vis[rng.random(n) < 0.3] = np.nan
    base = label_features(g, vis)
    for i in range(n):
        v = vis.copy()
        v[i] = 1.0 if np.isnan(v[i]) or v[i] == 0 else 0.0
        changed = label_features(g, v)
        # Shares move slightly with the global prior; counts (1 and 2 hops) must not move at all.
        counts = [0, 1, 5, 6]
        assert np.array_equal(changed[i, counts], base[i, counts]), i


def test_structure_features_match_networkx() -> None:
    rng = np.random.default_rng(2)
    n = 40
    src, dst = rng.integers(0, n, 150), rng.integers(0, n, 150)
    g = ContactGraph.from_edges(src, dst, n)
    f, names = structure_features(g)
    col = {k: f[:, i] for i, k in enumerate(names)}
    d = nx.DiGraph()
    d.add_nodes_from(range(n))
    d.add_edges_from((int(a), int(b)) for a, b in zip(src, dst, strict=True) if a != b)
    u = d.to_undirected()
    assert np.array_equal(col["g_out_degree"], [d.out_degree(i) for i in range(n)])
    assert np.array_equal(col["g_in_degree"], [d.in_degree(i) for i in range(n)])
    assert np.array_equal(col["g_degree"], [u.degree(i) for i in range(n)])
    tri = nx.triangles(u)
    assert np.array_equal(col["g_triangles"], [tri[i] for i in range(n)])
    rec = [sum(d.has_edge(j, i) for j in d.successors(i)) / d.out_degree(i) if d.out_degree(i) else np.nan
           for i in range(n)]
    assert np.allclose(col["g_reciprocity"], rec, equal_nan=True)
    # A saved model names its columns in this order; the undirected set is the same without the directed ones.
    assert names[:5] == ["g_out_degree", "g_in_degree", "g_degree", "g_out_share", "g_reciprocity"]
    undirected_f, undirected = structure_features(ContactGraph.from_edges(src, dst, n, directed=False))
    assert undirected == [c for c in names if c not in DIRECTED_STRUCTURE]
    assert np.array_equal(undirected_f, f[:, [names.index(c) for c in undirected]], equal_nan=True)


def _upper_triangle(graph: Path, order: np.ndarray | None = None) -> pl.DataFrame:
    """The synthetic graph as an undirected edge list stored once per edge, smaller row first;
    ``order[k]`` = the original row now at position k (the table's rows permuted)."""
    e = pl.read_csv(graph)
    src, dst = e["src_row"].to_numpy(), e["dst_row"].to_numpy()
    if order is not None:
        pos = np.argsort(order)  # original row -> its new position
        src, dst = pos[src], pos[dst]
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    pairs = np.unique(np.column_stack([lo, hi]), axis=0)
    return pl.DataFrame({"src_row": pairs[:, 0], "dst_row": pairs[:, 1]})


def test_triangular_export_is_undirected_and_scores_do_not_depend_on_row_order(tmp_path: Path) -> None:
    """An upper-triangle edge file of a table and of the same table with its rows shuffled
    describe the same graph: the scores must be the same number by number. Read as directed
    (the earlier behaviour, still available with --graph-directed), they are not."""
    feats, graph, y, blank = synthetic(tmp_path)
    tri = _write(tmp_path, "tri.csv", _upper_triangle(graph))
    order = np.random.default_rng(5).permutation(len(y))
    df = pl.read_csv(feats)
    feats_p = _write(tmp_path, "perm.csv", df[order.tolist()])
    tri_p = _write(tmp_path, "tri_perm.csv", _upper_triangle(graph, order))
    assert (pl.read_csv(tri_p)["src_row"] < pl.read_csv(tri_p)["dst_row"]).all()
    cfg = byod.TrainConfig(seeds=(0,), n_estimators=60, extra_trees_estimators=60, inner_folds=3, n_jobs=1)

    m = byod.train(feats, graph_path=tri, cfg=cfg)
    assert m.meta["graph_directed"] is False and m.meta["graph_direction"] == "auto"
    assert m.meta["graph_edges"] == pl.read_csv(tri).height
    for col in ("g_out_degree", "g_in_degree", "g_out_share", "g_reciprocity", "lab_in_fraud_share"):
        assert col not in m.design_features
    assert "g_degree" in m.design_features and "lab_nb_fraud_share" in m.design_features
    byod.save(m, tmp_path / "m.json")
    m = byod.load(tmp_path / "m.json")
    s = byod.score(m, feats, graph_path=tri)["score"].to_numpy()
    s_p = byod.score(m, feats_p, graph_path=tri_p)["score"].to_numpy()
    assert np.allclose(s_p, s[order], atol=1e-9)
    assert roc_auc_score(y[blank], s[blank]) > 0.85

    d = byod.train(feats, graph_path=tri, cfg=dataclasses.replace(cfg, graph_directed=True))
    assert d.meta["graph_directed"] is True and "g_out_degree" in d.design_features
    s = byod.score(d, feats, graph_path=tri)["score"].to_numpy()
    s_p = byod.score(d, feats_p, graph_path=tri_p)["score"].to_numpy()
    assert not np.allclose(s_p, s[order], atol=1e-3)


def test_graph_direction_detection() -> None:
    rng = np.random.default_rng(4)
    src, dst = rng.integers(0, 500, 300), rng.integers(0, 500, 300)
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    assert not triangular_export(src, dst)  # a directed graph has edges both ways round
    assert triangular_export(lo, hi) and triangular_export(hi, lo)
    assert triangular_export(np.append(lo, 7), np.append(hi, 7))  # a self loop does not count
    assert not triangular_export(lo[:99], hi[:99])  # too few edges to tell
    assert not triangular_export(np.append(lo, 9), np.append(hi, 3))  # one edge the other way round
    g = ContactGraph.from_edges(lo, hi, 500, directed=False)
    assert (g.out_adj != g.out_adj.T).nnz == 0 and g.n_edges == np.unique(np.column_stack([lo, hi])[lo != hi],
                                                                             axis=0).shape[0]
    names = structure_features(g)[1]
    assert "g_out_degree" not in names and "g_degree" in names
    assert label_features(g, np.full(500, np.nan)).shape == (500, 6)


def test_directed_graph_stays_directed_and_the_choice_can_be_given(tmp_path: Path) -> None:
    feats, graph, _, _ = synthetic(tmp_path, n=200)
    assert read_edges(graph, 200).directed  # synthetic edges go both ways round
    model, out = tmp_path / "m.json", tmp_path / "s.csv"
    base = ["numbers", "train", "--features", str(feats), "--graph", str(graph), "--model", str(model),
            "--seeds", "1", "--trees", "40", "--threads", "1"]
    r = runner.invoke(app, base)
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "m.json.meta.json").read_text())
    assert meta["graph_directed"] is True and meta["graph_direction"] == "auto"
    assert "g_out_degree" in meta["design_features"] and "lab_out_fraud_share" in meta["design_features"]

    r = runner.invoke(app, [*base, "--graph-undirected"])
    assert r.exit_code == 0, r.output
    assert "graph=undirected" in r.output
    meta = json.loads((tmp_path / "m.json.meta.json").read_text())
    assert meta["graph_directed"] is False and meta["graph_direction"] == "given"
    assert "g_out_degree" not in meta["design_features"]
    # score reads the graph as the model was trained (undirected), with no flag of its own.
    r = runner.invoke(app, ["numbers", "score", "--features", str(feats), "--graph", str(graph),
                            "--model", str(model), "--out", str(out)])
    assert r.exit_code == 0, r.output
    m = byod.load(model)
    t = byod.read_table(feats)
    g = byod.load_graph(graph, 200, directed=False)
    static, _ = byod.static_features(t.x, t.names, g)
    vis = np.array([m.known_labels.get(i, np.nan) for i in t.ids.tolist()])
    assert np.allclose(pl.read_csv(out)["score"].to_numpy(), m.score_rows(static, g, vis), atol=1e-6)


def test_model_of_format_2_is_refused_with_a_reason(tmp_path: Path) -> None:
    feats, _, _, _ = synthetic(tmp_path, n=80)
    path = tmp_path / "m.json"
    byod.save(byod.train(feats, cfg=byod.TrainConfig(seeds=(0,), n_estimators=10, n_jobs=1)), path)
    doc = json.loads(path.read_text())
    doc["meta"]["format_version"] = 2
    path.write_text(json.dumps(doc))
    with pytest.raises(byod.ByodError, match=r"version 2 .*retrain"):
        byod.load(path)


def _write(tmp: Path, name: str, df: pl.DataFrame) -> Path:
    p = tmp / name
    df.write_csv(p)
    return p


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no_label_col", "no label column"),
        ("no_labels", "no labelled rows"),
        ("one_class", "needs both 0 and 1"),
        ("text_feature", "must be numeric"),
        ("graph_out_of_range", "outside the feature table"),
        ("no_id", "no id column"),
        ("bad_label", "0/1 or blank"),
    ],
)
def test_bad_training_input_exits_2(tmp_path: Path, case: str, message: str) -> None:
    feats, graph, _, _ = synthetic(tmp_path, n=80)
    df = pl.read_csv(feats)
    if case == "no_label_col":
        feats = _write(tmp_path, "x.csv", df.drop("label"))
    elif case == "no_labels":
        feats = _write(tmp_path, "x.csv", df.with_columns(pl.lit(None, dtype=pl.Int64).alias("label")))
    elif case == "one_class":
        feats = _write(tmp_path, "x.csv", df.with_columns(pl.col("label").fill_null(0).clip(0, 0)))
    elif case == "text_feature":
        feats = _write(tmp_path, "x.csv", df.with_columns(pl.lit("abc").alias("f2")))
    elif case == "graph_out_of_range":
        graph = _write(tmp_path, "g.csv", pl.DataFrame({"src_row": [0, 5], "dst_row": [1, 80]}))
    elif case == "no_id":
        feats = _write(tmp_path, "x.csv", df.drop("phone_no_m"))
    elif case == "bad_label":
        feats = _write(tmp_path, "x.csv", df.with_columns(pl.col("label").fill_null(2)))
    r = runner.invoke(app, ["numbers", "train", "--features", str(feats), "--graph", str(graph),
                            "--model", str(tmp_path / "m.json"), "--trees", "10", "--threads", "1"])
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_bad_scoring_input_exits_2(tmp_path: Path) -> None:
    feats, graph, _, _ = synthetic(tmp_path, n=80)
    model = tmp_path / "m.json"
    byod.save(byod.train(feats, graph_path=graph, cfg=byod.TrainConfig(seeds=(0,), n_estimators=30, n_jobs=1)), model)
    out = str(tmp_path / "o.csv")
    cases = [
        (["--features", str(feats), "--model", str(model), "--out", out], "--graph"),
        (["--features", str(_write(tmp_path, "d.csv", pl.read_csv(feats).drop("f3"))), "--graph", str(graph),
          "--model", str(model), "--out", out], "missing: f3"),
        (["--features", str(feats), "--graph", str(graph), "--model", str(feats), "--out", out],
         "not a fanzha numbers model"),
        (["--features", str(feats), "--graph", str(graph), "--model", str(tmp_path / "none"), "--out", out],
         "no model file"),
    ]
    for args, message in cases:
        r = runner.invoke(app, ["numbers", "score", *args])
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output


def test_bench_numbers_without_data_exits_2(tmp_path: Path) -> None:
    r = runner.invoke(app, ["bench", "numbers", "--data", str(tmp_path / "absent")])
    assert r.exit_code == 2
    assert "numbers.csv" in r.output


@pytest.mark.skipif(not (SICHUAN / "numbers.csv").is_file(), reason=f"Sichuan data absent from {SICHUAN}")
def test_sichuan_sample_is_learnable(tmp_path: Path) -> None:
    """Sanity check on 600 labelled rows of the real data (3-fold CV): far above chance, not the bar."""
    df = pl.read_csv(SICHUAN / "numbers.csv", infer_schema_length=None).with_row_index("row")
    sample = df.filter(pl.col("label").is_not_null()).sample(600, seed=11).sort("row")
    pos = {int(r): i for i, r in enumerate(sample["row"])}
    e = pl.read_csv(SICHUAN / "contacts.csv")
    keep = e.filter(pl.col("src_row").is_in(list(pos)) & pl.col("dst_row").is_in(list(pos)))
    src = np.array([pos[int(v)] for v in keep["src_row"]])
    dst = np.array([pos[int(v)] for v in keep["dst_row"]])
    feats = _write(tmp_path, "s.csv", sample.drop("row"))
    table = byod.read_table(feats)
    g = ContactGraph.from_edges(src, dst, table.x.shape[0])
    cfg = byod.TrainConfig(seeds=(0,), n_estimators=150, inner_folds=3, n_jobs=1)
    r = cross_validate(table, g, cfg, folds=3, seed=0)
    assert r["auc"] > 0.85, r
    assert r["macro_f1"] > 0.75, r
