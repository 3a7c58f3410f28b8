"""Numba kernels of the firewall's hot paths: number interning, window sweep, history, tree bounds.

Every per-event loop of the stream lives here, compiled, so a micro-batch costs a few
passes over flat arrays instead of string joins and group-bys:

- :class:`KeyTable` maps 64-bit hashes (of numbers, IMEIs, texts) to dense ids with an
  open-addressing table, so per-number state is a numpy array indexed by id;
- :func:`window_sweep` computes per-number statistics of hopping windows in one sweep:
  rows are grouped by id with a stable counting sort (ids are dense, so no comparison
  sort), window ends are generated from a number's own events only (a window nobody
  called in does not exist), and two pointers slide over its rows with running counts and
  a per-recipient tally, so each row is added and removed once however much windows overlap;
- :func:`history_update` folds a batch into the behaviour model's per-number history, one
  table row per number so an event touches one row;
- :func:`prune_rows` bounds a tree ensemble's score over boxes of feature rows, so rows
  that provably cannot reach a threshold are not scored (see ``behaviour.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True)
def _slot(h: np.uint64, bits: int) -> np.int64:
    # splitmix64 finaliser: structured keys (id pairs) spread as well as hashes do
    z = h
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z >> np.uint64(64 - bits))


# The table interleaves key and id+1 (0: empty slot), so a lookup costs one cache miss, not two.
@njit(cache=True)
def _intern(table: np.ndarray, bits: int, hashes: np.ndarray, start: int, next_id: int, limit: int,
            out: np.ndarray, new_pos: np.ndarray, n_new: int) -> tuple[int, int, int]:
    mask = (1 << bits) - 1
    i = start
    while i < len(hashes):
        h = hashes[i]
        s = _slot(h, bits)
        while True:
            v = table[2 * s + 1]
            if v == 0:
                if next_id >= limit:
                    return i, next_id, n_new  # table too full: the caller grows it and resumes here
                table[2 * s] = h
                table[2 * s + 1] = np.uint64(next_id + 1)
                out[i] = next_id
                new_pos[n_new] = i
                n_new += 1
                next_id += 1
                break
            if table[2 * s] == h:
                out[i] = np.int64(v) - 1
                break
            s = (s + 1) & mask
        i += 1
    return i, next_id, n_new


@njit(cache=True)
def _lookup(table: np.ndarray, bits: int, hashes: np.ndarray) -> np.ndarray:
    mask = (1 << bits) - 1
    out = np.full(len(hashes), -1, np.int64)
    for i in range(len(hashes)):
        h = hashes[i]
        s = _slot(h, bits)
        while True:
            v = table[2 * s + 1]
            if v == 0:
                break
            if table[2 * s] == h:
                out[i] = np.int64(v) - 1
                break
            s = (s + 1) & mask
    return out


@njit(cache=True)
def _rehash(table: np.ndarray, bits: int) -> np.ndarray:
    new = np.zeros(2 << bits, np.uint64)
    mask = (1 << bits) - 1
    for j in range(len(table) // 2):
        if table[2 * j + 1] != 0:
            s = _slot(table[2 * j], bits)
            while new[2 * s + 1] != 0:
                s = (s + 1) & mask
            new[2 * s] = table[2 * j]
            new[2 * s + 1] = table[2 * j + 1]
    return new


class KeyTable:
    """64-bit key → dense id (0, 1, 2, ... in first-seen order); linear probing, grows at 5/8 load."""

    def __init__(self) -> None:
        self.bits = 10
        self.table = np.zeros(2 << self.bits, np.uint64)
        self.size = 0

    def intern(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids of ``hashes`` (new keys get the next ids) and the positions where new keys first occur."""
        h = np.ascontiguousarray(hashes, dtype=np.uint64)
        out = np.empty(len(h), np.int64)
        new_pos = np.empty(len(h), np.int64)
        i, n_new = 0, 0
        while True:
            limit = (5 << self.bits) // 8
            i, self.size, n_new = _intern(self.table, self.bits, h, i, self.size, limit, out, new_pos, n_new)
            if i == len(h):
                return out, new_pos[:n_new]
            self.bits += 1
            self.table = _rehash(self.table, self.bits)

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Ids of ``hashes``, -1 for keys never interned (nothing is added)."""
        out: np.ndarray = _lookup(self.table, self.bits, np.ascontiguousarray(hashes, dtype=np.uint64))
        return out


@njit(cache=True)
def _grow(a: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(max(n, 2 * len(a)), dtype=a.dtype)
    out[: len(a)] = a
    return out


@njit(cache=True)
def window_sweep(
    ids: np.ndarray,  # int64 number id per row, rows in time order
    time: np.ndarray,  # int64 ms
    dst: np.ndarray,  # int64 recipient id (same index as ids)
    kind: np.ndarray,  # 0 call, 1 SMS
    duration: np.ndarray,  # seconds (-1 for SMS)
    n_ids: int,
    short_s: int,
    lo: int,
    hi: int,
    width: int,
    hop: int,
    min_distinct: int,
) -> tuple[np.ndarray, ...]:
    """Windows [end - width, end) with lo < end <= hi and >= min_distinct distinct recipients.

    Rows are grouped by id with a stable counting sort (time order kept within a number);
    each number's windows then slide two pointers over its rows, keeping running counts
    and a per-recipient tally for distinct recipients, so every row is added and removed
    once whatever the window overlap. Returns (id, end, n, distinct, short, unanswered,
    calls, sms, dur_sum), numbers in id order, a number's windows in end order.
    """
    n_rows = len(ids)
    start = np.zeros(n_ids + 1, np.int64)
    for i in range(n_rows):
        start[ids[i] + 1] += 1
    for k in range(n_ids):
        start[k + 1] += start[k]
    pos = start[:n_ids].copy()
    t = np.empty(n_rows, np.int64)
    dk = np.empty(n_rows, np.int64)
    kd = np.empty(n_rows, np.int64)
    du = np.empty(n_rows, np.int64)
    for i in range(n_rows):
        k = ids[i]
        p = pos[k]
        pos[k] = p + 1
        t[p] = time[i]
        dk[p] = dst[i]
        kd[p] = kind[i]
        du[p] = duration[i]
    seen = np.zeros(n_ids, np.int32)
    cap = 1024
    o_key = np.empty(cap, np.int64)
    o_end = np.empty(cap, np.int64)
    o_val = np.empty((7, cap), np.int64)
    m = 0
    per = width // hop
    for k in range(n_ids):
        a = start[k]
        b = start[k + 1]
        if b - a < min_distinct:
            continue
        # a window holds min_distinct rows only if some min_distinct consecutive rows span less
        # than its width: most subscribers have no such stretch and are skipped in one scan
        dense = False
        for i in range(a, b - min_distinct + 1):
            if t[i + min_distinct - 1] - t[i] < width:
                dense = True
                break
        if not dense:
            continue
        left = a
        right = a
        last_end = lo
        d = 0
        s_short = 0
        s_unans = 0
        s_call = 0
        s_sms = 0
        s_dur = 0
        for i in range(a, b):
            base = (t[i] // hop) * hop
            for j in range(1, per + 1):
                e = base + j * hop
                if e <= last_end or e > hi:
                    continue
                last_end = e
                while right < b and t[right] < e:  # rows entering the window
                    r = dk[right]
                    if seen[r] == 0:
                        d += 1
                    seen[r] += 1
                    x = du[right]
                    if kd[right] == 0:
                        s_call += 1
                        if x < short_s:
                            s_short += 1
                        if x == 0:
                            s_unans += 1
                    elif kd[right] == 1:
                        s_sms += 1
                    if x > 0:
                        s_dur += x
                    right += 1
                while left < right and t[left] < e - width:  # rows leaving it
                    r = dk[left]
                    seen[r] -= 1
                    if seen[r] == 0:
                        d -= 1
                    x = du[left]
                    if kd[left] == 0:
                        s_call -= 1
                        if x < short_s:
                            s_short -= 1
                        if x == 0:
                            s_unans -= 1
                    elif kd[left] == 1:
                        s_sms -= 1
                    if x > 0:
                        s_dur -= x
                    left += 1
                cnt = right - left
                if cnt < min_distinct or d < min_distinct:
                    continue
                if m == len(o_key):
                    o_key = _grow(o_key, m + 1)
                    o_end = _grow(o_end, m + 1)
                    grown = np.empty((7, len(o_key)), np.int64)
                    grown[:, :m] = o_val[:, :m]
                    o_val = grown
                o_key[m] = k
                o_end[m] = e
                o_val[0, m] = cnt
                o_val[1, m] = d
                o_val[2, m] = s_short
                o_val[3, m] = s_unans
                o_val[4, m] = s_call
                o_val[5, m] = s_sms
                o_val[6, m] = s_dur
                m += 1
        for r in range(left, right):  # leave the tally empty for the next number
            seen[dk[r]] = 0
    return (o_key[:m], o_end[:m], o_val[0, :m], o_val[1, :m], o_val[2, :m], o_val[3, :m], o_val[4, :m],
            o_val[5, :m], o_val[6, :m])


# The behaviour history table: one 64-byte row per number id (one cache line when aligned), read
# through two views of the same memory: int32 counters and int64 times/hashes/sums.
H32_OUT, H32_CALLS, H32_SMS, H32_SHORT, H32_UNANS, H32_NIGHT, H32_REMOTE, H32_IN, H32_HAS_IMEI = range(9)
H64_FIRST, H64_IMEI, H64_DUR = 5, 6, 7  # int64 columns (int32 columns 10-15)
H_WIDTH = 16  # int32 columns per row


def history_table(n: int) -> np.ndarray:
    """A zeroed (n, 16) int32 table whose rows start on 64-byte boundaries; first-seen times at 'never'."""
    raw = np.zeros(n * H_WIDTH + 16, np.int32)
    off = (-raw.ctypes.data % 64) // 4
    table = raw[off: off + n * H_WIDTH].reshape(n, H_WIDTH)
    table.view(np.int64)[:, H64_FIRST] = np.iinfo(np.int64).max
    return table


@njit(cache=True)
def history_update(src: np.ndarray, dst: np.ndarray, time: np.ndarray, kind: np.ndarray, duration: np.ndarray,
                   remote: np.ndarray, imei: np.ndarray, has_imei: np.ndarray, short_s: int,
                   t32: np.ndarray, t64: np.ndarray) -> np.ndarray:
    """Fold a batch into the per-number history table (``t32``/``t64``: the two views of it); returns
    the rows whose (number, IMEI) pair may be new (the IMEI differs from the last one that number
    used: most phones keep one)."""
    check = np.empty(len(src), np.int64)
    n_check = 0
    for i in range(len(src)):
        s = src[i]
        d = duration[i]
        t32[s, H32_OUT] += 1
        if kind[i] == 0:
            t32[s, H32_CALLS] += 1
            if d < short_s:
                t32[s, H32_SHORT] += 1
            if d == 0:
                t32[s, H32_UNANS] += 1
        elif kind[i] == 1:
            t32[s, H32_SMS] += 1
        if d > 0:
            t64[s, H64_DUR] += d
        if ((time[i] // 3_600_000) + 8) % 24 < 6:  # night in local time (UTC+8)
            t32[s, H32_NIGHT] += 1
        if remote[i]:
            t32[s, H32_REMOTE] += 1
        if time[i] < t64[s, H64_FIRST]:
            t64[s, H64_FIRST] = time[i]
        if has_imei[i] and (t32[s, H32_HAS_IMEI] == 0 or t64[s, H64_IMEI] != imei[i]):
            t64[s, H64_IMEI] = imei[i]
            t32[s, H32_HAS_IMEI] = 1
            check[n_check] = i
            n_check += 1
        t32[dst[i], H32_IN] += 1
    return check[:n_check]


@njit(cache=True)
def _tree_upper(root: int, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
                value: np.ndarray, lo: np.ndarray, hi: np.ndarray, stack: np.ndarray) -> float:
    best = -np.inf
    top = 0
    stack[0] = root
    top = 1
    while top:
        top -= 1
        node = stack[top]
        f = feature[node]
        if f < 0:
            if value[node] > best:
                best = value[node]
            continue
        t = threshold[node]
        if lo[f] <= t:  # some row of the box goes left (x <= t)
            stack[top] = left[node]
            top += 1
        if hi[f] > t:  # some row goes right
            stack[top] = right[node]
            top += 1
    return best


@njit(cache=True)
def tree_raw(X: np.ndarray, roots: np.ndarray, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray,
             right: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Raw ensemble score per row (sum of leaves, ``x <= threshold`` goes left): checks the flattened trees."""
    out = np.zeros(X.shape[0])
    for i in range(X.shape[0]):
        acc = 0.0
        for r in roots:
            node = r
            while feature[node] >= 0:
                node = left[node] if X[i, feature[node]] <= threshold[node] else right[node]
            acc += value[node]
        out[i] = acc
    return out


