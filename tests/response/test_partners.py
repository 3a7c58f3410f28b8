"""The center against a simulated city: real service and store, simulated bank desks, event time."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fanzha.response.partners import run_center
from fanzha.sim import SimConfig, simulate_city
from fanzha.store.db import create_store_engine, upgrade
from fanzha.store.models import Case, FundReturn, Order, OrderKind


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
        returned = {c: int(v) for c, v in s.execute(
            select(FundReturn.case_id, func.sum(FundReturn.cents)).group_by(FundReturn.case_id)).tuples()}
        losses = {c.id: c.loss_cents for c in s.scalars(select(Case))}
    engine.dispose()
    reports = pl.read_parquet(city / "reports.parquet")
    assert outcome.reports == reports.filter(pl.col("transfer_ids").list.len() > 0).height > 0
    assert 0 < outcome.stopped_cents <= outcome.reported_loss_cents * 2  # (mules also hold unreported money)
    assert outcome.max_level >= 3
    # every stop with money was frozen; the frozen money went back to victims as far as traced,
    # and no case got back more than it lost
    assert outcome.frozen_cents == outcome.stopped_cents
    assert 0 < outcome.returned_cents <= outcome.frozen_cents
    assert sum(returned.values()) == outcome.returned_cents
    assert all(cents <= losses[c] for c, cents in returned.items())
    institution = dict(pl.read_parquet(city / "accounts.parquet").select("account_id", "institution").iter_rows())
    assert all(banks[a] == institution[a] for a in banks)
    mules = set(pl.read_parquet(city / "gt_mule_accounts.parquet")["account_id"].to_list())
    assert {a for a in banks} <= mules  # every account the center stopped is a real mule card
