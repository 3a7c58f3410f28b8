"""Call and SMS records as one event stream (Polars frames), and a replay source.

Detectors see one shape for both kinds of record so that a number's calls and texts are
counted together: ``src`` (caller / sender), ``dst``, ``time`` (ms since epoch, UTC),
``kind`` (0 call, 1 SMS), ``duration_s`` (-1 for SMS), ``ingress``, ``imei``, ``cell``,
``text`` (null for calls).
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

CALL, SMS = 0, 1
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "src": pl.String(),
    "dst": pl.String(),
    "time": pl.Int64(),
    "kind": pl.UInt8(),
    "duration_s": pl.Int32(),
    "ingress": pl.String(),
    "imei": pl.String(),
    "cell": pl.String(),
    "text": pl.String(),
}


class StreamInputError(ValueError):
    """Input that cannot be turned into events (missing columns, unreadable file)."""


def _ms(col: str) -> pl.Expr:
    return pl.col(col).dt.epoch("ms")


def calls_to_events(calls: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Call records in the contract (caller, callee, start, duration_s, ingress, cell_id, imei) as events."""
    return calls.lazy().select(
        pl.col("caller").alias("src"),
        pl.col("callee").alias("dst"),
        _ms("start").alias("time"),
        pl.lit(CALL, pl.UInt8).alias("kind"),
        pl.col("duration_s").cast(pl.Int32),
        pl.col("ingress"),
        pl.col("imei"),
        pl.col("cell_id").alias("cell"),
        pl.lit(None, pl.String).alias("text"),
    )


def sms_to_events(sms: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """SMS records in the contract (sender, recipient, time, text) as events."""
    return sms.lazy().select(
        pl.col("sender").alias("src"),
        pl.col("recipient").alias("dst"),
        _ms("time").alias("time"),
        pl.lit(SMS, pl.UInt8).alias("kind"),
        pl.lit(-1, pl.Int32).alias("duration_s"),
        pl.lit("local").alias("ingress"),
        pl.lit(None, pl.String).alias("imei"),
        pl.lit(None, pl.String).alias("cell"),
        pl.col("text"),
    )


def load_events(city_dir: Path, with_text: bool = True) -> pl.DataFrame:
    """All calls and SMS of a folder in the contracts, merged and sorted by event time."""
    city_dir = Path(city_dir)
    parts = []
    for name, conv in (("calls", calls_to_events), ("sms", sms_to_events)):
        path = city_dir / f"{name}.parquet"
        if not path.exists():
            raise StreamInputError(f"{path} not found: a replay needs calls.parquet and sms.parquet")
        try:
            parts.append(conv(pl.scan_parquet(path)))
        except pl.exceptions.PolarsError as exc:  # pragma: no cover - message passthrough
            raise StreamInputError(f"{path}: {exc}") from exc
    df = pl.concat(parts).collect()
    if not with_text:
        df = df.with_columns(pl.lit(None, pl.String).alias("text"))
    return df.sort("time", maintain_order=True)


@dataclass(frozen=True)
class Batch:
    """One micro-batch: its position in the source (for checkpoints) and its events."""

    offset: int
    events: pl.DataFrame


def replay(events: pl.DataFrame, batch_rows: int = 200_000, speed: float | None = None,
           start_offset: int = 0) -> Iterator[Batch]:
    """Replay events in micro-batches; ``speed`` = event-time seconds per wall second (None: flat out).

    ``start_offset`` skips batches already processed (a restart after a checkpoint).
    """
    if batch_rows < 1:
        raise StreamInputError("batch_rows must be >= 1")
    t0_wall = _time.monotonic()
    t0_event = int(events["time"][0]) if events.height else 0
    for offset, start in enumerate(range(0, events.height, batch_rows)):
        if offset < start_offset:
            continue
        batch = events.slice(start, batch_rows)
        if speed:
            due = (int(batch["time"][0]) - t0_event) / 1000 / speed
            lag = due - (_time.monotonic() - t0_wall)
            if lag > 0:
                _time.sleep(lag)
        yield Batch(offset, batch)
