"""Column-mapping files (字段映射): read a carrier's or bank's own export without code.

A mapping is a small YAML file naming the target contract table, how to read the
source (CSV options incl. GBK/GB18030, or Parquet), and for each contract column
where its value comes from (a source column or a constant), with optional value maps
for enums, time format and source timezone, amount unit and phone-number region.
See ``docs/data-contracts.md`` for the format and examples. The file is validated with
pydantic and against the contract schema, so a typo gives one clear
:class:`MappingError` instead of a half-imported table.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fanzha.contracts.schemas import TABLES

SUPPORTED_ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030", "gb2312", "big5")
"""Byte encodings the CSV reader accepts: all keep ``"``, ``,`` and newline as single ASCII bytes."""


class MappingError(ValueError):
    """The mapping file itself is wrong (bad YAML, unknown table/column, bad option)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvOptions(_Strict):
    """How to read a CSV export."""

    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    header: bool = True
    columns: list[str] | None = Field(
        default=None, description="Source column names, in order, for a file without a header line."
    )
    null_values: list[str] = Field(default_factory=lambda: ["", "NULL", "null", "\\N", "NA"])
    list_separator: str = Field(default=";", description="Separator of items inside one cell of a list column.")

    @field_validator("delimiter", "quote")
    @classmethod
    def _one_ascii_char(cls, v: str) -> str:
        if v == "\\t":
            v = "\t"
        if len(v) != 1 or not v.isascii() or v in "\r\n":
            raise ValueError("must be a single ASCII character (use '\\t' for tab)")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            name = codecs.lookup(v).name
        except LookupError as exc:
            raise ValueError(f"unknown encoding {v!r}") from exc
        canon = {codecs.lookup(e).name: e for e in SUPPORTED_ENCODINGS}
        if name not in canon:
            raise ValueError(f"encoding {v!r} is not supported; use one of {', '.join(SUPPORTED_ENCODINGS)}")
        return canon[name]

    @model_validator(mode="after")
    def _headerless_needs_columns(self) -> CsvOptions:
        if not self.header and not self.columns:
            raise ValueError("header: false needs csv.columns, the source column names in order")
        if self.delimiter == self.quote:
            raise ValueError("delimiter and quote must differ")
        return self


class TimeOptions(_Strict):
    """How source times are written. Naive local times are read in ``timezone`` and stored in UTC."""

    format: str | None = Field(
        default=None,
        description="strftime format (e.g. '%Y%m%d%H%M%S'), 'epoch_s' or 'epoch_ms'; default ISO 8601.",
    )
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {v!r}") from exc
        return v

    @field_validator("format")
    @classmethod
    def _has_directive(cls, v: str | None) -> str | None:
        if v is not None and v not in ("epoch_s", "epoch_ms") and "%" not in v:
            raise ValueError("time format must be a strftime pattern such as '%Y-%m-%d %H:%M:%S', or epoch_s/epoch_ms")
        return v


class NumberOptions(_Strict):
    """How phone numbers are read (see :mod:`fanzha.contracts.phones`)."""

    default_region: str = "CN"
    area_code: str | None = Field(default=None, description="Area code (e.g. '592') for landlines written without it.")
    validity: Literal["valid", "possible"] = "valid"

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str) -> str:
        import phonenumbers

        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {v!r}")
        return v.upper()

    @field_validator("area_code")
    @classmethod
    def _area(cls, v: str | None) -> str | None:
        if v is not None and not (v.isdigit() and 2 <= len(v) <= 4 and not v.startswith("0")):
            raise ValueError("area_code is 2-4 digits without the trunk 0, e.g. '592'")
        return v


class ColumnSpec(_Strict):
    """Where one contract column's value comes from, and how to read it."""

    source: str | None = None
    const: str | int | float | bool | None = None
    values: dict[str, str | bool] | None = Field(
        default=None, description="Source value → contract value (enums, booleans), e.g. {国际: international}."
    )
    format: str | None = Field(default=None, description="Time format for this column (overrides time.format).")
    timezone: str | None = None
    unit: Literal["yuan", "cents"] | None = Field(default=None, description="Amount unit (overrides amount_unit).")

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSpec:
        if (self.source is None) == (self.const is None):
            raise ValueError("give exactly one of source or const")
        if self.timezone is not None:
            TimeOptions(timezone=self.timezone)
        if self.format is not None:
            TimeOptions(format=self.format)
        return self

    @property
    def values_str(self) -> dict[str, str] | None:
        """The value map with YAML booleans spelled as contract strings."""
        if self.values is None:
            return None
        return {str(k): (str(v).lower() if isinstance(v, bool) else v) for k, v in self.values.items()}


class Mapping(_Strict):
    """A whole mapping file: one source format → one contract table."""

    table: str
    format: Literal["csv", "parquet"] = "csv"
    csv: CsvOptions = Field(default_factory=CsvOptions)
    time: TimeOptions = Field(default_factory=TimeOptions)
    amount_unit: Literal["yuan", "cents"] = "cents"
    numbers: NumberOptions = Field(default_factory=NumberOptions)
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    description: str | None = None

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        """``caller: 主叫号码`` is short for ``caller: {source: 主叫号码}``."""
        if isinstance(v, dict):
            return {k: ({"source": s} if isinstance(s, str) else s) for k, s in v.items()}
        return v

    @model_validator(mode="after")
    def _columns_in_contract(self) -> Mapping:
        if self.table not in TABLES:
            raise ValueError(f"unknown table {self.table!r}; tables: {', '.join(TABLES)}")
        schema = TABLES[self.table]
        unknown = [c for c in self.columns if c not in schema.names]
        if unknown:
            raise ValueError(
                f"columns {unknown} are not in table {self.table!r} (its columns: {', '.join(schema.names)})"
            )
        if self.columns:
            missing = [f.name for f in schema if not f.nullable and f.name not in self.columns]
            if missing:
                raise ValueError(f"required columns of {self.table!r} are not mapped: {', '.join(missing)}")
        return self

    def spec(self, column: str) -> ColumnSpec | None:
        return self.columns.get(column)


def identity_mapping(table: str, source_columns: list[str], fmt: Literal["csv", "parquet"] = "csv") -> Mapping:
    """The mapping used without a file: source columns named exactly like the contract's."""
    if table not in TABLES:
        raise MappingError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    cols = {name: ColumnSpec(source=name) for name in TABLES[table].names if name in source_columns}
    return Mapping.model_construct(
        table=table,
        format=fmt,
        csv=CsvOptions(),
        time=TimeOptions(),
        amount_unit="cents",
        numbers=NumberOptions(),
        columns=cols,
        description="identity",
    )


def _errors(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def parse_mapping(data: Any, origin: str = "<mapping>") -> Mapping:
    """Validate an already-loaded mapping document."""
    if not isinstance(data, dict):
        raise MappingError(f"{origin}: a mapping file is a YAML mapping with at least 'table' and 'columns'")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(f"{origin}: {_errors(exc)}") from None


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping YAML file; one :class:`MappingError` says what is wrong."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"mapping file {p} does not exist") from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise MappingError(f"mapping file {p} is not a UTF-8 text file: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{p}: not valid YAML: {exc}") from None
    return parse_mapping(data, str(p))


def builtin_mappings() -> dict[str, Path]:
    """The example mappings shipped in ``fanzha/contracts/mappings`` by name (file stem)."""
    folder = Path(__file__).parent / "mappings"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}
