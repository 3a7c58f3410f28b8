"""Index build kernels: the two CSRs by radix partitioning, on all cores.

Why not one counting-sort pass: placing 10M movements straight at their sender's (or
receiver's) slot is one cache and TLB miss per movement over hundreds of MB, which was
most of the build. Here movements are first partitioned by the high bits of the account
(a few hundred write streams), then each partition is placed within its own small range,
which stays in L2. Both steps are split over threads (numba ``nogil`` kernels), by rows for
partitioning and by partition for placing; every chunk writes its own disjoint range, so
the result is the same for any number of threads and equals a stable counting sort.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

PAR_MIN = 1 << 18  # movements below which one thread does it all (thread hand-offs cost more)
# One packed record per movement (25 bytes, no padding): a trace reads a movement's fields together,
# and random reads of five separate arrays cost five cache misses instead of one or two. The kernels
# write records through their address, at these offsets.
REC = 25
MOVE_DTYPE = np.dtype({"names": ["time", "amount", "dst", "row", "chan"], "formats": ["<i8", "<i8", "<i4", "<i4", "i1"],
                       "offsets": [0, 8, 16, 20, 24], "itemsize": REC})
PF = 12  # records ahead of a partition's cursor to prefetch for writing (~15-30% of the partitioning)
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _forget_pool() -> None:
    """A forked child has none of the parent's threads: it must start its own pool."""
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def n_threads(n: int) -> int:
    if n < PAR_MIN:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, 8))


