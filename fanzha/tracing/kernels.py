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


@numba.njit(cache=True, inline="always")
def _arrival(e: int, time: np.ndarray, row: np.ndarray, chan: np.ndarray, tp_pos: np.ndarray,
             tp_time: np.ndarray, tp_row: np.ndarray) -> tuple[int, int]:
    """Arrival key of a movement at its receiver (a joined third-party hop lands later)."""
    if chan[e] == _TP and tp_pos.size > 0:
        k = np.searchsorted(tp_pos, e)
        if k < tp_pos.size and tp_pos[k] == e:
            return tp_time[k], np.int64(tp_row[k])  # type: ignore[return-value]
    return time[e], np.int64(row[e])  # type: ignore[return-value]


@numba.njit(cache=True, inline="always")
def _heap_push(ht: np.ndarray, hr: np.ndarray, he: np.ndarray, n: int, t: int, r: int, e: int) -> None:
    """Sift item ``n`` up; the caller has made room (no array is returned: refcounting costs per call)."""
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


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
def _hset(keys: np.ndarray, vals: np.ndarray, k: int, v: int) -> int:
    """Insert or overwrite (k, v) and return its slot; the caller keeps the table at most half full."""
    m = keys.size - 1
    i = (k * 0x9E3779B97F4A7C15) & m
    while keys[i] != -1 and keys[i] != k:
        i = (i + 1) & m
    keys[i] = k
    vals[i] = v
    return i


# Capacity classes of the kernel's workspace (see :func:`run`).
C_EDGES, C_OUT, C_PIECES, C_ACCTS, C_INFLOWS, C_EVENTS, C_CACHED, C_SCRATCH = range(8)
N_CAPS = 8
_caps = np.array([1024, 4096, 8192, 2048, 8192, 16384, 16384, 1024], np.int64)  # grown as traces need


