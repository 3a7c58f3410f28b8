"""``fanzha numbers ...``: number intelligence commands (thin: parse, call, report)."""

from __future__ import annotations

from pathlib import Path

import typer

from fanzha.cli.common import fail as _fail

app = typer.Typer(help="Number intelligence: train on your own labelled numbers, score numbers.",
                  no_args_is_help=True)




@app.command("train")
def train(
    features: Path = typer.Option(..., "--features", help="CSV: one row per number, id, numeric features, label."),
    label_col: str = typer.Option("label", "--label-col", help="0/1 label column; blank = not labelled."),
    id_col: str = typer.Option("phone_no_m", "--id-col", help="Number id column."),
    graph: Path | None = typer.Option(None, "--graph", help="Edges CSV: source row, destination row (0-based)."),
    model: Path = typer.Option(..., "--model", help="Where to write the model (JSON; .gz to compress)."),
    seeds: int = typer.Option(3, min=1, max=20, help="Seeds per booster family in the final model."),
    trees: int = typer.Option(500, min=10, max=20_000, help="Boosting rounds per booster (extra-trees: 1.6x)."),
    threads: int = typer.Option(2, min=1, max=256, help="LightGBM threads."),
    graph_directed: bool | None = typer.Option(
        None, "--graph-directed/--graph-undirected",
        help="How to read --graph. Default: undirected if every edge has source < destination (or every edge "
             "source > destination), as in an export of one triangle of a symmetric matrix; else directed."),
) -> None:
    """Train on the labelled rows (unlabelled rows still feed the contact graph)."""
    from fanzha.numbers import byod

    try:
        # Randomised splits make weaker rounds: keep the default 800:500 ratio of extra-trees rounds.
        cfg = byod.TrainConfig(seeds=tuple(range(seeds)), n_estimators=trees,
                               extra_trees_estimators=max(10, round(trees * 1.6)), n_jobs=threads,
                               graph_directed=graph_directed)
        m = byod.train(features, label_col=label_col, id_col=id_col, graph_path=graph, cfg=cfg)
        byod.save(m, model)
    except byod.ByodError as exc:
        raise _fail(str(exc)) from None
    meta = m.meta
    kind = ("directed" if meta["graph_directed"] else "undirected") if m.uses_graph else "no"
    typer.echo(f"model {m.version}: {meta['n_labelled']} labelled rows ({meta['n_fraud']} fraud), "
               f"graph={kind}, threshold {m.threshold:.3f}, "
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


@app.command("train-behaviour")
def train_behaviour_cmd(
    train_city: Path = typer.Option(..., "--train", help="Simulated (or labelled) city folder to learn from."),
    valid_city: Path = typer.Option(..., "--valid", help="A second city: sets the auto-confirm threshold."),
    model: Path = typer.Option(..., "--model", help="Where to write the behaviour model (joblib)."),
) -> None:
    """Fit the streaming behaviour model on one city's ground truth; threshold from another."""
    from fanzha.numbers.firewall import train_behaviour

    for d in (train_city, valid_city):
        if not (d / "gt_fraud_numbers.parquet").is_file():
            raise _fail(f"{d} has no gt_fraud_numbers.parquet: training needs labelled numbers")
    m = train_behaviour(train_city, valid_city)
    model.parent.mkdir(parents=True, exist_ok=True)
    m.save(model)
    typer.echo(f"model {m.version}: {m.meta['rows']} window rows, auto-confirm at {m.auto_threshold:.4f} -> {model}")


@app.command("replay")
def replay_cmd(
    city: Path = typer.Option(..., "--city", help="Folder with calls.parquet, sms.parquet, subscribers.parquet."),
    state: Path = typer.Option(Path("data/firewall"), "--state", help="Checkpoints, alerts and late events."),
    model: Path | None = typer.Option(None, "--model", help="Behaviour model; without it only the rules run."),
    speed: float | None = typer.Option(None, "--speed", help="Event-time seconds per wall second (default: flat out)."),
    batch_rows: int = typer.Option(200_000, "--batch-rows", min=1),
) -> None:
    """Replay call/SMS records through the firewall; resumes from the last checkpoint in --state."""
    from fanzha.numbers.behaviour import BehaviourModel
    from fanzha.numbers.events import StreamInputError, load_events, replay
    from fanzha.numbers.firewall import CityInputs, build_firewall
    from fanzha.numbers.stream import StreamRunner

    try:
        inputs = CityInputs.load(city)
        events = load_events(city)
    except (StreamInputError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    m = BehaviourModel.load(model) if model else None
    stages, detectors = build_firewall(inputs, m)
    try:
        runner = StreamRunner(detectors, stages=stages, state_dir=state)
    except StreamInputError as exc:
        raise _fail(str(exc)) from None
    start = runner.next_offset
    runner.run(replay(events, batch_rows, speed=speed, start_offset=start))
    alerts = runner.all_alerts()
    by = alerts.group_by("detector").len().sort("detector").rows()
    typer.echo(f"{events.height:,} events (resumed at batch {start}); late {runner.stats.late_events}; "
               f"alerts: " + ", ".join(f"{d} {n}" for d, n in by) + f" -> {state / 'alerts'}")


@app.command("classify-text")
def classify_text(
    in_path: Path = typer.Option(..., "--in", help="CSV with a column of SMS texts (UTF-8 or GBK/GB18030)."),
    text_col: str = typer.Option(..., "--text-col", help="Column holding the text."),
    out: Path = typer.Option(..., "--out", help="Output CSV: the input rows, same order, plus score and pred."),
    threshold: float | None = typer.Option(None, "--threshold", help="pred = score >= threshold (default 0.5)."),
    encoding: str | None = typer.Option(None, "--encoding", help="Input encoding (default: detect UTF-8/GB18030)."),
    domains: bool = typer.Option(False, "--domains", help="Also add the registered domains of links found."),
) -> None:
    """Score SMS texts as fraud lures (0..1) with the shipped content model."""
    from fanzha.numbers import text

    try:
        summary = text.classify_csv(in_path, text_col, out, threshold=threshold, encoding=encoding,
                                    with_domains=domains)
    except text.TextInputError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{summary['rows']} texts ({summary['encoding']}), {summary['flagged']} flagged at "
               f"{summary['threshold']:g} by {summary['model']} -> {out}")
