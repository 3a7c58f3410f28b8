"""Columnar event buffers shared by normal life and the gangs (positions, not strings)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fanzha.contracts.vocab import Channel, Ingress

INGRESS_CODES = [Ingress.LOCAL.value, Ingress.LONG_DISTANCE.value, Ingress.INTERNATIONAL.value]
CHANNEL_CODES = [c.value for c in Channel]
CH = {c: i for i, c in enumerate(Channel)}
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)


@dataclass
class Buffer:
    """Append-only column lists; ``finish`` concatenates once."""

    cols: dict[str, list[np.ndarray]] = field(default_factory=dict)
    dtypes: dict[str, type] = field(default_factory=dict)

    def add(self, **columns: np.ndarray | int) -> None:
        sizes = {np.size(v) for v in columns.values() if np.ndim(v) > 0}
        if len(sizes) > 1:
            raise ValueError(f"columns of different lengths: {sorted(sizes)}")
        n = sizes.pop() if sizes else 1
        if n == 0:
            return
        for k, v in columns.items():
            arr: np.ndarray = np.broadcast_to(np.asarray(v, dtype=self.dtypes[k]), (n,))
            self.cols.setdefault(k, []).append(np.array(arr, copy=True))

    def finish(self) -> dict[str, np.ndarray]:
        return {k: _cat(self.cols.get(k, []), t) for k, t in self.dtypes.items()}


def calls_buffer() -> Buffer:
    return Buffer(
        dtypes={
            "caller": np.int32, "callee": np.int32, "start": np.int64, "duration": np.int32,
            "ingress": np.int8, "cell": np.int32, "imei": np.int64,
        }
    )


def sms_buffer() -> Buffer:
    return Buffer(dtypes={"sender": np.int32, "recipient": np.int32, "time": np.int64, "text": np.int32})


def transfers_buffer() -> Buffer:
    return Buffer(
        dtypes={
            "src": np.int32, "dst": np.int32, "time": np.int64, "amount": np.int64,
            "channel": np.int8, "order_no": np.int64, "case": np.int32, "level": np.int16,
        }
    )


def visits_buffer() -> Buffer:
    return Buffer(dtypes={"number": np.int32, "time": np.int64, "domain": np.int32, "path": np.int8})


# Local-time activity by hour (Asia/Shanghai): quiet nights, busy mornings and evenings.
_HOURLY = np.array(
    [0.6, 0.3, 0.2, 0.15, 0.2, 0.5, 1.5, 3.5, 5.5, 6.5, 7.0, 6.5, 5.5, 5.0, 6.0, 6.5, 6.5, 6.5, 6.0, 6.0,
     6.5, 5.5, 3.5, 1.5]
)
_DAYTIME = np.where((np.arange(24) >= 8) & (np.arange(24) < 20), 1.0, 0.02)


def times_of_day(rng: np.random.Generator, n: int, day_start_ms: int, profile: str = "life") -> np.ndarray:
    """n event times within one local day following a daily rhythm."""
    p = _HOURLY if profile == "life" else _DAYTIME
    hour = rng.choice(24, size=n, p=p / p.sum())
    return day_start_ms + hour.astype(np.int64) * HOUR + rng.integers(HOUR, size=n)


def session_times(rng: np.random.Generator, per_source: np.ndarray, day_ms: int,
                  sessions: tuple[int, int] = (1, 3), minutes: tuple[int, int] = (30, 120)) -> np.ndarray:
    """Event times for sources that work in intense sessions (auto-dialers, SMS cannons).

    Each source gets 1-3 daytime sessions of 30-120 minutes; its events fall uniformly
    inside them, so a source's traffic comes in bursts rather than spread over the day.
    """
    k = len(per_source)
    n_sess = rng.integers(sessions[0], sessions[1] + 1, size=k)
    total = int(per_source.sum())
    src = np.repeat(np.arange(k), per_source)
    pick = (rng.random(total) * n_sess[src]).astype(np.int64)
    starts = day_ms + 8 * HOUR + rng.integers(0, 11 * HOUR, size=(k, sessions[1]))
    lengths = rng.integers(minutes[0] * MINUTE, minutes[1] * MINUTE + 1, size=(k, sessions[1]))
    return starts[src, pick] + (rng.random(total) * lengths[src, pick]).astype(np.int64)


def split_cents(rng: np.random.Generator, total: int, k: int, min_share: float = 0.08) -> np.ndarray:
    """Split an amount in cents into k positive parts that sum exactly to it."""
    if k <= 1 or total < k * 100:
        return np.array([total], dtype=np.int64)
    w = rng.dirichlet(np.full(k, 2.0)) + min_share
    w /= w.sum()
    parts = np.floor(w * total).astype(np.int64)
    parts[0] += total - parts.sum()
    return parts
