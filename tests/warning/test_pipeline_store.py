"""The whole warning path on simulated cities: models from two cities, warnings for a third, stored per station."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.response.seed import seed_demo
from fanzha.sim import SimConfig, simulate_city
from fanzha.store.db import create_store_engine, upgrade
from fanzha.store.models import WarningRecord
from fanzha.warning.pipeline import dispatched_warnings, train_on_simulated_cities
from fanzha.warning.store import save_dispatched


@pytest.mark.slow
def test_victims_are_warned_and_routed_to_their_station(tmp_path: Path) -> None:
    models = train_on_simulated_cities(tmp_path, (31, 32), subscribers=8_000)
    city = tmp_path / "city"
    simulate_city(SimConfig(subscribers=8_000, days=1, seed=33), city)
    routed = dispatched_warnings(city, models)
    url = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
    upgrade(url)
    engine = create_store_engine(url)
    with Session(engine) as s:
        seed_demo(s, password="pw-for-tests-only")
        saved = save_dispatched(s, routed, models.risk.version)
        s.commit()
        rows = {w.person: w for w in s.scalars(select(WarningRecord))}
    engine.dispose()
    assert saved.created == routed.height == len(rows) > 0
    victims = pl.read_parquet(city / "gt_victims.parquet")
    warned = [n for n in victims["number"].to_list() if n in rows]
    assert len(warned) >= 0.8 * victims.height
    register = dict(pl.read_parquet(city / "subscribers.parquet").select("number", "police_station").iter_rows())
    # every warned resident lands on the board of the station of their registered jurisdiction
    assert all(rows[n].station == register[n] and rows[n].organisation_id is not None for n in warned)
