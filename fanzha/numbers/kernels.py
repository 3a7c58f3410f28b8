"""Numba kernel of the window stage: per-number statistics of hopping windows in one sweep.

Rows arrive sorted by (number key, time). For each number, window ends are generated
from its own events only (a window nobody called in does not exist), two pointers find
each window's rows, prefix sums give counts in O(1), and distinct recipients are counted
only for windows that already hold enough events. Most subscribers never reach that
floor, so the kernel touches each of their events a handful of times and allocates
nothing for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True)
def _grow(a: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(max(n, 2 * len(a)), dtype=a.dtype)
    out[: len(a)] = a
    return out


@njit(cache=True)
def window_sweep(
    key: np.ndarray,  # uint64, sorted (grouped)
    time: np.ndarray,  # int64, sorted within key
    dkey: np.ndarray,  # uint64 recipient key
    short: np.ndarray,  # int64 0/1 per row
    unans: np.ndarray,
    call: np.ndarray,
    sms: np.ndarray,
    dur: np.ndarray,  # int64, >= 0
    lo: int,
    hi: int,
    width: int,
    hop: int,
    min_distinct: int,
) -> tuple[np.ndarray, ...]:
    """Windows [end - width, end) with lo < end <= hi and >= min_distinct distinct recipients.

    Returns (row_of_first_event, end, n, distinct, short, unanswered, calls, sms, dur_sum).
    """
    n_rows = len(key)
    # prefix sums over the sorted rows
    ps = np.zeros((5, n_rows + 1), dtype=np.int64)
    for i in range(n_rows):
        ps[0, i + 1] = ps[0, i] + short[i]
        ps[1, i + 1] = ps[1, i] + unans[i]
        ps[2, i + 1] = ps[2, i] + call[i]
        ps[3, i + 1] = ps[3, i] + sms[i]
        ps[4, i + 1] = ps[4, i] + dur[i]
    cap = 1024
    o_row = np.empty(cap, np.int64)
    o_end = np.empty(cap, np.int64)
    o_val = np.empty((7, cap), np.int64)
    m = 0
    per = width // hop
    scratch = np.empty(16, np.uint64)
    a = 0
    while a < n_rows:
        b = a
        while b < n_rows and key[b] == key[a]:
            b += 1
        if b - a >= min_distinct:
            left = a
            right = a
            last_end = lo
            for i in range(a, b):
                base = (time[i] // hop) * hop
                for j in range(1, per + 1):
                    e = base + j * hop
                    if e <= last_end or e > hi:
                        continue
                    last_end = e
                    while left < b and time[left] < e - width:
                        left += 1
                    while right < b and time[right] < e:
                        right += 1
                    cnt = right - left
                    if cnt < min_distinct:
                        continue
                    if len(scratch) < cnt:
                        scratch = np.empty(2 * cnt, np.uint64)
                    s = scratch[:cnt]
                    s[:] = dkey[left:right]
                    s.sort()
                    d = 1
                    for k in range(1, cnt):
                        if s[k] != s[k - 1]:
                            d += 1
                    if d < min_distinct:
                        continue
                    if m == len(o_row):
                        o_row = _grow(o_row, m + 1)
                        o_end = _grow(o_end, m + 1)
                        grown = np.empty((7, len(o_row)), np.int64)
                        grown[:, :m] = o_val[:, :m]
                        o_val = grown
                    o_row[m] = left
                    o_end[m] = e
                    o_val[0, m] = cnt
                    o_val[1, m] = d
                    for q in range(5):
                        o_val[2 + q, m] = ps[q, right] - ps[q, left]
                    m += 1
        a = b
    return (o_row[:m], o_end[:m], o_val[0, :m], o_val[1, :m], o_val[2, :m], o_val[3, :m], o_val[4, :m],
            o_val[5, :m], o_val[6, :m])


def warm_up() -> None:
    """Compile (or load from cache) the kernels on a tiny input, so the first batch is not charged for it."""
    z = np.zeros(3, np.int64)
    k = np.array([1, 1, 1], np.uint64)
    sweep_windows([k, np.array([0, 1, 2], np.int64), k, z, z, z, z, z], -1, 10, 5, 1, 1)


_window_sweep: Any = window_sweep  # numba's Dispatcher is untyped for mypy; the signature is above


def sweep_windows(columns: list[np.ndarray], lo: int, hi: int, width: int, hop: int,
                  min_distinct: int) -> tuple[np.ndarray, ...]:
    """Typed entry point of :func:`window_sweep` (columns in its argument order)."""
    out: tuple[np.ndarray, ...] = _window_sweep(*columns, lo, hi, width, hop, min_distinct)
    return out
