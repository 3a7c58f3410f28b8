"""Public tracing API (资金流向研判): ``trace(ledger, seeds, ...) -> TraceResult``.

The result keeps flat numpy columns (tainted movements, pieces that explain each hop, and
per-account / per-victim aggregates) so that a 1,300-card trace is assembled in well under
a millisecond; Arrow tables, JSON and CSV are built from them on demand. Movements are
referred to by their ledger row number, which never changes when statement rows are
added, so :func:`extend` can continue a trace on a grown ledger.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fanzha.contracts.vocab import Channel
from fanzha.tracing import kernels
from fanzha.tracing.kernels import BELOW_MIN, BEYOND_LEVELS, CASHED_OUT, FOLLOWED, STATUS_NAMES
from fanzha.tracing.ledger import CHANNEL_CODES, SINK_MIN, LedgerIndex

NO_HORIZON = np.iinfo(np.int64).max
SEED_TIME_TOLERANCE_MS = 10 * 60 * 1000
UNKNOWN_INSTITUTION = "unknown"


class TraceError(ValueError):
    """Seeds or parameters that cannot be traced (unknown account, no such transfer...)."""


@dataclass(frozen=True)
class Seed:
    """A victim's money entering the ledger: a transfer id, or account + amount + time of the inflow.

    ``amount_cents`` with a transfer id traces only part of that transfer (e.g. the part a
    report covers); by default the whole transfer.
    """

    victim: str
    transfer_id: str | None = None
    account: str | None = None
    amount_cents: int | None = None
    time: datetime | int | None = None


def _ms(t: datetime | int | None, name: str) -> int | None:
    if t is None:
        return None
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise TraceError(f"{name} must carry a timezone (got naive {t.isoformat()})")
        return int(t.timestamp() * 1000)
    return int(t)


def resolve_seeds(ledger: LedgerIndex, seeds: Sequence[Seed]) -> tuple[list[str], np.ndarray, np.ndarray,
                                                                           np.ndarray]:
    """Victim names and, per seed, (victim number, CSR position, tainted cents)."""
    if not seeds:
        raise TraceError("no seeds: give at least one victim transfer (transfer id, or account + amount + time)")
    victims: list[str] = []
    vnum: dict[str, int] = {}
    v_out, e_out, x_out = [], [], []
    by_tid = [s for s in seeds if s.transfer_id is not None]
    tid_pos = ledger.positions_of_transfer_ids([str(s.transfer_id) for s in by_tid]) if by_tid else \
        np.zeros(0, np.int64)
    pos_of = {id(s): int(p) for s, p in zip(by_tid, tid_pos, strict=True)}
    for s in seeds:
        if s.victim not in vnum:
            vnum[s.victim] = len(victims)
            victims.append(s.victim)
        if s.amount_cents is not None and s.amount_cents <= 0:
            raise TraceError(f"seed of victim {s.victim}: amount must be positive (got {s.amount_cents})")
        if s.transfer_id is not None:
            pos = pos_of[id(s)]
            if pos < 0:
                raise TraceError(f"seed of victim {s.victim}: transfer {s.transfer_id!r} is not in the ledger "
                                 f"(or was dropped while indexing: see the ledger's flags)")
            amt = int(ledger.amount[pos])
            x = amt if s.amount_cents is None else min(int(s.amount_cents), amt)
        else:
            if s.account is None or s.amount_cents is None or s.time is None:
                raise TraceError(f"seed of victim {s.victim}: give a transfer id, or account, amount and time")
            code = int(ledger.codes_of([s.account])[0])
            if code < 0:
                raise TraceError(f"seed of victim {s.victim}: account {s.account!r} is not in the ledger")
            t = _ms(s.time, "seed time")
            assert t is not None
            cand = ledger.in_pos[ledger.in_off[code]:ledger.in_off[code + 1]].astype(np.int64)
            arr_t = ledger.time[cand].copy()
            if ledger.tp_pos.size:
                k = np.searchsorted(ledger.tp_pos, cand)
                k = np.minimum(k, ledger.tp_pos.size - 1)
                hit = ledger.tp_pos[k] == cand
                arr_t[hit] = ledger.tp_time[k[hit]]
            ok = (ledger.amount[cand] == s.amount_cents) & (np.abs(arr_t - t) <= SEED_TIME_TOLERANCE_MS)
            if not ok.any():
                raise TraceError(
                    f"seed of victim {s.victim}: no inflow of {s.amount_cents} cents to {s.account} within 10 "
                    f"minutes of the given time; add the bank's statement rows or give the transfer id")
            best = np.flatnonzero(ok)[np.argmin(np.abs(arr_t[ok] - t))]
            pos = int(cand[best])
            x = int(s.amount_cents)
        v_out.append(vnum[s.victim])
        e_out.append(pos)
        x_out.append(float(x))
    return victims, np.array(v_out, np.int64), np.array(e_out, np.int64), np.array(x_out, np.float64)


@dataclass
class TraceResult:
    """Where the victims' money went. Amounts are cents (float: proportional splits leave fractions)."""

    ledger: LedgerIndex
    policy: str
    max_levels: int
    horizon: int
    min_amount: float
    victims: list[str]
    seed_victim: np.ndarray
    seed_row: np.ndarray
    seed_taint: np.ndarray
    # tainted movements
    e_victim: np.ndarray
    e_row: np.ndarray
    e_taint: np.ndarray
    e_level: np.ndarray
    e_status: np.ndarray
    # pieces: which tainted inflow fed which outflow (out_row -1 = still held)
    p_victim: np.ndarray
    p_in_row: np.ndarray
    p_out_row: np.ndarray
    p_amount: np.ndarray
    # positions of e_row / p_in_row in this ledger's CSR (rows are stable across ledgers, positions are not)
    e_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    e_src: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sender codes of e_pos
    p_in_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # per (account, victim)
    h_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    h_victim: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    h_level: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    h_in: np.ndarray = field(default_factory=lambda: np.zeros(0))
    h_out: np.ndarray = field(default_factory=lambda: np.zeros(0))
    h_cashed: np.ndarray = field(default_factory=lambda: np.zeros(0))
    h_held: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # per account
    a_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    a_level_min: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    a_level_max: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    a_in: np.ndarray = field(default_factory=lambda: np.zeros(0))
    a_out: np.ndarray = field(default_factory=lambda: np.zeros(0))
    a_cashed: np.ndarray = field(default_factory=lambda: np.zeros(0))
    a_held: np.ndarray = field(default_factory=lambda: np.zeros(0))
    a_first_in: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    a_last_out: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    a_pool: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    a_victims: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stats: dict[str, Any] = field(default_factory=dict)

    # ---- derived ------------------------------------------------------------------
    @property
    def summary(self) -> dict[str, Any]:
        """Where the seeded money is now, in cents: held on accounts, cashed out, pending, not followed."""
        st = self.e_status
        return {
            "policy": self.policy,
            "victims": len(self.victims),
            "seeded_cents": float(self.seed_taint.sum()),
            "accounts": int(self.a_account.size),
            "max_level": int(self.a_level_max.max()) if self.a_level_max.size else 0,
            "held_cents": float(self.a_held[~self.a_pool].sum()),
            "pending_at_platform_cents": float(self.a_held[self.a_pool].sum()),
            "cashed_out_cents": float(self.e_taint[st == CASHED_OUT].sum()),
            "below_min_amount_cents": float(self.e_taint[st == BELOW_MIN].sum()),
            "beyond_max_levels_cents": float(self.e_taint[st == BEYOND_LEVELS].sum()),
            **self.stats,
        }

    def account_ids(self, codes: np.ndarray) -> list[str]:
        return [str(x) for x in self.ledger.accounts.take(pa.array(np.asarray(codes, np.int64))).to_pylist()]

    def institutions(self, codes: np.ndarray) -> list[str]:
        if self.ledger.institution is None:
            return [UNKNOWN_INSTITUTION] * len(codes)
        vals = self.ledger.institution.take(pa.array(np.asarray(codes, np.int64))).to_pylist()
        return [v if v else UNKNOWN_INSTITUTION for v in vals]

    def frontier(self) -> np.ndarray:
        """Receivers not followed (beyond max_levels or under min_amount): the next accounts to look at."""
        m = (self.e_status == BEYOND_LEVELS) | (self.e_status == BELOW_MIN)
        pos = self.e_pos[m]
        return np.unique(self.ledger.dst[pos[pos >= 0]].astype(np.int64))

    def held_by(self, account: str) -> dict[str, float]:
        """Tainted money still held on one account, by victim."""
        code = int(self.ledger.codes_of([account])[0])
        m = (self.h_account == code) & (self.h_held > 0)
        return {self.victims[v]: float(h) for v, h in zip(self.h_victim[m], self.h_held[m], strict=True)}

    # ---- tables ---------------------------------------------------------------------
    def accounts_table(self) -> pa.Table:
        codes = self.a_account
        return pa.table({
            "account_id": pa.array(self.account_ids(codes), pa.string()),
            "institution": pa.array(self.institutions(codes), pa.string()),
            "level_min": pa.array(self.a_level_min, pa.int16()),
            "level_max": pa.array(self.a_level_max, pa.int16()),
            "tainted_in_cents": pa.array(np.round(self.a_in).astype(np.int64)),
            "tainted_out_cents": pa.array(np.round(self.a_out).astype(np.int64)),
            "cashed_out_cents": pa.array(np.round(self.a_cashed).astype(np.int64)),
            "held_cents": pa.array(np.round(self.a_held).astype(np.int64)),
            "payment_pool": pa.array(self.a_pool),
            "victims": pa.array(self.a_victims, pa.int32()),
            "first_tainted_at": pa.array(self.a_first_in, pa.timestamp("ms", tz="UTC")),
            "last_out_at": pa.array(np.where(self.a_last_out > 0, self.a_last_out, 0),
                                    pa.timestamp("ms", tz="UTC"), mask=self.a_last_out <= 0),
        })

    def holdings_table(self) -> pa.Table:
        return pa.table({
            "account_id": pa.array(self.account_ids(self.h_account), pa.string()),
            "victim": pa.array([self.victims[v] for v in self.h_victim], pa.string()),
            "level_min": pa.array(self.h_level, pa.int16()),
            "tainted_in_cents": pa.array(self.h_in),
            "tainted_out_cents": pa.array(self.h_out),
            "cashed_out_cents": pa.array(self.h_cashed),
            "held_cents": pa.array(self.h_held),
        })

    def _tid(self, rows: np.ndarray) -> pa.Array:
        rows = np.asarray(rows, np.int64)
        if self.ledger.transfer_ids is None:
            return pa.array([f"row:{r}" if r >= 0 else None for r in rows], pa.string())
        return self.ledger.transfer_ids.take(pa.array(rows, mask=rows < 0))

    def movements_table(self) -> pa.Table:
        """Every tainted movement with its victim, level (of the receiver) and what happened at the receiver."""
        lg = self.ledger
        pos = self.e_pos
        src = lg.src_of(pos)
        dst = lg.dst[pos].astype(np.int64)
        order: list[str | None] = [None] * pos.size
        via: list[str | None] = [None] * pos.size
        if lg.tp_pos.size:
            k = np.minimum(np.searchsorted(lg.tp_pos, pos), lg.tp_pos.size - 1)
            hit = np.flatnonzero(lg.tp_pos[k] == pos)
            ords = lg.tp_order.take(pa.array(k[hit])).to_pylist()
            pools = self.account_ids(lg.tp_pool[k[hit]])
            for i, o, p in zip(hit.tolist(), ords, pools, strict=True):
                order[i], via[i] = o, p
        return pa.table({
            "victim": pa.array([self.victims[v] for v in self.e_victim], pa.string()),
            "transfer_id": self._tid(self.e_row),
            "time": pa.array(lg.time[pos], pa.timestamp("ms", tz="UTC")),
            "from_account": pa.array(self.account_ids(src), pa.string()),
            "to_account": pa.array([a if d >= 0 else None for a, d in
                                    zip(self.account_ids(np.maximum(dst, 0)), dst, strict=True)], pa.string()),
            "channel": pa.array([CHANNEL_CODES[c].value for c in lg.chan[pos]], pa.string()),
            "amount_cents": pa.array(lg.amount[pos]),
            "tainted_cents": pa.array(self.e_taint),
            "level": pa.array(self.e_level, pa.int16()),
            "status": pa.array([STATUS_NAMES[s] for s in self.e_status], pa.string()),
            "order_no": pa.array(order, pa.string()),
            "via_pool": pa.array(via, pa.string()),
        })

    def hops_table(self) -> pa.Table:
        """Explanation of every hop: which tainted inflow fed which outflow, at which account."""
        lg = self.ledger
        pos_in = self.p_in_pos
        at = lg.dst[pos_in].astype(np.int64)
        return pa.table({
            "victim": pa.array([self.victims[v] for v in self.p_victim], pa.string()),
            "account_id": pa.array(self.account_ids(at), pa.string()),
            "inflow_transfer_id": self._tid(self.p_in_row),
            "outflow_transfer_id": self._tid(self.p_out_row),
            "held": pa.array(self.p_out_row < 0),
            "amount_cents": pa.array(self.p_amount),
        })

    def to_arrow(self) -> dict[str, pa.Table]:
        return {"accounts": self.accounts_table(), "holdings": self.holdings_table(),
                "movements": self.movements_table(), "hops": self.hops_table()}

    def to_json(self) -> dict[str, Any]:
        return {
            "params": {"policy": self.policy, "max_levels": self.max_levels,
                       "horizon_ms": None if self.horizon == NO_HORIZON else self.horizon,
                       "min_amount_cents": self.min_amount},
            "summary": self.summary,
            "victims": self.victims,
            "ledger_flags": self.ledger.flags.as_dict(),
            **{name: _jsonable(t) for name, t in self.to_arrow().items()},
        }

    def write(self, path: str | Path) -> list[Path]:
        """JSON (one file) if ``path`` ends in .json, else one CSV per table in the folder ``path``."""
        p = Path(path)
        if p.suffix.lower() == ".json":
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1, default=str), encoding="utf-8")
            return [p]
        import pyarrow.csv as pcsv

        p.mkdir(parents=True, exist_ok=True)
        out = []
        for name, t in self.to_arrow().items():
            f = p / f"{name}.csv"
            pcsv.write_csv(t, f)
            out.append(f)
        return out


