"""``fanzha numbers ...``: number intelligence commands (thin: parse, call, report)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Number intelligence: train on your own labelled numbers, score numbers.",
                  no_args_is_help=True)


def _fail(msg: str) -> typer.Exit:
    typer.echo(f"error: {msg}", err=True)
    return typer.Exit(code=2)


@app.command("train")
def train(
    features: Path = typer.Option(..., "--features", help="CSV: one row per number, id, numeric features, label."),
    label_col: str = typer.Option("label", "--label-col", help="0/1 label column; blank = not labelled."),
    id_col: str = typer.Option("phone_no_m", "--id-col", help="Number id column."),
    graph: Path | None = typer.Option(None, "--graph", help="Edges CSV: source row, destination row (0-based)."),
    model: Path = typer.Option(..., "--model", help="Where to write the model (JSON; .gz to compress)."),
    seeds: int = typer.Option(3, min=1, max=20, help="Boosters averaged in the final model."),
    trees: int = typer.Option(500, min=10, max=20_000, help="Boosting rounds per booster."),
    threads: int = typer.Option(2, min=1, max=256, help="LightGBM threads."),
) -> None:
    """Train on the labelled rows (unlabelled rows still feed the contact graph)."""
    from fanzha.numbers import byod

    try:
        cfg = byod.TrainConfig(seeds=tuple(range(seeds)), n_estimators=trees, n_jobs=threads)
        m = byod.train(features, label_col=label_col, id_col=id_col, graph_path=graph, cfg=cfg)
        byod.save(m, model)
    except byod.ByodError as exc:
        raise _fail(str(exc)) from None
    meta = m.meta
    typer.echo(f"model {m.version}: {meta['n_labelled']} labelled rows ({meta['n_fraud']} fraud), "
               f"graph={'yes' if m.uses_graph else 'no'}, threshold {m.threshold:.3f}, "
               f"inner-CV AUC {meta['inner_cv_auc']:.4f}, macro-F1 {meta['inner_cv_macro_f1']:.4f} -> {model}")


@app.command("score")
def score(
    features: Path = typer.Option(..., "--features", help="CSV with the model's feature columns and id."),
    model: Path = typer.Option(..., "--model", help="A model written by `fanzha numbers train`."),
    out: Path = typer.Option(..., "--out", help="Output CSV: <id>,score,pred in input order."),
    graph: Path | None = typer.Option(None, "--graph", help="Edges CSV over the scored rows (if trained with one)."),
    id_col: str | None = typer.Option(None, "--id-col", help="Id column (default: the one used in training)."),
) -> None:
    """Write a calibrated fraud probability and a 0/1 decision for every row."""
    from fanzha.numbers import byod

    if not model.is_file():
        raise _fail(f"no model file {model}")
    try:
        m = byod.load(model)
        scored = byod.score(m, features, graph_path=graph, id_col=id_col)
    except byod.ByodError as exc:
        raise _fail(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    scored.write_csv(out, float_precision=6)
    typer.echo(f"scored {scored.height} numbers ({int(scored['pred'].sum())} flagged) with {m.version} -> {out}")
