"""Fixtures for the warning tests: both analytics engines and one small simulated city.

PySpark starts once per test session (local[2], UI off, 2 shuffle partitions) and its
tests skip loudly when no Java runtime is found.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fanzha.analytics import DuckDBEngine, Engine, SparkEngine, java_available
from fanzha.sim import City, SimConfig, simulate_city


@pytest.fixture(scope="session")
def duckdb_engine() -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine()
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[SparkEngine]:
    if not java_available():
        pytest.skip("SKIPPING PySpark tests: no Java runtime found (install Java 17 or set JAVA_HOME)")
    engine = SparkEngine(cores=2, shuffle_partitions=2)
    yield engine
    engine.close()


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each test using this runs once per engine; the Spark run carries the ``spark`` marker."""
    name = "duckdb_engine" if request.param == "duckdb" else "spark_engine"
    return request.getfixturevalue(name)


@pytest.fixture(scope="session")
def lookup_city(tmp_path_factory: pytest.TempPathFactory) -> City:
    """A 5,000-subscriber, one-day city (seed 11), about a second to simulate."""
    out: Path = tmp_path_factory.mktemp("lookup_city")
    return simulate_city(SimConfig(subscribers=5_000, days=1, seed=11), out)
