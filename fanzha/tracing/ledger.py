"""Ledger index (资金流水索引): every movement of money as compact numpy columns.

Why this shape: tracing a case must answer in milliseconds on tens of millions of
transfers, so the index holds no Python object per row. Account ids are dictionary-encoded
to int32; each account's outgoing movements sit contiguously (CSR), sorted by
``(time, row)``, one packed 25-byte record per movement (``time``, ``amount``, ``dst``, ``row``,
``chan`` are views of it); a second CSR lists each account's incoming movements by arrival. Times and
amounts are int64 (ms UTC, cents).

Third-party payments (第三方支付) arrive as two rows sharing an ``order_no``: payer → the
platform's pooled account and pool → receiving card. The index joins them through the
order number into one movement payer → card (leaving at the first leg's time, arriving at
the second's), so a trace never spreads taint over a pool that millions of people use. A
leg whose partner is missing stays pointed at the pool; tracing stops there and reports
the order to resolve with the platform.

What is an error and what is flagged: a ledger missing a required column, or with a time
column that is not a time, is refused (:class:`LedgerError`). Row-level problems do not
stop the center: non-positive or missing amounts, missing sender or time, self-transfers
and repeated transfer ids are dropped; unknown channels are read as bank transfers; a
missing receiver on a non-cash-out channel is treated as money leaving the ledger. Each is
counted in :attr:`LedgerIndex.flags` with examples, so nothing is silently wrong. Unsorted
input is sorted (and noted).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fanzha.contracts.vocab import Channel
from fanzha.tracing.build import MOVE_DTYPE, argsort_distinct, csr, order_legs, pair_legs, repeated_strings

REQUIRED = ("time", "from_account", "to_account", "amount_cents", "channel")
OPTIONAL = ("transfer_id", "order_no")
CHANNEL_CODES: tuple[Channel, ...] = (
    Channel.BANK, Channel.THIRD_PARTY, Channel.ATM, Channel.ABROAD, Channel.CRYPTO_OTC,
)
CH_BANK, CH_THIRD_PARTY = 0, 1
SINK_MIN = 2  # channel codes >= this are cash-out sinks (取现/境外/虚拟币)
POOL_FLAG = np.uint8(1)
POOL_PATTERN = r"^TP-.+-POOL$"
POOL_PREFIX = "TP-"  # every match of POOL_PATTERN starts with it
MAX_EXAMPLES = 20


class LedgerError(ValueError):
    """The ledger cannot be indexed as given (missing columns, wrong types)."""


@dataclass
class LedgerFlags:
    """Rows dropped or reinterpreted while indexing, by reason, with a few examples each."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, mask: np.ndarray, labels: pa.Array | None, rows: np.ndarray) -> None:
        n = int(mask.sum())
        if not n:
            return
        self.counts[reason] = self.counts.get(reason, 0) + n
        idx = np.flatnonzero(mask)[:MAX_EXAMPLES]
        if labels is not None:
            ex = [str(v) for v in labels.take(pa.array(idx)).to_pylist()]
        else:
            ex = [f"row {int(r)}" for r in rows[idx]]
        self.examples.setdefault(reason, []).extend(ex)
        self.examples[reason] = self.examples[reason][:MAX_EXAMPLES]

    def note(self, reason: str, count: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + count

    def as_dict(self) -> dict[str, object]:
        return {"counts": dict(self.counts), "examples": {k: list(v) for k, v in self.examples.items()}}


@numba.njit(cache=True)
def _sorted_by_time_row(time: np.ndarray, row: np.ndarray) -> bool:
    """Whether movements are already in (time, row) order (one pass, no temporaries)."""
    for i in range(1, time.size):  # noqa: SIM110 (numba)
        if time[i] < time[i - 1] or row[i] < row[i - 1]:
            return False
    return True


@numba.njit(cache=True)
def _fnv(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """64-bit FNV-1a hash of each string of an Arrow string array (offsets + bytes)."""
    n = offsets.size - 1
    out = np.empty(n, np.uint64)
    for i in range(n):
        h = np.uint64(14695981039346656037)
        for j in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[j])) * np.uint64(1099511628211)
        out[i] = h
    return out


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and bytes of a (non-large) string array, zero-copy where possible."""
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    if arr.offset:
        arr = pa.concat_arrays([arr])
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], np.int32, count=len(arr) + 1)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return offsets, data  # int32 offsets as they are: a 10M-row int64 copy costs more than it saves


def _single(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array for a column; a single chunk is used as it is (combining copies every buffer)."""
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def _numbers(arr: pa.Array, fill: int) -> np.ndarray:
    """int64 values of an integer or timestamp array, nulls as ``fill``; zero-copy when there are none."""
    if pa.types.is_timestamp(arr.type):
        arr = arr.view(pa.int64())
    elif arr.type != pa.int64():
        arr = arr.cast(pa.int64())
    if arr.null_count:
        arr = pc.fill_null(arr, fill)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _null_as(values: np.ndarray, vbits: np.ndarray, voff: int, out: np.ndarray) -> None:
    """``values`` into int32 ``out``, -1 where the Arrow validity bitmap ``vbits`` (from bit ``voff``) says
    null: one pass, where ``pc.fill_null`` and the conversion took ~25 ms on 10M codes. Large outputs are
    allocated by numpy, which asks for huge pages (numba's own allocations fault in 4 kB pages)."""
    for i in range(values.size):
        out[i] = values[i] if (vbits[(i + voff) >> 3] >> ((i + voff) & 7)) & 1 else -1