@numba.njit(cache=True)
def propagate(out_off: np.ndarray, dst: np.ndarray, time: np.ndarray, amount: np.ndarray, chan: np.ndarray,
              row: np.ndarray, in_off: np.ndarray, in_pos: np.ndarray, tp_pos: np.ndarray, tp_time: np.ndarray,
              tp_row: np.ndarray, acct_flags: np.ndarray,
              policy: int, max_levels: int, horizon: int, min_amount: float, k0_t: int, k0_r: int,
              init_edge: np.ndarray, init_taint: np.ndarray, init_level: np.ndarray, init_victim: np.ndarray,
              cap: np.ndarray, need: np.ndarray,
              ) -> tuple[Any, ...]:
    """Follow tainted movements; ``init_*`` sorted by victim. Movements leaving before ``(k0_t, k0_r)``
    are taken as final (incremental tracing): pieces into them are explained but not added.

    The workspace has fixed capacities ``cap`` (one per class ``C_*``) and is never grown here:
    reassigning arrays inside the loop costs an atomic reference count per use, which was half
    of a trace's time. When a class is too small the kernel stops, writes the size it needs to
    ``need`` and returns ``loads = -1``; :func:`run` retries with room.

    Besides positions it returns what it read anyway (rows, sender, receiver, times, cash-out; per
    piece the rows and the account): gathering them again from the ledger afterwards is a cache
    miss per movement.
    """
    z = np.zeros(0, np.int64)
    zf = np.zeros(0, np.float64)
    zb = np.zeros(0, np.bool_)
    ce, co, cp, cs, ci, cv, cc, cd = cap[0], cap[1], cap[2], cap[3], cap[4], cap[5], cap[6], cap[7]
    # Per-account cache shared by all victims (slot = loaded account).
    hs = 1
    while hs < 2 * cs:
        hs *= 2
    sk = np.full(hs, -1, np.int64)
    sv = np.empty(hs, np.int64)
    ns = 0
    s_in0 = np.empty(cs, np.int64)
    s_nin = np.empty(cs, np.int64)
    s_ev0 = np.empty(cs, np.int64)
    s_nev = np.empty(cs, np.int64)
    s_pc0 = np.empty(cs, np.int64)
    s_bal = np.empty(cs, np.float64)
    s_pv = np.full(cs, -1, np.int64)  # poison: victim that last tainted the account, and at which level
    s_pl = np.empty(cs, np.int64)
    npin = 0
    pin_t = np.empty(ci, np.int64)
    pin_r = np.empty(ci, np.int64)
    pin_ev = np.empty(ci, np.int64)
    npev = 0
    pev_edge = np.empty(cv, np.int64)
    pev_out = np.empty(cv, np.int64)  # 1 = outflow, 0 = inflow
    pev_f = np.empty(cv, np.float64)
    nppo = 0
    ppc_off = np.empty(ci + cs, np.int64)
    nppc = 0
    ppc_out = np.empty(cc, np.int64)
    ppc_frac = np.empty(cc, np.float64)
    no = 0
    ov = np.empty(co, np.int64)
    oe = np.empty(co, np.int64)
    ot = np.empty(co, np.float64)
    ol = np.empty(co, np.int64)
    os_ = np.empty(co, np.int64)
    osrc = np.empty(co, np.int64)
    orow = np.empty(co, np.int64)
    odst = np.empty(co, np.int64)
    oleave = np.empty(co, np.int64)
    oarr = np.empty(co, np.int64)
    osink = np.empty(co, np.bool_)
    npc = 0
    pv = np.empty(cp, np.int64)
    pi = np.empty(cp, np.int64)
    po = np.empty(cp, np.int64)
    pa = np.empty(cp, np.float64)
    pirow = np.empty(cp, np.int64)
    porow = np.empty(cp, np.int64)
    pacc = np.empty(cp, np.int64)
    loads = 0
    # per-account scratch
    qk = np.empty(cd, np.int64)
    qrem = np.empty(cd, np.int64)
    g_k = np.empty(cd, np.int64)
    g_o = np.empty(cd, np.int64)
    g_a = np.empty(cd, np.int64)
    cnt = np.empty(cd, np.int64)
    fill = np.empty(cd, np.int64)
    pieces_o = np.empty(cd, np.int64)
    pieces_a = np.empty(cd, np.float64)
    # per-victim state: tainted movements (hash: position -> entry) and the heap of arrivals
    he_ = 1
    while he_ < 2 * ce:
        he_ *= 2
    ek = np.full(he_, -1, np.int64)
    ev = np.empty(he_, np.int64)
    e_slot = np.empty(ce, np.int64)
    e_src = np.empty(ce, np.int64)  # sender account (known when followed; searched for seeds)
    e_taint = np.empty(ce, np.float64)
    e_level = np.empty(ce, np.int64)
    ht = np.empty(ce, np.int64)
    hr = np.empty(ce, np.int64)
    he = np.empty(ce, np.int64)

    n_init = init_edge.size
    s = 0
    while s < n_init:
        v = init_victim[s]
        ne = 0
        hn = 0
        while s < n_init and init_victim[s] == v:
            e = init_edge[s]
            j = _hget(ek, ev, e)
            if j >= 0:
                e_taint[j] += init_taint[s]
                e_level[j] = min(e_level[j], init_level[s])
            else:
                if ne + 1 > ce:
                    need[C_EDGES] = 2 * ce
                    return z, z, zf, z, z, z, z, z, zf, z, z, z, z, z, zb, z, z, z, -1
                e_slot[ne] = _hset(ek, ev, e, ne)
                e_src[ne] = np.searchsorted(out_off, e, side="right") - 1
                e_taint[ne] = init_taint[s]
                e_level[ne] = init_level[s]
                ne += 1
                at, ar = _arrival(e, time, row, chan, tp_pos, tp_time, tp_row)
                _heap_push(ht, hr, he, hn, at, ar, e)
                hn += 1
            s += 1
        while hn > 0:
            at0 = ht[0]
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
            if no + 1 > co:
                need[C_OUT] = 2 * co
                return z, z, zf, z, z, z, z, z, zf, z, z, z, z, z, zb, z, z, z, -1
            ov[no], oe[no], ot[no], ol[no], os_[no], osrc[no] = v, e, x, lvl, st, e_src[j]
            orow[no], odst[no], oleave[no], oarr[no], osink[no] = row[e], b, time[e], at0, st == CASHED_OUT
            no += 1
            if st != FOLLOWED or x <= 0.0:
                continue
            # ---- load the receiving account once per trace -------------------------------
            sl = _hget(sk, sv, b)
            if sl < 0:
                loads += 1
                o1 = out_off[b]
                o2 = out_off[b + 1]
                oend = o1
                while oend < o2 and time[oend] <= horizon:
                    oend += 1
                deg = in_off[b + 1] - in_off[b]
                n_ev_max = deg + (oend - o1)
                if ns + 1 > cs:
                    need[C_ACCTS] = 2 * cs
                    return z, z, zf, z, z, z, z, z, zf, z, z, z, z, z, zb, z, z, z, -1
                if npin + deg > ci:
                    need[C_INFLOWS] = max(2 * ci, npin + deg)
                    return z, z, zf, z, z, z, z, z, zf, z, z, z, z, z, zb, z, z, z, -1
                if npev + n_ev_max > cv:
                    need[C_EVENTS] = max(2 * cv, npev + n_ev_max)
                    return z, z, zf, z, z, z, z, z, zf, z, z, z, z, z, zb, z, z, z, -1
                if 2 * deg + n_ev_max + 1 > cd:
                    need[C_SCRATCH] = max(2 * cd, 2 * deg + n_ev_max + 1)
                    return z, z, zf, z, z, z, z, z, zf, z, z, z, z, z, zb, z, z, z, -1
                sl = ns
                _hset(sk, sv, b, sl)
                ns += 1
                in0 = npin
                s_in0[sl] = in0
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
                ev0 = npev
                s_ev0[sl] = ev0
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
                    ng = 0
                    head = 0
                    tail = 0
                    kin = 0
                    for zz in range(ev0, ev0 + nev):
                        q = pev_edge[zz]
                        if pev_out[zz] == 0:
                            qk[tail] = kin
                            qrem[tail] = amount[q]
                            tail += 1
                            kin += 1
                        else:
                            need_a = amount[q]
                            while need_a > 0 and tail > head:
                                top = head if policy == FIFO else tail - 1
                                got = qrem[top] if qrem[top] < need_a else need_a
                                g_k[ng] = qk[top]
                                g_o[ng] = q
                                g_a[ng] = got
                                ng += 1
                                qrem[top] -= got
                                need_a -= got
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
                    if nppc + ng > cc:
                        need[C_CACHED] = max(2 * cc, nppc + ng)
                        return z, z, zf, z, z, z, z, z, zf, z, z, z, z, z, zb, z, z, z, -1
                    for w in range(nin + 1):
                        cnt[w] = 0
                    for w in range(ng):
                        cnt[g_k[w] + 1] += 1
                    for w in range(nin):
                        cnt[w + 1] += cnt[w]
                    for w in range(nin + 1):
                        ppc_off[nppo + w] = nppc + cnt[w]
                    nppo += nin + 1
                    for w in range(nin):
                        fill[w] = cnt[w]
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
            npz = 0
            if policy <= LIFO:  # FIFO or LIFO
                p0 = ppc_off[s_pc0[sl] + kin]
                p1 = ppc_off[s_pc0[sl] + kin + 1]
                npz = p1 - p0
                for w in range(p0, p1):
                    pieces_o[w - p0] = ppc_out[w]
                    pieces_a[w - p0] = x * ppc_frac[w]
            elif policy == PROPORTIONAL:
                z0 = pin_ev[in0 + kin] + 1
                rem = x
                w = 0
                for zz in range(z0, ev_end):
                    if pev_out[zz] == 1:
                        got_f = rem * pev_f[zz]
                        rem -= got_f
                        pieces_o[w] = pev_edge[zz]
                        pieces_a[w] = got_f
                        w += 1
                pieces_o[w] = -1
                pieces_a[w] = rem if rem > 0.0 else 0.0
                npz = w + 1
            else:  # POISON: every later outflow is wholly tainted; the balance now is suspect
                first = s_pv[sl] != v
                if not first and s_pl[sl] <= lvl:
                    continue
                s_pv[sl] = v
                s_pl[sl] = lvl
                z0 = pin_ev[in0 + kin] + 1
                w = 0
                for zz in range(z0, ev_end):
                    if pev_out[zz] == 1:
                        pieces_o[w] = pev_edge[zz]
                        pieces_a[w] = float(amount[pev_edge[zz]])
                        w += 1
                if first:
                    pieces_o[w] = -1
                    pieces_a[w] = s_bal[sl]
                    w += 1
                npz = w
            for w in range(npz):
                o = pieces_o[w]
                got_f = pieces_a[w]
                if got_f <= 0.0:
                    continue
                if npc + 1 > cp:
                    need[C_PIECES] = 2 * cp
                    return z, z, zf, z, z, z, z, z, zf, z, z, z, z, z, zb, z, z, z, -1
                pv[npc], pi[npc], po[npc], pa[npc] = v, e, o, got_f
                pirow[npc], porow[npc], pacc[npc] = row[e], row[o] if o >= 0 else -1, b
                npc += 1
                if o < 0:
                    continue
                if _less(time[o], row[o], k0_t, k0_r):
                    continue  # final already (incremental restart)
                jo = _hget(ek, ev, o)
                if jo >= 0:
                    if policy == POISON:
                        e_taint[jo] = got_f
                    else:
                        e_taint[jo] += got_f
                    if nxt < e_level[jo]:
                        e_level[jo] = nxt
                else:
                    if ne + 1 > ce:
                        need[C_EDGES] = 2 * ce
                        return z, z, zf, z, z, z, z, z, zf, z, z, z, z, z, zb, z, z, z, -1
                    e_slot[ne] = _hset(ek, ev, o, ne)
                    e_src[ne] = b
                    e_taint[ne] = got_f
                    e_level[ne] = nxt
                    ne += 1
                    ot_, or_ = _arrival(o, time, row, chan, tp_pos, tp_time, tp_row)
                    _heap_push(ht, hr, he, hn, ot_, or_, o)
                    hn += 1
        for j in range(ne):  # empty the movement table for the next victim (only the slots used)
            ek[e_slot[j]] = -1

    return (ov[:no].copy(), oe[:no].copy(), ot[:no].copy(), ol[:no].copy(), os_[:no].copy(),
            pv[:npc].copy(), pi[:npc].copy(), po[:npc].copy(), pa[:npc].copy(), osrc[:no].copy(), orow[:no].copy(),
            odst[:no].copy(), oleave[:no].copy(), oarr[:no].copy(), osink[:no].copy(), pirow[:npc].copy(),
            porow[:npc].copy(), pacc[:npc].copy(), loads)


