"""Test helpers (imported by the contract tests): random tables that conform to a contract, and their CSV export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from fanzha.contracts.importers import AMOUNT_COLUMNS, PHONE_COLUMNS, enum_values
from fanzha.contracts.schemas import TABLES

FIXTURES = Path(__file__).parent / "fixtures"

# Valid numbers of every kind the contracts hold: mobiles, virtual segment, landline, service, foreign.
NUMBERS = [
    "+8613912345678",
    "+8618659201234",
    "+8617012345678",
    "+8616212345678",
    "+865922345678",
    "+8695588",
    "+86106900001234",
    "+442079460958",
]
# Free text with what breaks naive CSV handling: delimiters, quotes, newlines, Chinese, GB18030-only chars.
TEXTS = ["好的，晚上见", 'he said "hi", then left', "line one\nline two", "a;b", "𠮷野家", "plain"]


def make_table(table: str, n: int, seed: int = 0) -> pa.Table:
    """``n`` random rows conforming to ``table``'s schema, with nulls in every optional column."""
    rng = np.random.default_rng(seed)
    schema = TABLES[table]
    cols: list[pa.Array] = []
    for f in schema:
        nulls = rng.random(n) < 0.2 if f.nullable else np.zeros(n, dtype=bool)
        allowed = enum_values(f)
        t = f.type
        if pa.types.is_list(t):
            pool = NUMBERS if f.name in PHONE_COLUMNS.get(table, ()) else ["x1", "中文", "y-2", "TP-ALIPAY-POOL"]
            values: list[object] = [list(rng.choice(pool, size=rng.integers(0, 4))) for _ in range(n)]
            cols.append(pa.array(values, type=t))
            continue
        if f.name in PHONE_COLUMNS.get(table, ()):
            values = list(rng.choice(NUMBERS, size=n))
        elif allowed is not None:
            values = list(rng.choice(allowed, size=n))
        elif pa.types.is_timestamp(t):
            values = list(rng.integers(1_700_000_000_000, 1_800_000_000_000, n))
        elif (table, f.name) in AMOUNT_COLUMNS:
            values = list(rng.integers(AMOUNT_COLUMNS[(table, f.name)], 10**9, n))
        elif pa.types.is_integer(t):
            values = list(rng.integers(0, 7200, n))
        elif pa.types.is_boolean(t):
            values = list(rng.random(n) < 0.5)
        else:
            values = list(rng.choice(TEXTS, size=n))
        arr = pa.array(values)
        cols.append(pa.array([None if m else v for v, m in zip(arr.to_pylist(), nulls, strict=True)], type=t))
    return pa.Table.from_arrays(cols, schema=schema)


def write_csv(table: pa.Table, path: Path, sep: str = ";") -> Path:
    """Export as a carrier would: lists joined in one cell, times ISO 8601 with offset."""
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns([pl.col(c).list.join(sep) for c, dt in df.schema.items() if isinstance(dt, pl.List)])
    df.write_csv(path)
    return path


def read(path: Path) -> pa.Table:
    return pq.read_table(path)
