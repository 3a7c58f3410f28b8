"""DuckDB engine: the default, in-process, straight over Parquet files and folders.

One DuckDB database per engine, so Parquet metadata and the object cache stay warm
between runs; each run works on its own cursor with uniquely named views, dropped
afterwards. Views are made through the relation API, never by formatting paths into SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa

from fanzha.analytics.engine import Engine, TableSource, parquet_files


class DuckDBEngine(Engine):
    """Runs queries in an in-memory DuckDB database (or on a connection you pass in)."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection | None = None,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        self._owned = connection is None
        if connection is not None:
            if threads is not None or memory_limit is not None:
                raise ValueError("threads/memory_limit apply only to a connection the engine opens itself")
            self._con = connection
        else:
            config: dict[str, Any] = {"enable_object_cache": True}
            if threads is not None:
                config["threads"] = int(threads)
            if memory_limit is not None:
                config["memory_limit"] = memory_limit
            self._con = duckdb.connect(config=config)

    def _execute(self, sql: str, sources: Mapping[str, TableSource], params: Mapping[str, Any]) -> pa.Table:
        cur = self._con.cursor()
        try:
            for name, src in sources.items():
                if isinstance(src, pa.Table):
                    rel = cur.from_arrow(src)
                else:
                    files = parquet_files(src)
                    rel = cur.read_parquet(files)
                rel.create_view(name, replace=True)
            return cur.execute(sql, dict(params)).to_arrow_table()
        finally:
            for name in sources:
                cur.execute("DROP VIEW IF EXISTS " + _quote(name))
            cur.close()

    def close(self) -> None:
        if self._owned:
            self._con.close()


def _quote(identifier: str) -> str:
    """Quote an engine-generated identifier (``name__hex``); refuses anything else."""
    if not identifier.replace("_", "").isalnum():
        raise ValueError(f"refusing identifier {identifier!r}")
    return '"' + identifier + '"'