def run(index: object, policy: str, max_levels: int, horizon: int, min_amount: float,
        init_edge: np.ndarray, init_taint: np.ndarray, init_level: np.ndarray, init_victim: np.ndarray,
        k0: tuple[int, int] = (_NO_KEY, _NO_KEY)) -> Any:
    """Call :func:`propagate` on a :class:`~fanzha.tracing.ledger.LedgerIndex`.

    The workspace capacities start at what earlier traces needed (module-level, only sizes are
    shared, never buffers) and are raised and the trace rerun whenever the kernel runs out of room.
    """
    ix = index
    code = POLICIES[policy]
    o = np.argsort(init_victim, kind="stable")
    args = (ix.out_off, ix.dst, ix.time, ix.amount, ix.chan, ix.row,  # type: ignore[attr-defined]
            ix.in_off, ix.in_pos, ix.tp_pos, ix.tp_time, ix.tp_row,  # type: ignore[attr-defined]
            ix.acct_flags, code, int(max_levels), int(horizon), float(min_amount),  # type: ignore[attr-defined]
            int(k0[0]), int(k0[1]),
            np.ascontiguousarray(init_edge[o], np.int64), np.ascontiguousarray(init_taint[o], np.float64),
            np.ascontiguousarray(init_level[o], np.int64), np.ascontiguousarray(init_victim[o], np.int64))
    while True:
        cap = _caps.copy()
        need = np.zeros(N_CAPS, np.int64)
        out = propagate(*args, cap, need)
        if out[-1] >= 0:
            return out
        np.maximum(_caps, need, out=_caps)


