"""Analytics layouts: number-keyed copies of contract tables, derived once per Parquet part.

The contracts store phone numbers as E.164 strings (``+8613912345678``), which every
component reads. A scan that only compares numbers pays dearly for that: decoding a
14-byte string costs DuckDB about 20 ns, an 8-byte integer about 1 ns, and the hash
joins on them differ as much. So queries that scan whole call/SMS tables by number
(the reverse lookup) read a *derived layout* instead: only the columns they need, numbers
as BIGINT digits of the E.164 form (``+8613912345678`` → ``8613912345678``, lossless
because E.164 has no leading zero and at most 15 digits), PLAIN and uncompressed
(fastest to scan, measured in ``docs/warning-lookup.md``).

A derived part is written beside the data (``<folder>/_analytics/<layout>/``), one per
contract part, named after the part's path, size and modification time: new or changed
parts are converted at the next use (or ahead of time, right after an import), stale
ones are removed, and a write is atomic (temp file, then rename), so concurrent users
see whole files only.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fanzha.analytics.engine import AnalyticsError, parquet_files

LAYOUT_DIR = "_analytics"
ROW_GROUP = 1_000_000
_E164 = r"^\+[1-9][0-9]{0,17}$"  # at most 18 digits fit a signed 64-bit integer


def e164_to_int64(values: pa.Array | pa.ChunkedArray, what: str = "number") -> pa.Array | pa.ChunkedArray:
    """E.164 strings as the BIGINT of their digits; a clear error if any value is not ``+digits``."""
    if pa.types.is_integer(values.type):
        return pc.cast(values, pa.int64())
    ok = pc.match_substring_regex(values, _E164)
    bad = pc.invert(pc.fill_null(ok, True))
    if pc.any(bad).as_py():
        sample = pc.filter(values, bad)[0].as_py()
        raise AnalyticsError(f"{what} holds a value that is not an E.164 number: {sample!r}")
    return pc.cast(pc.utf8_slice_codeunits(values, 1), pa.int64())


def int64_to_e164(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The inverse of :func:`e164_to_int64`."""
    return pc.binary_join_element_wise("+", pc.cast(values, pa.string()), "")


Transform = Callable[[pa.Table], pa.Table]


def derived_parts(source: Path | str, layout: str, columns: list[str], transform: Transform) -> Path:
    """The folder of ``layout`` parts derived from the Parquet file or folder ``source``, brought up to date.

    ``columns`` are the source columns ``transform`` needs (only those are read);
    ``transform`` maps one row group of them to the layout's table.
    """
    src = Path(source)
    files = [Path(f) for f in parquet_files(src)]
    base = src if src.is_dir() else src.parent
    out = src.parent / LAYOUT_DIR / (src.name if src.is_dir() else src.stem) / layout
    out.mkdir(parents=True, exist_ok=True)
    want: set[str] = set()
    for f in files:
        st = f.stat()
        key = hashlib.sha1(str(f.relative_to(base)).encode()).hexdigest()[:12]
        name = f"{f.stem}-{key}-{st.st_size}-{st.st_mtime_ns}.parquet"
        want.add(name)
        target = out / name
        if not target.exists():
            _derive(f, target, columns, transform)
    for old in out.glob("*.parquet"):
        if old.name not in want:
            old.unlink(missing_ok=True)
    return out


def _derive(source: Path, target: Path, columns: list[str], transform: Transform) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        reader = pq.ParquetFile(source)
        writer: pq.ParquetWriter | None = None
        try:
            for i in range(reader.num_row_groups):
                part = transform(reader.read_row_group(i, columns=columns))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, part.schema, compression="none", use_dictionary=False)
                writer.write_table(part, row_group_size=ROW_GROUP)
            if writer is None:  # a part without row groups: keep the layout's schema
                empty = transform(reader.schema_arrow.empty_table().select(columns))
                pq.write_table(empty, tmp, compression="none", use_dictionary=False)
        finally:
            if writer is not None:
                writer.close()
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AnalyticsError(f"cannot write the analytics layout of {source} to {target.parent}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