def _jsonable(t: pa.Table) -> list[dict[str, Any]]:
    rows = t.to_pylist()
    for r in rows:
        for k, v in r.items():
            if isinstance(v, datetime):
                r[k] = v.isoformat()
            elif isinstance(v, float):
                r[k] = round(v, 2)
    return rows


Facts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _facts(res: TraceResult) -> Facts:
    """Sender, receiver, leaving and arrival time, cash-out per tainted movement and account per piece,
    gathered from the ledger (the kernel returns them itself; this serves results put together by extend)."""
    lg = res.ledger
    pos = res.e_pos
    dst = lg.dst[pos].astype(np.int64)
    leave = lg.time[pos].astype(np.int64)
    arr = leave.copy()
    if lg.tp_pos.size:
        k = np.minimum(np.searchsorted(lg.tp_pos, pos), lg.tp_pos.size - 1)
        hit = lg.tp_pos[k] == pos
        arr[hit] = lg.tp_time[k[hit]]
    sink = (lg.chan[pos] >= SINK_MIN) | (dst < 0)
    src = res.e_src if res.e_src.size == pos.size else lg.src_of(pos)
    return src, dst, leave, arr, sink, lg.dst[res.p_in_pos].astype(np.int64)


def _aggregate(res: TraceResult, facts: Facts | None = None) -> None:
    """Per (account, victim) and per account figures from the movements and pieces (see :func:`kernels.aggregate`)."""
    src, dst, leave, arr, sink, p_acc = facts if facts is not None else _facts(res)
    (res.h_account, res.h_victim, res.h_level, res.h_in, res.h_out, res.h_cashed, res.h_held, res.a_account,
     res.a_in, res.a_out, res.a_cashed, res.a_held, res.a_victims, res.a_level_min, res.a_level_max,
     res.a_first_in, res.a_last_out, res.a_pool, _) = kernels.aggregate(
        np.ascontiguousarray(src, np.int64), np.ascontiguousarray(dst, np.int64), np.ascontiguousarray(leave, np.int64),
        np.ascontiguousarray(arr, np.int64), np.ascontiguousarray(sink, np.bool_), res.ledger.acct_flags,
        max(len(res.victims), 1), res.ledger.n_rows,
        *(np.ascontiguousarray(a, np.int64) for a in (res.e_victim, res.e_row)),
        np.ascontiguousarray(res.e_taint, np.float64), np.ascontiguousarray(res.e_level, np.int64),
        np.ascontiguousarray(res.e_status, np.int64),
        *(np.ascontiguousarray(a, np.int64) for a in (res.seed_victim, res.seed_row, p_acc, res.p_out_row,
                                                       res.p_victim)),
        np.ascontiguousarray(res.p_amount, np.float64))