@numba.njit(cache=True)
def _member(sorted_keys: np.ndarray, k: int) -> tuple[bool, int]:
    i = np.searchsorted(sorted_keys, k)
    return bool(i < sorted_keys.size and sorted_keys[i] == k), int(i)


@numba.njit(cache=True)
def _aggregate(src: np.ndarray, dst: np.ndarray, leave_t: np.ndarray, arr_t: np.ndarray, sink: np.ndarray,
               acct_flags: np.ndarray, nv: int, n_rows: int, e_victim: np.ndarray, e_row: np.ndarray,
               e_taint: np.ndarray, e_level: np.ndarray, e_status: np.ndarray, seed_victim: np.ndarray,
               seed_row: np.ndarray, p_acc: np.ndarray, p_out_row: np.ndarray, p_victim: np.ndarray,
               p_amount: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
        np.ndarray, np.ndarray, np.ndarray]:
    """Per (account, victim) and per account figures from tainted movements and pieces.

    Inputs are facts per tainted movement (sender, receiver, leaving and arrival time, cash-out) and per
    piece (account), as the kernel returns them.

    One compiled pass instead of some thirty numpy calls (each a few µs plus sorts), which were a
    third of a small trace. Sums run in element order, as ``np.bincount`` would, so figures are the same.
    """
    n = e_row.size
    big = np.iinfo(np.int64).max
    key_seed = np.sort(seed_victim * (n_rows + 1) + seed_row)
    is_seed = np.zeros(n, np.bool_)
    for i in range(n):
        is_seed[i] = _member(key_seed, e_victim[i] * (n_rows + 1) + e_row[i])[0]
    arrive = (e_status == FOLLOWED) | (e_status == POOL_PENDING)
    k_all = dst * nv + e_victim
    keys = np.unique(k_all[arrive])
    nk = keys.size
    h_in = np.zeros(nk)
    h_out = np.zeros(nk)
    h_cash = np.zeros(nk)
    held_p = np.zeros(nk)
    held_e = np.zeros(nk)
    lv = np.full(nk, big, np.int64)
    for i in range(n):
        if arrive[i]:
            j = np.searchsorted(keys, k_all[i])
            h_in[j] += e_taint[i]
            lv[j] = min(lv[j], e_level[i])
    for i in range(n):
        if is_seed[i]:
            continue
        ok, j = _member(keys, src[i] * nv + e_victim[i])
        if ok:
            if sink[i]:
                h_cash[j] += e_taint[i]
            else:
                h_out[j] += e_taint[i]
    for w in range(p_acc.size):
        if p_out_row[w] < 0:
            ok, j = _member(keys, p_acc[w] * nv + p_victim[w])
            if ok:
                held_p[j] += p_amount[w]
    for i in range(n):
        if e_status[i] == POOL_PENDING:
            held_e[np.searchsorted(keys, k_all[i])] += e_taint[i]
    h_held = held_p + held_e
    h_account = keys // nv
    h_victim = keys % nv
    na = 0
    for j in range(nk):
        if j == 0 or h_account[j] != h_account[j - 1]:
            na += 1
    acc = np.empty(na, np.int64)
    a_in = np.zeros(na)
    a_out = np.zeros(na)
    a_cash = np.zeros(na)
    a_held = np.zeros(na)
    a_vict = np.zeros(na, np.int64)
    g = -1
    for j in range(nk):
        if j == 0 or h_account[j] != h_account[j - 1]:
            g += 1
            acc[g] = h_account[j]
        a_in[g] += h_in[j]
        a_out[g] += h_out[j]
        a_cash[g] += h_cash[j]
        a_held[g] += h_held[j]
        a_vict[g] += 1
    lmin = np.full(na, big, np.int64)
    lmax = np.zeros(na, np.int64)
    first = np.full(na, big, np.int64)
    last = np.zeros(na, np.int64)
    for i in range(n):
        if arrive[i]:
            a = np.searchsorted(acc, dst[i])
            lmin[a] = min(lmin[a], e_level[i])
            lmax[a] = max(lmax[a], e_level[i])
            first[a] = min(first[a], arr_t[i])
    for i in range(n):
        if is_seed[i]:
            continue
        ok, a = _member(acc, src[i])
        if ok:
            last[a] = max(last[a], leave_t[i])
    pool = np.empty(na, np.bool_)
    for a in range(na):
        pool[a] = (acct_flags[acc[a]] & 1) != 0
    return (h_account, h_victim, lv, h_in, h_out, h_cash, h_held, acc, a_in, a_out, a_cash, a_held, a_vict,
            lmin, lmax, first, last, pool, is_seed)


def aggregate(*arrays: Any) -> tuple[np.ndarray, ...]:
    """:func:`_aggregate` (typed entry point for callers)."""
    return _aggregate(*arrays)
