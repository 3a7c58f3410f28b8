"""Importers (数据接入): a carrier's or bank's CSV/Parquet export → Parquet in the contract schema.

Why it is built this way:

* Files are read in chunks and every check is a column operation (Polars/numpy), so a
  10M-row CDR does not become 10M Python objects. Phone numbers reach ``phonenumbers``
  only once per distinct non-mobile value (see :mod:`fanzha.contracts.phones`).
* CSV records are split with numpy on the raw bytes (quote parity decides which
  newlines end a record), which gives each record its 1-based physical line number and
  its field count before parsing: rows with the wrong number of fields, undecodable
  bytes or unparseable values go to a quarantine file with file, line, reason and the raw
  row. ``rows_in == rows_ok + rows_quarantined`` always; blank lines are counted apart.
* A file that is not what it claims (binary, Excel, Parquet given as CSV, wrong
  encoding, header matching nothing in the mapping, Parquet missing required columns)
  raises one :class:`ContractError` before any output is written. Output and quarantine
  are written to temporary names and renamed only when the import finishes.
"""

from __future__ import annotations

import codecs
import csv
import io
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from fanzha.contracts import vocab
from fanzha.contracts.mapping import (
    ColumnSpec,
    CsvOptions,
    Mapping,
    MappingError,
    identity_mapping,
    load_mapping,
)
from fanzha.contracts.phones import looks_e164, normalize_numbers
from fanzha.contracts.schemas import GROUND_TRUTH, TABLES


class ContractError(ValueError):
    """The file is not what it claims to be (wrong format, encoding or columns); nothing was written."""


PHONE_COLUMNS: dict[str, frozenset[str]] = {
    "subscribers": frozenset({"number"}),
    "accounts": frozenset({"holder_number"}),
    "calls": frozenset({"caller", "callee"}),
    "sms": frozenset({"sender", "recipient"}),
    "url_visits": frozenset({"number"}),
    "reports": frozenset({"victim_number", "fraud_numbers"}),
    "protected_numbers": frozenset({"number"}),
}
"""Columns holding phone numbers (normalised to E.164 on import)."""

AMOUNT_COLUMNS: dict[tuple[str, str], int] = {("transfers", "amount_cents"): 1, ("reports", "loss_cents"): 0}
"""Money columns (分) and the smallest allowed value: a transfer moves at least one cent, a loss may be 0."""

REASONS = {
    "column_count": "CSV record has the wrong number of fields",
    "bad_encoding": "bytes not decodable in the declared encoding",
    "bad_csv": "CSV quoting could not be parsed",
    "missing_value": "a required field is empty",
    "bad_number": "not a phone number",
    "bad_time": "unparseable timestamp",
    "bad_amount": "amount not a positive number of yuan/cents",
    "bad_enum": "value outside the contract's vocabulary",
    "bad_value": "not a valid integer/boolean",
}
"""Quarantine reason codes."""

QUARANTINE_COLUMNS = ("source_file", "line", "reason", "detail", "raw")

_TRUE = ("true", "t", "1", "yes", "y", "是", "已实名")
_FALSE = ("false", "f", "0", "no", "n", "否", "未实名")
_DEFAULT_CHUNK_BYTES = 32 << 20
_DEFAULT_CHUNK_ROWS = 500_000


@dataclass
class ImportReport:
    """What one import did: counts balance (``rows_in == rows_ok + rows_quarantined``)."""

    table: str
    source: Path
    output: Path
    quarantine: Path | None = None
    rows_in: int = 0
    rows_ok: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    blank_lines: int = 0
    multiline_records: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.rows_ok + self.rows_quarantined


# --------------------------------------------------------------------------- column conversion


Kind = Literal["phone", "phone_list", "enum", "string", "string_list", "time", "amount", "int", "bool"]


def _kind(table: str, f: pa.Field) -> Kind:
    phones = PHONE_COLUMNS.get(table, frozenset())
    if pa.types.is_list(f.type):
        return "phone_list" if f.name in phones else "string_list"
    if f.name in phones:
        return "phone"
    if f.metadata and b"enum" in f.metadata:
        return "enum"
    if pa.types.is_timestamp(f.type):
        return "time"
    if (table, f.name) in AMOUNT_COLUMNS:
        return "amount"
    if pa.types.is_integer(f.type):
        return "int"
    if pa.types.is_boolean(f.type):
        return "bool"
    return "string"


def enum_values(f: pa.Field) -> list[str] | None:
    """The allowed values of an enum column (from its ``enum`` metadata naming a :mod:`vocab` class)."""
    if not f.metadata or b"enum" not in f.metadata:
        return None
    cls = getattr(vocab, f.metadata[b"enum"].decode())
    return [str(m.value) for m in cls]


_KIND_REASON: dict[Kind, str] = {
    "phone": "bad_number",
    "phone_list": "bad_number",
    "enum": "bad_enum",
    "string": "bad_value",
    "string_list": "bad_value",
    "time": "bad_time",
    "amount": "bad_amount",
    "int": "bad_value",
    "bool": "bad_value",
}


def _null_where(s: pl.Series, mask: pl.Series) -> pl.Series:
    """``s`` with nulls where ``mask`` is true (a null mask counts as false)."""
    frame = pl.DataFrame({"v": s, "m": mask.fill_null(False)})
    return frame.select(pl.when(pl.col("m")).then(None).otherwise(pl.col("v")).alias(s.name)).to_series()


