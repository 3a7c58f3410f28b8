"""The firewall from the command line: train on one city, replay another, resume from the checkpoint."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from fanzha.cli.main import app
from fanzha.sim import SimConfig, simulate_city

runner = CliRunner()


def test_train_replay_and_resume(tmp_path: Path) -> None:
    for seed in (21, 22, 23):
        simulate_city(SimConfig(subscribers=6_000, days=1, seed=seed), tmp_path / f"c{seed}")
    model = tmp_path / "behaviour.joblib"
    r = runner.invoke(app, ["numbers", "train-behaviour", "--train", str(tmp_path / "c21"), "--valid",
                            str(tmp_path / "c22"), "--model", str(model)])
    assert r.exit_code == 0, r.output
    state = tmp_path / "state"
    args = ["numbers", "replay", "--city", str(tmp_path / "c23"), "--state", str(state), "--model", str(model)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    alerts = pl.read_parquet(state / "alerts" / "*.parquet")
    assert {"behaviour", "burst"} <= set(alerts["detector"].to_list())
    fraud = set(pl.read_parquet(tmp_path / "c23" / "gt_fraud_numbers.parquet")["number"].to_list())
    confirmed = set(alerts.filter(pl.col("detector") == "behaviour")["number"].to_list())
    assert len(confirmed & fraud) >= 0.8 * len(confirmed)  # most behaviour alerts are real fraud numbers
    # a second run resumes after the last batch: nothing re-processed, no alert duplicated
    r2 = runner.invoke(app, args)
    assert r2.exit_code == 0 and "resumed at batch" in r2.output
    again = pl.read_parquet(state / "alerts" / "*.parquet")
    assert again["alert_id"].n_unique() == again.height
    assert again.height == alerts.height


def test_replay_of_a_folder_without_records_is_a_clear_error(tmp_path: Path) -> None:
    r = runner.invoke(app, ["numbers", "replay", "--city", str(tmp_path)])
    assert r.exit_code == 2
    assert "error:" in r.output
