"""Rule detectors of the call/SMS firewall: spoofing (改号) and bursts (短时间大量呼叫/群发).

Both are plain classes over Polars batches (see :mod:`fanzha.numbers.stream`); rules are
versioned so each alert says which rule produced it.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from fanzha.numbers.events import CALL, SMS
from fanzha.numbers.stream import ALERT_SCHEMA, empty_alerts

MINUTE = 60_000


class HoppingWindows:
    """Event-time hopping windows (width ``width_ms``, a new one every ``hop_ms``) over a buffer.

    ``close(watermark)`` returns every event of every window that ended since the last call,
    tagged with its window's end; events stay buffered until no open window needs them.
    """

    def __init__(self, width_ms: int, hop_ms: int, columns: list[str]) -> None:
        if width_ms % hop_ms:
            raise ValueError("width must be a multiple of hop")
        self.width, self.hop, self.columns = width_ms, hop_ms, columns
        self.buffer: pl.DataFrame | None = None
        self.closed_until = -(2**62)

    def add(self, events: pl.DataFrame) -> None:
        part = events.select(self.columns)
        self.buffer = part if self.buffer is None else pl.concat([self.buffer, part], how="vertical_relaxed")

    def close(self, watermark: int) -> pl.DataFrame:
        """Events of windows whose end is in (last close, watermark], with column ``window_end``."""
        if self.buffer is None or self.buffer.height == 0 or watermark <= self.closed_until:
            return pl.DataFrame()
        lo, hi = self.closed_until, watermark
        parts = []
        for k in range(self.width // self.hop):
            shift = k * self.hop
            end = ((pl.col("time") - shift) // self.width + 1) * self.width + shift
            parts.append(self.buffer.with_columns(end.alias("window_end")).filter(
                (pl.col("window_end") > lo) & (pl.col("window_end") <= hi)))
        self.closed_until = watermark
        # keep what still-open windows need: events newer than watermark - width
        self.buffer = self.buffer.filter(pl.col("time") >= watermark - self.width)
        return pl.concat(parts)

    def snapshot(self) -> dict[str, Any]:
        return {"buffer": self.buffer if self.buffer is not None else pl.DataFrame(), "closed_until": self.closed_until}

    def restore(self, state: dict[str, Any]) -> None:
        buf = state["buffer"]
        self.buffer = buf if buf.width else None
        self.closed_until = state["closed_until"]


class SpoofDetector:
    """A protected (whitelisted) local number arriving through a long-distance or international
    gateway is a spoof (改号电话): the real line never enters that way."""

    name = "spoof"
    version = "spoof-rule-1"

    def __init__(self, whitelist: list[str] | pl.Series) -> None:
        self.whitelist = pl.Series("src", list(whitelist), dtype=pl.String).unique()

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame:
        hit = events.filter(
            (pl.col("kind") == CALL) & pl.col("ingress").is_in(["long_distance", "international"])
            & pl.col("src").is_in(self.whitelist.implode())
        )
        if not hit.height:
            return empty_alerts()
        return hit.select(
            (pl.lit("spoof:") + pl.col("src") + ":" + pl.col("dst") + ":" + pl.col("time").cast(pl.String))
            .alias("alert_id"),
            pl.lit(self.name).alias("detector"),
            pl.col("src").alias("number"),
            pl.col("time"),
            pl.lit(0.99).alias("confidence"),
            pl.struct(callee="dst", ingress="ingress", time="time").struct.json_encode().alias("evidence"),
            pl.lit(self.version).alias("version"),
        )

    def on_timer(self, watermark: int) -> pl.DataFrame:
        return empty_alerts()

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None


class BurstDetector:
    """Many calls/SMS to many distinct recipients in a short window, far above the caller's own history.

    Fires when, in a ``width`` window, a number reaches ``min_distinct`` distinct recipients,
    most of its calls are short or unanswered (or it is texting), and that count is at
    least ``ratio`` times the busiest window of its own past: a notification line that
    bursts every morning is judged against its mornings, a new card against nothing.
    """

    name = "burst"
    version = "burst-rule-1"

    def __init__(self, width_ms: int = 5 * MINUTE, hop_ms: int = MINUTE, min_distinct: int = 10,
                 short_s: int = 10, min_short_share: float = 0.5, ratio: float = 1.5,
                 exempt: list[str] | None = None) -> None:
        self.windows = HoppingWindows(width_ms, hop_ms, ["src", "dst", "time", "kind", "duration_s"])
        self.min_distinct, self.short_s, self.min_short_share, self.ratio = min_distinct, short_s, min_short_share, ratio
        self.exempt = pl.Series("src", exempt or [], dtype=pl.String)
        self.history = pl.DataFrame(schema={"src": pl.String, "hist_peak": pl.UInt32})

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame:
        self.windows.add(events)
        return empty_alerts()

    def on_timer(self, watermark: int) -> pl.DataFrame:
        rows = self.windows.close(watermark)
        if rows.height == 0:
            return empty_alerts()
        width = self.windows.width
        agg = rows.group_by("src", "window_end").agg(
            pl.len().alias("n"),
            pl.col("dst").n_unique().alias("distinct"),
            ((pl.col("kind") == CALL) & (pl.col("duration_s") < self.short_s)).sum().alias("short"),
            (pl.col("kind") == CALL).sum().alias("calls"),
            (pl.col("kind") == SMS).sum().alias("sms"),
        )
        cand = agg.filter(pl.col("distinct") >= self.min_distinct)
        fired = empty_alerts()
        if cand.height:
            cand = cand.join(self.history, on="src", how="left").with_columns(
                pl.col("hist_peak").fill_null(0).alias("past_peak")
            ).filter(
                ((pl.col("short") >= self.min_short_share * pl.col("calls")) & (pl.col("calls") > 0)
                 | (pl.col("sms") >= 0.8 * pl.col("n")))
                & (pl.col("distinct") >= self.ratio * pl.col("past_peak"))
                & ~pl.col("src").is_in(self.exempt.implode())
            )
            fired = cand.select(
                (pl.lit("burst:") + pl.col("src") + ":" + pl.col("window_end").cast(pl.String)).alias("alert_id"),
                pl.lit(self.name).alias("detector"),
                pl.col("src").alias("number"),
                pl.col("window_end").alias("time"),
                (0.5 + 0.3 * (1 - (self.min_distinct / pl.col("distinct")))).alias("confidence"),
                pl.struct(window_end="window_end", n="n", distinct="distinct", short="short", sms="sms",
                          past_peak="past_peak").struct.json_encode().alias("evidence"),
                pl.lit(self.version).alias("version"),
            ).cast(ALERT_SCHEMA)  # type: ignore[arg-type]
        # remember each number's busiest window (only numbers that ever get near a burst matter)
        peaks = agg.filter(pl.col("distinct") >= 3).group_by("src").agg(pl.col("distinct").max().alias("p"))
        self.history = (
            self.history.join(peaks, on="src", how="full", coalesce=True)
            .select("src", pl.max_horizontal("hist_peak", "p").cast(pl.UInt32).alias("hist_peak"))
        )
        return fired

    def snapshot(self) -> dict[str, Any]:
        return {**self.windows.snapshot(), "history": self.history}

    def restore(self, state: dict[str, Any]) -> None:
        self.windows.restore(state)
        self.history = state["history"]


def evidence(alert_evidence: str) -> dict[str, Any]:
    """Decode an alert's evidence JSON."""
    out: dict[str, Any] = json.loads(alert_evidence)
    return out