def _tidy(s: pl.Series, null_values: list[str]) -> pl.Series:
    """Trim strings and turn empty/null markers into nulls."""
    if s.dtype != pl.String:
        return s
    t = s.str.strip_chars()
    return _null_where(t, t.is_in(null_values))


def _localize(naive: pl.Series, tz: str) -> pl.Series:
    return (
        naive.cast(pl.Datetime("ms"))
        .dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def _parse_times(s: pl.Series, fmt: str | None, tz: str) -> pl.Series:
    """Any supported source representation → ``Datetime(ms, UTC)``; null where unparseable."""
    out_type = pl.Datetime("ms", "UTC")
    if isinstance(s.dtype, pl.Datetime):
        if s.dtype.time_zone is None:
            return _localize(s, tz)
        return s.dt.convert_time_zone("UTC").cast(out_type)
    if s.dtype == pl.Date:
        return _localize(s.cast(pl.Datetime("ms")), tz)
    if fmt in ("epoch_s", "epoch_ms"):
        ints = s if s.dtype.is_integer() else s.cast(pl.String).str.extract(r"^(-?[0-9]{1,16})$").cast(pl.Int64)
        return (
            pl.from_epoch(ints.cast(pl.Int64), time_unit="s" if fmt == "epoch_s" else "ms")
            .dt.replace_time_zone("UTC")
            .cast(out_type)
        )
    text = s.cast(pl.String)
    if fmt is not None:
        parsed = text.str.strptime(pl.Datetime("ms"), fmt, strict=False, exact=True)
        if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None:
            return parsed.dt.convert_time_zone("UTC").cast(out_type)
        return _localize(parsed, tz)
    # ISO 8601 and its common relatives: "T" or space, optional fraction, optional Z/offset, "/" dates.
    t = (
        text.str.replace(r"^([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})", "$1-$2-$3")
        .str.replace(r"^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})[Tt ]", "$1 ")
        .str.replace(r"[Zz]$", "+00:00")
    )
    result = t.str.strptime(pl.Datetime("ms"), "%Y-%m-%d %H:%M:%S%.f%#z", strict=False, exact=True).cast(out_type)
    # Only rows the first format missed are tried again (most files use one format throughout).
    for naive_fmt in ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        todo = np.flatnonzero((result.is_null() & t.is_not_null()).to_numpy())
        if not len(todo):
            break
        naive = t.gather(todo).str.strptime(pl.Datetime("ms"), naive_fmt, strict=False, exact=True)
        result = result.scatter(todo, _localize(naive, tz))
    return result


_AMOUNT_RE = r"^\+?([0-9]{1,15})(?:\.([0-9]*))?$"


def _parse_amount(s: pl.Series, unit: str) -> pl.Series:
    """Yuan with up to two decimals (or whole cents) → exact int64 cents; null where not exact."""
    if s.dtype.is_integer():
        ints = s.cast(pl.Int64)
        return ints * 100 if unit == "yuan" else ints
    text = s.cast(pl.String).str.replace_all(r"[,\s¥￥元]", "")
    parts = text.str.extract_groups(_AMOUNT_RE)
    whole = parts.struct.field("1").cast(pl.Int64, strict=False)
    frac = parts.struct.field("2").fill_null("")
    if unit == "yuan":
        cents2 = frac.str.slice(0, 2).str.pad_end(2, "0").cast(pl.Int64)
        exact = frac.str.slice(2).str.contains(r"^0*$")
        value = whole * 100 + cents2
    else:
        exact = frac.str.contains(r"^0*$")
        value = whole
    return _null_where(value, ~exact.fill_null(False))


def _parse_int(s: pl.Series) -> pl.Series:
    """Whole non-negative numbers, also ``12.0`` and durations written ``[h:]mm:ss``."""
    if s.dtype.is_integer():
        return s.cast(pl.Int64)
    text = s.cast(pl.String)
    plain = text.str.extract(r"^\+?([0-9]{1,12})(?:\.0*)?$").cast(pl.Int64)
    hms = text.str.extract_groups(r"^(?:([0-9]{1,6}):)?([0-9]{1,2}):([0-9]{2})$")
    h = hms.struct.field("1").cast(pl.Int64).fill_null(0)
    m = hms.struct.field("2").cast(pl.Int64)
    sec = hms.struct.field("3").cast(pl.Int64)
    ok_hms = (sec < 60) & ((m < 60) | hms.struct.field("1").is_null())
    clock = _null_where(h * 3600 + m * 60 + sec, ~ok_hms.fill_null(False))
    return plain.fill_null(clock)


def _parse_bool(s: pl.Series) -> pl.Series:
    if s.dtype == pl.Boolean:
        return s
    low = s.cast(pl.String).str.to_lowercase()
    t = low.is_in(_TRUE)
    f = low.is_in(_FALSE)
    return pl.select(pl.when(t).then(True).when(f).then(False).otherwise(None)).to_series()


def _split_list(s: pl.Series, sep: str) -> pl.Series:
    """A cell ``a;b;c`` → list; an empty cell is an empty list (lists are never null in the contracts)."""
    is_list = isinstance(s.dtype, pl.List)
    lst = s.cast(pl.List(pl.String)) if is_list else s.cast(pl.String).fill_null("").str.split(sep)
    return lst.list.eval(pl.element().str.strip_chars().filter(pl.element().str.len_chars() > 0))


@dataclass
class _Converted:
    value: pl.Series
    bad: pl.Series  # bool: the source had a value that could not be read


def _convert(table: str, f: pa.Field, src: pl.Series, spec: ColumnSpec, mapping: Mapping) -> _Converted:
    kind = _kind(table, f)
    vals = spec.values_str
    if vals:
        src = src.cast(pl.String).replace(vals)
    present = src.is_not_null()
    num = mapping.numbers
    if kind == "phone":
        v = normalize_numbers(src.cast(pl.String), num.default_region, num.area_code, num.validity)
        return _Converted(v, present & v.is_null())
    if kind in ("phone_list", "string_list"):
        lst = _split_list(src, mapping.csv.list_separator)
        if kind == "string_list":
            return _Converted(lst, pl.Series([False] * len(src), dtype=pl.Boolean))
        rows = pl.DataFrame({"row": np.arange(len(lst)), "raw": lst}).explode("raw", empty_as_null=True)
        norm = normalize_numbers(rows["raw"], num.default_region, num.area_code, num.validity)
        rows = rows.with_columns(e164=norm, bad=rows["raw"].is_not_null() & norm.is_null())
        agg = rows.group_by("row", maintain_order=True).agg(pl.col("e164").drop_nulls(), pl.col("bad").any())
        return _Converted(agg["e164"].cast(pl.List(pl.String)), agg["bad"])
    if kind == "enum":
        allowed = enum_values(f) or []
        s = src.cast(pl.String)
        ok = s.is_in(allowed)
        return _Converted(_null_where(s, ~ok.fill_null(True)), present & ~ok.fill_null(True))
    if kind == "time":
        v = _parse_times(src, spec.format or mapping.time.format, spec.timezone or mapping.time.timezone)
        return _Converted(v, present & v.is_null())
    if kind == "amount":
        v = _parse_amount(src, spec.unit or mapping.amount_unit)
        low = AMOUNT_COLUMNS[(table, f.name)]
        v = _null_where(v, v < low)
        return _Converted(v, present & v.is_null())
    if kind == "int":
        v = _parse_int(src)
        top = 2 ** (f.type.bit_width - 1) - 1
        v = _null_where(v, (v < 0) | (v > top))
        return _Converted(v, present & v.is_null())
    if kind == "bool":
        v = _parse_bool(src)
        return _Converted(v, present & v.is_null())
    v = src if src.dtype == pl.String else src.cast(pl.String, strict=False)
    return _Converted(v, present & v.is_null())


def _display(s: pl.Series) -> pl.Series:
    if isinstance(s.dtype, pl.List):
        return s.cast(pl.List(pl.String)).list.join(";")
    return s.cast(pl.String, strict=False)


def _convert_frame(
    table: str, src: pl.DataFrame, sources: dict[str, str], mapping: Mapping
) -> tuple[pl.DataFrame, pl.Series, pl.Series]:
    """Source columns → contract columns, plus per row the first reason and a detail of all problems."""
    schema = TABLES[table]
    n = src.height
    values: dict[str, pl.Series] = {}
    reason_cols: list[pl.Series] = []
    detail_cols: list[pl.Series] = []
    for f in schema:
        spec = mapping.spec(f.name)
        if spec is None:
            continue
        if spec.source is not None:
            raw = src[sources[spec.source]]
        else:
            raw = pl.Series([spec.const] * n) if n else pl.Series([], dtype=pl.String)
            raw = raw.cast(pl.String) if not isinstance(spec.const, bool) else raw
        raw = _tidy(raw, mapping.csv.null_values)
        conv = _convert(table, f, raw, spec, mapping)
        values[f.name] = conv.value.alias(f.name)
        bad = conv.bad.fill_null(False)
        missing = (~bad & conv.value.is_null()) if not f.nullable else pl.Series([False] * n, dtype=pl.Boolean)
        code = _KIND_REASON[_kind(table, f)]
        shown = _display(raw).fill_null("")
        frame = pl.DataFrame({"bad": bad, "missing": missing, "shown": shown})
        reason, detail = frame.select(
            pl.when("bad").then(pl.lit(code)).when("missing").then(pl.lit("missing_value")).alias("r"),
            pl.when("bad")
            .then(pl.format("{}: {} {}", pl.lit(f.name), pl.lit(code), pl.col("shown").str.slice(0, 80)))
            .when("missing")
            .then(pl.lit(f"{f.name}: missing_value"))
            .alias("d"),
        ).get_columns()
        reason_cols.append(reason.alias(f"r{len(reason_cols)}"))
        detail_cols.append(detail.alias(f"d{len(detail_cols)}"))
    if reason_cols:
        checks = pl.DataFrame(reason_cols + detail_cols)
        rd = checks.select(
            pl.coalesce([c.name for c in reason_cols]).alias("reason"),
            pl.concat_str([c.name for c in detail_cols], separator="; ", ignore_nulls=True).alias("detail"),
        )
        reason, detail = rd["reason"], rd["detail"]
    else:
        reason = pl.Series("reason", [None] * n, dtype=pl.String)
        detail = pl.Series("detail", [None] * n, dtype=pl.String)
    return pl.DataFrame(list(values.values())) if values else pl.DataFrame(), reason, detail


def _to_contract(table: str, df: pl.DataFrame) -> pa.Table:
    """Converted columns → an Arrow table with exactly the contract schema (unmapped optional columns null)."""
    schema = TABLES[table]
    at = df.to_arrow() if df.width else pa.table({})
    n = df.height
    arrays = []
    for f in schema:
        if f.name in at.column_names:
            arrays.append(at[f.name].cast(f.type))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


# --------------------------------------------------------------------------- CSV source


@dataclass
class _Chunk:
    """One chunk of a source: parsed rows, their line numbers, and rows already rejected by the reader."""

    df: pl.DataFrame
    lines: np.ndarray
    raw: pa.Array | None  # binary raw records aligned with df (CSV) or None (Parquet: rebuilt as JSON)
    rejected: pl.DataFrame  # line, reason, detail, raw
    encoding: str = "utf-8"


_EMPTY_REJECTED = pl.DataFrame(schema={"line": pl.Int64, "reason": pl.String, "detail": pl.String, "raw": pl.String})


def _sniff(head: bytes, claimed: str, path: Path) -> None:
    """Refuse files whose first bytes say they are something else."""
    if head.startswith(b"PAR1"):
        if claimed != "parquet":
            raise ContractError(f"{path} is a Parquet file, not CSV: use a .parquet name or 'format: parquet'")
        return
    if claimed == "parquet":
        raise ContractError(f"{path} is not a Parquet file (no PAR1 magic bytes)")
    if head.startswith(b"PK\x03\x04"):
        raise ContractError(f"{path} is a ZIP/Excel workbook, not CSV: export it as CSV first")
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")):
        raise ContractError(f"{path} is compressed: decompress it before importing")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ContractError(f"{path} is UTF-16 text: re-export it as UTF-8 or GB18030")
    if b"\x00" in head[:65536]:
        raise ContractError(f"{path} is a binary file, not CSV text")


@numba.njit(cache=True, nogil=True)
def _scan_records(buf: np.ndarray, delim: int, quote: int, final: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """One pass of the CSV state machine over raw bytes: where each record ends and how many fields it has.

    Quotes count only at the start of a field (a ``5" tall`` inside a field is text), ``""``
    inside quotes is an escaped quote, and newlines inside quotes belong to the field — the
    same reading as Polars' and Python's CSV parsers, so field counts agree with the parse.
    Returns terminator positions (the LF, or ``len(buf)`` for a final unterminated record),
    field counts, and the number of records.
    """
    n = buf.shape[0]
    cap = 1
    for i in range(n):
        if buf[i] == 10:
            cap += 1
    terms = np.empty(cap, dtype=np.int64)
    fields = np.empty(cap, dtype=np.int64)
    k = 0
    state = 0  # 0 field start, 1 unquoted, 2 quoted, 3 quote seen inside quoted
    f = 1
    for i in range(n):
        c = buf[i]
        if state == 2:
            if c == quote:
                state = 3
            continue
        if c == 10:
            terms[k] = i
            fields[k] = f
            k += 1
            f = 1
            state = 0
        elif c == delim:
            f += 1
            state = 0
        elif state == 0 or state == 3:
            state = 2 if c == quote else 1
    last = terms[k - 1] + 1 if k > 0 else 0
    if final and last < n:
        terms[k] = n
        fields[k] = -1 if state == 2 else f  # -1: a quote still open at the end of the file
        k += 1
    return terms, fields, k


def _split_records(
    arr: np.ndarray, delim: int, quote: int, final: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    terms, fields, k = _scan_records(arr, delim, quote, final)
    term = terms[:k]
    nexts = np.minimum(term + 1, len(arr))
    starts = np.zeros(k, dtype=np.int64)
    starts[1:] = nexts[:-1]
    ends = term.copy()
    has_cr = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == 13)
    ends[has_cr] -= 1
    return starts, ends, nexts, fields[:k].copy()


class _CsvSource:
    """Chunked CSV reader that knows each record's physical line and field count (see module doc)."""

    def __init__(self, path: Path, opts: CsvOptions, chunk_bytes: int) -> None:
        self.path = path
        self.opts = opts
        self.chunk_bytes = max(chunk_bytes, 64)
        self.encoding = opts.encoding
        self.delim = ord(opts.delimiter)
        self.quote = ord(opts.quote)
        self.blank_lines = 0
        self.multiline_records = 0
        self._fh: IO[bytes] = path.open("rb")
        first = self._fh.read(self.chunk_bytes)
        _sniff(first, "csv", path)
        if not first.strip():
            self._fh.close()
            raise ContractError(f"{path} is empty: a CSV export needs at least a header line")
        if first.startswith(codecs.BOM_UTF8) and self.encoding.startswith("utf-8"):
            first = first[len(codecs.BOM_UTF8) :]
        self._pending = first
        self._lines_before = 0
        self._eof = False
        if opts.header:
            self.columns = self._read_header()
        else:
            assert opts.columns is not None
            self.columns = list(opts.columns)
        self.width = len(self.columns)
        self._check_encoding_of_start()

    def close(self) -> None:
        self._fh.close()

    def _read_header(self) -> list[str]:
        while True:
            arr = np.frombuffer(self._pending, dtype=np.uint8)
            starts, ends, nexts, _ = self._records(arr, final=self._eof)
            if len(starts) or self._eof:
                break
            self._more()
        if not len(starts):
            raise ContractError(f"{self.path}: no header line found")
        raw = self._pending[starts[0] : ends[0]]
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError:
            hint = " (Chinese carrier exports are often GBK/GB18030: set csv.encoding)"
            hint = hint if self.encoding.startswith("utf") else ""
            raise ContractError(f"{self.path}: header line is not {self.encoding} text{hint}") from None
        header = next(csv.reader([text], delimiter=self.opts.delimiter, quotechar=self.opts.quote))
        header = [h.strip() for h in header]
        if not any(header):
            raise ContractError(f"{self.path}: the first line is empty, expected a header")
        self._lines_before += int(np.count_nonzero(arr[: nexts[0]] == 10))
        self._pending = self._pending[nexts[0] :]
        return header

    def _check_encoding_of_start(self) -> None:
        """Most of the first records failing to decode means the declared encoding is wrong."""
        sample = self._pending[:65536]
        if not self._eof or len(sample) < len(self._pending):
            sample = sample[: max(sample.rfind(b"\n"), 0)]  # complete lines only
        if not sample:
            return
        lines = sample.split(b"\n")
        bad = 0
        for line in lines:
            try:
                line.decode(self.encoding)
            except UnicodeDecodeError:
                bad += 1
        if bad and bad * 2 >= len(lines):
            hint = " (try csv.encoding: gb18030)" if self.encoding[:3] == "utf" else ""
            raise ContractError(
                f"{self.path}: {bad} of the first {len(lines)} lines are not {self.encoding} text{hint}"
            )

    def _more(self) -> bool:
        block = self._fh.read(self.chunk_bytes)
        if not block:
            self._eof = True
            return False
        self._pending += block
        return True

    def _records(self, arr: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Record starts, ends (without CR/LF), next-record starts and field counts (see :func:`_scan_records`)."""
        return _split_records(arr, self.delim, self.quote, final)

    def chunks(self) -> Iterator[_Chunk]:
        while True:
            if not self._eof and len(self._pending) < self.chunk_bytes:
                self._more()
            arr = np.frombuffer(self._pending, dtype=np.uint8)
            starts, ends, nexts, fields = self._records(arr, final=self._eof)
            if not len(starts):
                if self._eof:
                    return
                self._more()
                continue
            consumed = int(nexts[-1])
            yield self._chunk(arr[:consumed], starts, ends, nexts, fields)
            self._lines_before += int(np.count_nonzero(arr[:consumed] == 10))
            self._pending = self._pending[consumed:]
            if self._eof and not self._pending:
                return

    def _chunk(
        self, arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, nexts: np.ndarray, fields: np.ndarray
    ) -> _Chunk:
        nl = np.flatnonzero(arr == 10)
        first_nl = np.searchsorted(nl, starts)
        lines = self._lines_before + first_nl + 1
        blank = ends == starts
        self.blank_lines += int(blank.sum())
        self.multiline_records += int(np.count_nonzero(np.searchsorted(nl, ends) > first_nl))
        unclosed = fields < 0
        wrong = (fields != self.width) & ~blank & ~unclosed
        good = ~blank & ~wrong & ~unclosed
        raw_all = self._raw_array(arr, starts, ends, nexts)
        rejected = [
            self._rejects(raw_all, lines, np.flatnonzero(wrong), "column_count", fields),
            self._rejects(raw_all, lines, np.flatnonzero(unclosed), "bad_csv", fields),
        ]
        good_idx = np.flatnonzero(good)
        text, bad_enc = self._decode(arr, starts, nexts, good_idx)
        if len(bad_enc):
            rejected.append(self._rejects(raw_all, lines, bad_enc, "bad_encoding", fields))
            good_idx = np.setdiff1d(good_idx, bad_enc)
            text, _ = self._decode(arr, starts, nexts, good_idx)
        df, unparsed = self._parse(text, raw_all, good_idx)
        if len(unparsed):
            rejected.append(self._rejects(raw_all, lines, unparsed, "bad_csv", fields))
            good_idx = np.setdiff1d(good_idx, unparsed)
        rej = pl.concat(rejected) if rejected else _EMPTY_REJECTED
        return _Chunk(
            df=df,
            lines=lines[good_idx],
            raw=raw_all.take(pa.array(good_idx, type=pa.int64())),
            rejected=rej,
            encoding=self.encoding,
        )

    def _raw_array(self, arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, nexts: np.ndarray) -> pa.Array:
        """Each record's bytes (without the line terminator) as one Arrow binary array, built without a row loop."""
        lengths = ends - starts
        offsets = np.zeros(len(starts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        spans = np.column_stack([lengths, nexts - ends]).ravel()
        mask = np.repeat(np.tile(np.array([True, False]), len(starts)), spans)
        data = arr[: len(mask)][mask]
        return pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())]
        )

    def _rejects(
        self, raw_all: pa.Array, lines: np.ndarray, idx: np.ndarray, reason: str, fields: np.ndarray
    ) -> pl.DataFrame:
        if not len(idx):
            return _EMPTY_REJECTED
        raws = [self._text(b) for b in raw_all.take(pa.array(idx)).to_pylist()]
        if reason == "column_count":
            details = [f"{int(fields[i])} fields, expected {self.width}" for i in idx]
        elif reason == "bad_csv" and (fields[idx] < 0).all():
            details = ["a quoted field is still open at the end of the file"] * len(idx)
        else:
            details = [REASONS[reason]] * len(idx)
        return pl.DataFrame(
            {"line": lines[idx].astype(np.int64), "reason": [reason] * len(idx), "detail": details, "raw": raws},
            schema=_EMPTY_REJECTED.schema,
        )

    def _text(self, b: bytes | None) -> str:
        return (b or b"").decode(self.encoding, errors="backslashreplace")

    def _decode(
        self, arr: np.ndarray, starts: np.ndarray, nexts: np.ndarray, idx: np.ndarray
    ) -> tuple[bytes, np.ndarray]:
        """UTF-8 bytes of the selected records; when the chunk does not decode, which records fail (slow path)."""
        lengths = nexts - starts
        sel = np.zeros(len(starts), dtype=bool)
        sel[idx] = True
        buf = arr[np.repeat(sel, lengths)].tobytes()
        if buf and not buf.endswith(b"\n"):
            buf += b"\n"
        try:
            text = buf.decode(self.encoding)
        except UnicodeDecodeError:
            bad = []
            for i in idx:
                try:
                    arr[starts[i] : nexts[i]].tobytes().decode(self.encoding)
                except UnicodeDecodeError:
                    bad.append(i)
            return b"", np.asarray(bad, dtype=np.int64)
        if self.encoding.startswith("utf-8"):
            return buf, np.zeros(0, dtype=np.int64)
        return text.encode("utf-8"), np.zeros(0, dtype=np.int64)

    def _parse(self, data: bytes, raw_all: pa.Array, idx: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
        names = [f"c{i}" for i in range(self.width)]
        schema = dict.fromkeys(names, pl.String)
        if not len(idx):
            return pl.DataFrame(schema=schema), np.zeros(0, dtype=np.int64)
        try:
            df = pl.read_csv(
                io.BytesIO(data),
                has_header=False,
                schema=schema,
                separator=self.opts.delimiter,
                quote_char=self.opts.quote,
                null_values=self.opts.null_values,
                raise_if_empty=False,
                truncate_ragged_lines=False,
            )
            if df.height == len(idx):
                return df, np.zeros(0, dtype=np.int64)
        except pl.exceptions.PolarsError:
            pass
        # Slow path (broken quoting somewhere in this chunk): parse record by record.
        rows: list[list[str | None]] = []
        bad: list[int] = []
        nulls = set(self.opts.null_values)
        for i, b in zip(idx, raw_all.take(pa.array(idx)).to_pylist(), strict=True):
            text = self._text(b)
            try:
                recs = list(csv.reader(io.StringIO(text), delimiter=self.opts.delimiter, quotechar=self.opts.quote))
            except csv.Error:
                recs = []
            if len(recs) != 1 or len(recs[0]) != self.width:
                bad.append(int(i))
                continue
            rows.append([None if v in nulls else v for v in recs[0]])
        df = pl.DataFrame(rows, schema=schema, orient="row")
        return df, np.asarray(bad, dtype=np.int64)


# --------------------------------------------------------------------------- Parquet source


class _ParquetSource:
    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path = path
        self.blank_lines = 0
        with path.open("rb") as fh:
            _sniff(fh.read(4), "parquet", path)
        try:
            self._pf = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise ContractError(f"{path} is not a readable Parquet file: {exc}") from None
        self.columns = list(self._pf.schema_arrow.names)
        self.chunk_rows = chunk_rows

    def close(self) -> None:
        self._pf.close()

    def chunks(self) -> Iterator[_Chunk]:
        start = 0
        try:
            for batch in self._pf.iter_batches(batch_size=self.chunk_rows):
                df = pl.from_arrow(batch)
                assert isinstance(df, pl.DataFrame)
                df = df.rename({c: f"c{i}" for i, c in enumerate(self.columns)})
                lines = np.arange(start, start + df.height, dtype=np.int64)
                start += df.height
                yield _Chunk(df=df, lines=lines, raw=None, rejected=_EMPTY_REJECTED)
        except pa.ArrowException as exc:
            raise ContractError(f"{self.path}: Parquet data is corrupt near row {start}: {exc}") from None


# --------------------------------------------------------------------------- import


def _resolve_mapping(table: str, mapping: Mapping | str | Path | None) -> Mapping | None:
    if table not in TABLES:
        raise ContractError(f"unknown table {table!r}; importable tables: {', '.join(TABLES)}")
    if mapping is None:
        return None
    if not isinstance(mapping, Mapping):
        from fanzha.contracts.mapping import builtin_mappings

        shipped = builtin_mappings()
        mapping = load_mapping(shipped[str(mapping)] if str(mapping) in shipped else Path(mapping))
    if mapping.table != table:
        raise MappingError(f"the mapping is for table {mapping.table!r}, not {table!r}")
    return mapping


def _source_format(path: Path, mapping: Mapping | None) -> Literal["csv", "parquet"]:
    if mapping is not None and "format" in mapping.model_fields_set:
        return mapping.format
    return "parquet" if path.suffix.lower() in (".parquet", ".pq", ".parq") else "csv"


def _bind_columns(table: str, mapping: Mapping, header: list[str], path: Path) -> tuple[Mapping, dict[str, str]]:
    """Match the mapping's source columns to the file's header; refuse a file that does not fit."""
    schema = TABLES[table]
    position: dict[str, str] = {}
    for i, h in enumerate(header):
        position.setdefault(h, f"c{i}")
    if not mapping.columns:
        matched = [n for n in schema.names if n in position]
        if not matched:
            raise ContractError(
                f"{path}: header {header[:12]} matches no column of table {table!r} ({', '.join(schema.names)}); "
                "give a --mapping for this export"
            )
        mapping = mapping.model_copy(update={"columns": identity_mapping(table, header).columns})
        missing = [f.name for f in schema if not f.nullable and f.name not in position]
        if missing:
            raise ContractError(f"{path}: required columns missing for table {table!r}: {', '.join(missing)}")
    wanted = {s.source for s in mapping.columns.values() if s.source is not None}
    found = {w for w in wanted if w in position}
    if wanted and not found:
        raise ContractError(
            f"{path}: header {header[:12]} matches nothing in the mapping (expected columns: {sorted(wanted)}); "
            "wrong file or wrong mapping?"
        )
    if wanted - found:
        raise ContractError(f"{path}: columns named in the mapping are missing from the file: {sorted(wanted - found)}")
    return mapping, {w: position[w] for w in wanted}


def import_file(
    path: str | Path,
    table: str,
    mapping: Mapping | str | Path | None = None,
    out_dir: str | Path | None = None,
    quarantine_dir: str | Path | None = None,
    *,
    chunk_bytes: int = _DEFAULT_CHUNK_BYTES,
    chunk_rows: int = _DEFAULT_CHUNK_ROWS,
) -> ImportReport:
    """Import one CSV/Parquet file into ``out_dir/<table>/<file stem>.parquet`` in the contract schema.

    ``mapping`` is a :class:`Mapping`, a YAML path or the name of a shipped example; without
    one, source columns must be named like the contract's, times ISO 8601 (naive = Asia/Shanghai)
    and amounts in cents. Bad rows go to ``quarantine_dir/<table>-<stem>.quarantine.csv``.
    """
    t0 = time.perf_counter()
    src_path = Path(path)
    resolved = _resolve_mapping(table, mapping)
    if not src_path.is_file():
        raise ContractError(f"{src_path} does not exist or is not a file")
    if out_dir is None or quarantine_dir is None:
        from fanzha.settings import get_settings

        settings = get_settings()
        out_dir = out_dir if out_dir is not None else settings.parquet_dir
        quarantine_dir = quarantine_dir if quarantine_dir is not None else settings.quarantine_dir
    fmt = _source_format(src_path, resolved)
    source: _CsvSource | _ParquetSource
    if fmt == "csv":
        source = _CsvSource(src_path, resolved.csv if resolved else CsvOptions(), chunk_bytes)
    else:
        source = _ParquetSource(src_path, chunk_rows)
    try:
        base = resolved or identity_mapping(table, [], fmt)
        bound, sources = _bind_columns(table, base, source.columns, src_path)
        report = ImportReport(
            table=table,
            source=src_path,
            output=Path(out_dir) / table / f"{src_path.stem}.parquet",
            ignored_columns=[c for c in source.columns if c not in sources],
        )
        if report.output.resolve() == src_path.resolve():
            raise ContractError(f"the output {report.output} would overwrite the source: choose another --out")
        _run(source, bound, sources, report, Path(quarantine_dir))
    finally:
        source.close()
    report.blank_lines = source.blank_lines
    report.multiline_records = getattr(source, "multiline_records", 0)
    report.seconds = time.perf_counter() - t0
    if not report.balanced:  # pragma: no cover - an invariant, checked so a bug cannot hide rows
        raise RuntimeError(f"import lost rows: {report}")
    return report


def _run(
    source: _CsvSource | _ParquetSource,
    mapping: Mapping,
    sources: dict[str, str],
    report: ImportReport,
    quarantine_dir: Path,
) -> None:
    table = report.table
    schema = TABLES[table]
    report.output.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = report.output.with_name(report.output.name + ".partial")
    q_path = quarantine_dir / f"{table}-{report.source.stem}.quarantine.csv"
    tmp_q = q_path.with_name(q_path.name + ".partial")
    reasons: Counter[str] = Counter()
    q_fh: IO[bytes] | None = None
    name = str(report.source)
    try:
        # use_compliant_nested_type=False keeps list children named "item", so the file reads back as the schema.
        with pq.ParquetWriter(tmp_out, schema, compression="zstd", use_compliant_nested_type=False) as writer:
            for chunk in source.chunks():
                values, reason, detail = _convert_frame(table, chunk.df, sources, mapping)
                bad = reason.is_not_null().to_numpy()
                ok_idx = np.flatnonzero(~bad)
                if len(ok_idx):
                    writer.write_table(_to_contract(table, values[ok_idx]))
                bad_idx = np.flatnonzero(bad)
                quarantined = chunk.rejected
                if len(bad_idx):
                    quarantined = pl.concat(
                        [quarantined, _bad_rows(chunk, bad_idx, reason, detail, sources, source.columns)]
                    )
                n_in = chunk.df.height + chunk.rejected.height
                report.rows_in += n_in
                report.rows_ok += len(ok_idx)
                report.rows_quarantined += quarantined.height
                if quarantined.height:
                    reasons.update(quarantined["reason"].to_list())
                    if q_fh is None:
                        quarantine_dir.mkdir(parents=True, exist_ok=True)
                        q_fh = tmp_q.open("wb")
                        first = True
                    else:
                        first = False
                    out = quarantined.sort("line").select(
                        pl.lit(name).alias("source_file"), "line", "reason", "detail", "raw"
                    )
                    out.write_csv(q_fh, include_header=first, include_bom=first)
            if report.rows_ok == 0:
                writer.write_table(schema.empty_table())
        if q_fh is not None:
            q_fh.close()
            q_fh = None
            tmp_q.replace(q_path)
            report.quarantine = q_path
        elif q_path.exists():
            q_path.unlink()  # an older quarantine of the same file no longer applies
        tmp_out.replace(report.output)
    finally:
        if q_fh is not None:
            q_fh.close()
        for p in (tmp_out, tmp_q):
            if p.exists():
                p.unlink()
    report.reasons = dict(reasons.most_common())


def _bad_rows(
    chunk: _Chunk,
    idx: np.ndarray,
    reason: pl.Series,
    detail: pl.Series,
    sources: dict[str, str],
    columns: list[str],
) -> pl.DataFrame:
    """Quarantine rows that parsed but failed a check: the raw text (CSV) or the row as JSON (Parquet)."""
    if chunk.raw is not None:
        picked = chunk.raw.take(pa.array(idx, type=pa.int64())).to_pylist()
        texts = [(b or b"").decode(chunk.encoding, errors="backslashreplace") for b in picked]
        raws = pl.Series(texts, dtype=pl.String)
    else:
        sub = chunk.df[idx].rename({f"c{i}": c for i, c in enumerate(columns)})
        raws = sub.select(pl.struct(pl.all()).struct.json_encode()).to_series()
    return pl.DataFrame(
        {
            "line": chunk.lines[idx].astype(np.int64),
            "reason": reason.gather(idx),
            "detail": detail.gather(idx),
            "raw": raws,
        },
        schema=_EMPTY_REJECTED.schema,
    )


# --------------------------------------------------------------------------- validate


@dataclass
class ValidationReport:
    """Problems found in a Parquet file checked against its contract; empty means it conforms."""

    table: str
    path: Path
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_file(table: str, path: str | Path) -> ValidationReport:
    """Check a Parquet file against the contract: columns and types, required fields, enums, numbers, amounts."""
    schemas = TABLES | GROUND_TRUTH
    if table not in schemas:
        raise ContractError(f"unknown table {table!r}; tables: {', '.join(schemas)}")
    p = Path(path)
    if not p.is_file():
        raise ContractError(f"{p} does not exist or is not a file")
    with p.open("rb") as fh:
        _sniff(fh.read(4), "parquet", p)
    try:
        actual = pq.read_schema(p)
        rows = pq.ParquetFile(p).metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{p} is not a readable Parquet file: {exc}") from None
    schema = schemas[table]
    rep = ValidationReport(table=table, path=p, rows=rows)
    usable: list[pa.Field] = []
    for f in schema:
        if f.name not in actual.names:
            rep.problems.append(f"missing column {f.name} ({f.type})")
            continue
        got = actual.field(f.name).type
        if not got.equals(f.type):
            rep.problems.append(f"column {f.name} is {got}, contract says {f.type}")
            continue
        usable.append(f)
    extra = [n for n in actual.names if n not in schema.names]
    if extra:
        rep.problems.append(f"columns not in the contract: {', '.join(extra)}")
    if not usable or rows == 0:
        return rep
    lf = pl.scan_parquet(p).select([f.name for f in usable])
    exprs: list[pl.Expr] = []
    labels: list[str] = []
    phones = PHONE_COLUMNS.get(table, frozenset())
    for f in usable:
        c = pl.col(f.name)
        if not f.nullable:
            exprs.append(c.null_count())
            labels.append(f"{f.name}: nulls in a required column")
        allowed = enum_values(f)
        if allowed is not None:
            exprs.append((c.is_not_null() & ~c.is_in(allowed)).sum())
            labels.append(f"{f.name}: values outside {f.metadata[b'enum'].decode()}")
        if f.name in phones and not pa.types.is_list(f.type):
            exprs.append((c.is_not_null() & ~c.str.contains(r"^\+[1-9][0-9]{2,19}$")).sum())
            labels.append(f"{f.name}: not E.164")
        if (table, f.name) in AMOUNT_COLUMNS:
            exprs.append((c < AMOUNT_COLUMNS[(table, f.name)]).sum())
            labels.append(f"{f.name}: amount below {AMOUNT_COLUMNS[(table, f.name)]} cents")
    if exprs:
        counts = lf.select([e.alias(str(i)) for i, e in enumerate(exprs)]).collect().row(0)
        for label, n in zip(labels, counts, strict=True):
            if n:
                rep.problems.append(f"{label} ({n} rows)")
    if "fraud_numbers" in [f.name for f in usable] and table == "reports":
        bad = (
            lf.select(pl.col("fraud_numbers").explode(empty_as_null=True).alias("n"))
            .filter(pl.col("n").is_not_null())
            .collect()["n"]
        )
        n_bad = int((~looks_e164(bad)).sum())
        if n_bad:
            rep.problems.append(f"fraud_numbers: not E.164 ({n_bad} items)")
    return rep


def contract_schema(table: str) -> pa.Schema:
    """The Arrow schema of a table (input or ground truth)."""
    schemas = TABLES | GROUND_TRUTH
    if table not in schemas:
        raise ContractError(f"unknown table {table!r}")
    return schemas[table]


__all__ = [
    "QUARANTINE_COLUMNS",
    "REASONS",
    "ContractError",
    "ImportReport",
    "ValidationReport",
    "contract_schema",
    "import_file",
    "validate_file",
]
