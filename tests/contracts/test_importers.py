"""Importers: round trips, every kind of bad row quarantined with its line and reason, wrong files refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from contract_helpers import FIXTURES, make_table, read, write_csv

from fanzha.contracts.importers import QUARANTINE_COLUMNS, ContractError, import_file, validate_file
from fanzha.contracts.mapping import MappingError, builtin_mappings, parse_mapping
from fanzha.contracts.schemas import TABLES

Dirs = tuple[Path, Path]


# ----------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("table", list(TABLES))
def test_csv_round_trip(table: str, tmp_path: Path, dirs: Dirs) -> None:
    original = make_table(table, 300, seed=len(table))
    src = write_csv(original, tmp_path / f"{table}.csv")
    rep = import_file(src, table, out_dir=dirs[0], quarantine_dir=dirs[1])
    assert (rep.rows_in, rep.rows_ok, rep.rows_quarantined) == (300, 300, 0)
    back = read(rep.output)
    assert back.schema.equals(TABLES[table], check_metadata=True)
    assert back.equals(original)


@pytest.mark.parametrize("table", list(TABLES))
def test_parquet_round_trip(table: str, tmp_path: Path, dirs: Dirs) -> None:
    original = make_table(table, 300, seed=7)
    src = tmp_path / f"{table}.parquet"
    pq.write_table(original, src)
    rep = import_file(src, table, out_dir=dirs[0], quarantine_dir=dirs[1])
    assert rep.rows_quarantined == 0
    assert read(rep.output).equals(original)
    assert validate_file(table, rep.output).ok


def test_small_chunks_give_the_same_result(tmp_path: Path) -> None:
    """Chunk boundaries (here every few records, inside quoted multi-line fields too) change nothing."""
    original = make_table("sms", 200, seed=3)
    src = write_csv(original, tmp_path / "sms.csv")
    big = import_file(src, "sms", out_dir=tmp_path / "a", quarantine_dir=tmp_path / "qa")
    small = import_file(src, "sms", out_dir=tmp_path / "b", quarantine_dir=tmp_path / "qb", chunk_bytes=100)
    assert read(small.output).equals(read(big.output))
    assert read(small.output).equals(original)


# ----------------------------------------------------------------------------------------- quarantine

HEADER = "caller,callee,start,duration_s,ingress,cell_id,imei"
BAD_CALLS = [
    HEADER,  # 1
    "+8613912345678,13912345679,2026-11-02 08:00:00,12,local,C1,",  # 2 ok
    "",  # 3 blank: skipped, counted apart
    "12ab,13912345679,2026-11-02 08:00:00,12,local,C1,",  # 4 bad_number
    "13912345678,13912345679,yesterday,12,local,C1,",  # 5 bad_time
    "13912345678,13912345679,2026-11-02 08:00:00,12,satellite,C1,",  # 6 bad_enum
    "13912345678,13912345679,2026-11-02 08:00:00,12,local",  # 7 column_count (5 fields)
    "13912345678,,2026-11-02 08:00:00,12,local,C1,x",  # 8 missing_value
    '"13912345678","139 1234 5679","2026-11-02 08:00:00",-5,local,"C1,',  # 9 bad_value (starts a 2-line record)
    'second line",',  # 10
    "13912345678,13912345679,2026-11-02T08:00:00Z,01:02:03,international,C1,",  # 11 ok
    "13912345678,13912345679,2026-11-02 08:00:00,12,local,C1,too,many",  # 12 column_count (9 fields)
    "13912345678,13912345679,2026-11-02 08:00:00,12,local,C1,last",  # 13 ok, no final newline
]
EXPECTED = {4: "bad_number", 5: "bad_time", 6: "bad_enum", 7: "column_count", 8: "missing_value", 9: "bad_value"}
EXPECTED[12] = "column_count"


def _write_bad_calls(tmp_path: Path, crlf: bool = False) -> Path:
    src = tmp_path / "bad_calls.csv"
    src.write_bytes(("\r\n" if crlf else "\n").join(BAD_CALLS).encode())
    return src


@pytest.mark.parametrize("chunk_bytes", [64, 1 << 20])
@pytest.mark.parametrize("crlf", [False, True])
def test_each_bad_row_is_quarantined_with_line_and_reason(
    tmp_path: Path, dirs: Dirs, chunk_bytes: int, crlf: bool
) -> None:
    src = _write_bad_calls(tmp_path, crlf)
    rep = import_file(src, "calls", out_dir=dirs[0], quarantine_dir=dirs[1], chunk_bytes=chunk_bytes)
    assert rep.rows_in == 10  # 12 physical lines after the header: one blank, one record spans two
    assert rep.blank_lines == 1
    assert rep.rows_in == rep.rows_ok + rep.rows_quarantined
    assert rep.rows_ok == 3
    assert rep.quarantine is not None
    q = pl.read_csv(rep.quarantine)
    assert tuple(q.columns) == QUARANTINE_COLUMNS
    assert dict(zip(q["line"].to_list(), q["reason"].to_list(), strict=True)) == EXPECTED
    assert set(q["source_file"]) == {str(src)}
    raw = dict(zip(q["line"].to_list(), q["raw"].to_list(), strict=True))
    assert raw[4] == BAD_CALLS[3]
    assert raw[9] == BAD_CALLS[8] + ("\r\n" if crlf else "\n") + BAD_CALLS[9]
    assert rep.reasons["column_count"] == 2
    assert sum(rep.reasons.values()) == rep.rows_quarantined
    out = pl.read_parquet(rep.output)
    assert out["imei"].to_list() == [None, None, "last"]
    assert out["duration_s"].to_list() == [12, 3723, 12]
    assert out["start"].to_list()[0] == datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # 08:00 Shanghai


def test_undecodable_row_is_quarantined_not_the_file(tmp_path: Path, dirs: Dirs) -> None:
    rows = [HEADER] + ["13912345678,13912345679,2026-11-02 08:00:00,12,local,C1,"] * 5
    data = "\n".join(rows).encode() + b"\n13912345678,13912345679,2026-11-02 08:00:00,12,local,C1,\xff\xfe\n"
    src = tmp_path / "enc.csv"
    src.write_bytes(data)
    rep = import_file(src, "calls", out_dir=dirs[0], quarantine_dir=dirs[1])
    assert (rep.rows_ok, rep.reasons) == (5, {"bad_encoding": 1})
    q = pl.read_csv(rep.quarantine)  # type: ignore[arg-type]
    assert q["line"].to_list() == [7]
    assert q["raw"][0].endswith("\\xff\\xfe")


def test_amounts_yuan_to_exact_cents(tmp_path: Path, dirs: Dirs) -> None:
    amounts = ["0.1", "0.29", "1,234.56", "12.340", "¥88", "19.99元", "12.345", "-5", "0", "0.00", "1e3", "abc"]
    lines = ["id,amt"] + [f'T{i},"{a}"' for i, a in enumerate(amounts)]
    src = tmp_path / "t.csv"
    src.write_text("\n".join(lines), encoding="utf-8")
    mapping = parse_mapping(
        {
            "table": "transfers",
            "amount_unit": "yuan",
            "columns": {
                "transfer_id": "id",
                "time": {"const": "2026-11-02 10:00:00"},
                "from_account": {"const": "A"},
                "amount_cents": "amt",
                "channel": {"const": "bank"},
            },
        }
    )
    rep = import_file(src, "transfers", mapping, out_dir=dirs[0], quarantine_dir=dirs[1])
    out = pl.read_parquet(rep.output)
    assert out["amount_cents"].to_list() == [10, 29, 123456, 1234, 8800, 1999]
    assert rep.reasons == {"bad_amount": 6}
    assert pl.read_csv(rep.quarantine)["line"].to_list() == [8, 9, 10, 11, 12, 13]  # type: ignore[arg-type]


def test_times_naive_local_offset_and_epoch(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "v.csv"
    src.write_text(
        "number,time,url\n"
        "13912345678,2026-11-02 08:00:00,http://a\n"
        "13912345678,2026-11-02T08:00:00+08:00,http://a\n"
        "13912345678,2026-11-02T00:00:00Z,http://a\n"
        "13912345678,2026/11/02 08:00:00.250,http://a\n"
        "13912345678,2026-11-02,http://a\n",
        encoding="utf-8",
    )
    rep = import_file(src, "url_visits", out_dir=dirs[0], quarantine_dir=dirs[1])
    got = pl.read_parquet(rep.output)["time"].to_list()
    base = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    assert got[:3] == [base] * 3
    assert got[3] == datetime(2026, 11, 2, 0, 0, 0, 250000, tzinfo=UTC)
    assert got[4] == datetime(2026, 11, 1, 16, 0, tzinfo=UTC)
    epoch = parse_mapping(
        {"table": "url_visits", "time": {"format": "epoch_s"}, "columns": {"number": "n", "time": "t", "url": "u"}}
    )
    src2 = tmp_path / "e.csv"
    src2.write_text(f"n,t,u\n13912345678,{int(base.timestamp())},http://a\n", encoding="utf-8")
    assert pl.read_parquet(import_file(src2, "url_visits", epoch, dirs[0], dirs[1]).output)["time"][0] == base


def test_parquet_bad_rows_keep_row_index_and_json(tmp_path: Path, dirs: Dirs) -> None:
    good = make_table("transfers", 6, seed=1).to_pylist()
    good[2]["amount_cents"] = -100
    good[4]["channel"] = "carrier_pigeon"
    src = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(good, schema=TABLES["transfers"]), src)
    rep = import_file(src, "transfers", out_dir=dirs[0], quarantine_dir=dirs[1])
    assert (rep.rows_in, rep.rows_ok) == (6, 4)
    q = pl.read_csv(rep.quarantine)  # type: ignore[arg-type]
    assert q["line"].to_list() == [2, 4]  # 0-based row index in a Parquet source
    assert q["reason"].to_list() == ["bad_amount", "bad_enum"]
    assert json.loads(q["raw"][1])["channel"] == "carrier_pigeon"


def test_reimport_replaces_output_and_stale_quarantine(tmp_path: Path, dirs: Dirs) -> None:
    src = _write_bad_calls(tmp_path)
    first = import_file(src, "calls", out_dir=dirs[0], quarantine_dir=dirs[1])
    assert first.quarantine is not None and first.quarantine.exists()
    src.write_text("\n".join([BAD_CALLS[0], BAD_CALLS[1]]), encoding="utf-8")
    second = import_file(src, "calls", out_dir=dirs[0], quarantine_dir=dirs[1])
    assert second.quarantine is None and not first.quarantine.exists()
    assert pl.read_parquet(second.output).height == 1
    assert not list(dirs[0].rglob("*.partial"))


# ----------------------------------------------------------------------------------------- example mappings

SAMPLES = {
    "carrier_cdr_gbk": ("calls", "carrier_cdr_gbk.csv", 5),
    "carrier_sms_gb18030": ("sms", "carrier_sms_gb18030.tsv", 4),
    "bank_statement_yuan": ("transfers", "bank_statement_yuan.csv", 5),
    "subscriber_register": ("subscribers", "subscriber_register.csv", 3),
    "police_reports": ("reports", "police_reports.csv", 3),
}


def test_every_shipped_mapping_has_a_sample() -> None:
    assert set(SAMPLES) == set(builtin_mappings())


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_imports_cleanly(name: str, dirs: Dirs) -> None:
    table, sample, rows = SAMPLES[name]
    rep = import_file(FIXTURES / sample, table, name, out_dir=dirs[0], quarantine_dir=dirs[1])
    assert (rep.rows_in, rep.rows_ok, rep.quarantine) == (rows, rows, None)
    assert validate_file(table, rep.output).ok


def test_gbk_cdr_values(dirs: Dirs) -> None:
    rep = import_file(FIXTURES / "carrier_cdr_gbk.csv", "calls", "carrier_cdr_gbk", dirs[0], dirs[1])
    out = pl.read_parquet(rep.output)
    assert out["caller"].to_list() == [
        "+8613906001234",
        "+8617012345678",
        "+865922345678",
        "+865922345678",  # "2345678" completed with the mapping's area code 592
        "+8613906001234",
    ]
    assert out["callee"][4] == "+8695588"
    assert out["ingress"].to_list() == ["local", "international", "long_distance", "local", "local"]
    assert out["duration_s"].to_list() == [135, 45, 0, 125, 3661]
    assert out["start"][0] == datetime(2026, 11, 2, 0, 30, 15, tzinfo=UTC)  # 08:30:15 Shanghai


def test_bank_statement_third_party_and_cash_out(dirs: Dirs) -> None:
    rep = import_file(FIXTURES / "bank_statement_yuan.csv", "transfers", "bank_statement_yuan", dirs[0], dirs[1])
    out = pl.read_parquet(rep.output)
    assert out["amount_cents"].to_list() == [128050, 128050, 5000000, 2000000, 1]
    assert out["channel"].to_list() == ["third_party", "third_party", "bank", "atm", "crypto_otc"]
    tp = out.filter(pl.col("channel") == "third_party")
    assert tp["order_no"].n_unique() == 1 and tp["to_account"][0] == tp["from_account"][1] == "TP-ALIPAY-POOL"
    assert out["to_account"].to_list()[3:] == [None, None]
    assert rep.ignored_columns == ["摘要"]


def test_reports_lists_split_and_normalised(dirs: Dirs) -> None:
    rep = import_file(FIXTURES / "police_reports.csv", "reports", "police_reports", dirs[0], dirs[1])
    out = pl.read_parquet(rep.output)
    assert out["fraud_numbers"].to_list() == [["+865922345678", "+8617012345678"], [], []]
    assert out["transfer_ids"].to_list() == [["B0003"], ["B0001", "B0002"], []]
    assert out["loss_cents"].to_list() == [5000000, 128050, 0]
    assert out["typology"].to_list() == ["impersonate_police", "rebate_task", "other"]


# ----------------------------------------------------------------------------------------- wrong files


def _refused(src: Path, table: str, dirs: Dirs, mapping: object = None, match: str = "") -> None:
    with pytest.raises((ContractError, MappingError), match=match):
        import_file(src, table, mapping, out_dir=dirs[0], quarantine_dir=dirs[1])  # type: ignore[arg-type]
    assert not dirs[0].exists() or not list(dirs[0].rglob("*"))  # nothing written
    assert not dirs[1].exists()


def test_binary_file_as_csv(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "calls.csv"
    src.write_bytes(bytes(range(256)) * 10)
    _refused(src, "calls", dirs, match="binary")


def test_parquet_named_csv(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "calls.csv"
    pq.write_table(make_table("calls", 3), src)
    _refused(src, "calls", dirs, match="is a Parquet file")


def test_csv_named_parquet(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "calls.parquet"
    src.write_text(HEADER + "\n", encoding="utf-8")
    _refused(src, "calls", dirs, match="not a Parquet file")


def test_excel_workbook(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "calls.csv"
    src.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    _refused(src, "calls", dirs, match="Excel")


def test_parquet_missing_required_columns(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "calls.parquet"
    pq.write_table(make_table("calls", 3).drop_columns(["start", "ingress"]), src)
    _refused(src, "calls", dirs, match="required columns missing.*start, ingress")


def test_header_matching_nothing(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "x.csv"
    src.write_text("foo,bar\n1,2\n", encoding="utf-8")
    _refused(src, "calls", dirs, match="matches no column")
    _refused(src, "calls", dirs, "carrier_cdr_gbk", match="matches nothing in the mapping")


def test_header_missing_some_mapped_columns(dirs: Dirs, tmp_path: Path) -> None:
    src = tmp_path / "cdr.csv"
    src.write_bytes("主叫号码,被叫号码,通话开始时间\n13912345678,13912345679,20261102083015\n".encode("gbk"))
    _refused(src, "calls", dirs, "carrier_cdr_gbk", match="missing from the file.*呼叫类型")


def test_gbk_file_declared_utf8(dirs: Dirs) -> None:
    _refused(FIXTURES / "carrier_cdr_gbk.csv", "calls", dirs, match="not utf-8 text.*GBK")


def test_mostly_undecodable_body_is_wrong_encoding(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "sms.csv"
    body = "\n".join(f"1391234567{i},13912345679,2026-11-02 08:00:00,您好{i}" for i in range(10))
    src.write_bytes(("sender,recipient,time,text\n" + body).encode("gbk"))
    _refused(src, "sms", dirs, match="not utf-8 text")


def test_empty_file_unknown_table_wrong_mapping(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "e.csv"
    src.write_bytes(b"")
    _refused(src, "calls", dirs, match="empty")
    _refused(FIXTURES / "bank_statement_yuan.csv", "phonebook", dirs, match="unknown table")
    _refused(FIXTURES / "bank_statement_yuan.csv", "calls", dirs, "bank_statement_yuan", match="for table 'transfers'")
    _refused(tmp_path / "missing.csv", "calls", dirs, match="does not exist")


# ----------------------------------------------------------------------------------------- validate


def test_validate_finds_contract_breaks(tmp_path: Path) -> None:
    good = make_table("calls", 20)
    bad = good.set_column(4, "ingress", pa.array(["pigeon"] * 20)).set_column(
        0, pa.field("caller", pa.string()), pa.array(["13912345678"] * 20)
    )
    bad = bad.append_column("extra", pa.array(range(20)))
    bad = bad.set_column(3, "duration_s", bad["duration_s"].cast(pa.int64()))
    p = tmp_path / "bad.parquet"
    pq.write_table(bad, p)
    rep = validate_file("calls", p)
    text = "\n".join(rep.problems)
    assert "duration_s is int64" in text
    assert "ingress: values outside Ingress (20 rows)" in text
    assert "caller: not E.164 (20 rows)" in text
    assert "columns not in the contract: extra" in text
    ok = tmp_path / "ok.parquet"
    pq.write_table(good, ok)
    assert validate_file("calls", ok).ok
    with pytest.raises(ContractError, match="not a Parquet file"):
        validate_file("calls", FIXTURES / "bank_statement_yuan.csv")


def test_quotes_inside_fields_and_unclosed_quote_at_end(tmp_path: Path, dirs: Dirs) -> None:
    src = tmp_path / "sms.csv"
    src.write_text(
        "sender,recipient,time,text\n"
        '13912345678,13912345679,2026-11-02 08:00:00,he is 5" tall\n'  # 2: a quote inside a field is text
        '13912345678,13912345679,2026-11-02 08:00:00,"say ""hi"", then\ngo"\n'  # 3-4: escaped quotes + newline
        '13912345678,13912345679,2026-11-02 08:00:00,"never closed\n'  # 5: open until the end of the file
        "13912345678,13912345679,2026-11-02 08:00:00,swallowed\n",
        encoding="utf-8",
    )
    rep = import_file(src, "sms", out_dir=dirs[0], quarantine_dir=dirs[1], chunk_bytes=64)
    assert pl.read_parquet(rep.output)["text"].to_list() == ['he is 5" tall', 'say "hi", then\ngo']
    assert (rep.rows_in, rep.reasons, rep.multiline_records) == (3, {"bad_csv": 1}, 2)
    q = pl.read_csv(rep.quarantine)  # type: ignore[arg-type]
    assert q["line"].to_list() == [5]
    assert q["raw"][0].endswith("swallowed\n")


def test_parquet_export_through_a_mapping(tmp_path: Path, dirs: Dirs) -> None:
    """A bank's Parquet export with Chinese names, float yuan and local naive times."""
    src = tmp_path / "statement.parquet"
    pl.DataFrame(
        {
            "流水号": ["B1", "B2", "B3"],
            "时间": [datetime(2026, 11, 2, 8, 0), datetime(2026, 11, 2, 9, 0), datetime(2026, 11, 2, 10, 0)],
            "付款账号": [6222020000012345678, 6222020000012345679, 6222020000012345670],
            "金额": [0.29, 1280.5, 0.001],
            "渠道": ["网银转账", "ATM取款", "网银转账"],
        }
    ).write_parquet(src)
    mapping = parse_mapping(
        {
            "table": "transfers",
            "format": "parquet",
            "amount_unit": "yuan",
            "columns": {
                "transfer_id": "流水号",
                "time": "时间",
                "from_account": "付款账号",
                "amount_cents": "金额",
                "channel": {"source": "渠道", "values": {"网银转账": "bank", "ATM取款": "atm"}},
            },
        }
    )
    rep = import_file(src, "transfers", mapping, out_dir=dirs[0], quarantine_dir=dirs[1])
    out = pl.read_parquet(rep.output)
    assert out["amount_cents"].to_list() == [29, 128050]
    assert out["from_account"].to_list() == ["6222020000012345678", "6222020000012345679"]
    assert out["time"][0] == datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    assert out["channel"].to_list() == ["bank", "atm"]
    q = pl.read_csv(rep.quarantine)  # type: ignore[arg-type]
    assert (q["line"].to_list(), q["reason"].to_list()) == ([2], ["bad_amount"])