@njit(cache=True)
def prune_rows(XT: np.ndarray, group_start: np.ndarray, group_cut: np.ndarray, roots: np.ndarray,
               feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
               value: np.ndarray, leaf_rows: int) -> np.ndarray:
    """Rows whose raw score may reach their group's cut (True) — the rest provably stay below it.

    ``XT`` is the feature matrix transposed (features × rows), so a box's minima and maxima
    are read from contiguous memory.

    Rows of a group (one number, windows in time order) form a box (per-feature min and
    max); the sum over trees of the best leaf the box can reach bounds every row's raw
    score. A box under the cut is dropped whole; otherwise it is halved, and a box of at
    most ``leaf_rows`` rows that may reach the cut is kept. Boxes holding a NaN are kept (missing values
    follow default directions this bound does not model).
    """
    nf, n = XT.shape
    keep = np.zeros(n, np.bool_)
    lo = np.empty(nf)
    hi = np.empty(nf)
    stack = np.empty(2 * len(feature) + 2, np.int64)
    ranges = np.empty((2 * 64 + 2, 2), np.int64)
    for g in range(len(group_start) - 1):
        cut = group_cut[g]
        if cut == np.inf:
            continue
        top = 0
        ranges[0, 0] = group_start[g]
        ranges[0, 1] = group_start[g + 1]
        top = 1
        while top:
            top -= 1
            a = ranges[top, 0]
            b = ranges[top, 1]
            if cut == -np.inf:
                keep[a:b] = True
                continue
            nan = False
            for f in range(nf):
                lo[f] = np.inf
                hi[f] = -np.inf
            for f in range(nf):
                for i in range(a, b):
                    x = XT[f, i]
                    if x != x:
                        nan = True
                    if x < lo[f]:
                        lo[f] = x
                    if x > hi[f]:
                        hi[f] = x
            if nan:
                keep[a:b] = True
                continue
            ub = 0.0
            for r in roots:
                ub += _tree_upper(r, feature, threshold, left, right, value, lo, hi, stack)
            if ub < cut:
                continue
            if b - a <= leaf_rows:
                keep[a:b] = True
                continue
            mid = (a + b) // 2
            ranges[top, 0] = a
            ranges[top, 1] = mid
            ranges[top + 1, 0] = mid
            ranges[top + 1, 1] = b
            top += 2
    return keep


