"""Event-time stream runner for the call/SMS firewall: micro-batches, watermark, checkpoints.

Detectors are plain classes (``on_batch`` / ``on_timer`` / ``snapshot`` / ``restore``)
working on whole Polars batches, so the same objects replay a month of history in batch
and run live. The runner keeps the watermark (max event time seen minus a grace period),
writes each batch's alerts and then a checkpoint atomically; alert ids are deterministic,
so a restart that re-processes the last batch rewrites the same alert file: no alert lost,
none duplicated. Events older than the watermark are not dropped silently: they are
written to ``late/`` with the reason and counted.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from fanzha.numbers.events import Batch, StreamInputError

# Checkpoint layout version: 2 = per-number state keyed by the shared NumberIndex's dense ids.
# A state folder of another version cannot be resumed (its ids mean nothing here).
CHECKPOINT_FORMAT = 2

ALERT_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String(),
    "detector": pl.String(),
    "number": pl.String(),
    "time": pl.Int64(),  # event time at which the detector was sure enough (ms, UTC)
    "confidence": pl.Float64(),
    "evidence": pl.String(),  # JSON: the window and records that fired
    "version": pl.String(),  # rule or model version that produced it
}


def empty_alerts() -> pl.DataFrame:
    return pl.DataFrame(schema=ALERT_SCHEMA)


class Stage(Protocol):
    """Shared work several detectors read (e.g. window statistics), fed before them."""

    name: str

    def add(self, events: pl.DataFrame) -> None: ...

    def advance(self, watermark: int) -> Any: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


class Detector(Protocol):
    """What the runner needs from a detector."""

    name: str

    def on_batch(self, events: pl.DataFrame, watermark: int) -> pl.DataFrame: ...

    def on_timer(self, watermark: int) -> pl.DataFrame: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


def _atomic_write_parquet(df: pl.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    df.write_parquet(tmp)
    os.replace(tmp, path)


@dataclass
class RunStats:
    batches: int = 0
    events: int = 0
    late_events: int = 0
    alerts: int = 0
    watermark: int = 0
    by_detector: dict[str, int] = field(default_factory=dict)


class StreamRunner:
    """Drive detectors over micro-batches with an explicit watermark and durable checkpoints."""

    def __init__(self, detectors: list[Detector], grace_ms: int = 30_000, state_dir: Path | None = None,
                 stages: list[Stage] | None = None) -> None:
        self.stages = stages or []
        names = [d.name for d in detectors] + [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"detector and stage names must be unique: {names}")
        self.detectors = detectors
        self.grace_ms = grace_ms
        self.state_dir = Path(state_dir) if state_dir else None
        self.watermark = -(2**62)
        self.next_offset = 0
        self.stats = RunStats()
        if self.state_dir:
            (self.state_dir / "alerts").mkdir(parents=True, exist_ok=True)
            (self.state_dir / "late").mkdir(parents=True, exist_ok=True)
            self._load_checkpoint()

    # ---- checkpoints ---------------------------------------------------------------------
    def _load_checkpoint(self) -> None:
        assert self.state_dir is not None
        current = self.state_dir / "CURRENT"
        if not current.exists():
            return
        ckpt = self.state_dir / current.read_text().strip()
        manifest = json.loads((ckpt / "manifest.json").read_text())
        found = manifest.get("format", 1)
        if found != CHECKPOINT_FORMAT:
            raise StreamInputError(
                f"the firewall state in {self.state_dir} is checkpoint format {found}; this version reads format "
                f"{CHECKPOINT_FORMAT}: replay into an empty --state folder (alerts already written stay in "
                f"{self.state_dir / 'alerts'})")
        self.watermark = manifest["watermark"]
        self.next_offset = manifest["next_offset"]
        self.stats = RunStats(**manifest["stats"])
        parts: list[Stage | Detector] = [*self.stages, *self.detectors]
        for part in parts:
            state = manifest["detectors"].get(part.name)
            if state is None:
                continue
            part.restore(_read_state(ckpt / part.name, state))

    def _save_checkpoint(self) -> None:
        assert self.state_dir is not None
        name = f"ckpt-{self.next_offset:08d}"
        ckpt = self.state_dir / name
        if ckpt.exists():
            shutil.rmtree(ckpt)
        ckpt.mkdir()
        parts: list[Stage | Detector] = [*self.stages, *self.detectors]
        dets = {p.name: _write_state(ckpt / p.name, p.snapshot()) for p in parts}
        manifest = {"format": CHECKPOINT_FORMAT, "watermark": self.watermark, "next_offset": self.next_offset,
                    "stats": self.stats.__dict__, "detectors": dets}
        (ckpt / "manifest.json").write_text(json.dumps(manifest))
        tmp = self.state_dir / "CURRENT.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.state_dir / "CURRENT")  # the commit point
        for old in self.state_dir.glob("ckpt-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    # ---- processing ----------------------------------------------------------------------
    def process(self, batch: Batch) -> pl.DataFrame:
        """Run one micro-batch through every detector; returns its alerts."""
        if batch.offset < self.next_offset:
            return empty_alerts()  # already processed before a restart
        ev = batch.events
        late = ev.filter(pl.col("time") < self.watermark)
        if late.height:
            ev = ev.filter(pl.col("time") >= self.watermark)
            self.stats.late_events += late.height
            if self.state_dir:
                _atomic_write_parquet(
                    late.with_columns(pl.lit(f"older than watermark {self.watermark}").alias("reason")),
                    self.state_dir / "late" / f"part-{batch.offset:08d}.parquet",
                )
        if ev.height:
            self.watermark = max(self.watermark, int(ev["time"].max()) - self.grace_ms)  # type: ignore[arg-type]
        for stage in self.stages:
            stage.add(ev)
            stage.advance(self.watermark)
        out = [empty_alerts()]
        for det in self.detectors:
            a = det.on_batch(ev, self.watermark)
            b = det.on_timer(self.watermark)
            for part in (a, b):
                if part.height:
                    out.append(part.select(list(ALERT_SCHEMA)))
                    self.stats.by_detector[det.name] = self.stats.by_detector.get(det.name, 0) + part.height
        alerts = pl.concat(out, how="vertical_relaxed").unique("alert_id", keep="first", maintain_order=True)
        self.stats.batches += 1
        self.stats.events += batch.events.height
        self.stats.alerts += alerts.height
        self.stats.watermark = self.watermark
        self.next_offset = batch.offset + 1
        if self.state_dir:
            _atomic_write_parquet(alerts, self.state_dir / "alerts" / f"part-{batch.offset:08d}.parquet")
            self._save_checkpoint()
        return alerts

    def flush(self) -> pl.DataFrame:
        """End of input: close every open window (the watermark jumps to the end of time)."""
        for stage in self.stages:
            stage.advance(2**62)
        out = [empty_alerts()]
        for det in self.detectors:
            part = det.on_timer(2**62)
            if part.height:
                out.append(part.select(list(ALERT_SCHEMA)))
        alerts = pl.concat(out, how="vertical_relaxed").unique("alert_id", keep="first", maintain_order=True)
        if self.state_dir and alerts.height:
            _atomic_write_parquet(alerts, self.state_dir / "alerts" / "part-final.parquet")
        self.stats.alerts += alerts.height
        return alerts

    def run(self, batches: Iterable[Batch], flush: bool = True) -> pl.DataFrame:
        parts = [self.process(b) for b in batches]
        if flush:
            parts.append(self.flush())
        return pl.concat([empty_alerts(), *parts], how="vertical_relaxed")

    def all_alerts(self) -> pl.DataFrame:
        """Every alert written so far (deduplicated by id), from the state folder."""
        if not self.state_dir:
            raise ValueError("all_alerts needs a state_dir")
        files = sorted((self.state_dir / "alerts").glob("part-*.parquet"))
        if not files:
            return empty_alerts()
        return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed").unique(
            "alert_id", keep="first", maintain_order=True
        )


def _write_state(folder: Path, state: dict[str, Any]) -> dict[str, Any]:
    """Frames to Arrow IPC files, everything else to JSON; returns the manifest entry."""
    folder.mkdir(parents=True, exist_ok=True)
    entry: dict[str, Any] = {"frames": [], "values": {}}
    for k, v in state.items():
        if isinstance(v, pl.DataFrame):
            v.write_ipc(folder / f"{k}.arrow")
            entry["frames"].append(k)
        else:
            entry["values"][k] = v
    return entry


def _read_state(folder: Path, entry: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = dict(entry["values"])
    for k in entry["frames"]:
        state[k] = pl.read_ipc(folder / f"{k}.arrow", memory_map=False)
    return state
