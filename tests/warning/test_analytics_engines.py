"""The analytics layer the lookup stands on: query checks, per-run table names, sources, conforming."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fanzha.analytics import AnalyticsError, DuckDBEngine, Engine, Query, QueryError, conform, make_engine

OUT = pa.schema([("caller", pa.string()), ("n", pa.int64()), ("tags", pa.list_(pa.string()))])


def _q(sql: str, inputs: tuple[str, ...] = ("calls",), params: tuple[str, ...] = ("d",)) -> Query:
    return Query(name="t", sql=sql, inputs=inputs, params=params, schema=OUT, order_by=("caller",))


QUALIFIED = _q(
    "SELECT calls.caller, COUNT(*) AS n,"
    " ARRAY_SORT(ARRAY_AGG(DISTINCT calls.tag) FILTER (WHERE calls.tag <> '')) AS tags"
    " FROM calls WHERE calls.duration_s > $d GROUP BY calls.caller"
)


def _calls() -> pa.Table:
    return pa.table(
        {
            "caller": ["b", "a", "a", "c", "b"],
            "duration_s": pa.array([5, 1, 9, 0, 7], pa.int32()),
            "tag": ["x", "y", "", "z", "w"],
        }
    )


def test_query_definition_errors_are_caught_early() -> None:
    with pytest.raises(QueryError, match="undeclared tables"):
        _q("SELECT caller FROM sms WHERE x > $d")
    with pytest.raises(QueryError, match="parameters"):
        _q("SELECT caller FROM calls WHERE x > $other")
    with pytest.raises(QueryError, match="shadow"):
        _q("WITH calls AS (SELECT 1 AS x) SELECT * FROM calls WHERE x > $d")
    with pytest.raises(QueryError, match="does not parse"):
        _q("SELEC caller FROM calls WHERE")


def test_render_renames_tables_but_keeps_qualified_columns() -> None:
    sql = QUALIFIED.render("spark", {"calls": "calls__abc"})
    assert "calls__abc AS calls" in sql and ":d" in sql
    assert "$d" in QUALIFIED.render("duckdb")


def test_qualified_query_runs_with_bound_parameter(engine: Engine) -> None:
    out = engine.run(QUALIFIED, {"calls": _calls()}, {"d": 0})
    assert out.to_pylist() == [
        {"caller": "a", "n": 2, "tags": ["y"]},
        {"caller": "b", "n": 2, "tags": ["w", "x"]},
    ]
    # a value that looks like SQL is just a value
    with pytest.raises(AnalyticsError):
        engine.run(QUALIFIED, {"calls": _calls()}, {"d": "0 OR 1=1"})


def test_folder_sources_are_read_recursively(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "day=1").mkdir()
    (tmp_path / "day=2" / "late").mkdir(parents=True)
    t = _calls()
    pq.write_table(t.slice(0, 2), tmp_path / "day=1" / "part-0.parquet")
    pq.write_table(t.slice(2), tmp_path / "day=2" / "late" / "part-0.parquet")
    out = engine.run(QUALIFIED, {"calls": tmp_path}, {"d": 4})
    assert [(r["caller"], r["n"]) for r in out.to_pylist()] == [("a", 1), ("b", 2)]


def test_run_errors_are_clear(duckdb_engine: DuckDBEngine, tmp_path: Path) -> None:
    with pytest.raises(AnalyticsError, match="needs tables"):
        duckdb_engine.run(QUALIFIED, {}, {"d": 0})
    with pytest.raises(AnalyticsError, match="takes parameters"):
        duckdb_engine.run(QUALIFIED, {"calls": _calls()}, {})
    with pytest.raises(AnalyticsError, match="no Parquet files"):
        duckdb_engine.run(QUALIFIED, {"calls": tmp_path}, {"d": 0})
    with pytest.raises(AnalyticsError, match="could not run query"):
        duckdb_engine.run(QUALIFIED, {"calls": _calls().drop_columns(["tag"])}, {"d": 0})
    with pytest.raises(ValueError, match="unknown analytics engine"):
        make_engine("oracle")


def test_conform_fills_null_lists_casts_and_sorts() -> None:
    raw = pa.table(
        {
            "extra": [1, 2],
            "n": pa.array([3, 4], pa.int32()),
            "tags": pa.array([None, ["q"]], pa.list_(pa.large_string())),
            "caller": pa.array(["z", "a"], pa.large_string()),
        }
    )
    out = conform(raw, OUT, ("caller",))
    assert out.schema.equals(OUT)
    assert out.to_pylist() == [{"caller": "a", "n": 4, "tags": ["q"]}, {"caller": "z", "n": 3, "tags": []}]
    with pytest.raises(QueryError, match="lacks columns"):
        conform(raw.drop_columns(["n"]), OUT)
