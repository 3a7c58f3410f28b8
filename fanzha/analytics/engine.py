"""The engine abstraction: run a :class:`~fanzha.analytics.query.Query` over named tables, get Arrow back.

A table source is a Parquet file, a folder of Parquet files (searched recursively), or
an in-memory Arrow table (element lists, small fixtures). Each run registers its
sources under fresh names, so concurrent runs on one engine cannot see each other's
element lists, and the result is conformed to the query's schema and row order: the
same query gives the same table on every engine.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

import polars as pl
import pyarrow as pa

from fanzha.analytics.query import Query, conform

TableSource: TypeAlias = Path | str | pa.Table


class AnalyticsError(RuntimeError):
    """A query could not run on an engine: missing table, missing file, engine failure."""


class EngineUnavailable(AnalyticsError):
    """The engine cannot start here (e.g. PySpark without Java)."""


def parquet_files(source: Path | str) -> list[str]:
    """The Parquet files behind a file or folder source; a clear error when there are none."""
    path = Path(source)
    if path.is_file():
        return [str(path)]
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
        if files:
            return files
        raise AnalyticsError(f"no Parquet files under {path}")
    raise AnalyticsError(f"no such Parquet file or folder: {path}")


class Engine(ABC):
    """Runs queries; subclasses only register sources and execute dialect SQL."""

    name: str
    dialect: str

    def run(
        self,
        query: Query,
        tables: Mapping[str, TableSource],
        params: Mapping[str, Any] | None = None,
    ) -> pa.Table:
        """Execute ``query`` with ``tables`` bound to its inputs and ``params`` to its parameters."""
        params = dict(params or {})
        missing = [n for n in query.inputs if n not in tables]
        if missing:
            raise AnalyticsError(f"query {query.name!r} needs tables {missing}")
        if set(params) != set(query.params):
            raise AnalyticsError(f"query {query.name!r} takes parameters {sorted(query.params)}, got {sorted(params)}")
        run_id = uuid.uuid4().hex[:12]
        names = {n: f"{n}__{run_id}" for n in query.inputs}
        sql = query.render(self.dialect, names)
        sources = {names[n]: tables[n] for n in query.inputs}
        for src in sources.values():
            if not isinstance(src, pa.Table):
                parquet_files(src)  # fail early and clearly on a missing path
        try:
            raw = self._execute(sql, sources, params)
        except AnalyticsError:
            raise
        except Exception as exc:  # engine-specific errors become one clear error type
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AnalyticsError(f"{self.name} could not run query {query.name!r}: {first}") from exc
        return conform(raw, query.schema, query.order_by)

    def run_polars(
        self, query: Query, tables: Mapping[str, TableSource], params: Mapping[str, Any] | None = None
    ) -> pl.DataFrame:
        """Same as :meth:`run`, as a Polars frame."""
        out = pl.from_arrow(self.run(query, tables, params))
        assert isinstance(out, pl.DataFrame)
        return out

    @abstractmethod
    def _execute(self, sql: str, sources: Mapping[str, TableSource], params: Mapping[str, Any]) -> pa.Table:
        """Register ``sources`` under their names, run ``sql`` with ``params``, drop the registrations."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources (connections, sessions) this engine owns."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
