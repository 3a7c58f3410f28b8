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
from numba.typed import Dict, List

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
def _heap_push(ht: List, hr: List, he: List, t: int, r: int, e: int) -> None:
    ht.append(t)
    hr.append(r)
    he.append(e)
    i = len(ht) - 1
    while i > 0:
        p = (i - 1) >> 1
        if _less(ht[i], hr[i], ht[p], hr[p]):
            ht[i], ht[p] = ht[p], ht[i]
            hr[i], hr[p] = hr[p], hr[i]
            he[i], he[p] = he[p], he[i]
            i = p
        else:
            break


@numba.njit(cache=True)
def _heap_pop(ht: List, hr: List, he: List) -> int:
    top = he[0]
    last = len(ht) - 1
    ht[0], hr[0], he[0] = ht[last], hr[last], he[last]
    ht.pop()
    hr.pop()
    he.pop()
    n = len(ht)
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
    return top


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
    # Per-account cache shared by all victims: events and, for FIFO/LIFO, pieces per inflow.
    slot_of = Dict.empty(key_type=types.int64, value_type=types.int64)
    s_in0 = List.empty_list(types.int64)
    s_nin = List.empty_list(types.int64)
    s_ev0 = List.empty_list(types.int64)
    s_nev = List.empty_list(types.int64)
    s_pc0 = List.empty_list(types.int64)
    s_bal = List.empty_list(types.float64)
    pin_t = List.empty_list(types.int64)
    pin_r = List.empty_list(types.int64)
    pin_ev = List.empty_list(types.int64)
    pev_edge = List.empty_list(types.int64)
    pev_out = List.empty_list(types.int64)  # 1 = outflow, 0 = inflow
    pev_f = List.empty_list(types.float64)
    ppc_off = List.empty_list(types.int64)
    ppc_out = List.empty_list(types.int64)
    ppc_frac = List.empty_list(types.float64)

    ov = List.empty_list(types.int64)
    oe = List.empty_list(types.int64)
    ot = List.empty_list(types.float64)
    ol = List.empty_list(types.int64)
    os_ = List.empty_list(types.int64)
    pv = List.empty_list(types.int64)
    pi = List.empty_list(types.int64)
    po = List.empty_list(types.int64)
    pa = List.empty_list(types.float64)
    loads = 0

    n_init = init_edge.size
    s = 0
    while s < n_init:
        v = init_victim[s]
        e_slot = Dict.empty(key_type=types.int64, value_type=types.int64)
        e_taint = List.empty_list(types.float64)
        e_level = List.empty_list(types.int64)
        poison_lvl = Dict.empty(key_type=types.int64, value_type=types.int64)
        ht = List.empty_list(types.int64)
        hr = List.empty_list(types.int64)
        he = List.empty_list(types.int64)
        while s < n_init and init_victim[s] == v:
            e = init_edge[s]
            if e in e_slot:
                j = e_slot[e]
                e_taint[j] += init_taint[s]
                e_level[j] = min(e_level[j], init_level[s])
            else:
                e_slot[e] = len(e_taint)
                e_taint.append(init_taint[s])
                e_level.append(init_level[s])
                at, ar = _arrival(e, time, row, chan, tp_pos, tp_time, tp_row)
                _heap_push(ht, hr, he, at, ar, e)
            s += 1
        while len(ht) > 0:
            e = _heap_pop(ht, hr, he)
            j = e_slot[e]
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
            ov.append(v)
            oe.append(e)
            ot.append(x)
            ol.append(lvl)
            os_.append(st)
            if st != FOLLOWED or x <= 0.0:
                continue
            # ---- load the receiving account once per trace -------------------------------
            if b in slot_of:
                sl = slot_of[b]
            else:
                loads += 1
                sl = len(s_in0)
                slot_of[b] = sl
                in0 = len(pin_t)
                s_in0.append(in0)
                for k in range(in_off[b], in_off[b + 1]):
                    q = in_pos[k]
                    qt, qr = _arrival(q, time, row, chan, tp_pos, tp_time, tp_row)
                    if qt > horizon:
                        break
                    pin_t.append(qt)
                    pin_r.append(qr)
                    pin_ev.append(0)
                nin = len(pin_t) - in0
                s_nin.append(nin)
                o1 = out_off[b]
                o2 = out_off[b + 1]
                oend = o1
                while oend < o2 and time[oend] <= horizon:
                    oend += 1
                ev0 = len(pev_edge)
                s_ev0.append(ev0)
                ii = 0
                oo = o1
                bal = 0.0
                while ii < nin or oo < oend:
                    take_in = oo >= oend or (ii < nin and _less(pin_t[in0 + ii], pin_r[in0 + ii], time[oo], row[oo]))
                    if take_in:
                        q = in_pos[in_off[b] + ii]
                        pin_ev[in0 + ii] = len(pev_edge)
                        pev_edge.append(q)
                        pev_out.append(0)
                        pev_f.append(0.0)
                        bal += amount[q]
                        ii += 1
                    else:
                        pev_edge.append(oo)
                        pev_out.append(1)
                        a = float(amount[oo])
                        f = 0.0
                        if bal > 0.0:
                            f = a / bal if a < bal else 1.0
                        pev_f.append(f)
                        bal = bal - a if a < bal else 0.0
                        oo += 1
                s_nev.append(len(pev_edge) - ev0)
                s_bal.append(bal)
                s_pc0.append(len(ppc_off))
                if policy <= LIFO:  # FIFO or LIFO
                    # Queue (FIFO) or stack (LIFO) of inflows; outflows take from the head / top.
                    nev = len(pev_edge) - ev0
                    qk = np.empty(nin, np.int64)
                    qrem = np.empty(nin, np.int64)
                    g_k = List.empty_list(types.int64)
                    g_o = List.empty_list(types.int64)
                    g_a = List.empty_list(types.int64)
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
                                g_k.append(qk[top])
                                g_o.append(q)
                                g_a.append(got)
                                qrem[top] -= got
                                need -= got
                                if qrem[top] == 0:
                                    if policy == FIFO:
                                        head += 1
                                    else:
                                        tail -= 1
                    for w in range(head, tail):
                        if qrem[w] > 0:
                            g_k.append(qk[w])
                            g_o.append(-1)
                            g_a.append(qrem[w])
                    cnt = np.zeros(nin + 1, np.int64)
                    for w in range(len(g_k)):
                        cnt[g_k[w] + 1] += 1
                    for w in range(nin):
                        cnt[w + 1] += cnt[w]
                    base = len(ppc_out)
                    for w in range(nin + 1):
                        ppc_off.append(base + cnt[w])
                    npc = len(g_k)
                    ord_o = np.empty(npc, np.int64)
                    ord_f = np.empty(npc, np.float64)
                    fill = cnt[:nin].copy()
                    for w in range(npc):
                        kk = g_k[w]
                        qin = in_pos[in_off[b] + kk]
                        ord_o[fill[kk]] = g_o[w]
                        ord_f[fill[kk]] = g_a[w] / amount[qin]
                        fill[kk] += 1
                    for w in range(npc):
                        ppc_out.append(ord_o[w])
                        ppc_frac.append(ord_f[w])
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
                pieces_o = np.empty(p1 - p0, np.int64)
                pieces_a = np.empty(p1 - p0, np.float64)
                for w in range(p0, p1):
                    pieces_o[w - p0] = ppc_out[w]
                    pieces_a[w - p0] = x * ppc_frac[w]
            elif policy == PROPORTIONAL:
                z0 = pin_ev[in0 + kin] + 1
                cnt_o = 0
                for z in range(z0, ev_end):
                    cnt_o += pev_out[z]
                pieces_o = np.empty(cnt_o + 1, np.int64)
                pieces_a = np.empty(cnt_o + 1, np.float64)
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
                pieces_o = np.empty(cnt_o + (1 if first else 0), np.int64)
                pieces_a = np.empty(cnt_o + (1 if first else 0), np.float64)
                w = 0
                for z in range(z0, ev_end):
                    if pev_out[z] == 1:
                        pieces_o[w] = pev_edge[z]
                        pieces_a[w] = float(amount[pev_edge[z]])
                        w += 1
                if first:
                    pieces_o[w] = -1
                    pieces_a[w] = s_bal[sl]
            for w in range(pieces_o.size):
                o = pieces_o[w]
                got = pieces_a[w]
                if got <= 0.0:
                    continue
                pv.append(v)
                pi.append(e)
                po.append(o)
                pa.append(got)
                if o < 0:
                    continue
                if _less(time[o], row[o], k0_t, k0_r):
                    continue  # final already (incremental restart)
                if o in e_slot:
                    jo = e_slot[o]
                    if policy == POISON:
                        e_taint[jo] = got
                    else:
                        e_taint[jo] += got
                    if nxt < e_level[jo]:
                        e_level[jo] = nxt
                else:
                    e_slot[o] = len(e_taint)
                    e_taint.append(got)
                    e_level.append(nxt)
                    ot_, or_ = _arrival(o, time, row, chan, tp_pos, tp_time, tp_row)
                    _heap_push(ht, hr, he, ot_, or_, o)

    n = len(oe)
    r_v = np.empty(n, np.int64)
    r_e = np.empty(n, np.int64)
    r_t = np.empty(n, np.float64)
    r_l = np.empty(n, np.int64)
    r_s = np.empty(n, np.int64)
    for i in range(n):
        r_v[i] = ov[i]
        r_e[i] = oe[i]
        r_t[i] = ot[i]
        r_l[i] = ol[i]
        r_s[i] = os_[i]
    m = len(pi)
    q_v = np.empty(m, np.int64)
    q_i = np.empty(m, np.int64)
    q_o = np.empty(m, np.int64)
    q_a = np.empty(m, np.float64)
    for i in range(m):
        q_v[i] = pv[i]
        q_i[i] = pi[i]
        q_o[i] = po[i]
        q_a[i] = pa[i]
    return r_v, r_e, r_t, r_l, r_s, q_v, q_i, q_o, q_a, loads


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
