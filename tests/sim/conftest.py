from __future__ import annotations

from pathlib import Path

import pytest

from fanzha.sim import City, SimConfig, simulate_city


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> City:
    """A 30k-subscriber, two-day city shared by the realism tests (about 2 s)."""
    out: Path = tmp_path_factory.mktemp("city")
    return simulate_city(SimConfig(subscribers=30_000, days=2, seed=11), out)
