"""Mapping files: the shipped examples load, and a wrong mapping gives one clear MappingError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fanzha.contracts.mapping import MappingError, builtin_mappings, load_mapping, parse_mapping

GOOD: dict[str, Any] = {
    "table": "calls",
    "columns": {
        "caller": "主叫",
        "callee": {"source": "被叫"},
        "start": "时间",
        "duration_s": "时长",
        "ingress": {"source": "类型", "values": {"国际": "international"}},
    },
}


def test_shipped_examples_all_load() -> None:
    shipped = builtin_mappings()
    assert {"carrier_cdr_gbk", "bank_statement_yuan", "carrier_sms_gb18030"} <= set(shipped)
    for path in shipped.values():
        m = load_mapping(path)
        assert m.columns


def test_shorthand_and_defaults() -> None:
    m = parse_mapping(GOOD)
    assert m.columns["caller"].source == "主叫"
    assert m.time.timezone == "Asia/Shanghai"
    assert m.csv.encoding == "utf-8"
    assert m.amount_unit == "cents"


def test_tab_delimiter_and_encoding_aliases() -> None:
    m = parse_mapping({**GOOD, "csv": {"delimiter": "\\t", "encoding": "GB18030"}})
    assert m.csv.delimiter == "\t"
    assert m.csv.encoding == "gb18030"


def _bad(change: dict[str, Any]) -> str:
    with pytest.raises(MappingError) as err:
        parse_mapping({**GOOD, **change})
    return str(err.value)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"table": "phonebook"}, "unknown table 'phonebook'"),
        ({"columns": {**GOOD["columns"], "colour": "x"}}, "not in table 'calls'"),
        ({"columns": {k: v for k, v in GOOD["columns"].items() if k != "caller"}}, "not mapped: caller"),
        ({"columns": {**GOOD["columns"], "cell_id": {"source": "a", "const": "b"}}}, "exactly one of source or const"),
        ({"csv": {"encoding": "utf-16"}}, "not supported"),
        ({"csv": {"encoding": "klingon"}}, "unknown encoding"),
        ({"csv": {"delimiter": ";;"}}, "single ASCII character"),
        ({"csv": {"header": False}}, "csv.columns"),
        ({"time": {"timezone": "Mars/Olympus"}}, "unknown timezone"),
        ({"time": {"format": "YYYY-MM-DD"}}, "strftime"),
        ({"amount_unit": "dollars"}, "amount_unit"),
        ({"numbers": {"default_region": "XX"}}, "unknown phone region"),
        ({"numbers": {"area_code": "0592"}}, "without the trunk 0"),
        ({"sheet": 1}, "sheet"),
    ],
)
def test_bad_mapping_says_what_is_wrong(change: dict[str, Any], needle: str) -> None:
    assert needle in _bad(change)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("table: calls\ncolumns: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n", encoding="utf-8")
    with pytest.raises(MappingError, match="YAML mapping"):
        load_mapping(scalar)