def _check_params(policy: str, max_levels: int, min_amount: float) -> None:
    if policy not in kernels.POLICIES:
        raise TraceError(f"unknown policy {policy!r}; choose one of {', '.join(sorted(kernels.POLICIES))}")
    if max_levels < 1:
        raise TraceError("max_levels must be at least 1")
    if min_amount < 0:
        raise TraceError("min_amount cannot be negative")


def trace(ledger: LedgerIndex, seeds: Sequence[Seed], policy: str = "fifo", max_levels: int = 15,
          horizon: datetime | int | None = None, min_amount: float = 100.0) -> TraceResult:
    """Follow the victims' money forward through the ledger (see docs/tracing.md).

    ``horizon``: only movements up to this time are used ("now" for balances held).
    ``min_amount``: tainted movements carrying fewer cents are recorded but not followed.
    """
    _check_params(policy, max_levels, min_amount)
    h = _ms(horizon, "horizon")
    hz = NO_HORIZON if h is None else h
    victims, sv, se, sx = resolve_seeds(ledger, seeds)
    out = kernels.run(ledger, policy, max_levels, hz, min_amount, se, sx, np.ones(se.size, np.int64), sv)
    (r_v, r_e, r_t, r_l, r_s, q_v, q_i, _q_o, q_a, r_src, r_row, r_dst, r_leave, r_arr, r_sink, q_irow, q_orow,
     q_acc, loads) = out
    res = TraceResult(
        ledger=ledger, policy=policy, max_levels=max_levels, horizon=hz, min_amount=min_amount, victims=victims,
        seed_victim=sv, seed_row=ledger.row[se].astype(np.int64), seed_taint=sx,
        e_victim=r_v, e_row=r_row, e_taint=r_t, e_level=r_l, e_status=r_s,
        p_victim=q_v, p_in_row=q_irow, p_out_row=q_orow, p_amount=q_a,
        e_pos=r_e, e_src=r_src, p_in_pos=q_i,
    )
    res.stats = {"accounts_loaded": int(loads)}
    _aggregate(res, (r_src, r_dst, r_leave, r_arr, r_sink, q_acc))
    return res


