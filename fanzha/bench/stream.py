"""``fanzha bench stream``: events per second through all firewall detectors on replay, and memory.

Replays a simulated city-day (calls and SMS merged in event time) in micro-batches through
the shared window stage, the spoof and burst rules and the behaviour model (trained in the
same run on another city). Bar from issue 4: >= 2,000,000 call/SMS events per second.
Memory per active number = the detectors' checkpointed state (window buffers, per-number
history) divided by the numbers seen; the process's RSS growth is reported beside it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import polars as pl
import psutil

from fanzha.bench import Bar, result_line
from fanzha.numbers.events import load_events, replay
from fanzha.numbers.firewall import CityInputs, build_firewall, train_behaviour
from fanzha.numbers.kernels import warm_up
from fanzha.numbers.stream import Detector, Stage, StreamRunner
from fanzha.sim import SimConfig, simulate_city


def run(subscribers: int = 200_000, days: int = 1, batch_rows: int = 1_000_000,
        with_checkpoints: bool = False) -> dict[str, object]:
    proc = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="fanzha-bench-stream-") as tmp:
        root = Path(tmp)
        small = SimConfig(subscribers=max(20_000, subscribers // 5), days=2, seed=301)
        simulate_city(small, root / "train")
        simulate_city(SimConfig(subscribers=small.subscribers, days=2, seed=302), root / "valid")
        model = train_behaviour(root / "train", root / "valid")
        simulate_city(SimConfig(subscribers=subscribers, days=days, seed=303), root / "test")
        inputs = CityInputs.load(root / "test")
        events = load_events(root / "test")
        t0 = time.perf_counter()
        warm_up()  # numba: compile or load the cached kernel once per process
        warm = time.perf_counter() - t0
        rss0 = proc.memory_info().rss
        stages, detectors = build_firewall(inputs, model)
        runner = StreamRunner(detectors, stages=stages, state_dir=root / "state" if with_checkpoints else None)
        t0 = time.perf_counter()
        alerts = runner.run(replay(events, batch_rows))
        seconds = time.perf_counter() - t0
        rss1 = proc.memory_info().rss
        parts: list[Stage | Detector] = [*stages, *detectors]
        state_bytes = sum(int(v.estimated_size()) for part in parts
                          for v in part.snapshot().values() if isinstance(v, pl.DataFrame))
        numbers = pl.concat([events["src"], events["dst"]]).n_unique()
    eps = events.height / seconds
    figures = {
        "subscribers": subscribers,
        "days": days,
        "events": events.height,
        "batch_rows": batch_rows,
        "checkpoints": with_checkpoints,
        "seconds": round(seconds, 2),
        "kernel_warm_up_s": round(warm, 2),
        "events_per_s": round(eps),
        "alerts": alerts.height,
        "alerts_by_detector": runner.stats.by_detector,
        "active_numbers": numbers,
        "state_bytes": state_bytes,
        "state_bytes_per_active_number": round(state_bytes / max(numbers, 1)),
        "rss_growth_bytes": max(rss1 - rss0, 0),
    }
    print(f"{events.height:,} events in {seconds:.2f} s = {eps:,.0f} events/s; "
          f"{figures['state_bytes_per_active_number']} bytes of detector state per active number")
    print(result_line("stream", figures, [Bar("events_per_s", round(eps), ">=", 2_000_000)]))
    return figures