def run_all(fn: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> list[Any]:
    """``fn(*a)`` for every ``a``, on threads when there are several (the kernels release the GIL)."""
    global _pool, _pool_size
    if len(args) == 1:
        return [fn(*args[0])]
    if _pool is None or _pool_size < len(args):
        _pool = ThreadPoolExecutor(max_workers=len(args), thread_name_prefix="fanzha-index")
        _pool_size = len(args)
    futures = [_pool.submit(fn, *a) for a in args]
    return [f.result() for f in futures]


def bucket_shift(n: int, n_acc: int) -> int:
    """Accounts per partition as a power of two: about 32k movements per partition on average (measured
    best: fewer partitions and their scattered writes thrash the cache, more and placing them does)."""
    want = max(n // 32768, 1)
    shift = 0
    while ((max(n_acc, 1) - 1) >> shift) + 1 > want:
        shift += 1
    return shift


def _load_word_typer(typingctx: Any, addr: Any) -> Any:
    """The 8 bytes at address ``addr`` as a little-endian uint64, one unaligned load (numba's byte-by-byte
    loads with index wrap-around do not combine into one)."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.load(builder.inttoptr(args[0], ir.IntType(64).as_pointer()), align=1)

    return types.uint64(addr), codegen


_load_word: Any = intrinsic(_load_word_typer)


def _load_byte_typer(typingctx: Any, addr: Any) -> Any:
    """The byte at address ``addr``."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.load(builder.inttoptr(args[0], ir.IntType(8).as_pointer()), align=1)

    return types.uint8(addr), codegen


_load_byte: Any = intrinsic(_load_byte_typer)


def _store_typer(typingctx: Any, addr: Any, value: Any) -> Any:
    """Store ``value`` (its own width) at address ``addr``: a record field written through a strided field
    view costs a multiplication by the run-time stride and index wrap-around checks per field."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = builder.inttoptr(args[0], context.get_value_type(signature.args[1]).as_pointer())
        builder.store(args[1], ptr, align=1)
        return context.get_dummy_value()

    return types.none(addr, value), codegen


_store: Any = intrinsic(_store_typer)


def _prefetch_typer(typingctx: Any, addr: Any) -> Any:
    """Prefetch the cache line at ``addr`` for writing (hundreds of partition cursors are more write
    streams than the hardware prefetcher follows)."""
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        builder.call(fn, [builder.inttoptr(args[0], i8p), ir.Constant(i32, 1), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(addr), codegen


_prefetch: Any = intrinsic(_prefetch_typer)


@numba.njit(cache=True, nogil=True)
def _late_before(time: np.ndarray, row: np.ndarray, kind: np.ndarray, lo: int, late_t: np.ndarray,
                 late_r: np.ndarray) -> int:
    """How many late arrivals come before the first on-time movement at or after ``lo`` (all if none)."""
    i = lo
    while i < kind.size and kind[i] != 0:
        i += 1
    if i >= kind.size:
        return late_t.size
    t, r = time[i], row[i]
    a, b = 0, late_t.size
    while a < b:
        m = (a + b) >> 1
        if late_t[m] < t or (late_t[m] == t and late_r[m] < r):
            a = m + 1
        else:
            b = m
    return a


@numba.njit(cache=True, nogil=True)
def _hist(src: np.ndarray, dst: np.ndarray, kind: np.ndarray, late: np.ndarray, shift: int, nb: int, lo: int,
          hi: int, jl: int, jh: int) -> tuple[np.ndarray, np.ndarray]:
    """Movements per sender partition (rows ``lo:hi``) and per receiver partition (same rows arriving on time,
    plus late arrivals ``jl:jh``)."""
    h_out = np.zeros(nb, np.int64)
    h_in = np.zeros(nb, np.int64)
    for i in range(lo, hi):
        k = kind[i]
        if k != 2:
            h_out[src[i] >> shift] += 1
            if k == 0 and dst[i] >= 0:
                h_in[dst[i] >> shift] += 1
    for j in range(jl, jh):
        d = dst[late[j]]
        if d >= 0:
            h_in[d >> shift] += 1
    return h_out, h_in


@numba.njit(cache=True, nogil=True)
def _partition_out(src: np.ndarray, dst: np.ndarray, time: np.ndarray, amount: np.ndarray, chan: np.ndarray,
                   row: np.ndarray, kind: np.ndarray, shift: int, pos: np.ndarray, lo: int, hi: int,
                   rec: np.ndarray, p_acc: np.ndarray, kslot: np.ndarray) -> None:
    """Rows ``lo:hi`` into their sender partitions from ``pos`` on (stable), written into the final record
    array with the sender's low bits beside; joined payments (kind 1) note their partition position."""
    mask = (1 << shift) - 1
    rb = rec.ctypes.data
    for i in range(lo, hi):
        kd = kind[i]
        if kd == 2:
            continue
        a = src[i]
        b = a >> shift
        k = pos[b]
        pos[b] = k + 1
        q = rb + k * REC
        _prefetch(q + PF * REC)
        _store(q, time[i])
        _store(q + 8, amount[i])
        _store(q + 16, dst[i])
        _store(q + 20, row[i])
        _store(q + 24, chan[i])
        p_acc[k] = a & mask
        if kd == 1:
            kslot[i] = k


@numba.njit(cache=True, nogil=True)
def _local_offsets(p_acc: np.ndarray, k0: int, k1: int, a0: int, w: int, n_acc: int, cnt: np.ndarray,
                   off: np.ndarray) -> None:
    """One partition's counting sort set-up, shared by both indexes: ``cnt[j]`` becomes the first slot of
    account ``a0 + j`` among slots ``k0:k1`` (by the accounts' low bits in ``p_acc``), copied into ``off``."""
    for j in range(w + 1):
        cnt[j] = 0
    for k in range(k0, k1):
        cnt[p_acc[k] + 1] += 1
    cnt[0] = k0
    for j in range(w):
        cnt[j + 1] += cnt[j]
    for j in range(min(w, n_acc - a0)):
        off[a0 + j] = cnt[j]


@numba.njit(cache=True, nogil=True)
def _place_out(boff: np.ndarray, b0: int, b1: int, shift: int, n_acc: int, rec: np.ndarray, rbytes: np.ndarray,
               p_acc: np.ndarray, p_slot: np.ndarray, out_off: np.ndarray) -> None:
    """Sender partitions ``b0:b1``, each in place: offsets of its accounts, then its records copied aside
    (the partition fits in L2) and put back at their slots, stable; ``p_slot`` gets each one's slot."""
    w = 1 << shift
    cnt = np.empty(w + 1, np.int64)
    big = 0
    for b in range(b0, b1):
        big = max(big, boff[b + 1] - boff[b])
    scratch = np.empty(big * REC, np.uint8)
    sb = scratch.ctypes.data
    rb = rec.ctypes.data
    for b in range(b0, b1):
        k0 = boff[b]
        k1 = boff[b + 1]
        _local_offsets(p_acc, k0, k1, b << shift, w, n_acc, cnt, out_off)
        scratch[: (k1 - k0) * REC] = rbytes[k0 * REC: k1 * REC]
        for k in range(k0, k1):
            a = p_acc[k]
            p = cnt[a]
            cnt[a] = p + 1
            sq = sb + (k - k0) * REC
            dq = rb + p * REC
            _store(dq, _load_word(sq))
            _store(dq + 8, _load_word(sq + 8))
            _store(dq + 16, _load_word(sq + 16))
            _store(dq + 24, _load_byte(sq + 24))
            p_slot[k] = p


@numba.njit(cache=True, nogil=True)
def _partition_in(src: np.ndarray, dst: np.ndarray, time: np.ndarray, row: np.ndarray, kind: np.ndarray,
                  p_slot: np.ndarray, out_pos: np.ndarray, late: np.ndarray, late_slot: np.ndarray,
                  late_t: np.ndarray, late_r: np.ndarray, shift: int, pos: np.ndarray, lo: int, hi: int, jl: int,
                  jh: int, q_acc: np.ndarray, q_slot: np.ndarray) -> None:
    """Arrivals of rows ``lo:hi`` merged with late arrivals ``jl:jh`` (joined payments arrive at their
    payout), in arrival order, into receiver partitions: the receiver's low bits and the slot. A row's
    slot is read where the sender partitioning put it (``out_pos`` replays its cursors), sequentially."""
    mask = (1 << shift) - 1
    i = lo
    j = jl
    while i < hi or j < jh:
        while i < hi and kind[i] != 0:
            if kind[i] == 1:
                out_pos[src[i] >> shift] += 1
            i += 1
        if j < jh and (i >= hi or late_t[j] < time[i] or (late_t[j] == time[i] and late_r[j] < row[i])):
            d = dst[late[j]]
            s = late_slot[j]
            j += 1
        elif i < hi:
            b = src[i] >> shift
            s = p_slot[out_pos[b]]
            out_pos[b] += 1
            d = dst[i]
            i += 1
        else:
            break
        if d >= 0:
            b = d >> shift
            k = pos[b]
            pos[b] = k + 1
            q_acc[k] = d & mask
            q_slot[k] = s


@numba.njit(cache=True, nogil=True)
def _place_in(boff: np.ndarray, b0: int, b1: int, shift: int, n_acc: int, p_acc: np.ndarray, p_slot: np.ndarray,
              in_off: np.ndarray, in_pos: np.ndarray) -> None:
    """Receiver partitions ``b0:b1``: offsets of their accounts and the slots in arrival order."""
    w = 1 << shift
    cnt = np.empty(w + 1, np.int64)
    for b in range(b0, b1):
        k0 = boff[b]
        k1 = boff[b + 1]
        _local_offsets(p_acc, k0, k1, b << shift, w, n_acc, cnt, in_off)
        for k in range(k0, k1):
            a = p_acc[k]
            p = cnt[a]
            cnt[a] = p + 1
            in_pos[p] = p_slot[k]


def _cuts(boff: np.ndarray, parts: int) -> list[int]:
    """Partition boundaries splitting the movements into ``parts`` about equal shares."""
    total = int(boff[-1])
    nb = boff.size - 1
    inner = [int(np.searchsorted(boff, total * t // parts)) for t in range(1, parts)]
    return [0, *[min(c, nb) for c in inner], nb]


def csr(src: np.ndarray, dst: np.ndarray, time: np.ndarray, amount: np.ndarray, chan: np.ndarray,
        row: np.ndarray, kind: np.ndarray, late: np.ndarray, late_t: np.ndarray, late_r: np.ndarray,
        n_acc: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Outgoing CSR by sender (stable in input order), incoming CSR by receiver in arrival order.

    ``kind``: 0 = movement, 1 = joined payment (arrives late, at the payout given in ``late``, sorted by
    arrival ``(late_t, late_r)``), 2 = absorbed payout leg (not placed). Returns ``(out_off, records``
    (:data:`MOVE_DTYPE`) ``, slot of each late arrival, in_off, in_pos)``.

    A movement's slot is only known once its partition is placed; writing it back by row then (random
    writes over ``4n`` bytes) cost half the placement. Instead the placement leaves each slot at the
    movement's partition position, and the incoming pass, walking rows in the same order, replays the
    sender partitioning's cursors to read them sequentially.
    """
    n = src.size
    shift = bucket_shift(n, n_acc)
    nb = ((max(n_acc, 1) - 1) >> shift) + 1
    nt = n_threads(n)
    rc = [n * t // nt for t in range(nt + 1)]
    jc = [0, *[int(_late_before(time, row, kind, rc[t], late_t, late_r)) for t in range(1, nt)], late.size]
    hists = run_all(_hist, [(src, dst, kind, late, shift, nb, rc[t], rc[t + 1], jc[t], jc[t + 1])
                            for t in range(nt)])
    h_out = np.array([h[0] for h in hists]).reshape(nt, nb)
    h_in = np.array([h[1] for h in hists]).reshape(nt, nb)
    boff = np.zeros(nb + 1, np.int64)
    np.cumsum(h_out.sum(axis=0), out=boff[1:])
    ioff = np.zeros(nb + 1, np.int64)
    np.cumsum(h_in.sum(axis=0), out=ioff[1:])
    # each row chunk starts, in every partition, after the earlier chunks' movements (stability)
    start_out = boff[:-1] + np.cumsum(h_out, axis=0) - h_out
    start_in = ioff[:-1] + np.cumsum(h_in, axis=0) - h_in
    m = int(boff[-1])
    rec = np.empty(m, MOVE_DTYPE)
    rbytes = rec.view(np.uint8)
    p_acc = np.empty(m, np.uint16 if shift <= 16 else np.int32)  # sender's low bits, then the receiver's
    p_slot = np.empty(m, np.int32)  # by partition position: the movement's slot
    kslot = np.empty(n, np.int32)  # partition position of each joined payment (by row)
    run_all(_partition_out, [(src, dst, time, amount, chan, row, kind, shift, start_out[t].copy(), rc[t], rc[t + 1],
                              rec, p_acc, kslot) for t in range(nt)])
    out_off = np.empty(n_acc + 1, np.int64)
    out_off[n_acc] = m
    bc = _cuts(boff, nt)
    run_all(_place_out, [(boff, bc[t], bc[t + 1], shift, n_acc, rec, rbytes, p_acc, p_slot, out_off)
                         for t in range(nt)])
    late_slot = p_slot[kslot[late]]
    m_in = int(ioff[-1])
    q_slot = kslot[:m_in]  # kslot is done with: its pages are already there (m_in <= n)
    run_all(_partition_in, [(src, dst, time, row, kind, p_slot, start_out[t].copy(), late, late_slot, late_t, late_r,
                             shift, start_in[t].copy(), rc[t], rc[t + 1], jc[t], jc[t + 1], p_acc, q_slot)
                            for t in range(nt)])
    in_off = np.empty(n_acc + 1, np.int64)
    in_off[n_acc] = m_in
    in_pos = np.empty(m_in, np.int32)
    ic = _cuts(ioff, nt)
    run_all(_place_in, [(ioff, ic[t], ic[t + 1], shift, n_acc, p_acc, q_slot, in_off, in_pos) for t in range(nt)])
    return out_off, rec, late_slot, in_off, in_pos


# ---- repeated transfer ids --------------------------------------------------------------
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xFF51AFD7ED558CCD)
_M3 = np.uint64(0xC4CEB9FE1A85EC53)


@numba.njit(cache=True, nogil=True, inline="always")
def _str_hash(base: int, size: int, a: int, b: int) -> np.uint64:
    """64-bit hash of bytes ``a:b`` of the buffer at address ``base`` (``size`` >= 8 bytes), eight bytes a
    step; equality is always checked on the bytes. Scalars only: an array argument would be reference
    counted on every inlined call, which cost more than the hash."""
    h = np.uint64(b - a) * _M1
    j = a
    while j + 8 <= b:
        h = (h ^ _load_word(base + j)) * _M2
        h ^= h >> np.uint64(29)
        j += 8
    if j < b:  # the last word ending at b (or at byte 8), shifted down to the string's bytes
        e = max(b, 8) if j + 8 > size else j + 8
        w = (_load_word(base + e - 8) << np.uint64(8 * (e - b))) >> np.uint64(8 * (8 - (b - j)))
        h = (h ^ w) * _M2
    h ^= h >> np.uint64(33)
    h *= _M3
    h ^= h >> np.uint64(33)
    return h


@numba.njit(cache=True, nogil=True)
def _hash_hist(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, shift: int, nb: int, lo: int,
               hi: int) -> np.ndarray:
    cnt = np.zeros(nb, np.int64)
    base = data.ctypes.data
    for i in range(lo, hi):
        if valid.size == 0 or valid[i]:
            h = _str_hash(base, data.size, offsets[i], offsets[i + 1])
            cnt[np.int64(h >> np.uint64(shift))] += 1
    return cnt


@numba.njit(cache=True, nogil=True)
def _hash_partition(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, shift: int, pos: np.ndarray,
                    lo: int, hi: int, part: np.ndarray) -> None:
    """Strings ``lo:hi`` into partitions by the hash's top bits, as ``low 32 hash bits << 32 | index``
    (one 8-byte write stream per partition)."""
    base = data.ctypes.data
    for i in range(lo, hi):
        if valid.size == 0 or valid[i]:
            h = _str_hash(base, data.size, offsets[i], offsets[i + 1])
            b = np.int64(h >> np.uint64(shift))
            k = pos[b]
            pos[b] = k + 1
            part[k] = np.int64((h & np.uint64(0xFFFFFFFF)) << np.uint64(32)) | np.int64(i)


@numba.njit(cache=True, nogil=True)
def _same_str(offsets: np.ndarray, data: np.ndarray, a: int, b: int) -> bool:
    la = offsets[a + 1] - offsets[a]
    if la != offsets[b + 1] - offsets[b]:
        return False
    for k in range(la):  # noqa: SIM110 (numba)
        if data[offsets[a] + k] != data[offsets[b] + k]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _repeats_in(offsets: np.ndarray, data: np.ndarray, boff: np.ndarray, b0: int, b1: int,
                part: np.ndarray) -> np.ndarray:
    """Rows of hash partitions ``b0:b1`` whose string occurred at an earlier row (partitions keep row order)."""
    big = 1
    for b in range(b0, b1):
        big = max(big, boff[b + 1] - boff[b])
    size = 1
    while size < 2 * big:
        size *= 2
    table = np.empty(size, np.int32)
    out = np.empty(16, np.int64)
    low = np.int64(0xFFFFFFFF)
    n_out = 0
    for b in range(b0, b1):
        k0 = boff[b]
        m = boff[b + 1] - k0
        sz = 1
        while sz < 2 * m:
            sz *= 2
        for q in range(sz):
            table[q] = -1
        for k in range(k0, k0 + m):
            h = part[k] >> 32
            s = h & (sz - 1)
            while True:
                j = table[s]
                if j < 0:
                    table[s] = k - k0
                    break
                if part[k0 + j] >> 32 == h and _same_str(offsets, data, part[k0 + j] & low, part[k] & low):
                    if n_out == out.size:
                        out = np.concatenate((out, np.empty(out.size, np.int64)))
                    out[n_out] = part[k] & low
                    n_out += 1
                    break
                s = (s + 1) & (sz - 1)
    return out[:n_out]


def repeated_strings(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Sorted indices of strings that occurred at a lower index (nulls, ``valid`` False, never count;
    an empty ``valid`` means none is null).

    Strings are hash-partitioned first, so each partition's table stays in cache: one table over
    millions of rows misses the cache on nearly every probe.
    """
    n = offsets.size - 1
    if n <= 0:
        return np.zeros(0, np.int64)
    if data.size < 8:  # the hash reads whole words
        data = np.concatenate((data, np.zeros(8, np.uint8)))
    shift = 63  # partition = top bits of the hash (at least two partitions: a shift by 64 is undefined)
    while shift > 40 and (n >> (64 - shift)) > 65536:
        shift -= 1
    nb = 1 << (64 - shift)
    nt = n_threads(n)
    rc = [n * t // nt for t in range(nt + 1)]
    hs = np.array(run_all(_hash_hist, [(offsets, data, valid, shift, nb, rc[t], rc[t + 1]) for t in range(nt)]))
    hs = hs.reshape(nt, nb)
    boff = np.zeros(nb + 1, np.int64)
    np.cumsum(hs.sum(axis=0), out=boff[1:])
    start = boff[:-1] + np.cumsum(hs, axis=0) - hs
    m = int(boff[-1])
    part = np.empty(m, np.int64)
    run_all(_hash_partition, [(offsets, data, valid, shift, start[t].copy(), rc[t], rc[t + 1], part)
                              for t in range(nt)])
    bc = _cuts(boff, nt)
    found = run_all(_repeats_in, [(offsets, data, boff, bc[t], bc[t + 1], part) for t in range(nt)])
    return np.sort(np.concatenate(found))


# ---- third-party order legs -----------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _legs(src: np.ndarray, dst: np.ndarray, chan: np.ndarray, pool: np.ndarray, vbits: np.ndarray, voff: int,
          tp: int, lo: int, hi: int, leg_in: np.ndarray, leg_out: np.ndarray) -> tuple[int, int]:
    """Rows ``lo:hi`` that are third-party legs with an order number, into ``leg_in``/``leg_out`` from ``lo``
    on: into a pool from a non-pool account, and out of a pool to a non-pool account; returns their
    counts. ``vbits``: Arrow validity bitmap of the order numbers starting at bit ``voff`` (empty = no
    nulls). One pass into buffers as long as the rows (only the pages written are ever touched), not a
    counting pass and a filling pass."""
    n_in = lo
    n_out = lo
    for i in range(lo, hi):
        if chan[i] != tp:
            continue
        if vbits.size and not (vbits[(i + voff) >> 3] >> ((i + voff) & 7)) & 1:
            continue
        d = dst[i]
        if d < 0:
            continue
        sp = pool[src[i]] != 0
        dp = pool[d] != 0
        if dp and not sp:
            leg_in[n_in] = i
            n_in += 1
        elif sp and not dp:
            leg_out[n_out] = i
            n_out += 1
    return n_in - lo, n_out - lo


def order_legs(src: np.ndarray, dst: np.ndarray, chan: np.ndarray, pool: np.ndarray, vbits: np.ndarray, voff: int,
               tp: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the legs into and out of pools, in row order (see :func:`_legs`)."""
    n = src.size
    nt = n_threads(n)
    rc = [n * t // nt for t in range(nt + 1)]
    leg_in = np.empty(n, np.int64)
    leg_out = np.empty(n, np.int64)
    counts = run_all(_legs, [(src, dst, chan, pool, vbits, voff, tp, rc[t], rc[t + 1], leg_in, leg_out)
                             for t in range(nt)])
    return (np.concatenate([leg_in[rc[t]: rc[t] + c[0]] for t, c in enumerate(counts)]),
            np.concatenate([leg_out[rc[t]: rc[t] + c[1]] for t, c in enumerate(counts)]))


@numba.njit(cache=True, nogil=True)
def pair_legs(ci: np.ndarray, co: np.ndarray, leg_in: np.ndarray, leg_out: np.ndarray, nc: int, amount: np.ndarray,
              dst: np.ndarray, src: np.ndarray, time: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Orders with exactly one leg in (codes ``ci`` of rows ``leg_in``) and one out (``co``, ``leg_out``), in
    the out legs' row order: first legs, second legs, codes, whether the legs agree (amount, pool), whether
    the payout came first, the later leg's time and the second leg's receiver; and how many orders have
    more than two legs on both sides.

    Row order, not order-number order, because the two legs of an order are close in time: reading
    both legs' columns then stays in cache, in code order nearly every read missed it.
    """
    n_in = np.zeros(nc, np.int64)
    n_out = np.zeros(nc, np.int64)
    first = np.empty(nc, np.int64)
    for q in range(ci.size):
        n_in[ci[q]] += 1
        first[ci[q]] = leg_in[q]
    for q in range(co.size):
        n_out[co[q]] += 1
    multi = 0
    for c in range(nc):
        if n_in[c] + n_out[c] > 2 and n_in[c] > 0 and n_out[c] > 0:
            multi += 1
    k = 0
    for q in range(co.size):
        c = co[q]
        if n_in[c] == 1 and n_out[c] == 1:
            k += 1
    f = np.empty(k, np.int64)
    s = np.empty(k, np.int64)
    code = np.empty(k, np.int64)
    same = np.empty(k, np.bool_)
    late = np.empty(k, np.bool_)
    t_arr = np.empty(k, np.int64)
    card = np.empty(k, np.int32)
    k = 0
    for q in range(co.size):
        c = co[q]
        if n_in[c] == 1 and n_out[c] == 1:
            a = first[c]
            b = leg_out[q]
            f[k] = a
            s[k] = b
            code[k] = c
            same[k] = amount[a] == amount[b] and dst[a] == src[b]
            late[k] = same[k] and time[b] < time[a]
            t_arr[k] = max(time[a], time[b])
            card[k] = dst[b]
            k += 1
    return f, s, code, same, late, t_arr, card, multi


@numba.njit(cache=True, nogil=True)
def argsort_distinct(keys: np.ndarray) -> np.ndarray:
    """Order of distinct non-negative int64 keys (LSD radix, 11 bits a pass): a few ms where
    ``np.argsort`` takes ~30 ms on 400k keys; distinct keys have one order, so the result is the same."""
    n = keys.size
    o = np.arange(n)
    if n < 2:
        return o
    top = keys.max()
    tmp = np.empty(n, np.int64)
    cnt = np.empty(2049, np.int64)
    sh = 0
    while sh == 0 or (top >> sh) > 0:
        cnt[:] = 0
        for q in range(n):
            cnt[((keys[o[q]] >> sh) & 2047) + 1] += 1
        for d in range(2048):
            cnt[d + 1] += cnt[d]
        for q in range(n):
            d = (keys[o[q]] >> sh) & 2047
            tmp[cnt[d]] = o[q]
            cnt[d] += 1
        o, tmp = tmp, o
        sh += 11
    return o
