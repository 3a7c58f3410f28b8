"""The simulator's output survives a CSV export and re-import unchanged, table by table."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from contract_helpers import write_csv

from fanzha.contracts.importers import import_file, validate_file
from fanzha.contracts.schemas import GROUND_TRUTH, TABLES
from fanzha.sim import SimConfig, simulate_city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny_city")
    simulate_city(SimConfig(subscribers=2000, days=1, seed=3), out)
    return out


@pytest.mark.parametrize("table", list(TABLES))
def test_sim_table_round_trips_through_csv(city: Path, table: str, tmp_path: Path) -> None:
    original = pq.read_table(city / f"{table}.parquet").cast(TABLES[table])
    assert original.num_rows > 0
    src = write_csv(original, tmp_path / f"{table}.csv")
    rep = import_file(src, table, out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q")
    assert (rep.rows_in, rep.rows_ok, rep.rows_quarantined) == (original.num_rows, original.num_rows, 0)
    assert pq.read_table(rep.output).equals(original)


@pytest.mark.parametrize("table", list(TABLES) + list(GROUND_TRUTH))
def test_sim_output_validates(city: Path, table: str) -> None:
    rep = validate_file(table, city / f"{table}.parquet")
    assert rep.ok, rep.problems