def _codes(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Dictionary codes (-1 = null) and the dictionary of a string column."""
    arr = _single(col)
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    idx = arr.indices
    if idx.null_count == 0:
        codes = idx.to_numpy(zero_copy_only=False)
    else:
        bufs = idx.buffers()
        dt = np.dtype(f"{'u' if pa.types.is_unsigned_integer(idx.type) else ''}int{idx.type.bit_width}")
        values = np.frombuffer(bufs[1], dt)[idx.offset: idx.offset + len(idx)]
        codes = np.empty(len(idx), np.int32)
        _null_as(values, np.frombuffer(bufs[0], np.uint8), idx.offset, codes)
    return codes.astype(np.int32, copy=False), arr.dictionary.cast(pa.string())


def _accounts(frm: pa.ChunkedArray | pa.Array, to: pa.ChunkedArray | pa.Array) -> tuple[
        np.ndarray, np.ndarray, pa.Array]:
    """One shared dictionary of account ids for sender and receiver columns."""
    fa = _single(frm)
    ta = _single(to)
    if pa.types.is_dictionary(fa.type) and pa.types.is_dictionary(ta.type) and (
            fa.dictionary is ta.dictionary or fa.dictionary.equals(ta.dictionary)):
        f, d = _codes(fa)
        t, _ = _codes(ta)
        return f, t, d
    if pa.types.is_dictionary(fa.type):
        fa = fa.cast(pa.string())
    if pa.types.is_dictionary(ta.type):
        ta = ta.cast(pa.string())
    both = pc.dictionary_encode(pa.chunked_array([fa.cast(pa.string()), ta.cast(pa.string())]))
    codes = pa.chunked_array(both.chunks).combine_chunks() if isinstance(both, pa.ChunkedArray) else both
    allc, d = _codes(codes)
    return allc[: len(fa)], allc[len(fa):], d


def _times(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    t = col.type
    if pa.types.is_timestamp(t):
        if t.unit != "ms":
            col = pc.cast(col, pa.timestamp("ms", tz=t.tz))
    elif not pa.types.is_integer(t):
        raise LedgerError(f"column 'time' must be a timestamp (or int64 ms since epoch), got {t}")
    return _numbers(_single(col), np.iinfo(np.int64).min)


@numba.njit(cache=True)
def _lookup_codes(codes: np.ndarray, table: np.ndarray, unknown: np.ndarray, out: np.ndarray) -> int:
    """Channel code per row into ``out`` from dictionary codes (-1 = null); how many rows were unknown or
    null (their mask is only built when there are any)."""
    n_bad = 0
    for i in range(codes.size):
        k = codes[i]
        if k < 0:
            out[i] = table[0]
            n_bad += 1
        else:
            out[i] = table[k]
            n_bad += unknown[k]
    return n_bad


@numba.njit(cache=True, nogil=True)
def _any_problem(amount: np.ndarray, time: np.ndarray, src: np.ndarray, dst: np.ndarray, chan: np.ndarray,
                 sink_min: int) -> tuple[bool, bool]:
    """Whether any row is to be dropped or flagged and, if none is, whether times never decrease (one
    pass; the usual clean, time-sorted ledger then skips the masks and the separate order check)."""
    t_null = np.iinfo(np.int64).min
    in_order = True
    for i in range(amount.size):
        s = src[i]
        d = dst[i]
        if amount[i] <= 0 or s < 0 or time[i] == t_null or s == d or (d < 0 and chan[i] < sink_min):
            return True, False
        if i and time[i] < time[i - 1]:
            in_order = False
    return False, in_order


def _channels(col: pa.ChunkedArray | pa.Array, flags: LedgerFlags, rows: np.ndarray) -> np.ndarray:
    codes, dic = _codes(col)
    table = np.zeros(max(len(dic), 1), np.int8)
    unknown = np.zeros(max(len(dic), 1), np.bool_)
    known = {c.value: i for i, c in enumerate(CHANNEL_CODES)}
    for i, v in enumerate(dic.to_pylist()):
        if v in known:
            table[i] = known[v]
        else:
            unknown[i] = True
    out = np.empty(codes.size, np.int8)
    if _lookup_codes(codes, table, unknown, out):
        bad = (codes < 0) | unknown[np.maximum(codes, 0)]
        flags.add("unknown channel, read as bank", bad, None, rows)
    return out


@dataclass
class _Columns:
    """Normalised numeric columns (one entry per movement) before CSR placement."""

    src: np.ndarray
    dst: np.ndarray
    time: np.ndarray
    amount: np.ndarray
    chan: np.ndarray
    row: np.ndarray
    order: pa.Array | None  # order numbers aligned with rows (null where none)
    in_order: bool = False  # known to be in (time, row) order already


class LedgerIndex:
    """Compact, immutable-by-convention index of a ledger; see the module docstring.

    Arrays (``m`` movements, ``n`` accounts): ``out_off`` (n+1), ``dst``/``time``/``amount``/
    ``chan``/``row`` (m, by sender then time), ``in_off`` (n+1) and ``in_pos`` (m', positions
    of movements by receiver then arrival), and the third-party side table ``tp_*`` for
    movements joined through an order number.
    """

    def __init__(self) -> None:
        self.accounts: pa.Array = pa.array([], pa.string())
        self.out_off = np.zeros(1, np.int64)
        self._set_moves(np.zeros(0, MOVE_DTYPE))
        self.in_off = np.zeros(1, np.int64)
        self.in_pos = np.zeros(0, np.int32)
        self.tp_pos = np.zeros(0, np.int64)
        self.tp_time = np.zeros(0, np.int64)
        self.tp_row = np.zeros(0, np.int32)
        self.tp_pool = np.zeros(0, np.int32)
        self.tp_order: pa.Array = pa.array([], pa.string())
        self.open_rows = np.zeros(0, np.int32)  # unmatched third-party legs: rows and their order numbers
        self.open_order: pa.Array = pa.array([], pa.string())
        self.acct_flags = np.zeros(0, np.uint8)
        self.transfer_ids: pa.Array | None = None  # by row, kept for explanations and de-duplication
        self.institution: pa.Array | None = None  # by account code, from an accounts table
        self.n_rows = 0
        self.input_sorted = True
        self.flags = LedgerFlags()
        self._tid_hash: np.ndarray | None = None  # lazy transfer-id lookup (not part of the index proper)
        self._tid_pos: np.ndarray | None = None
        self._tid_row: np.ndarray | None = None
        self._tid_found = np.zeros(0, bool)

    def _set_moves(self, moves: np.ndarray) -> None:
        """Movement columns as views of one packed record per movement (see :data:`MOVE_DTYPE`)."""
        self.moves = moves
        self.dst: np.ndarray = moves["dst"]
        self.time: np.ndarray = moves["time"]
        self.amount: np.ndarray = moves["amount"]
        self.chan: np.ndarray = moves["chan"]
        self.row: np.ndarray = moves["row"]

    # ---- construction ---------------------------------------------------------------
    @classmethod
    def from_arrow(cls, table: pa.Table, accounts: pa.Table | None = None,
                   pool_accounts: Iterable[str] = ()) -> LedgerIndex:
        """Index a transfers table in the contract's column names (string or dictionary columns)."""
        missing = [c for c in REQUIRED if c not in table.column_names]
        if missing:
            raise LedgerError(f"ledger is missing required column(s): {', '.join(missing)}"
                              f" (has: {', '.join(table.column_names)})")
        idx = cls()
        cols, acct_dict = idx._normalise(table, 0)
        idx.accounts = acct_dict
        tid = table.column("transfer_id") if "transfer_id" in table.column_names else None
        if tid is not None:
            tid_arr = _single(tid)
            idx.transfer_ids = tid_arr.cast(pa.string()) if pa.types.is_dictionary(tid_arr.type) else tid_arr
            cols = idx._drop_duplicate_ids(cols, idx.transfer_ids)
        idx.n_rows = table.num_rows
        idx._set_pools(pool_accounts, accounts)
        idx._place(cols)
        if accounts is not None:
            idx.attach_accounts(accounts)
        return idx

    @classmethod
    def from_parquet(cls, path: str | Path, accounts: pa.Table | None = None,
                     pool_accounts: Iterable[str] = ()) -> LedgerIndex:
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.exists():
            raise LedgerError(f"no such ledger file: {path}")
        schema = pq.read_schema(path)
        want = [c for c in (*REQUIRED, *OPTIONAL) if c in schema.names]
        table = pq.read_table(path, columns=want,
                              read_dictionary=[c for c in ("from_account", "to_account", "channel", "order_no")
                                               if c in want])
        return cls.from_arrow(table, accounts, pool_accounts)

    @classmethod
    def from_csv(cls, path: str | Path, accounts: pa.Table | None = None,
                 pool_accounts: Iterable[str] = ()) -> LedgerIndex:
        """A CSV in the contract's columns (``time`` ISO 8601 with offset, amounts in cents)."""
        import pyarrow.csv as pcsv

        path = Path(path)
        if not path.exists():
            raise LedgerError(f"no such ledger file: {path}")
        types = {"time": pa.timestamp("ms", tz="UTC"), "amount_cents": pa.int64(), "from_account": pa.string(),
                 "to_account": pa.string(), "channel": pa.string(), "order_no": pa.string(),
                 "transfer_id": pa.string()}
        try:
            table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
                column_types=types, strings_can_be_null=True))
        except pa.ArrowInvalid as exc:
            raise LedgerError(f"cannot read ledger CSV {path}: {exc}") from None
        return cls.from_arrow(table, accounts, pool_accounts)

    @classmethod
    def load(cls, path: str | Path, accounts: pa.Table | None = None) -> LedgerIndex:
        """Parquet or CSV by extension."""
        p = Path(path)
        return cls.from_csv(p, accounts) if p.suffix.lower() in {".csv", ".txt"} else cls.from_parquet(p, accounts)

    def _normalise(self, table: pa.Table, row0: int, known: pa.Array | None = None) -> tuple[_Columns, pa.Array]:
        n = table.num_rows
        rows = np.arange(row0, row0 + n, dtype=np.int32)
        flags = self.flags
        amt_col = table.column("amount_cents")
        if not pa.types.is_integer(amt_col.type):
            if pa.types.is_floating(amt_col.type) or pa.types.is_decimal(amt_col.type):
                raise LedgerError("column 'amount_cents' must hold integer cents (分), not "
                                  f"{amt_col.type}; convert yuan with the importers")
            raise LedgerError(f"column 'amount_cents' must be int64 cents, got {amt_col.type}")
        amount = _numbers(_single(amt_col), 0)
        time = _times(table.column("time"))
        frm, to = table.column("from_account"), table.column("to_account")
        if known is None:
            src, dst, dic = _accounts(frm, to)
        else:
            src, dst, dic = self._extend_accounts(frm, to, known)
        chan = _channels(table.column("channel"), flags, rows)
        tids = None
        if "transfer_id" in table.column_names:
            tids = _single(table.column("transfer_id"))
        order = None
        if "order_no" in table.column_names:
            order = _single(table.column("order_no"))  # dictionary arrays stay coded
        problem, in_order = _any_problem(amount, time, src, dst, chan, SINK_MIN)
        if not problem:  # rows are increasing, so time order is (time, row) order
            return _Columns(src, dst, time, amount, chan, rows, order, in_order), dic
        bad_amount = amount <= 0
        flags.add("non-positive or missing amount", bad_amount, tids, rows)
        no_src = src < 0
        flags.add("missing sender account", no_src & ~bad_amount, tids, rows)
        no_time = time == np.iinfo(np.int64).min
        flags.add("missing time", no_time & ~bad_amount & ~no_src, tids, rows)
        selfx = (src == dst) & ~no_src
        flags.add("self-transfer (no movement)", selfx & ~bad_amount & ~no_time, tids, rows)
        no_dst = (dst < 0) & (chan < SINK_MIN)
        flags.add("no receiver on a non-cash-out channel: treated as leaving the ledger", no_dst, tids, rows)
        keep = ~(bad_amount | no_src | no_time | selfx)
        if not keep.all():
            k = np.flatnonzero(keep)
            cols = _Columns(src[k], dst[k], time[k], amount[k], chan[k], rows[k],
                            order.take(pa.array(k)) if order is not None else None)
        else:
            cols = _Columns(src, dst, time, amount, chan, rows, order)
        return cols, dic

    def _extend_accounts(self, frm: pa.ChunkedArray, to: pa.ChunkedArray, known: pa.Array) -> tuple[
            np.ndarray, np.ndarray, pa.Array]:
        f_codes, t_codes, dic = _accounts(frm, to)
        pos_arr = pc.fill_null(pc.index_in(dic, value_set=known), -1).to_numpy().astype(np.int64)
        new = np.flatnonzero(pos_arr < 0)
        pos_arr[new] = len(known) + np.arange(new.size)
        merged = pa.concat_arrays([known, dic.take(pa.array(new))]) if new.size else known
        remap = pos_arr.astype(np.int32)

        def m(c: np.ndarray) -> np.ndarray:
            return np.where(c >= 0, remap[np.maximum(c, 0)], -1).astype(np.int32)

        return m(f_codes), m(t_codes), merged

    def _drop_duplicate_ids(self, cols: _Columns, tids: pa.Array) -> _Columns:
        """Repeated transfer ids keep their first row (banks re-send statement rows)."""
        if tids.null_count == len(tids) or len(tids) == 0:
            return cols
        offsets, data = _string_buffers(tids)
        valid = pc.is_valid(tids).to_numpy(zero_copy_only=False) if tids.null_count else np.zeros(0, bool)
        repeated = repeated_strings(offsets, data, valid)
        if not repeated.size:
            return cols
        first = np.ones(len(tids), bool)
        first[repeated] = False
        dup = ~first[cols.row]
        if dup.any():
            self.flags.add("repeated transfer id (kept the first row)", dup, None, cols.row)
            k = np.flatnonzero(~dup)
            cols = _Columns(cols.src[k], cols.dst[k], cols.time[k], cols.amount[k], cols.chan[k], cols.row[k],
                            cols.order.take(pa.array(k)) if cols.order is not None else None, cols.in_order)
        return cols

    def _set_pools(self, pool_accounts: Iterable[str], accounts: pa.Table | None) -> None:
        n = len(self.accounts)
        flags = np.zeros(n, np.uint8)
        if n:
            # the regex only on ids with its literal prefix: a prefix test is several times cheaper
            cand = np.flatnonzero(pc.starts_with(self.accounts, POOL_PREFIX).to_numpy(zero_copy_only=False))
            if cand.size:
                hit = pc.match_substring_regex(self.accounts.take(pa.array(cand)), POOL_PATTERN)
                flags[cand[hit.to_numpy(zero_copy_only=False)]] |= POOL_FLAG
        extra = list(pool_accounts)
        if accounts is not None and "kind" in accounts.column_names and "account_id" in accounts.column_names:
            tp = accounts.filter(pc.equal(accounts.column("kind"), "third_party")).column("account_id")
            extra.extend(v for v in tp.to_pylist() if v)
        if extra:
            pos = pc.index_in(self.accounts, value_set=pa.array(extra, pa.string()))
            flags[pc.is_valid(pos).to_numpy(zero_copy_only=False)] |= POOL_FLAG
        self.acct_flags = flags

    # ---- CSR placement ----------------------------------------------------------------
    def _join_orders(self, c: _Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 np.ndarray]:
        """Pair payer→pool and pool→card legs sharing an order number; returns the joins and open legs.

        Returns (first-leg index, second-leg index, pool code, arrival time, card code, open-leg indices);
        the joins are in the second legs' row order.
        """
        empty = np.zeros(0, np.int64)
        if c.order is None or not len(c.order):
            return empty, empty, empty, empty, empty, empty
        pool = self.acct_flags
        bitmap = c.order.buffers()[0] if c.order.null_count else None
        vbits = np.frombuffer(bitmap, np.uint8) if bitmap is not None else np.zeros(0, np.uint8)
        leg_in, leg_out = order_legs(c.src, c.dst, c.chan, pool, vbits, c.order.offset, CH_THIRD_PARTY)
        if not leg_in.size and not leg_out.size:
            return empty, empty, empty, empty, empty, empty
        legs = np.concatenate([leg_in, leg_out])
        leg_orders = c.order.take(pa.array(legs))
        dic = leg_orders.dictionary if pa.types.is_dictionary(leg_orders.type) else None
        if dic is not None and not dic.null_count and not repeated_strings(
                *_string_buffers(dic), np.zeros(0, bool)).size:
            # A dictionary without repeated values (the usual case) already gives the codes; checking
            # that is cheaper than re-encoding it.
            code = leg_orders.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            nc = len(dic)
        elif dic is not None:
            # Equal order numbers must share a code even if the dictionary repeats a value.
            canon = pc.dictionary_encode(leg_orders.dictionary.cast(pa.string()))
            code = canon.indices.to_numpy(zero_copy_only=False).astype(np.int64)[
                leg_orders.indices.to_numpy(zero_copy_only=False)]
            nc = len(canon.dictionary)
        else:
            enc = pc.dictionary_encode(leg_orders)
            code = enc.indices.to_numpy().astype(np.int64)
            nc = len(enc.dictionary)
        ci, co = code[: leg_in.size], code[leg_in.size:]
        f, s, pcode, same, late, t_arr, card, multi = pair_legs(ci, co, leg_in, leg_out, nc, c.amount, c.dst, c.src,
                                                                c.time)
        for reason, mask in (("third-party order legs with different amounts or pools (not joined)", ~same),
                             ("third-party payout before payment (joined at the later time)", late)):
            if mask.any():  # examples in order-number order, as they always were
                k = np.flatnonzero(mask)
                k = k[np.argsort(pcode[k], kind="stable")]
                self.flags.add(reason, np.ones(k.size, bool), None, c.row[f[k]])
        f, s, t_arr, card = f[same], s[same], t_arr[same], card[same]
        if multi:
            self.flags.note("third-party orders with more than two legs (not joined)", int(multi))
        joined = np.zeros(nc, bool)
        joined[pcode[same]] = True
        open_legs = legs[~joined[code]]
        return f, s, c.dst[f].astype(np.int64), t_arr, card, open_legs

    def _place(self, c: _Columns) -> None:
        n_acc = len(self.accounts)
        if self.acct_flags.size < n_acc:
            self.acct_flags = np.concatenate([self.acct_flags, np.zeros(n_acc - self.acct_flags.size, np.uint8)])
        # Time order (stable, so equal times keep row order): (time, row) is every movement's key.
        if c.time.size > 1 and not c.in_order and not _sorted_by_time_row(c.time, c.row):
            o = np.lexsort((c.row, c.time))
            self.input_sorted = False
            c = _Columns(c.src[o], c.dst[o], c.time[o], c.amount[o], c.chan[o], c.row[o],
                         c.order.take(pa.array(o)) if c.order is not None else None)
        f, s, pool, late_t, card, open_legs = self._join_orders(c)
        kind = np.zeros(c.src.size, np.uint8)  # 1 = joined payment (arrives at its payout), 2 = absorbed payout
        dst = c.dst
        if f.size:
            dst = c.dst.copy()
            dst[f] = card
            kind[f] = 1
            kind[s] = 2
        # Incoming CSR by arrival: the time order, with joined payments moved to their payout time.
        late_r = c.row[s].astype(np.int64)
        # The joins come in payout row order, which is arrival order unless a payout preceded its payment.
        by_arr = np.lexsort((late_r, late_t)) if (late_t != c.time[s]).any() else None
        if by_arr is None:
            self.out_off, moves, tp_slot, self.in_off, self.in_pos = csr(
                c.src, dst, c.time, c.amount, c.chan, c.row, kind, f, late_t, late_r, n_acc)
        else:
            self.out_off, moves, late_slot, self.in_off, self.in_pos = csr(
                c.src, dst, c.time, c.amount, c.chan, c.row, kind, f[by_arr], late_t[by_arr], late_r[by_arr],
                n_acc)
            tp_slot = np.empty(f.size, np.int32)
            tp_slot[by_arr] = late_slot
        self._set_moves(moves)
        if f.size:
            o = argsort_distinct(tp_slot.astype(np.int64))
            self.tp_pos = tp_slot[o].astype(np.int64)
            self.tp_time = late_t[o]
            self.tp_row = late_r[o].astype(np.int32)
            self.tp_pool = pool[o].astype(np.int32)
            self.tp_order = (c.order.take(pa.array(f[o])).cast(pa.string()) if c.order is not None
                             else pa.array([], pa.string()))
        else:
            self.tp_pos = np.zeros(0, np.int64)
            self.tp_time = np.zeros(0, np.int64)
            self.tp_row = np.zeros(0, np.int32)
            self.tp_pool = np.zeros(0, np.int32)
            self.tp_order = pa.array([], pa.string())
        if open_legs.size and c.order is not None:
            self.open_rows = c.row[open_legs].astype(np.int32)
            self.open_order = c.order.take(pa.array(open_legs)).cast(pa.string())
            self.flags.counts["third-party legs without their partner (order to resolve)"] = int(open_legs.size)
        else:
            self.open_rows = np.zeros(0, np.int32)
            self.open_order = pa.array([], pa.string())

    # ---- incremental rows -----------------------------------------------------------
    def _columns(self) -> _Columns:
        """The index back as movement columns (joined third-party legs split again)."""
        n_acc = len(self.accounts)
        src = np.repeat(np.arange(n_acc, dtype=np.int32), np.diff(self.out_off))
        dst = self.dst.copy()
        time, amount, chan, row = self.time, self.amount, self.chan, self.row
        if self.tp_pos.size:
            p = self.tp_pos
            dst[p] = self.tp_pool
            src2 = self.tp_pool.astype(np.int32)
            src = np.concatenate([src, src2])
            dst = np.concatenate([dst, self.dst[p]])
            time = np.concatenate([time, self.tp_time])
            amount = np.concatenate([amount, self.amount[p]])
            chan = np.concatenate([chan, np.full(p.size, CH_THIRD_PARTY, np.int8)])
            row = np.concatenate([row, self.tp_row])
        rows_with_order = np.concatenate([self.row[self.tp_pos], self.tp_row, self.open_rows])
        orders = pa.concat_arrays([self.tp_order.cast(pa.string()), self.tp_order.cast(pa.string()),
                                   self.open_order.cast(pa.string())])
        order = None
        if rows_with_order.size:
            lookup = np.full(self.n_rows, -1, np.int64)
            lookup[rows_with_order] = np.arange(rows_with_order.size)
            idx = lookup[row]
            order = orders.take(pa.array(idx, mask=idx < 0))
        o = np.lexsort((row, time))
        return _Columns(src[o], dst[o], time[o], amount[o], chan[o], row[o],
                        order.take(pa.array(o)) if order is not None else None)

    def add_statement_rows(self, rows: pa.Table) -> tuple[LedgerIndex, np.ndarray]:
        """A new index with a bank desk's statement rows added (流水回单), and the new row numbers.

        Rows already present (same transfer id) are skipped, so a statement may repeat rows
        the center already holds. Row numbers of existing movements do not change, which is
        what lets a :class:`~fanzha.tracing.trace.TraceResult` be extended in place.
        """
        missing = [c for c in REQUIRED if c not in rows.column_names]
        if missing:
            raise LedgerError(f"statement rows are missing required column(s): {', '.join(missing)}")
        new = LedgerIndex()
        new.flags = LedgerFlags(dict(self.flags.counts), {k: list(v) for k, v in self.flags.examples.items()})
        if self.transfer_ids is not None and "transfer_id" in rows.column_names:
            tids = rows.column("transfer_id").combine_chunks().cast(pa.string())
            seen = pc.is_in(tids, value_set=self.transfer_ids).to_numpy(zero_copy_only=False)
            if seen.any():
                new.flags.note("statement rows already in the ledger (skipped)", int(seen.sum()))
                rows = rows.filter(pa.array(~seen))
        cols_new, dic = new._normalise(rows, self.n_rows, known=self.accounts)
        new.accounts = dic
        new.acct_flags = self.acct_flags
        new._set_pools([], None)
        new.acct_flags |= np.concatenate([self.acct_flags, np.zeros(len(dic) - len(self.accounts), np.uint8)])
        old = self._columns()
        orders = None
        if old.order is not None or cols_new.order is not None:
            oo = old.order if old.order is not None else pa.nulls(old.src.size, pa.string())
            no = cols_new.order if cols_new.order is not None else pa.nulls(cols_new.src.size, pa.string())
            orders = pa.concat_arrays([oo.cast(pa.string()), no.cast(pa.string())])
        cols = _Columns(np.concatenate([old.src, cols_new.src]), np.concatenate([old.dst, cols_new.dst]),
                        np.concatenate([old.time, cols_new.time]), np.concatenate([old.amount, cols_new.amount]),
                        np.concatenate([old.chan, cols_new.chan]), np.concatenate([old.row, cols_new.row]), orders)
        if self.transfer_ids is not None:
            tid_new = (rows.column("transfer_id").combine_chunks().cast(pa.string())
                       if "transfer_id" in rows.column_names else pa.nulls(rows.num_rows, pa.string()))
            new.transfer_ids = pa.concat_arrays([self.transfer_ids.cast(pa.string()), tid_new])
        new.n_rows = self.n_rows + rows.num_rows
        new.institution = self.institution
        if self.institution is not None and len(dic) > len(self.institution):
            new.institution = pa.concat_arrays([self.institution,
                                                pa.nulls(len(dic) - len(self.institution), pa.string())])
        new._place(cols)
        new.input_sorted = self.input_sorted
        return new, cols_new.row

    # ---- lookups ----------------------------------------------------------------------
    def attach_accounts(self, accounts: pa.Table) -> None:
        """Institutions (bank or platform) by account, from an accounts table (ACCOUNTS schema)."""
        for c in ("account_id", "institution"):
            if c not in accounts.column_names:
                raise LedgerError(f"accounts table is missing column {c!r}")
        ids = accounts.column("account_id").combine_chunks().cast(pa.string())
        pos = pc.index_in(self.accounts, value_set=ids)
        inst = accounts.column("institution").combine_chunks().cast(pa.string())
        self.institution = inst.take(pos)

    def codes_of(self, ids: Sequence[str]) -> np.ndarray:
        """Account codes of ids (-1 where the ledger does not know the account)."""
        if not len(ids):
            return np.zeros(0, np.int64)
        pos = pc.index_in(pa.array(list(ids), pa.string()), value_set=self.accounts)
        return pc.fill_null(pos, -1).to_numpy().astype(np.int64)

    def positions_of_transfer_ids(self, ids: Sequence[str]) -> np.ndarray:
        """CSR positions of transfer ids (-1 where absent or dropped; a joined order's payout leg maps to
        its joined movement). The lookup (sorted 64-bit hashes) is built on first use and cached.
        """
        if self.transfer_ids is None:
            raise LedgerError("this ledger has no transfer_id column; give seeds as account, amount and time")
        if self._tid_hash is None:
            offsets, data = _string_buffers(self.transfer_ids)
            h = _fnv(offsets, data)
            pos_of_row = np.full(self.n_rows, -1, np.int64)
            pos_of_row[self.row] = np.arange(self.row.size)
            if self.tp_pos.size:
                pos_of_row[self.tp_row] = self.tp_pos
            o = np.argsort(h, kind="stable")
            self._tid_hash, self._tid_pos, self._tid_row = h[o], pos_of_row[o], o.astype(np.int64)
        q = pa.array(list(ids), pa.string())
        qo, qd = _string_buffers(q)
        qh = _fnv(qo, qd)
        out = np.full(len(q), -1, np.int64)
        found = np.zeros(len(q), bool)
        tid = self.transfer_ids
        assert self._tid_row is not None and self._tid_pos is not None
        for i, (hq, val) in enumerate(zip(qh.tolist(), q.to_pylist(), strict=True)):
            k = int(np.searchsorted(self._tid_hash, np.uint64(hq)))
            while k < self._tid_hash.size and int(self._tid_hash[k]) == hq:
                if tid[int(self._tid_row[k])].as_py() == val:
                    out[i] = self._tid_pos[k]
                    found[i] = True
                    break
                k += 1
        self._tid_found = found
        return out

    def has_transfer_ids(self, ids: Sequence[str]) -> np.ndarray:
        """Which transfer ids the ledger holds at all (even rows dropped while indexing are not held)."""
        self.positions_of_transfer_ids(ids)
        return self._tid_found

    def positions_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """CSR positions of movements by row number (-1 for rows not indexed or absorbed second legs)."""
        lookup = np.full(self.n_rows, -1, np.int64)
        lookup[self.row] = np.arange(self.row.size)
        r = np.asarray(rows, np.int64)
        ok = (r >= 0) & (r < self.n_rows)
        out = np.full(r.size, -1, np.int64)
        out[ok] = lookup[r[ok]]
        return out

    def src_of(self, pos: np.ndarray) -> np.ndarray:
        """Sender code of CSR positions (binary search in the offsets)."""
        return (np.searchsorted(self.out_off, np.asarray(pos, np.int64), side="right") - 1).astype(np.int64)

    def is_pool(self, code: int) -> bool:
        return bool(self.acct_flags[code] & POOL_FLAG)

    @property
    def n_accounts(self) -> int:
        return len(self.accounts)

    @property
    def n_movements(self) -> int:
        return int(self.dst.size)

    @property
    def nbytes(self) -> int:
        """Memory of the index itself: numeric arrays, account dictionary and third-party side table."""
        arrays = (self.out_off, self.moves, self.in_off, self.in_pos,
                  self.tp_pos, self.tp_time, self.tp_row, self.tp_pool, self.open_rows, self.acct_flags)
        return int(sum(a.nbytes for a in arrays) + self.accounts.nbytes + self.tp_order.nbytes
                   + self.open_order.nbytes)

    @property
    def transfer_id_nbytes(self) -> int:
        return int(self.transfer_ids.nbytes) if self.transfer_ids is not None else 0

    def __repr__(self) -> str:
        return (f"LedgerIndex({self.n_movements:,} movements, {self.n_accounts:,} accounts, "
                f"{self.tp_pos.size:,} third-party joins, flags={self.flags.counts})")


def is_pool_id(account: str) -> bool:
    return re.match(POOL_PATTERN, account) is not None
