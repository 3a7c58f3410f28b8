"""Rule detectors of the call/SMS firewall: spoofing (改号) and bursts (短时间大量呼叫/群发).

Both are plain classes over Polars batches (see :mod:`fanzha.numbers.stream`); rules are
versioned so each alert says which rule produced it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from fanzha.numbers.events import CALL, SMS
from fanzha.numbers.kernels import KeyTable, sweep_windows
from fanzha.numbers.stream import ALERT_SCHEMA, empty_alerts

if TYPE_CHECKING:
    from fanzha.numbers.text import TextModel

MINUTE = 60_000
KEY_SEED = 7  # seed of the 64-bit hash behind every number id


def member_mask(members: np.ndarray, size: int) -> np.ndarray:
    """Boolean lookup table over ids: ``mask[ids]`` tests membership of a whole column at once."""
    mask = np.zeros(size, np.bool_)
    mask[members[members < size]] = True
    return mask


def grown(a: np.ndarray, size: int, fill: float | int) -> np.ndarray:
    """``a`` extended to ``size`` entries with ``fill`` (per-id state grows as new numbers appear)."""
    if len(a) >= size:
        return a
    out = np.full(max(size, len(a) + len(a) // 4), fill, dtype=a.dtype)
    out[: len(a)] = a
    return out


class NumberIndex:
    """Every number the stream has seen, as a dense id: per-number state is then a numpy array.

    A number's id comes from a 64-bit hash of its text (one hash per event column per
    batch) looked up in an open-addressing table; the stages and detectors of one firewall
    share one index, so a batch's numbers are hashed and looked up once, whatever the
    number of detectors. The index is itself a stage so it is checkpointed once: as the
    numbers' text in id order, from which a restore rebuilds the same ids (hashes are
    never stored, so a different Polars hash after an upgrade cannot misplace state).
    """

    name = "numbers"

    def __init__(self, seed: int = KEY_SEED) -> None:
        self.seed = seed
        self.table = KeyTable()
        self.hashes = np.empty(0, np.uint64)  # per id: orders numbers as the hash sort did
        self.strings = pl.Series("number", [], dtype=pl.String)
        self._memo: tuple[pl.DataFrame, np.ndarray, np.ndarray] | None = None

    @property
    def size(self) -> int:
        return self.table.size

    def encode(self, numbers: pl.Series) -> np.ndarray:
        """Ids of ``numbers`` (int64), adding the ones never seen."""
        h = numbers.hash(seed=self.seed).to_numpy()
        ids, new = self.table.intern(h)
        if len(new):
            self.hashes = np.concatenate([self.hashes, h[new]])
            self.strings.append(numbers.gather(new).cast(pl.String).rename("number"))
            if self.strings.n_chunks() > 64:
                self.strings = self.strings.rechunk()
        return ids

    def events(self, events: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(src ids, dst ids) of a batch, computed once per batch frame for every reader."""
        if self._memo is None or self._memo[0] is not events:
            self._memo = (events, self.encode(events["src"]), self.encode(events["dst"]))
        return self._memo[1], self._memo[2]

    def numbers(self, ids: np.ndarray) -> pl.Series:
        """The numbers' text for ids."""
        return self.strings.gather(ids)

    def add(self, events: pl.DataFrame) -> None:
        self.events(events)

    def advance(self, watermark: int) -> None:
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"numbers": pl.DataFrame({"number": self.strings})}

    def restore(self, state: dict[str, Any]) -> None:
        self.table = KeyTable()
        self.hashes = np.empty(0, np.uint64)
        self.strings = pl.Series("number", [], dtype=pl.String)
        self._memo = None
        self.encode(state["numbers"]["number"])


_BUFFER = ("id", "dst", "time", "kind", "duration")