def warm_up() -> None:
    """Compile (or load from cache) the kernels on a tiny input, so the first batch is not charged for it."""
    z = np.zeros(3, np.int64)
    k = np.array([1, 1, 1], np.int64)
    sweep_windows([k, np.array([0, 1, 2], np.int64), k, z.astype(np.uint8), z.astype(np.int32)], 2, 10, -1, 10, 5,
                  1, 1)
    t = KeyTable()
    t.intern(np.arange(3, dtype=np.uint64))
    t.lookup(np.arange(3, dtype=np.uint64))
    table = history_table(2)
    history_update(k, k, z, z.astype(np.uint8), z.astype(np.int32), np.zeros(3, np.bool_), z,
                   np.ones(3, np.bool_), 10, table, table.view(np.int64))
    feat = np.array([0, -1, -1], np.int64)
    thr = np.array([0.5, 0.0, 0.0])
    kids = np.array([1, -1, -1], np.int64), np.array([2, -1, -1], np.int64)
    val = np.array([0.0, -1.0, 1.0])
    X = np.zeros((3, 1))
    roots = np.array([0], np.int64)
    tree_raw(X, roots, feat, thr, kids[0], kids[1], val)
    prune_rows(np.ascontiguousarray(X.T), np.array([0, 3], np.int64), np.array([0.0]), roots, feat, thr, kids[0],
               kids[1], val, 1)


_window_sweep: Any = window_sweep  # numba's Dispatcher is untyped for mypy; the signature is above


def sweep_windows(columns: list[np.ndarray], n_ids: int, short_s: int, lo: int, hi: int, width: int, hop: int,
                  min_distinct: int) -> tuple[np.ndarray, ...]:
    """Typed entry point of :func:`window_sweep` (columns ids, time, dst, kind, duration)."""
    out: tuple[np.ndarray, ...] = _window_sweep(*columns, n_ids, short_s, lo, hi, width, hop, min_distinct)
    return out
