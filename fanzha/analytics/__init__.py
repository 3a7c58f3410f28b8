"""Analytics: queries written once (DuckDB SQL, transpiled by sqlglot), run on DuckDB or PySpark.

``DuckDBEngine`` is the default, over Parquet files and folders on one machine;
``SparkEngine`` runs the same :class:`Query` on PySpark (local mode here, a cluster at
scale). Both return Arrow tables conformed to the query's schema and row order.
"""

from fanzha.analytics.duckdb_engine import DuckDBEngine
from fanzha.analytics.engine import AnalyticsError, Engine, EngineUnavailable, TableSource, parquet_files
from fanzha.analytics.layout import derived_parts, e164_to_int64, int64_to_e164
from fanzha.analytics.query import Query, QueryError, conform
from fanzha.analytics.spark_engine import SparkEngine, java_available, local_spark_session

__all__ = [
    "AnalyticsError",
    "DuckDBEngine",
    "Engine",
    "EngineUnavailable",
    "Query",
    "QueryError",
    "SparkEngine",
    "TableSource",
    "conform",
    "derived_parts",
    "e164_to_int64",
    "int64_to_e164",
    "java_available",
    "local_spark_session",
    "make_engine",
    "parquet_files",
]


def make_engine(name: str = "duckdb") -> Engine:
    """An engine by name (``duckdb`` or ``spark``), for CLIs and configuration."""
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        return SparkEngine()
    raise ValueError(f"unknown analytics engine {name!r}: choose duckdb or spark")
