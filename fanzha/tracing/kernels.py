"""Taint propagation kernel (numba): following victims' money movement by movement.

How it works (see docs/tracing.md for the policies):

* Every tainted movement is processed once, in order of its arrival key ``(time, row)``
  (a heap), so all taint that feeds a movement is known before it is followed. Keys grow
  strictly along any path, so cycles, fan-in and fan-out terminate, and the result does
  not depend on anything but the ledger and the seeds.
* At a receiving account, the account's whole movement list (up to the horizon) is read
  once per trace and cached: incoming by arrival, outgoing by time, merged. An outflow can
  only draw on money that arrived before it. When an outflow exceeds what the ledger shows
  on the account, the shortfall is money from before the ledger (untraced, clean); this
  rule is causal, so adding later rows never changes earlier allocations (what makes
  incremental tracing exact).
* FIFO/LIFO/proportional are linear: a tainted inflow's share is spread over the outflows
  (and the remaining balance) exactly as the inflow's money is; mixed inflows are treated
  as homogeneous. Poison marks every later outflow wholly tainted.
* Victims are traced one after another; each tainted amount keeps its victim.

Outputs are flat arrays: tainted movements (victim, position, taint, level, status) and
pieces (victim, inflow position, outflow position or -1 = still held, amount) that explain
which tainted inflows fed which outflow.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.typed import Dict

FIFO, LIFO, PROPORTIONAL, POISON = 0, 1, 2, 3
POLICIES = {"fifo": FIFO, "lifo": LIFO, "proportional": PROPORTIONAL, "haircut": PROPORTIONAL, "poison": POISON}

# Status of a tainted movement (what happened at its receiving end).
FOLLOWED, CASHED_OUT, BELOW_MIN, BEYOND_LEVELS, POOL_PENDING = 0, 1, 2, 3, 4
STATUS_NAMES = ("followed", "cashed_out", "below_min_amount", "beyond_max_levels", "pool_order_unresolved")

_SINK_MIN = 2
_TP = 1
_NO_KEY = np.iinfo(np.int64).min


@numba.njit(cache=True, inline="always")
def _less(t1: int, r1: int, t2: int, r2: int) -> bool:
    return t1 < t2 or (t1 == t2 and r1 < r2)


@numba.njit(cache=True)
def _arrival(e: int, time: np.ndarray, row: np.ndarray, chan: np.ndarray, tp_pos: np.ndarray,
             tp_time: np.ndarray, tp_row: np.ndarray) -> tuple[int, int]:
    """Arrival key of a movement at its receiver (a joined third-party hop lands later)."""
    if chan[e] == _TP and tp_pos.size > 0:
        k = np.searchsorted(tp_pos, e)
        if k < tp_pos.size and tp_pos[k] == e:
            return tp_time[k], np.int64(tp_row[k])  # type: ignore[return-value]
    return time[e], np.int64(row[e])  # type: ignore[return-value]


@numba.njit(cache=True)
def _gi(a: np.ndarray, n: int) -> np.ndarray:
    """Room for ``n`` int64 items (amortised doubling)."""
    if n <= a.size:
        return a
    b = np.empty(max(2 * a.size, n), np.int64)
    b[: a.size] = a
    return b


@numba.njit(cache=True)
def _gf(a: np.ndarray, n: int) -> np.ndarray:
    if n <= a.size:
        return a
    b = np.empty(max(2 * a.size, n), np.float64)
    b[: a.size] = a
    return b


@numba.njit(cache=True)
def _heap_push(ht: np.ndarray, hr: np.ndarray, he: np.ndarray, n: int, t: int, r: int, e: int) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, int]:
    ht = _gi(ht, n + 1)
    hr = _gi(hr, n + 1)
    he = _gi(he, n + 1)
    i = n
    ht[i], hr[i], he[i] = t, r, e
    while i > 0:
        p = (i - 1) >> 1
        if _less(ht[i], hr[i], ht[p], hr[p]):
            ht[i], ht[p] = ht[p], ht[i]
            hr[i], hr[p] = hr[p], hr[i]
            he[i], he[p] = he[p], he[i]
            i = p
        else:
            break
    return ht, hr, he, n + 1


@numba.njit(cache=True)
def _heap_pop(ht: np.ndarray, hr: np.ndarray, he: np.ndarray, n: int) -> tuple[int, int]:
    top = he[0]
    n -= 1
    ht[0], hr[0], he[0] = ht[n], hr[n], he[n]
    i = 0
    while True:
        lft = 2 * i + 1
        if lft >= n:
            break
        c = lft
        rgt = lft + 1
        if rgt < n and _less(ht[rgt], hr[rgt], ht[lft], hr[lft]):
            c = rgt
        if _less(ht[c], hr[c], ht[i], hr[i]):
            ht[i], ht[c] = ht[c], ht[i]
            hr[i], hr[c] = hr[c], hr[i]
            he[i], he[c] = he[c], he[i]
            i = c
        else:
            break
    return top, n


@numba.njit(cache=True)
def _hget(keys: np.ndarray, vals: np.ndarray, k: int) -> int:
    """Value of key ``k`` in an open-addressing table (-1 = absent)."""
    m = keys.size - 1
    i = (k * 0x9E3779B97F4A7C15) & m
    while True:
        if keys[i] == k:
            return vals[i]
        if keys[i] == -1:
            return -1
        i = (i + 1) & m


@numba.njit(cache=True)
def _hput(keys: np.ndarray, vals: np.ndarray, n: int, k: int, v: int) -> tuple[np.ndarray, np.ndarray]:
    """Insert (k, v), doubling the table when half full; ``n`` = entries before insertion."""
    if 2 * (n + 1) > keys.size:
        nk = np.full(keys.size * 2, -1, np.int64)
        nv = np.empty(keys.size * 2, np.int64)
        m2 = nk.size - 1
        for j in range(keys.size):
            if keys[j] != -1:
                i = (keys[j] * 0x9E3779B97F4A7C15) & m2
                while nk[i] != -1:
                    i = (i + 1) & m2
                nk[i] = keys[j]
                nv[i] = vals[j]
        keys, vals = nk, nv
    m = keys.size - 1
    i = (k * 0x9E3779B97F4A7C15) & m
    while keys[i] != -1 and keys[i] != k:
        i = (i + 1) & m
    keys[i] = k
    vals[i] = v
    return keys, vals


@numba.njit(cache=True)
def propagate(out_off: np.ndarray, dst: np.ndarray, time: np.ndarray, amount: np.ndarray, chan: np.ndarray,
              row: np.ndarray, in_off: np.ndarray, in_pos: np.ndarray, tp_pos: np.ndarray, tp_time: np.ndarray,
              tp_row: np.ndarray, acct_flags: np.ndarray,
              policy: int, max_levels: int, horizon: int, min_amount: float, k0_t: int, k0_r: int,
              init_edge: np.ndarray, init_taint: np.ndarray, init_level: np.ndarray, init_victim: np.ndarray,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                         np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Follow tainted movements; ``init_*`` sorted by victim. Movements leaving before ``(k0_t, k0_r)``
    are taken as final (incremental tracing): pieces into them are explained but not added.
    """
    # Per-account cache shared by all victims (pooled growable arrays, slot = loaded account).
    sk = np.full(1024, -1, np.int64)
    sv = np.empty(1024, np.int64)
    ns = 0
    s_in0 = np.empty(64, np.int64)
    s_nin = np.empty(64, np.int64)
    s_ev0 = np.empty(64, np.int64)
    s_nev = np.empty(64, np.int64)
    s_pc0 = np.empty(64, np.int64)
    s_bal = np.empty(64, np.float64)
    npin = 0
    pin_t = np.empty(256, np.int64)
    pin_r = np.empty(256, np.int64)
    pin_ev = np.empty(256, np.int64)
    npev = 0
    pev_edge = np.empty(512, np.int64)
    pev_out = np.empty(512, np.int64)  # 1 = outflow, 0 = inflow
    pev_f = np.empty(512, np.float64)
    nppo = 0
    ppc_off = np.empty(256, np.int64)
    nppc = 0
    ppc_out = np.empty(512, np.int64)
    ppc_frac = np.empty(512, np.float64)
    no = 0
    ov = np.empty(256, np.int64)
    oe = np.empty(256, np.int64)
    ot = np.empty(256, np.float64)
    ol = np.empty(256, np.int64)
    os_ = np.empty(256, np.int64)
    npc = 0
    pv = np.empty(256, np.int64)
    pi = np.empty(256, np.int64)
    po = np.empty(256, np.int64)
    pa = np.empty(256, np.float64)
    loads = 0
    # scratch reused across accounts and movements (allocation is what costs in a small trace)
    qk = np.empty(64, np.int64)
    qrem = np.empty(64, np.int64)
    g_k = np.empty(256, np.int64)
    g_o = np.empty(256, np.int64)
    g_a = np.empty(256, np.int64)
    cnt = np.empty(64, np.int64)
    fill = np.empty(64, np.int64)
    pieces_o = np.empty(256, np.int64)
    pieces_a = np.empty(256, np.float64)

    n_init = init_edge.size
    s = 0
    while s < n_init:
        v = init_victim[s]
        ek = np.full(1024, -1, np.int64)
        ev = np.empty(1024, np.int64)
        ne = 0
        e_taint = np.empty(256, np.float64)
        e_level = np.empty(256, np.int64)
        poison_lvl = Dict.empty(key_type=types.int64, value_type=types.int64)
        hn = 0
        ht = np.empty(256, np.int64)
        hr = np.empty(256, np.int64)
        he = np.empty(256, np.int64)
        while s < n_init and init_victim[s] == v:
            e = init_edge[s]
            j = _hget(ek, ev, e)
            if j >= 0:
                e_taint[j] += init_taint[s]
                e_level[j] = min(e_level[j], init_level[s])
            else:
                ek, ev = _hput(ek, ev, ne, e, ne)
                e_taint = _gf(e_taint, ne + 1)
                e_level = _gi(e_level, ne + 1)
                e_taint[ne] = init_taint[s]
                e_level[ne] = init_level[s]
                ne += 1
                at, ar = _arrival(e, time, row, chan, tp_pos, tp_time, tp_row)
                ht, hr, he, hn = _heap_push(ht, hr, he, hn, at, ar, e)
            s += 1
        while hn > 0:
            e, hn = _heap_pop(ht, hr, he, hn)
            j = _hget(ek, ev, e)
            x = e_taint[j]
            lvl = e_level[j]
            b = dst[e]
            if chan[e] >= _SINK_MIN or b < 0:
                st = CASHED_OUT
            elif acct_flags[b] & 1:
                st = POOL_PENDING
            elif x < min_amount:
                st = BELOW_MIN
            elif lvl > max_levels:
                st = BEYOND_LEVELS
            else:
                st = FOLLOWED
            ov = _gi(ov, no + 1)
            oe = _gi(oe, no + 1)
            ot = _gf(ot, no + 1)
            ol = _gi(ol, no + 1)
            os_ = _gi(os_, no + 1)
            ov[no], oe[no], ot[no], ol[no], os_[no] = v, e, x, lvl, st
            no += 1
            if st != FOLLOWED or x <= 0.0:
                continue
            # ---- load the receiving account once per trace -------------------------------
            sl = _hget(sk, sv, b)
            if sl < 0:
                loads += 1
                sl = ns
                sk, sv = _hput(sk, sv, ns, b, sl)
                s_in0 = _gi(s_in0, ns + 1)
                s_nin = _gi(s_nin, ns + 1)
                s_ev0 = _gi(s_ev0, ns + 1)
                s_nev = _gi(s_nev, ns + 1)
                s_pc0 = _gi(s_pc0, ns + 1)
                s_bal = _gf(s_bal, ns + 1)
                ns += 1
                in0 = npin
                s_in0[sl] = in0
                deg = in_off[b + 1] - in_off[b]
                pin_t = _gi(pin_t, npin + deg)
                pin_r = _gi(pin_r, npin + deg)
                pin_ev = _gi(pin_ev, npin + deg)
                for k in range(in_off[b], in_off[b + 1]):
                    q = in_pos[k]
                    qt, qr = _arrival(q, time, row, chan, tp_pos, tp_time, tp_row)
                    if qt > horizon:
                        break
                    pin_t[npin] = qt
                    pin_r[npin] = qr
                    pin_ev[npin] = 0
                    npin += 1
                nin = npin - in0
                s_nin[sl] = nin
                o1 = out_off[b]
                o2 = out_off[b + 1]
                oend = o1
                while oend < o2 and time[oend] <= horizon:
                    oend += 1
                ev0 = npev
                s_ev0[sl] = ev0
                pev_edge = _gi(pev_edge, npev + nin + (oend - o1))
                pev_out = _gi(pev_out, npev + nin + (oend - o1))
                pev_f = _gf(pev_f, npev + nin + (oend - o1))
                ii = 0
                oo = o1
                bal = 0.0
                while ii < nin or oo < oend:
                    take_in = oo >= oend or (ii < nin and _less(pin_t[in0 + ii], pin_r[in0 + ii], time[oo], row[oo]))
                    if take_in:
                        q = in_pos[in_off[b] + ii]
                        pin_ev[in0 + ii] = npev
                        pev_edge[npev] = q
                        pev_out[npev] = 0
                        pev_f[npev] = 0.0
                        bal += amount[q]
                        ii += 1
                    else:
                        pev_edge[npev] = oo
                        pev_out[npev] = 1
                        a = float(amount[oo])
                        f = 0.0
                        if bal > 0.0:
                            f = a / bal if a < bal else 1.0
                        pev_f[npev] = f
                        bal = bal - a if a < bal else 0.0
                        oo += 1
                    npev += 1
                nev = npev - ev0
                s_nev[sl] = nev
                s_bal[sl] = bal
                s_pc0[sl] = nppo
                if policy <= LIFO:  # FIFO or LIFO
                    # Queue (FIFO) or stack (LIFO) of inflows; outflows take from the head / top.
                    qk = _gi(qk, nin)
                    qrem = _gi(qrem, nin)
                    cap = 2 * nin + nev + 1
                    g_k = _gi(g_k, cap)
                    g_o = _gi(g_o, cap)
                    g_a = _gi(g_a, cap)
                    ng = 0
                    head = 0
                    tail = 0
                    kin = 0
                    for z in range(ev0, ev0 + nev):
                        q = pev_edge[z]
                        if pev_out[z] == 0:
                            qk[tail] = kin
                            qrem[tail] = amount[q]
                            tail += 1
                            kin += 1
                        else:
                            need = amount[q]
                            while need > 0 and tail > head:
                                top = head if policy == FIFO else tail - 1
                                got = qrem[top] if qrem[top] < need else need
                                g_k[ng] = qk[top]
                                g_o[ng] = q
                                g_a[ng] = got
                                ng += 1
                                qrem[top] -= got
                                need -= got
                                if qrem[top] == 0:
                                    if policy == FIFO:
                                        head += 1
                                    else:
                                        tail -= 1
                    for w in range(head, tail):
                        if qrem[w] > 0:
                            g_k[ng] = qk[w]
                            g_o[ng] = -1
                            g_a[ng] = qrem[w]
                            ng += 1
                    cnt = _gi(cnt, nin + 1)
                    cnt[: nin + 1] = 0
                    for w in range(ng):
                        cnt[g_k[w] + 1] += 1
                    for w in range(nin):
                        cnt[w + 1] += cnt[w]
                    ppc_off = _gi(ppc_off, nppo + nin + 1)
                    for w in range(nin + 1):
                        ppc_off[nppo + w] = nppc + cnt[w]
                    nppo += nin + 1
                    ppc_out = _gi(ppc_out, nppc + ng)
                    ppc_frac = _gf(ppc_frac, nppc + ng)
                    fill = _gi(fill, nin)
                    fill[:nin] = cnt[:nin]
                    for w in range(ng):
                        kk = g_k[w]
                        qin = in_pos[in_off[b] + kk]
                        ppc_out[nppc + fill[kk]] = g_o[w]
                        ppc_frac[nppc + fill[kk]] = g_a[w] / amount[qin]
                        fill[kk] += 1
                    nppc += ng
            # ---- which of the account's inflows is this one ------------------------------
            in0 = s_in0[sl]
            nin = s_nin[sl]
            at, ar = _arrival(e, time, row, chan, tp_pos, tp_time, tp_row)
            lo = 0
            hi = nin
            while lo < hi:
                mid = (lo + hi) >> 1
                if _less(pin_t[in0 + mid], pin_r[in0 + mid], at, ar):
                    lo = mid + 1
                else:
                    hi = mid
            kin = lo
            if kin >= nin or pin_t[in0 + kin] != at or pin_r[in0 + kin] != ar:
                continue  # cannot happen for a consistent index; never crash on it
            nxt = lvl + 1
            ev_end = s_ev0[sl] + s_nev[sl]
            if policy <= LIFO:  # FIFO or LIFO
                p0 = ppc_off[s_pc0[sl] + kin]
                p1 = ppc_off[s_pc0[sl] + kin + 1]
                npz = p1 - p0
                pieces_o = _gi(pieces_o, npz)
                pieces_a = _gf(pieces_a, npz)
                for w in range(p0, p1):
                    pieces_o[w - p0] = ppc_out[w]
                    pieces_a[w - p0] = x * ppc_frac[w]
            elif policy == PROPORTIONAL:
                z0 = pin_ev[in0 + kin] + 1
                cnt_o = 0
                for z in range(z0, ev_end):
                    cnt_o += pev_out[z]
                npz = cnt_o + 1
                pieces_o = _gi(pieces_o, npz)
                pieces_a = _gf(pieces_a, npz)
                rem = x
                w = 0
                for z in range(z0, ev_end):
                    if pev_out[z] == 1:
                        got = rem * pev_f[z]
                        rem -= got
                        pieces_o[w] = pev_edge[z]
                        pieces_a[w] = got
                        w += 1
                pieces_o[w] = -1
                pieces_a[w] = rem if rem > 0.0 else 0.0
            else:  # POISON: every later outflow is wholly tainted; the balance now is suspect
                first = b not in poison_lvl
                if not first and poison_lvl[b] <= lvl:
                    continue
                poison_lvl[b] = lvl
                z0 = pin_ev[in0 + kin] + 1
                cnt_o = 0
                for z in range(z0, ev_end):
                    cnt_o += pev_out[z]
                npz = cnt_o + (1 if first else 0)
                pieces_o = _gi(pieces_o, npz)
                pieces_a = _gf(pieces_a, npz)
                w = 0
                for z in range(z0, ev_end):
                    if pev_out[z] == 1:
                        pieces_o[w] = pev_edge[z]
                        pieces_a[w] = float(amount[pev_edge[z]])
                        w += 1
                if first:
                    pieces_o[w] = -1
                    pieces_a[w] = s_bal[sl]
            for w in range(npz):
                o = pieces_o[w]
                got = pieces_a[w]
                if got <= 0.0:
                    continue
                pv = _gi(pv, npc + 1)
                pi = _gi(pi, npc + 1)
                po = _gi(po, npc + 1)
                pa = _gf(pa, npc + 1)
                pv[npc], pi[npc], po[npc], pa[npc] = v, e, o, got
                npc += 1
                if o < 0:
                    continue
                if _less(time[o], row[o], k0_t, k0_r):
                    continue  # final already (incremental restart)
                jo = _hget(ek, ev, o)
                if jo >= 0:
                    if policy == POISON:
                        e_taint[jo] = got
                    else:
                        e_taint[jo] += got
                    if nxt < e_level[jo]:
                        e_level[jo] = nxt
                else:
                    ek, ev = _hput(ek, ev, ne, o, ne)
                    e_taint = _gf(e_taint, ne + 1)
                    e_level = _gi(e_level, ne + 1)
                    e_taint[ne] = got
                    e_level[ne] = nxt
                    ne += 1
                    ot_, or_ = _arrival(o, time, row, chan, tp_pos, tp_time, tp_row)
                    ht, hr, he, hn = _heap_push(ht, hr, he, hn, ot_, or_, o)

    return (ov[:no].copy(), oe[:no].copy(), ot[:no].copy(), ol[:no].copy(), os_[:no].copy(),
            pv[:npc].copy(), pi[:npc].copy(), po[:npc].copy(), pa[:npc].copy(), loads)


def run(index: object, policy: str, max_levels: int, horizon: int, min_amount: float,
        init_edge: np.ndarray, init_taint: np.ndarray, init_level: np.ndarray, init_victim: np.ndarray,
        k0: tuple[int, int] = (_NO_KEY, _NO_KEY)) -> Any:
    """Call :func:`propagate` on a :class:`~fanzha.tracing.ledger.LedgerIndex`."""
    ix = index
    code = POLICIES[policy]
    o = np.argsort(init_victim, kind="stable")
    return propagate(ix.out_off, ix.dst, ix.time, ix.amount, ix.chan, ix.row,  # type: ignore[attr-defined]
                     ix.in_off, ix.in_pos, ix.tp_pos, ix.tp_time, ix.tp_row,  # type: ignore[attr-defined]
                     ix.acct_flags, code, int(max_levels), int(horizon), float(min_amount),  # type: ignore[attr-defined]
                     int(k0[0]), int(k0[1]),
                     np.ascontiguousarray(init_edge[o], np.int64), np.ascontiguousarray(init_taint[o], np.float64),
                     np.ascontiguousarray(init_level[o], np.int64), np.ascontiguousarray(init_victim[o], np.int64))
