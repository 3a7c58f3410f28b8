"""PySpark engine: the same queries for data that outgrows one machine.

Locally it runs Spark in ``local[N]`` mode (UI off, few shuffle partitions, UTC session
time zone so timestamps mean the same as in DuckDB); on a cluster pass your own
``SparkSession``. PySpark is imported only when this engine is built, so the default
DuckDB path never pays for the JVM.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fanzha.analytics.engine import Engine, EngineUnavailable, TableSource, parquet_files

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def java_available() -> bool:
    """Whether a Java runtime is reachable (PySpark needs Java 17+)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return True
    return shutil.which("java") is not None


def local_spark_session(cores: int = 2, shuffle_partitions: int = 4, driver_memory: str = "2g") -> SparkSession:
    """A local-mode session sized for one machine; reuses the running session if there is one."""
    if not java_available():
        raise EngineUnavailable("PySpark needs a Java 17+ runtime: install one or set JAVA_HOME")
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a dependency
        raise EngineUnavailable("PySpark is not installed") from exc
    spark = (
        SparkSession.builder.master(f"local[{int(cores)}]")
        .appName("fanzha-analytics")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(int(shuffle_partitions)))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkEngine(Engine):
    """Runs queries on a SparkSession; temp views are per run and dropped afterwards."""

    name = "spark"
    dialect = "spark"

    def __init__(self, spark: SparkSession | None = None, *, cores: int = 2, shuffle_partitions: int = 4) -> None:
        self._owned = spark is None
        self.spark = spark if spark is not None else local_spark_session(cores, shuffle_partitions)
        self._lock = threading.Lock()

    def _execute(self, sql: str, sources: Mapping[str, TableSource], params: Mapping[str, Any]) -> pa.Table:
        with self._lock:
            try:
                for name, src in sources.items():
                    if isinstance(src, pa.Table):
                        df = self.spark.createDataFrame(_spark_friendly(src))
                    else:
                        df = self.spark.read.parquet(*parquet_files(src))
                    df.createOrReplaceTempView(name)
                return self.spark.sql(sql, args=dict(params)).toArrow()
            finally:
                for name in sources:
                    self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        if self._owned:
            self.spark.stop()


def _spark_friendly(table: pa.Table) -> pa.Table:
    """Large string/list types (as Polars writes them) as their plain Arrow forms, which Spark maps directly."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_large_list(t):
            t = pa.list_(pa.string() if pa.types.is_large_string(t.value_type) else t.value_type)
        fields.append(pa.field(f.name, t, f.nullable))
    return table.cast(pa.schema(fields))
