"""``fanzha bench simulate``: wall time, events per second and peak memory of a city-day.

The simulation runs in a child process so that peak memory (ru_maxrss of the child)
measures the simulator alone, not the benchmark harness.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fanzha.bench import Bar, result_line

_CHILD = """
import json, sys
from pathlib import Path
from fanzha.sim import SimConfig, simulate_city
cfg = SimConfig(subscribers=int(sys.argv[1]), days=int(sys.argv[2]), seed=int(sys.argv[3]))
city = simulate_city(cfg, Path(sys.argv[4]), progress=False)
print(json.dumps({"seconds": city.seconds, "rows": city.rows}))
"""


def run(subscribers: int = 1_000_000, days: int = 1, seed: int = 7) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="fanzha-bench-sim-") as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(subscribers), str(days), str(seed), str(Path(tmp) / "city")],
            capture_output=True, text=True, check=False,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(f"simulation failed with exit code {proc.returncode}")
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        size = sum(f.stat().st_size for f in (Path(tmp) / "city").glob("*.parquet"))
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # ru_maxrss is KiB on Linux
    rows = child["rows"]
    events = rows["calls"] + rows["sms"] + rows["transfers"] + rows["url_visits"]
    scale = 1_000_000 / subscribers / days  # the bars are stated for one 1M-subscriber city-day
    figures = {
        "subscribers": subscribers,
        "days": days,
        "rows": rows,
        "events": events,
        "simulate_s": round(child["seconds"], 2),
        "wall_s_incl_start": round(wall, 2),
        "events_per_s": round(events / child["seconds"]),
        "peak_gb": round(peak_gb, 3),
        "parquet_mb": round(size / 1e6, 1),
        "scaled_to_1m_city_day": scale != 1,
    }
    print(f"simulated {subscribers:,} subscribers x {days} day(s): {events:,} events in {child['seconds']:.1f} s "
          f"({figures['events_per_s']:,}/s), peak {peak_gb:.2f} GB, {size / 1e6:.0f} MB of Parquet")
    bars = [
        Bar("city_day_1m_wall_s", round(wall * scale, 2), "<=", 60),
        Bar("city_day_1m_peak_gb", round(peak_gb, 3), "<=", 8),
    ]
    print(result_line("simulate", figures, bars))
    return figures
