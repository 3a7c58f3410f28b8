"""Rule detectors of the call/SMS firewall: spoofing (改号) and bursts (短时间大量呼叫/群发).

Both are plain classes over Polars batches (see :mod:`fanzha.numbers.stream`); rules are
versioned so each alert says which rule produced it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl

from fanzha.numbers.events import CALL, SMS
from fanzha.numbers.kernels import sweep_windows
from fanzha.numbers.stream import ALERT_SCHEMA, empty_alerts

MINUTE = 60_000


class WindowStats:
    """Per-number statistics of every closed hopping window, computed once per watermark.

    Windows are ``width_ms`` long and a new one starts every ``hop_ms``; events stay
    buffered until no open window needs them, and each window is closed exactly once,
    when the watermark passes its end.

    A stage shared by the burst rule and the behaviour model (the runner feeds it before
    the detectors), so each event is windowed once whatever the number of detectors.
    Only windows reaching ``min_events`` distinct recipients are kept: the rest cannot be a
    burst and are not worth scoring.
    """

    name = "windows"

    def __init__(self, width_ms: int = 5 * MINUTE, hop_ms: int = MINUTE, min_events: int = 3,
                 short_s: int = 10, exempt: list[str] | pl.Series | None = None) -> None:
        if width_ms % hop_ms:
            raise ValueError("width must be a multiple of hop")
        self.width, self.hop = width_ms, hop_ms
        self.min_events, self.short_s = min_events, short_s
        self.exempt = pl.Series("src", list(exempt) if exempt is not None else [], dtype=pl.String)
        self.buffer: pl.DataFrame | None = None  # events that windows not yet closed still need
        self.closed_until = -(2**62)  # windows ending at or before this are closed
        self.closed = _EMPTY_STATS
        self.watermark = -(2**62)

    def add(self, events: pl.DataFrame) -> None:
        part = events.select("src", "dst", "time", "kind", "duration_s").with_columns(
            pl.col("src").hash(seed=7).alias("_key"), pl.col("dst").hash(seed=7).alias("_dkey"))
        self.buffer = part if self.buffer is None else pl.concat([self.buffer, part], how="vertical_relaxed")

    def advance(self, watermark: int) -> pl.DataFrame:
        """Close windows ending in (last close, watermark]; the result stays in ``closed`` until the next call."""
        if watermark == self.watermark:
            return self.closed
        self.watermark = watermark
        if self.buffer is None or self.buffer.height == 0 or watermark <= self.closed_until:
            self.closed = _EMPTY_STATS
            return self.closed
        lo, hi = self.closed_until, watermark
        call = pl.col("kind") == CALL
        rows = self.buffer.filter(pl.col("time") < hi).sort("_key", "time")
        cols = rows.select(
            "_key", "time", "_dkey",
            (call & (pl.col("duration_s") < self.short_s)).cast(pl.Int64).alias("short"),
            (call & (pl.col("duration_s") == 0)).cast(pl.Int64).alias("unans"),
            call.cast(pl.Int64).alias("call"),
            (pl.col("kind") == SMS).cast(pl.Int64).alias("sms"),
            pl.col("duration_s").clip(lower_bound=0).cast(pl.Int64).alias("dur"),
        )
        out = sweep_windows([cols[c].to_numpy() for c in cols.columns], lo, hi, self.width, self.hop,
                            self.min_events)
        self.closed_until = watermark
        self.buffer = self.buffer.filter(pl.col("time") >= watermark - self.width)
        first_row, end, n, distinct, short, unans, calls, sms, dur = out
        stats = pl.DataFrame({
            "window_end": end, "src": rows["src"].gather(first_row), "n": n, "distinct": distinct, "short": short,
            "unanswered": unans, "calls": calls, "sms": sms,
            "mean_dur": dur / np.maximum(n, 1),
        }, schema=_EMPTY_STATS.schema)
        self.closed = stats.filter(~pl.col("src").is_in(self.exempt.implode()))
        return self.closed

    def snapshot(self) -> dict[str, Any]:
        buffer = self.buffer if self.buffer is not None else pl.DataFrame()
        return {"buffer": buffer, "closed_until": self.closed_until, "watermark": self.watermark}

    def restore(self, state: dict[str, Any]) -> None:
        self.buffer = state["buffer"] if state["buffer"].width else None
        self.closed_until, self.watermark = state["closed_until"], state["watermark"]


_EMPTY_STATS = pl.DataFrame(schema={
    "window_end": pl.Int64, "src": pl.String, "n": pl.Int64, "distinct": pl.Int64, "short": pl.Int64,
    "unanswered": pl.Int64, "calls": pl.Int64, "sms": pl.Int64, "mean_dur": pl.Float64,
})


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

    Fires when, in a window, a number reaches ``min_distinct`` distinct recipients, most of
    its calls are short or unanswered (or it is texting), and that count is at least
    ``ratio`` times the busiest window of its own past: a notification line that bursts
    every morning is judged against its mornings, a new card against nothing.
    """

    name = "burst"
    version = "burst-rule-1"

    def __init__(self, stats: WindowStats | None = None, min_distinct: int = 10, min_short_share: float = 0.5,
                 ratio: float = 1.5, exempt: list[str] | None = None) -> None:
        self.own = stats is None
        self.stats = stats if stats is not None else WindowStats(min_events=min_distinct, exempt=exempt)
        self.min_distinct, self.min_short_share, self.ratio = min_distinct, min_short_share, ratio
        self.exempt = pl.Series("src", exempt or [], dtype=pl.String)
        self.history = pl.DataFrame(schema={"src": pl.String, "hist_peak": pl.Int64})

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame:
        if self.own:
            self.stats.add(events)
        return empty_alerts()

    def on_timer(self, watermark: int) -> pl.DataFrame:
        agg = self.stats.advance(watermark) if self.own else self.stats.closed
        if agg.height == 0:
            return empty_alerts()
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
        # remember each number's busiest window
        peaks = agg.group_by("src").agg(pl.col("distinct").max().alias("p"))
        self.history = (
            self.history.join(peaks, on="src", how="full", coalesce=True)
            .select("src", pl.max_horizontal("hist_peak", "p").alias("hist_peak"))
        )
        return fired

    def snapshot(self) -> dict[str, Any]:
        return {**(self.stats.snapshot() if self.own else {}), "history": self.history}

    def restore(self, state: dict[str, Any]) -> None:
        if self.own:
            self.stats.restore(state)
        self.history = state["history"]


