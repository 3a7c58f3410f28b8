"""``fanzha bench NAME``: each benchmark prints its last-line JSON (see fanzha.bench)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks: speed and quality figures with their bars, as JSON.", no_args_is_help=True)


@app.command("simulate")
def bench_simulate(
    subscribers: int = typer.Option(1_000_000, help="City size (the bar is stated for 1M)."),
    days: int = typer.Option(1),
    seed: int = typer.Option(7),
) -> None:
    """Time and peak memory of simulating a city-day (bars: <= 60 s, <= 8 GB for 1M subscribers)."""
    from fanzha.bench.simulate import run

    run(subscribers=subscribers, days=days, seed=seed)


@app.command("detect")
def bench_detect(
    subscribers: int = typer.Option(100_000, help="Size of each of the three simulated cities."),
    days: int = typer.Option(2),
) -> None:
    """Fraud-number detection: recall, false-positive rate, minutes to block (train/valid/test cities)."""
    from fanzha.bench.detect import run

    run(subscribers=subscribers, days=days)


@app.command("stream")
def bench_stream(
    subscribers: int = typer.Option(200_000, help="City replayed through the detectors."),
    days: int = typer.Option(1),
    batch_rows: int = typer.Option(1_000_000, help="Events per micro-batch."),
    checkpoints: bool = typer.Option(False, help="Write a checkpoint after every batch."),
) -> None:
    """Events per second through all firewall detectors on replay, and memory per active number."""
    from fanzha.bench.stream import run

    run(subscribers=subscribers, days=days, batch_rows=batch_rows, with_checkpoints=checkpoints)


@app.command("numbers")
def bench_numbers(
    data: str = typer.Option("/work/shared/data/sichuan", "--data", help="Folder with numbers.csv, contacts.csv."),
    out: str | None = typer.Option(None, "--out", help="Also write phone_no_m,score,pred for the unlabelled rows."),
) -> None:
    """Bring-your-own labels on the Sichuan carrier data: 5-fold CV AUC, macro-F1 (bars 0.97, 0.935)."""
    from pathlib import Path

    from fanzha.bench.numbers import run
    from fanzha.numbers.byod import ByodError

    try:
        run(data=Path(data), out=Path(out) if out else None)
    except ByodError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None


@app.command("warn")
def bench_warn(
    subscribers: int = typer.Option(100_000, help="Size of each simulated city."),
    days: int = typer.Option(2),
) -> None:
    """Precision warning: victims warned before paying, precision of 特危+高危, a 90k SMS blitz dispatched."""
    from fanzha.bench.warn import run

    run(subscribers=subscribers, days=days)


@app.command("text")
def bench_text(
    subscribers: int = typer.Option(20_000, help="Simulated city whose SMS are scored (fraud senders = positives)."),
    seed: int = typer.Option(5),
) -> None:
    """SMS content detector: precision, recall, F1, AUC on the held-out set and a city's SMS; texts/s."""
    from fanzha.bench.text import run

    run(subscribers=subscribers, seed=seed)


@app.command("trace")
def bench_trace(
    scale: str = typer.Option("default", help="default = 10M transfers, large = 100M."),
    transfers: int | None = typer.Option(None, help="Override the number of transfers."),
    queries: int = typer.Option(200, help="Timed 1,300-card traces."),
    baseline_queries: int = typer.Option(8, help="Queries run by each baseline."),
) -> None:
    """Ledger index build, trace p50/p99, and DuckDB CTE / NetworkX / Kùzu baselines on the same data."""
    from fanzha.bench.trace import run

    run(scale=scale, transfers=transfers, queries=queries, baseline_queries=baseline_queries)


@app.command("trace-quality")
def bench_trace_quality(
    subscribers: int = typer.Option(100_000, help="Simulated city size."),
    days: int = typer.Option(1),
    seed: int = typer.Option(11),
) -> None:
    """Share of reported cases' money the trace locates where ground truth says it is; mule recall/precision."""
    from fanzha.bench.trace_quality import run

    run(subscribers=subscribers, days=days, seed=seed)


@app.command("lookup")
def bench_lookup(
    rows: int = typer.Option(100_000_000, help="Call+SMS rows generated (the bar is stated for 100M)."),
    spark_rows: int | None = typer.Option(
        None, help="Rows for PySpark (default: a 10M slice, then all rows if that projects to <= 4 min; 0 = skip)."
    ),
    compression: str = typer.Option("none", help="Parquet compression of the generated data: none, zstd, snappy, lz4."),
    seed: int = typer.Option(6),
    tmp: str | None = typer.Option(None, help="Folder for the temporary data (default: the system temp folder)."),
) -> None:
    """Reverse lookup of 1,000 fraud numbers over generated call/SMS rows: DuckDB cold/warm (bar <= 3 s), PySpark."""
    from pathlib import Path

    from fanzha.bench.lookup import run

    run(rows=rows, spark_rows=spark_rows, compression=compression, seed=seed, tmp=Path(tmp) if tmp else None)


@app.command("intake")
def bench_intake(
    reports: int = typer.Option(100, help="Reports fired at once."),
    backend: str = typer.Option("all", help="sqlite, postgres or all."),
    desks: str = typer.Option("stream", help="How desks see orders: stream (the bars) or poll (figures only)."),
    workers: int = typer.Option(2, min=1, help="API worker processes (fanzha serve --workers): one per core."),
) -> None:
    """Intake over real HTTP: p50/p99 from POST to the stop-payments on the bank desks (bars: p99 <= 200 ms)."""
    from fanzha.bench.intake import run

    run(reports=reports, backends=("sqlite", "postgres") if backend == "all" else (backend,), desks=desks,
        workers=workers)
