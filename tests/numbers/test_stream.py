"""Stream runner and rule detectors: event-time windows, late events, restart without loss or duplicates."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from fanzha.numbers.detectors import BurstDetector, SpoofDetector, WindowStats
from fanzha.numbers.events import EVENT_SCHEMA, Batch, replay
from fanzha.numbers.stream import StreamRunner

MIN = 60_000
T0 = 1_800_000_000_000 - (1_800_000_000_000 % (60 * MIN))


def ev(rows: list[tuple[str, str, int, int, str]]) -> pl.DataFrame:
    """(src, dst, minute offset in ms, duration, ingress) → call events."""
    return pl.DataFrame(
        {
            "src": [r[0] for r in rows],
            "dst": [r[1] for r in rows],
            "time": [T0 + r[2] for r in rows],
            "kind": [0] * len(rows),
            "duration_s": [r[3] for r in rows],
            "ingress": [r[4] for r in rows],
            "imei": [None] * len(rows),
            "cell": [None] * len(rows),
            "text": [None] * len(rows),
        },
        schema=EVENT_SCHEMA,
    )


def test_windows_close_each_window_once_and_only_after_the_watermark() -> None:
    w = WindowStats(5 * MIN, MIN, min_events=1)
    w.add(ev([("a", "x", 30_000, 0, "local")]))  # falls in 5 windows: ends at 1..5 minutes
    assert w.advance(T0 + 30_000).height == 0  # nothing ended yet
    first = w.advance(T0 + 3 * MIN)
    assert sorted(first["window_end"].to_list()) == [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
    rest = w.advance(T0 + 10 * MIN)
    assert sorted(rest["window_end"].to_list()) == [T0 + 4 * MIN, T0 + 5 * MIN]
    assert w.advance(T0 + 11 * MIN).height == 0
    with pytest.raises(ValueError):
        WindowStats(5 * MIN, 2 * MIN)


def test_spoof_fires_only_for_whitelisted_numbers_entering_through_a_gateway() -> None:
    det = SpoofDetector(["+865921234567"])
    batch = ev([
        ("+865921234567", "+8613900000001", 0, 60, "international"),
        ("+865921234567", "+8613900000002", 0, 60, "local"),
        ("+8613800000000", "+8613900000003", 0, 60, "international"),
        ("+865921234567", "+8613900000004", 0, 60, "long_distance"),
    ])
    a = det.on_batch(batch, T0)
    assert sorted(a["evidence"].str.json_path_match("$.callee").to_list()) == ["+8613900000001", "+8613900000004"]


def test_burst_needs_many_distinct_short_calls_and_respects_history() -> None:
    burst = [("fraud", f"v{i}", i * 10_000, 0, "long_distance") for i in range(15)]
    chatty = [("friend", "mom", i * 10_000, 300, "local") for i in range(15)]  # many calls, one person
    det = BurstDetector(exempt=["gov"])
    det.on_batch(ev(burst + chatty), T0)
    a = det.on_timer(T0 + 30 * MIN)
    assert set(a["number"].to_list()) == {"fraud"}
    # a number that bursts every day is measured against its own history and no longer fires
    # for a burst of the same size; a number with no history does
    hist = BurstDetector(ratio=4.0)
    day = 24 * 60 * MIN
    daily = [("robo", f"p{d}-{i}", d * day + i * 5_000, 0, "local") for d in range(3) for i in range(200)]
    hist.on_batch(ev(daily), T0)
    hist.on_timer(T0 + 3 * day)
    again = [("robo", f"q{i}", 3 * day + i * 20_000, 0, "local") for i in range(12)]
    new = [("newbie", f"r{i}", 3 * day + i * 20_000, 0, "local") for i in range(12)]
    hist.on_batch(ev(again + new), T0 + 3 * day)
    fired = set(hist.on_timer(T0 + 4 * day)["number"].to_list())
    assert fired == {"newbie"}


def test_late_events_are_kept_aside_with_a_reason(tmp_path: Path) -> None:
    r = StreamRunner([SpoofDetector(["gov"])], grace_ms=MIN, state_dir=tmp_path)
    r.process(Batch(0, ev([("a", "b", 10 * MIN, 5, "local")])))
    r.process(Batch(1, ev([("late", "b", 0, 5, "local"), ("ok", "b", 10 * MIN, 5, "local")])))
    assert r.stats.late_events == 1
    late = pl.read_parquet(tmp_path / "late" / "part-00000001.parquet")
    assert late["src"].to_list() == ["late"] and "watermark" in late["reason"][0]
    assert r.stats.events == 3  # counted as read, not lost


def test_a_state_folder_of_another_checkpoint_format_is_refused_clearly(tmp_path: Path) -> None:
    import json

    from fanzha.numbers.events import StreamInputError

    r = StreamRunner([SpoofDetector(["gov"])], grace_ms=MIN, state_dir=tmp_path)
    r.process(Batch(0, ev([("a", "b", 10 * MIN, 5, "local")])))
    manifest = tmp_path / (tmp_path / "CURRENT").read_text().strip() / "manifest.json"
    old = json.loads(manifest.read_text())
    old.pop("format")  # what the runner before dense number ids wrote
    manifest.write_text(json.dumps(old))
    with pytest.raises(StreamInputError, match="checkpoint format 1"):
        StreamRunner([SpoofDetector(["gov"])], grace_ms=MIN, state_dir=tmp_path)


def _city_events(n: int = 40_000) -> pl.DataFrame:
    """A synthetic stream: background chatter plus three bursting numbers and one spoofed line."""
    rows = [(f"p{i % 3000}", f"p{(i * 7) % 3000}", i * 900, 60, "local") for i in range(n)]
    for k, start in enumerate((3 * MIN, 200 * MIN, 400 * MIN)):
        rows += [(f"f{k}", f"v{k}-{i}", start + i * 4_000, 0, "international") for i in range(40)]
    rows += [("gov", f"s{i}", 100 * MIN + i * MIN, 120, "international") for i in range(5)]
    return ev(rows).sort("time")


def _detectors() -> list:
    return [SpoofDetector(["gov"]), BurstDetector(exempt=["gov"])]


def test_restart_after_a_crash_between_alert_write_and_checkpoint_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    events = _city_events()
    full = StreamRunner(_detectors(), state_dir=tmp_path / "full")
    full.run(replay(events, 2_000))
    want = full.all_alerts().sort("alert_id")
    assert want.height > 0

    state = tmp_path / "crashy"
    r1 = StreamRunner(_detectors(), state_dir=state)
    batches = list(replay(events, 2_000))
    for b in batches[:9]:
        r1.process(b)
    before = tmp_path / "before"
    shutil.copytree(state, before)
    r1.process(batches[9])  # writes alerts part 9 and checkpoint 10 ...
    # ... crash before the checkpoint commit: the old checkpoint is what survives
    shutil.rmtree(state / f"ckpt-{10:08d}")
    shutil.copytree(before / f"ckpt-{9:08d}", state / f"ckpt-{9:08d}")
    shutil.copy(before / "CURRENT", state / "CURRENT")
    r2 = StreamRunner(_detectors(), state_dir=state)
    assert r2.next_offset == 9
    r2.run(replay(events, 2_000, start_offset=r2.next_offset))
    got = r2.all_alerts().sort("alert_id")
    assert got["alert_id"].to_list() == want["alert_id"].to_list()
    assert got.equals(want)


_CHILD = """
import sys, time, polars as pl
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from test_stream import _city_events, _detectors
from fanzha.numbers.events import replay
from fanzha.numbers.stream import StreamRunner
r = StreamRunner(_detectors(), state_dir=Path(sys.argv[1]))
for b in replay(_city_events(), 500, start_offset=r.next_offset):
    r.process(b)
    time.sleep(float(sys.argv[2]))
