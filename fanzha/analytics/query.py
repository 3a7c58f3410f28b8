"""Analytics queries written once, in DuckDB SQL, and transpiled by sqlglot for the other engines.

Why SQL + sqlglot rather than Ibis: the queries are a handful of joins and filtered
aggregates that analysts and reviewers read as SQL; sqlglot is one pure-Python
dependency (Ibis pulls in its own sqlglot plus a dataframe layer and pins PySpark
versions), and transpiling lets us inspect exactly the text each engine runs
(``Query.render``). DuckDB's dialect is the source because DuckDB is the default
engine: what a developer tests interactively is what ships.

Values never enter the SQL text: element lists arrive as tables (registered by the
engine under per-run names) and scalars as named parameters (``$since``), which each
engine binds itself (DuckDB ``$name``, Spark ``:name``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

SOURCE_DIALECT = "duckdb"


class QueryError(ValueError):
    """A query definition that cannot run (unknown table, undeclared parameter, bad SQL)."""


@dataclass(frozen=True)
class Query:
    """One engine-independent query: SQL text, the tables and parameters it needs, its output contract.

    ``schema`` is the result contract: every engine's result is conformed to it (column
    order, types, null lists → empty lists) and sorted by ``order_by`` so results from
    different engines compare equal row for row.
    """

    name: str
    sql: str
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    schema: pa.Schema
    order_by: tuple[str, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            tree = sqlglot.parse_one(self.sql, read=SOURCE_DIALECT)
        except sqlglot.errors.ParseError as exc:
            raise QueryError(f"query {self.name!r} does not parse: {exc}") from None
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
        clash = ctes & set(self.inputs)
        if clash:
            raise QueryError(f"query {self.name!r}: CTE names shadow inputs {sorted(clash)}")
        tables = {t.name for t in tree.find_all(exp.Table)} - ctes
        unknown = tables - set(self.inputs)
        if unknown:
            raise QueryError(f"query {self.name!r} reads undeclared tables {sorted(unknown)}")
        placeholders = {p.name for p in tree.find_all(exp.Placeholder)}
        if placeholders != set(self.params):
            raise QueryError(
                f"query {self.name!r}: parameters used {sorted(placeholders)} but declared {sorted(self.params)}"
            )
        missing = set(self.order_by) - set(self.schema.names)
        if missing:
            raise QueryError(f"query {self.name!r}: order_by names unknown columns {sorted(missing)}")
        self._cache[SOURCE_DIALECT] = tree

    def _tree(self, dialect: str) -> Any:  # sqlglot AST root (Expression/Expr by version)
        with self._lock:
            if dialect not in self._cache:
                text = self._cache[SOURCE_DIALECT].sql(dialect=dialect)
                self._cache[dialect] = sqlglot.parse_one(text, read=dialect)
            return self._cache[dialect]

    def render(self, dialect: str, names: Mapping[str, str] | None = None) -> str:
        """The SQL for ``dialect``, with input tables renamed per ``names`` (aliases keep column refs valid)."""
        tree = self._tree(dialect)
        if not names:
            return tree.sql(dialect=dialect)
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}

        def rename(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and node.name in names and node.name not in ctes and not node.args.get("db"):
                new = node.copy()
                new.set("this", exp.to_identifier(names[node.name]))
                if not node.alias:
                    new.set("alias", exp.TableAlias(this=exp.to_identifier(node.name)))
                return new
            return node

        return tree.transform(rename).sql(dialect=dialect)


def conform(table: pa.Table, schema: pa.Schema, order_by: tuple[str, ...] = ()) -> pa.Table:
    """Bring an engine's raw result to the query's contract: names, order, types, [] for null lists, row order."""
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise QueryError(f"engine result lacks columns {missing}")
    columns = []
    for f in schema:
        col = table.column(f.name)
        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type):
            col = col.cast(f.type)
            empty = pa.array([[]] * len(col), type=f.type)
            col = pc.if_else(pc.is_null(col), empty, col) if len(col) else col
        else:
            col = col.cast(f.type)
        columns.append(col)
    out = pa.Table.from_arrays(columns, schema=schema)
    if order_by and out.num_rows:
        out = out.sort_by([(n, "ascending") for n in order_by])
    return out
