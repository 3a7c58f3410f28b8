"""The lookup benchmark's generated data: contract schemas, and the lookup finds exactly the planted people."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from fanzha.analytics import DuckDBEngine
from fanzha.bench.lookup import SPAN, START, generate
from fanzha.contracts.schemas import CALLS, SMS
from fanzha.warning import CaseElements, reverse_lookup


def test_generated_rows_hold_exactly_the_planted_contacts(tmp_path: Path, duckdb_engine: DuckDBEngine) -> None:
    gen = generate(tmp_path, rows=400_000, subscribers=50_000, fraud=40, contact_share=0.02, progress=False)
    assert pq.read_schema(next((tmp_path / "calls").glob("*.parquet"))).equals(CALLS)
    assert pq.read_schema(next((tmp_path / "sms").glob("*.parquet"))).equals(SMS)
    assert gen.calls_rows + gen.sms_rows == 400_000
    assert len(set(gen.fraud_numbers)) == 40
    el = CaseElements.of(numbers=gen.fraud_numbers)
    tables = {"calls": tmp_path / "calls", "sms": tmp_path / "sms"}
    contacts = reverse_lookup(duckdb_engine, tables, el, START, START + SPAN).contacts
    assert contacts.num_rows == gen.planted_people > 1_000
    evidence = sum(contacts.column("calls").to_pylist()) + sum(contacts.column("sms").to_pylist())
    assert evidence == gen.planted_rows
    assert not set(gen.fraud_numbers) & set(contacts.column("number").to_pylist())