def _out_key(ledger: LedgerIndex, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = ledger.positions_of_rows(rows)
    return ledger.time[np.maximum(pos, 0)], np.asarray(rows, np.int64)


def _before(t: np.ndarray, r: np.ndarray, k0: tuple[int, int]) -> np.ndarray:
    return (t < k0[0]) | ((t == k0[0]) & (r < k0[1]))


@dataclass
class Extension:
    """An extended trace and the accounts it newly reaches (the next level's stop-payment targets)."""

    result: TraceResult
    new_accounts: list[str]
    reallocated_accounts: int


def extend(result: TraceResult, statement_rows: pa.Table) -> Extension:
    """Continue a trace with one account's statement rows (what a bank desk returns), incrementally.

    Every tainted movement that left before the earliest new row is final (allocations are
    causal) and kept; only accounts with movements at or after it are re-allocated, and the
    money is followed on from there. The result equals a full re-trace on the grown ledger.
    """
    old = result.ledger
    ledger, new_rows = old.add_statement_rows(statement_rows)
    if new_rows.size == 0:
        return Extension(result, [], 0)
    placed = ledger.positions_of_rows(new_rows) >= 0  # absorbed payout legs count through their joined movement
    t_new, r_new = _out_key(ledger, new_rows[placed])
    joined_now = np.setdiff1d(ledger.row[ledger.tp_pos], old.row[old.tp_pos]) if ledger.tp_pos.size else \
        np.zeros(0, np.int64)
    cand_t = np.concatenate([t_new, ledger.time[ledger.positions_of_rows(joined_now)]])
    cand_r = np.concatenate([r_new, joined_now.astype(np.int64)])
    i = np.lexsort((cand_r, cand_t))[0]
    k0 = (int(cand_t[i]), int(cand_r[i]))
    # Accounts with any movement at or after k0 must be re-allocated.
    e_t, e_r = _out_key(ledger, result.e_row)
    kept = _before(e_t, e_r, k0)
    pos = ledger.positions_of_rows(result.e_row)
    recv = ledger.dst[pos].astype(np.int64)
    n = ledger.n_accounts
    last_out_t = np.full(n, np.iinfo(np.int64).min)
    last_out_r = np.full(n, -1, np.int64)
    has_out = np.diff(ledger.out_off) > 0
    lo = ledger.out_off[1:][has_out] - 1
    last_out_t[has_out] = ledger.time[lo]
    last_out_r[has_out] = ledger.row[lo]
    active = ~_before(last_out_t, last_out_r, k0) & has_out
    has_in = np.diff(ledger.in_off) > 0
    li = ledger.in_pos[ledger.in_off[1:][has_in] - 1]
    in_t, in_r = ledger.time[li].copy(), ledger.row[li].astype(np.int64)
    if ledger.tp_pos.size:
        k = np.minimum(np.searchsorted(ledger.tp_pos, li), ledger.tp_pos.size - 1)
        hit = ledger.tp_pos[k] == li
        in_t[hit], in_r[hit] = ledger.tp_time[k[hit]], ledger.tp_row[k[hit]]
    active[np.flatnonzero(has_in)[~_before(in_t, in_r, k0)]] = True
    redo = kept & (result.e_status == FOLLOWED) & (recv >= 0) & active[np.maximum(recv, 0)]
    s_t, s_r = _out_key(ledger, result.seed_row)
    seed_late = ~_before(s_t, s_r, k0)
    init_e = np.concatenate([pos[redo], ledger.positions_of_rows(result.seed_row[seed_late])])
    init_x = np.concatenate([result.e_taint[redo], result.seed_taint[seed_late]])
    init_l = np.concatenate([result.e_level[redo], np.ones(int(seed_late.sum()), np.int64)])
    init_v = np.concatenate([result.e_victim[redo], result.seed_victim[seed_late]])
    out: Any
    if init_e.size:
        out = kernels.run(ledger, result.policy, result.max_levels, result.horizon, result.min_amount,
                          init_e, init_x, init_l, init_v, k0=k0)
    else:
        z = np.zeros(0, np.int64)
        out = (z, z, np.zeros(0), z, z, z, z, z, np.zeros(0), z, z, z, z, z, np.zeros(0, bool), z, z, z, 0)
    r_v, r_e, r_t, r_l, r_s, q_v, q_i, _q_o, q_a, r_src, r_row, _, _, _, _, q_irow, q_orow, _, loads = out
    fresh = ~_before(ledger.time[r_e], r_row, k0)
    redone_in = set((result.e_victim[redo] * (ledger.n_rows + 1) + result.e_row[redo]).tolist())
    p_key = result.p_victim * (ledger.n_rows + 1) + result.p_in_row
    pi_t, pi_r = _out_key(ledger, result.p_in_row)
    keep_p = _before(pi_t, pi_r, k0) & ~np.isin(p_key, np.fromiter(redone_in, np.int64, len(redone_in)))
    res = TraceResult(
        ledger=ledger, policy=result.policy, max_levels=result.max_levels, horizon=result.horizon,
        min_amount=result.min_amount, victims=result.victims, seed_victim=result.seed_victim,
        seed_row=result.seed_row, seed_taint=result.seed_taint,
        e_victim=np.concatenate([result.e_victim[kept], r_v[fresh]]),
        e_row=np.concatenate([result.e_row[kept], r_row[fresh]]),
        e_taint=np.concatenate([result.e_taint[kept], r_t[fresh]]),
        e_level=np.concatenate([result.e_level[kept], r_l[fresh]]),
        e_status=np.concatenate([result.e_status[kept], r_s[fresh]]),
        p_victim=np.concatenate([result.p_victim[keep_p], q_v]),
        p_in_row=np.concatenate([result.p_in_row[keep_p], q_irow]),
        p_out_row=np.concatenate([result.p_out_row[keep_p], q_orow]),
        p_amount=np.concatenate([result.p_amount[keep_p], q_a]),
        e_pos=np.concatenate([pos[kept], r_e[fresh]]),
        e_src=np.concatenate([ledger.src_of(pos[kept]), r_src[fresh]]),
        p_in_pos=np.concatenate([ledger.positions_of_rows(result.p_in_row[keep_p]), q_i]),
    )
    res.stats = {"accounts_loaded": int(loads), "incremental_from_ms": k0[0]}
    _aggregate(res)
    before = set(result.a_account.tolist())
    new = [int(a) for a in res.a_account if int(a) not in before]
    return Extension(res, res.account_ids(np.array(new, np.int64)), int(loads))


def channel_name(code: int) -> str:
    return CHANNEL_CODES[code].value


def is_cash_out(channel: str) -> bool:
    return Channel(channel).is_cash_out


def warm_up() -> None:
    """Compile (or load from numba's cache) the index and trace kernels on a two-row ledger.

    A fresh install compiles them on first use (~15 s on this machine); a service calls
    this at start-up so that the first desk result with statement rows is not charged.
    """
    ledger = LedgerIndex.from_arrow(pa.table({
        "transfer_id": ["w1", "w2"], "time": pa.array([1_000, 2_000], pa.timestamp("ms", tz="UTC")),
        "from_account": ["V", "M"], "to_account": ["M", "N"], "amount_cents": pa.array([100, 50], pa.int64()),
        "channel": ["bank", "bank"], "order_no": [None, None],
    }))
    trace(ledger, [Seed(victim="warm-up", transfer_id="w1")])