class WindowStats:
    """Per-number statistics of every closed hopping window, computed once per watermark.

    Windows are ``width_ms`` long and a new one starts every ``hop_ms``; events stay
    buffered (as id and count columns) until no open window needs them, and each window is
    closed exactly once, when the watermark passes its end.

    A stage shared by the burst rule and the behaviour model (the runner feeds it before
    the detectors), so each event is windowed once whatever the number of detectors.
    Only windows reaching ``min_events`` distinct recipients are kept: the rest cannot be a
    burst and are not worth scoring. Closed windows come out grouped by number in the
    order of the numbers' hashes, windows in time order: the order the model was trained in.
    """

    name = "windows"

    def __init__(self, width_ms: int = 5 * MINUTE, hop_ms: int = MINUTE, min_events: int = 3,
                 short_s: int = 10, exempt: list[str] | pl.Series | None = None,
                 index: NumberIndex | None = None) -> None:
        if width_ms % hop_ms:
            raise ValueError("width must be a multiple of hop")
        self.width, self.hop = width_ms, hop_ms
        self.min_events, self.short_s = min_events, short_s
        self.own_index = index is None
        self.index = index if index is not None else NumberIndex()
        self.exempt = pl.Series("src", list(exempt) if exempt is not None else [], dtype=pl.String)
        self._exempt_ids = self.index.encode(self.exempt)
        self.buffer = _empty_buffer()  # events that windows not yet closed still need, in time order
        self.closed_until = -(2**62)  # windows ending at or before this are closed
        self.closed = _EMPTY_STATS
        self.watermark = -(2**62)

    def add(self, events: pl.DataFrame) -> None:
        src, dst = self.index.events(events)
        part = {"id": src, "dst": dst, "time": events["time"].to_numpy(),
                "kind": events["kind"].to_numpy(), "duration": events["duration_s"].fill_null(-1).to_numpy()}
        buf = {k: np.concatenate([self.buffer[k], part[k]]) for k in _BUFFER}
        t = buf["time"]
        if len(t) > 1 and not bool(np.all(t[1:] >= t[:-1])):  # out-of-order events within the grace period
            order = np.argsort(t, kind="stable")
            buf = {k: v[order] for k, v in buf.items()}
        self.buffer = buf

    def advance(self, watermark: int) -> pl.DataFrame:
        """Close windows ending in (last close, watermark]; the result stays in ``closed`` until the next call."""
        if watermark == self.watermark:
            return self.closed
        self.watermark = watermark
        buf = self.buffer
        if len(buf["time"]) == 0 or watermark <= self.closed_until:
            self.closed = _EMPTY_STATS
            return self.closed
        lo, hi = self.closed_until, watermark
        k = int(np.searchsorted(buf["time"], hi, side="left"))  # rows before hi, in time order
        cols = [buf[c][:k] for c in ("id", "time", "dst", "kind", "duration")]
        out = sweep_windows(cols, self.index.size, self.short_s, lo, hi, self.width, self.hop, self.min_events)
        self.closed_until = watermark
        keep = int(np.searchsorted(buf["time"], watermark - self.width, side="left"))
        self.buffer = {c: v[keep:].copy() for c, v in buf.items()}
        key, end, n, distinct, short, unans, calls, sms, dur = out
        order = np.argsort(self.index.hashes[key], kind="stable")
        order = order[~member_mask(self._exempt_ids, self.index.size)[key[order]]]
        key = key[order]
        n = n[order]
        self.closed = pl.DataFrame({
            "window_end": end[order], "src": self.index.numbers(key), "n": n, "distinct": distinct[order],
            "short": short[order], "unanswered": unans[order], "calls": calls[order], "sms": sms[order],
            "mean_dur": dur[order] / np.maximum(n, 1), "id": key,
        }, schema=_EMPTY_STATS.schema)
        return self.closed

    def snapshot(self) -> dict[str, Any]:
        own = self.index.snapshot() if self.own_index else {}
        return {**own, "buffer": pl.DataFrame(self.buffer), "closed_until": self.closed_until,
                "watermark": self.watermark}

    def restore(self, state: dict[str, Any]) -> None:
        if self.own_index:
            self.index.restore(state)
        frame = state["buffer"]
        self.buffer = {c: frame[c].to_numpy().astype(_empty_buffer()[c].dtype) for c in _BUFFER}
        self.closed_until, self.watermark = state["closed_until"], state["watermark"]
        self._exempt_ids = self.index.encode(self.exempt)


