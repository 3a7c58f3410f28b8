"""The call/SMS firewall assembled: detectors for a city, training on one city, measuring on another."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from fanzha.numbers.behaviour import (
    BehaviourDetector,
    BehaviourFeatures,
    BehaviourModel,
    fit_behaviour_model,
    register_frame,
)
from fanzha.numbers.detectors import BurstDetector, NumberIndex, SpoofDetector, TextDetector, WindowStats
from fanzha.numbers.events import load_events, replay
from fanzha.numbers.stream import Detector, Stage, StreamRunner


@dataclass(frozen=True)
class CityInputs:
    """What the firewall reads from a folder in the data contracts."""

    register: pl.DataFrame
    whitelist: pl.Series

    @staticmethod
    def load(city_dir: Path) -> CityInputs:
        city_dir = Path(city_dir)
        subs = pl.read_parquet(city_dir / "subscribers.parquet")
        wl_path = city_dir / "protected_numbers.parquet"
        wl = pl.read_parquet(wl_path)["number"] if wl_path.exists() else pl.Series("number", [], pl.String)
        return CityInputs(register_frame(subs), wl)


def build_firewall(inputs: CityInputs, model: BehaviourModel | None) -> tuple[list[Stage], list[Detector]]:
    """The shared stages (number ids, window statistics) and the detectors reading them.

    Models are loaded here, before the first event: the SMS content model (trained on the
    shipped corpus once per process) as much as the behaviour model.
    """
    from fanzha.numbers.text import default_model

    index = NumberIndex()
    stats = WindowStats(min_events=3, exempt=inputs.whitelist, index=index)
    dets: list[Detector] = [SpoofDetector(inputs.whitelist, index=index), BurstDetector(stats),
                            TextDetector(index=index, model=default_model())]
    if model is not None:
        dets.append(BehaviourDetector(model, BehaviourFeatures(inputs.register, stats=stats)))
    return [index, stats], dets


def feature_rows(city_dir: Path, batch_rows: int = 500_000, grace_ms: int = 30_000) -> pl.DataFrame:
    """Replay a city through :class:`BehaviourFeatures` alone: the model's training rows."""
    inputs = CityInputs.load(city_dir)
    feats = BehaviourFeatures(inputs.register, exempt=inputs.whitelist)
    events = load_events(city_dir, with_text=False)
    out, wm = [], -(2**62)
    for b in replay(events, batch_rows):
        feats.add(b.events)
        wm = max(wm, int(b.events["time"].max()) - grace_ms)  # type: ignore[arg-type]
        out.append(feats.close(wm))
    out.append(feats.close(2**62))
    return pl.concat([o for o in out if o.height])


def fraud_numbers(city_dir: Path) -> pl.Series:
    """Ground truth: numbers a gang used itself (spoofed government lines are victims, not fraud)."""
    gt = pl.read_parquet(Path(city_dir) / "gt_fraud_numbers.parquet")
    return gt.filter(pl.col("role") != "spoofed")["number"].unique()


def train_behaviour(train_dir: Path, valid_dir: Path, seed: int = 0) -> BehaviourModel:
    """Fit on one simulated city, set the auto-confirm threshold on another."""
    return fit_behaviour_model(feature_rows(train_dir), fraud_numbers(train_dir), seed=seed,
                               valid=feature_rows(valid_dir), valid_labels=fraud_numbers(valid_dir))


@dataclass(frozen=True)
class BlockQuality:
    recall: float
    false_positive_rate: float
    median_minutes_to_block: float
    fraud_numbers: int
    legit_numbers: int
    false_positives: int


def block_quality(blocks: pl.DataFrame, events: pl.DataFrame, fraud: pl.Series) -> BlockQuality:
    """Recall over fraud numbers that were active, FPR over active legit numbers, time to block.

    ``blocks`` has one row per blocked number: ``number`` and ``time`` (event time of the block).
    """
    first = events.group_by("src").agg(pl.col("time").min().alias("first"))
    is_fraud = pl.col("src").is_in(fraud.implode())
    fa = first.filter(is_fraud).join(blocks.rename({"number": "src", "time": "blk"}), on="src", how="left")
    legit = first.filter(~is_fraud)
    fp = blocks.filter(pl.col("number").is_in(legit["src"].implode())).height
    caught = fa.filter(pl.col("blk").is_not_null())
    minutes = ((caught["blk"] - caught["first"]) / 60_000).to_numpy()
    return BlockQuality(
        recall=caught.height / max(fa.height, 1),
        false_positive_rate=fp / max(legit.height, 1),
        median_minutes_to_block=float(np.median(minutes)) if len(minutes) else float("nan"),
        fraud_numbers=fa.height,
        legit_numbers=legit.height,
        false_positives=fp,
    )


def first_blocks(alerts: pl.DataFrame, min_confidence: float, detectors: list[str] | None = None) -> pl.DataFrame:
    """Earliest alert per number at or above a confidence: when it would have been blocked."""
    a = alerts.filter(pl.col("confidence") >= min_confidence)
    if detectors is not None:
        a = a.filter(pl.col("detector").is_in(detectors))
    return a.group_by("number").agg(pl.col("time").min())


def confirmed_blocks(alerts: pl.DataFrame, auto_threshold: float) -> pl.DataFrame:
    """When each number would be blocked automatically: the behaviour model at its auto-confirm
    threshold, or the text detector (which only alerts once a sender's lures reached several people)."""
    parts = [first_blocks(alerts, auto_threshold, ["behaviour"]), first_blocks(alerts, 0.0, ["text"])]
    return pl.concat(parts).group_by("number").agg(pl.col("time").min())


def run_city(city_dir: Path, model: BehaviourModel | None, state_dir: Path | None = None,
             batch_rows: int = 500_000) -> tuple[pl.DataFrame, StreamRunner, pl.DataFrame]:
    """Replay a whole city through the firewall; returns (alerts, runner, events)."""
    inputs = CityInputs.load(city_dir)
    stages, detectors = build_firewall(inputs, model)
    runner = StreamRunner(detectors, state_dir=state_dir, stages=stages)
    events = load_events(city_dir)
    alerts = runner.run(replay(events, batch_rows, start_offset=runner.next_offset))
    return alerts, runner, events