r.flush()
print("done", flush=True)
"""


def test_sigkill_mid_stream_then_resume_gives_the_same_alerts(tmp_path: Path) -> None:
    events = _city_events()
    full = StreamRunner(_detectors(), state_dir=tmp_path / "full")
    full.run(replay(events, 500))
    want = full.all_alerts().sort("alert_id")
    state = tmp_path / "killed"
    here = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(state), "0.05", here], env=env,
                            stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120  # start-up (imports, kernel compilation) varies with machine load
    while not (state / "CURRENT").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (state / "CURRENT").exists(), "the child should have checkpointed before the kill"
    n_batches = -(-_city_events().height // 500)
    done_before_kill = StreamRunner(_detectors(), state_dir=state).next_offset
    assert 0 < done_before_kill < n_batches, "the kill should land mid-stream"
    done = subprocess.run([sys.executable, "-c", _CHILD, str(state), "0", here], env=env,
                          capture_output=True, text=True, check=True)
    assert "done" in done.stdout
    got = StreamRunner(_detectors(), state_dir=state).all_alerts().sort("alert_id")
    assert got.equals(want)


def test_text_detector_needs_lures_to_several_people_and_ignores_warnings() -> None:
    from fanzha.numbers.detectors import TextDetector

    lure = "【医保中心】您的医保卡已被停用，请于24小时内登录 http://yb-jd88.top 办理解冻，逾期影响报销。"
    warning = "【厦门反诈中心】国家反诈中心提醒：凡是让您转账到“安全账户”的都是诈骗！"
    rows = [("blaster", f"v{i}", i * 1_000, lure) for i in range(4)]
    rows += [("friend", "mom", 0, lure)]  # a citizen forwarding one lure
    rows += [("gov", f"c{i}", i * 1_000, warning) for i in range(10)]
    events = pl.DataFrame({
        "src": [r[0] for r in rows], "dst": [r[1] for r in rows], "time": [T0 + r[2] for r in rows],
        "kind": [1] * len(rows), "duration_s": [-1] * len(rows), "ingress": ["local"] * len(rows),
        "imei": [None] * len(rows), "cell": [None] * len(rows), "text": [r[3] for r in rows],
    }, schema=EVENT_SCHEMA)
    det = TextDetector()
    a = det.on_batch(events, T0)
    assert a["number"].to_list() == ["blaster"]
    assert a["time"].to_list() == [T0 + 2_000]  # the third person reached
    assert det.on_batch(events, T0).height == 0  # alerted once


def test_number_index_restores_the_same_ids_from_its_text() -> None:
    from fanzha.numbers.detectors import NumberIndex

    idx = NumberIndex()
    first = idx.encode(pl.Series(["b", "a", "b", "c"]))
    assert first.tolist() == [0, 1, 0, 2]
    again = NumberIndex()
    again.restore(idx.snapshot())
    assert again.encode(pl.Series(["c", "a", "d"])).tolist() == [2, 1, 3]
    assert again.numbers(again.encode(pl.Series(["d", "b"]))).to_list() == ["d", "b"]


def test_score_bound_keeps_every_row_that_can_reach_its_level() -> None:
    """Pruned rows must all score under the level: the bound is an upper bound, never a guess."""
    import lightgbm as lgb
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    from fanzha.numbers.behaviour import BehaviourModel, ScoreBound

    rng = np.random.default_rng(3)
    X = rng.normal(size=(4_000, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(scale=0.5, size=len(X)) > 1.2).astype(int)
    clf = lgb.LGBMClassifier(n_estimators=40, num_leaves=15, verbose=-1).fit(X, y)
    cal = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(clf.predict_proba(X)[:, 1], y)
    model = BehaviourModel(booster=clf, calibrator=cal, version="t")
    ids = np.sort(rng.integers(0, 200, len(X)))  # rows grouped by number
    need = np.where(ids % 3 == 0, 0.5, np.where(ids % 3 == 1, 0.9, np.inf))
    bound = ScoreBound(model)
    keep = bound.keep(X, ids, need)
    assert bound.ok
    p = model.predict(X)
    assert not np.any((p >= need) & ~keep)  # nothing that reaches its level is dropped
    assert keep.sum() < len(X) // 2  # and most rows are not scored