def _empty_buffer() -> dict[str, np.ndarray]:
    return {"id": np.empty(0, np.int64), "dst": np.empty(0, np.int64), "time": np.empty(0, np.int64),
            "kind": np.empty(0, np.uint8), "duration": np.empty(0, np.int32)}


_EMPTY_STATS = pl.DataFrame(schema={
    "window_end": pl.Int64, "src": pl.String, "n": pl.Int64, "distinct": pl.Int64, "short": pl.Int64,
    "unanswered": pl.Int64, "calls": pl.Int64, "sms": pl.Int64, "mean_dur": pl.Float64, "id": pl.Int64,
})


class SpoofDetector:
    """A protected (whitelisted) local number arriving through a long-distance or international
    gateway is a spoof (改号电话): the real line never enters that way."""

    name = "spoof"
    version = "spoof-rule-1"

    def __init__(self, whitelist: list[str] | pl.Series, index: NumberIndex | None = None) -> None:
        self.own_index = index is None
        self.index = index if index is not None else NumberIndex()
        self.whitelist = pl.Series("src", list(whitelist), dtype=pl.String).unique()
        self._ids = self.index.encode(self.whitelist)

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame:
        src, _ = self.index.events(events)
        # whitelisted callers first (an id lookup), then the gateway test on those few rows
        rows = np.flatnonzero(member_mask(self._ids, self.index.size)[src] & (events["kind"].to_numpy() == CALL))
        if not len(rows):
            return empty_alerts()
        hit = events.select(pl.all().gather(rows)).filter(pl.col("ingress").is_in(["long_distance", "international"]))
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
        return self.index.snapshot() if self.own_index else {}

    def restore(self, state: dict[str, Any]) -> None:
        if self.own_index:
            self.index.restore(state)
        self._ids = self.index.encode(self.whitelist)


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
        self._exempt_ids = self.stats.index.encode(self.exempt)
        self.peak = np.zeros(0, np.int64)  # per number id: its busiest window so far (distinct recipients)

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame:
        if self.own:
            self.stats.add(events)
        return empty_alerts()

    def on_timer(self, watermark: int) -> pl.DataFrame:
        agg = self.stats.advance(watermark) if self.own else self.stats.closed
        if agg.height == 0:
            return empty_alerts()
        size = self.stats.index.size
        self.peak = grown(self.peak, size, 0)
        ids = agg["id"].to_numpy()
        distinct = agg["distinct"].to_numpy()
        rows = np.flatnonzero((distinct >= self.min_distinct) & ~member_mask(self._exempt_ids, size)[ids])
        fired = empty_alerts()
        if len(rows):
            cand = agg.select(pl.all().gather(rows)).with_columns(
                pl.Series("past_peak", self.peak[ids[rows]], dtype=pl.Int64)
            ).filter(
                ((pl.col("short") >= self.min_short_share * pl.col("calls")) & (pl.col("calls") > 0)
                 | (pl.col("sms") >= 0.8 * pl.col("n")))
                & (pl.col("distinct") >= self.ratio * pl.col("past_peak"))
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
        np.maximum.at(self.peak, ids, distinct)  # remember each number's busiest window
        return fired

    def snapshot(self) -> dict[str, Any]:
        has = np.flatnonzero(self.peak)
        history = pl.DataFrame({"id": has, "hist_peak": self.peak[has]}, schema={"id": pl.Int64, "hist_peak": pl.Int64})
        return {**(self.stats.snapshot() if self.own else {}), "history": history}

    def restore(self, state: dict[str, Any]) -> None:
        if self.own:
            self.stats.restore(state)
        h = state["history"]
        self.peak = np.zeros(self.stats.index.size, np.int64)
        self.peak[h["id"].to_numpy()] = h["hist_peak"].to_numpy()
        self._exempt_ids = self.stats.index.encode(self.exempt)


class TextDetector:
    """Fraud SMS content (诈骗短信): a sender whose texts score as lures to several people.

    Texts are scored once per distinct text (a blitz repeats a few lures thousands of
    times): a text's 64-bit hash finds its cached score, and only texts never seen go to
    the classifier. A sender is alerted when ``min_recipients`` distinct people got a text
    scoring at least ``threshold`` from it, so one forwarded lure does not list a citizen.
    """

    name = "text"
    version = "text-lr-1"

    def __init__(self, threshold: float = 0.9, min_recipients: int = 3, confidence: float = 0.99,
                 index: NumberIndex | None = None, model: TextModel | None = None) -> None:
        self.threshold, self.min_recipients, self.confidence = threshold, min_recipients, confidence
        self.model = model  # None: the shipped model, trained at first use in the process
        self.own_index = index is None
        self.index = index if index is not None else NumberIndex()
        self.counts = pl.DataFrame(schema={"src": pl.Int64, "dst": pl.Int64})  # lure recipients per sender id
        self.alerted = np.zeros(0, np.bool_)  # per sender id
        self.cache_size = 2_000_000  # distinct texts whose score is kept (a cache, not state)
        self._texts = KeyTable()
        self._scores = np.empty(0, np.float64)

    def _score(self, texts: pl.Series) -> np.ndarray:
        from fanzha.numbers.text import score_texts

        if self._texts.size > self.cache_size:
            self._texts, self._scores = KeyTable(), np.empty(0, np.float64)
        tid, new = self._texts.intern(texts.hash(seed=KEY_SEED).to_numpy())
        if len(new):
            self._scores = np.concatenate([self._scores, score_texts(texts.gather(new), self.model)])
        return self._scores[tid]

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame:
        text = events["text"]
        rows = np.flatnonzero((events["kind"].to_numpy() == SMS) & text.is_not_null().to_numpy())
        if len(rows) == 0:
            return empty_alerts()
        src, dst = self.index.events(events)
        self.alerted = grown(self.alerted, self.index.size, False)
        texts = text.gather(rows)
        score = self._score(texts)
        lure = np.flatnonzero((score >= self.threshold) & ~self.alerted[src[rows]])
        if len(lure) == 0:
            return empty_alerts()
        at = rows[lure]
        lures = pl.DataFrame({"src": src[at], "dst": dst[at], "time": events["time"].to_numpy()[at],
                              "text": texts.gather(lure), "score": score[lure]})
        self.counts = pl.concat([self.counts, lures.select("src", "dst")]).unique()
        reached = self.counts.group_by("src").agg(pl.col("dst").n_unique().alias("k")).filter(
            pl.col("k") >= self.min_recipients)
        if reached.height == 0:
            return empty_alerts()
        # the alert time is the event time of the lure that reached the threshold
        timed = lures.join(reached.select("src"), on="src").sort("time", maintain_order=True).group_by(
            "src", maintain_order=True).agg(
            pl.col("time").get(pl.min_horizontal(pl.len(), self.min_recipients) - 1).alias("time"),
            pl.col("text").first().alias("example"), pl.col("score").max())
        hit = timed["src"].to_numpy()
        self.alerted[hit] = True
        self.counts = self.counts.filter(~pl.col("src").is_in(pl.Series(hit).implode()))
        return timed.with_columns(self.index.numbers(hit).alias("number")).select(
            (pl.lit("text:") + pl.col("number")).alias("alert_id"),
            pl.lit(self.name).alias("detector"),
            pl.col("number"),
            pl.col("time"),
            pl.lit(self.confidence).alias("confidence"),
            pl.struct(example="example", score="score").struct.json_encode().alias("evidence"),
            pl.lit(self.version).alias("version"),
        )

    def on_timer(self, watermark: int) -> pl.DataFrame:
        return empty_alerts()

    def snapshot(self) -> dict[str, Any]:
        own = self.index.snapshot() if self.own_index else {}
        return {**own, "counts": self.counts, "alerted": pl.DataFrame({"id": np.flatnonzero(self.alerted)})}

    def restore(self, state: dict[str, Any]) -> None:
        if self.own_index:
            self.index.restore(state)
        self.counts = state["counts"]
        self.alerted = np.zeros(self.index.size, np.bool_)
        self.alerted[state["alerted"]["id"].to_numpy()] = True


def evidence(alert_evidence: str) -> dict[str, Any]:
    """Decode an alert's evidence JSON."""
    out: dict[str, Any] = json.loads(alert_evidence)
    return out
