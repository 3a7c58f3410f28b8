"""The center against a simulated city: real service and store, simulated bank desks, event time."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.partners import run_center
from fanzha.sim import SimConfig, simulate_city
from fanzha.store.db import create_store_engine, upgrade
from fanzha.store.models import Order, OrderKind


def test_center_stops_money_level_by_level_at_the_right_banks(tmp_path: Path) -> None:
    city = tmp_path / "city"
    simulate_city(SimConfig(subscribers=8_000, days=1, seed=4), city)
    url = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
    upgrade(url)
    engine = create_store_engine(url)
    with Session(engine) as s:
        outcome = run_center(city, s, seed=1)
        stops = list(s.scalars(select(Order).where(Order.kind == OrderKind.STOP_PAYMENT)))
        banks = {o.target: o.organisation.code for o in stops}
    engine.dispose()
    reports = pl.read_parquet(city / "reports.parquet")
    assert outcome.reports == reports.filter(pl.col("transfer_ids").list.len() > 0).height > 0
    assert 0 < outcome.stopped_cents <= outcome.reported_loss_cents * 2  # (mules also hold unreported money)
    assert outcome.max_level >= 3
    institution = dict(pl.read_parquet(city / "accounts.parquet").select("account_id", "institution").iter_rows())
    assert all(banks[a] == institution[a] for a in banks)
    mules = set(pl.read_parquet(city / "gt_mule_accounts.parquet")["account_id"].to_list())
    assert {a for a in banks} <= mules  # every account the center stopped is a real mule card
