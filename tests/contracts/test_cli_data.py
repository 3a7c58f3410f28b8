"""``fanzha data``: summary on success, exit 2 with one message on a wrong file, exit 1 on a non-conforming Parquet."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from contract_helpers import FIXTURES, make_table
from typer.testing import CliRunner

from fanzha.cli.main import app

runner = CliRunner()


def test_import_prints_summary_by_reason(tmp_path: Path) -> None:
    src = tmp_path / "calls.csv"
    src.write_text(
        "caller,callee,start,duration_s,ingress\n"
        "13912345678,13912345679,2026-11-02 08:00:00,12,local\n"
        "13912345678,13912345679,2026-11-02 08:00:00,12,satellite\n"
        "12ab,13912345679,2026-11-02 08:00:00,12,local\n",
        encoding="utf-8",
    )
    res = runner.invoke(
        app, ["data", "import", "calls", str(src), "-o", str(tmp_path / "o"), "-q", str(tmp_path / "q")]
    )
    assert res.exit_code == 0, res.output
    assert "bad_enum" in res.output and "bad_number" in res.output
    assert (tmp_path / "o" / "calls" / "calls.parquet").exists()
    assert (tmp_path / "q" / "calls-calls.quarantine.csv").exists()


def test_import_with_shipped_mapping_by_name(tmp_path: Path) -> None:
    args = [
        "data",
        "import",
        "transfers",
        str(FIXTURES / "bank_statement_yuan.csv"),
        "--mapping",
        "bank_statement_yuan",
    ]
    res = runner.invoke(app, [*args, "--out", str(tmp_path), "--quarantine", str(tmp_path / "q")])
    assert res.exit_code == 0, res.output
    assert pq.read_table(tmp_path / "transfers" / "bank_statement_yuan.parquet").num_rows == 5


def test_wrong_file_exits_2_without_traceback(tmp_path: Path) -> None:
    src = tmp_path / "calls.csv"
    src.write_bytes(b"\x00\x01\x02binary")
    res = runner.invoke(app, ["data", "import", "calls", str(src), "-o", str(tmp_path), "-q", str(tmp_path)])
    assert res.exit_code == 2
    assert "binary" in res.output and "Traceback" not in res.output
    bad_map = tmp_path / "m.yaml"
    bad_map.write_text("table: calls\ncolumns: {caller: a, colour: b}\n", encoding="utf-8")
    res = runner.invoke(app, ["data", "import", "calls", str(FIXTURES / "carrier_cdr_gbk.csv"), "-m", str(bad_map)])
    assert res.exit_code == 2
    assert "colour" in res.output


def test_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(make_table("sms", 10), good)
    assert runner.invoke(app, ["data", "validate", "sms", str(good)]).exit_code == 0
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"sender": ["x"]}), bad)
    res = runner.invoke(app, ["data", "validate", "sms", str(bad)])
    assert res.exit_code == 1
    assert "missing column recipient" in res.output
    assert runner.invoke(app, ["data", "validate", "sms", str(FIXTURES / "police_reports.csv")]).exit_code == 2


def test_mappings_lists_examples() -> None:
    res = runner.invoke(app, ["data", "mappings"])
    assert res.exit_code == 0
    assert "carrier_cdr_gbk" in res.output