class TextDetector:
    """Fraud SMS content (诈骗短信): a sender whose texts score as lures to several people.

    Texts are scored once per distinct text (a blitz repeats a few lures thousands of
    times); a sender is alerted when ``min_recipients`` distinct people got a text scoring
    at least ``threshold`` from it, so one forwarded lure does not list a citizen.
    """

    name = "text"
    version = "text-lr-1"

    def __init__(self, threshold: float = 0.9, min_recipients: int = 3, confidence: float = 0.99) -> None:
        self.threshold, self.min_recipients, self.confidence = threshold, min_recipients, confidence
        self.counts = pl.DataFrame(schema={"src": pl.String, "dst": pl.String})
        self.alerted = pl.DataFrame(schema={"src": pl.String})
        self.scored = pl.DataFrame(schema={"text": pl.String, "score": pl.Float64})
        self.cache_size = 200_000

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame:
        from fanzha.numbers.text import score_texts

        sms = events.filter((pl.col("kind") == SMS) & pl.col("text").is_not_null()).select("src", "dst", "time", "text")
        if sms.height == 0:
            return empty_alerts()
        texts = sms.select("text").unique().join(self.scored, on="text", how="left")
        new = texts.filter(pl.col("score").is_null()).select("text")
        if new.height:
            # templates and blitzes repeat: each distinct text is scored once per stream
            fresh = new.with_columns(pl.Series("score", score_texts(new["text"]), dtype=pl.Float64))
            self.scored = pl.concat([self.scored, fresh]).tail(self.cache_size)
            texts = texts.join(fresh, on="text", how="left", suffix="_new").select(
                "text", pl.coalesce("score", "score_new").alias("score"))
        lures = sms.join(texts.filter(pl.col("score") >= self.threshold), on="text", how="inner")
        if lures.height == 0:
            return empty_alerts()
        lures = lures.filter(~pl.col("src").is_in(self.alerted["src"].implode()))
        self.counts = pl.concat([self.counts, lures.select("src", "dst")]).unique()
        reached = self.counts.group_by("src").agg(pl.col("dst").n_unique().alias("k")).filter(
            pl.col("k") >= self.min_recipients)
        if reached.height == 0:
            return empty_alerts()
        # the alert time is the event time of the lure that reached the threshold
        timed = lures.join(reached.select("src"), on="src").sort("time").group_by("src", maintain_order=True).agg(
            pl.col("time").get(pl.min_horizontal(pl.len(), self.min_recipients) - 1).alias("time"),
            pl.col("text").first().alias("example"), pl.col("score").max())
        self.alerted = pl.concat([self.alerted, timed.select("src")])
        self.counts = self.counts.filter(~pl.col("src").is_in(self.alerted["src"].implode()))
        return timed.select(
            (pl.lit("text:") + pl.col("src")).alias("alert_id"),
            pl.lit(self.name).alias("detector"),
            pl.col("src").alias("number"),
            pl.col("time"),
            pl.lit(self.confidence).alias("confidence"),
            pl.struct(example="example", score="score").struct.json_encode().alias("evidence"),
            pl.lit(self.version).alias("version"),
        )

    def on_timer(self, watermark: int) -> pl.DataFrame:
        return empty_alerts()

    def snapshot(self) -> dict[str, Any]:
        return {"counts": self.counts, "alerted": self.alerted}

    def restore(self, state: dict[str, Any]) -> None:
        self.counts, self.alerted = state["counts"], state["alerted"]


def evidence(alert_evidence: str) -> dict[str, Any]:
    """Decode an alert's evidence JSON."""
    out: dict[str, Any] = json.loads(alert_evidence)
    return out
