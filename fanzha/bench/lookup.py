"""``fanzha bench lookup``: reverse lookup of 1,000 fraud numbers over 100M call/SMS rows.

The simulator is far too slow for 100M rows, so this writes contract-shaped ``calls``
and ``sms`` Parquet parts directly, vectorised with numpy/pyarrow: a ~5M-number city
(activity heavy-tailed), 75% calls / 25% SMS, time-ordered parts over one week, and
1,000 fraud numbers (virtual and ordinary mobile prefixes, outside the subscriber set)
whose contacts are planted into ~1% of the rows, mostly fraud → person, some call-backs,
and a few fraud ↔ fraud rows that must not count. Because the planted people are known,
the benchmark checks the engines found exactly them.

The lookup scans the number-keyed layout (``fanzha.analytics.layout``) derived from the
contract parts, as it does on real data; deriving it is the import-side step and is
timed on its own (``layout_s``), before the lookups.

Timings (data written to a temp folder, deleted afterwards):

* DuckDB cold: a new engine (new database, no metadata cache) after the part files
  were evicted from the OS page cache (``posix_fadvise DONTNEED``, own files only).
* DuckDB warm: the same engine again, median of three runs. The bar uses this.
* PySpark: ``local[2]`` on the same files (or the first parts up to ``spark_rows``),
  first and second run, beside DuckDB, with an identical-result check on that data.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fanzha.analytics import DuckDBEngine, SparkEngine, java_available
from fanzha.bench import Bar, result_line
from fanzha.contracts.schemas import CALLS, SMS
from fanzha.warning import CaseElements, reverse_lookup
from fanzha.warning.lookup import prepare_lookup

START = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)  # 2026-11-03 00:00 Asia/Shanghai
SPAN = timedelta(days=7)
MOBILE = [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159]
MOBILE += [177, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 198, 199]
VIRTUAL = [162, 165, 167, 170, 171]
PART_ROWS = 2_500_000
ROW_GROUP = 1_250_000
# Writer layout. Phone numbers are nearly all distinct within a row group, so a Parquet dictionary only
# duplicates them: PLAIN strings decode fastest in DuckDB (measured: dictionary+zstd costs ~2x the CPU of
# PLAIN uncompressed). Low-cardinality columns keep their dictionaries. Compression is a knob (--compression):
# none is fastest to scan, zstd about half the disk for ~1.7x the scan CPU.
DICT_COLUMNS = ["ingress", "cell_id", "imei", "text"]


@dataclass(frozen=True)
class Generated:
    """What was written and what a correct lookup must find."""

    root: Path
    calls_rows: int
    sms_rows: int
    fraud_numbers: list[str]
    planted_rows: int
    planted_people: int
    parts: list[tuple[str, int, int]]  # (table, part index, rows)
    seconds: float
    bytes: int


def _numbers(ints: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("+86", pc.cast(pa.array(ints, pa.int64()), pa.string()), "")


def _pool(rng: np.random.Generator, prefixes: list[int], n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """``n`` distinct 11-digit numbers on the given prefixes (and not in ``exclude``), in random order."""
    out = np.empty(0, np.int64)
    while out.size < n:
        m = 2 * (n - out.size) + 1_000
        draw = rng.choice(np.asarray(prefixes, np.int64), m) * 10**8 + rng.integers(0, 10**8, m)
        out = np.sort(np.concatenate([out, draw]))  # sort-based unique: numpy's hash unique is slow here
        out = out[np.concatenate([[True], out[1:] != out[:-1]])]
        if exclude is not None:
            ex = np.sort(exclude)
            pos = np.minimum(np.searchsorted(ex, out), ex.size - 1)
            out = out[ex[pos] != out]
    rng.shuffle(out)
    return out[:n]


def generate(
    root: Path,
    rows: int = 100_000_000,
    seed: int = 6,
    subscribers: int = 5_000_000,
    fraud: int = 1_000,
    contact_share: float = 0.01,
    sms_share: float = 0.25,
    compression: str = "none",
    progress: bool = True,
) -> Generated:
    """Write ``root/calls/part-*.parquet`` and ``root/sms/part-*.parquet`` (contract schemas) with planted contacts."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    subs = _pool(rng, MOBILE, subscribers)
    n_virtual = fraud * 3 // 5
    fraud_ints = np.concatenate([_pool(rng, VIRTUAL, n_virtual), _pool(rng, MOBILE, fraud - n_virtual, exclude=subs)])
    numbers = pa.concat_arrays([_numbers(subs), _numbers(fraud_ints)])
    fraud_numbers = numbers.slice(subscribers).to_pylist()
    # heavy-tailed activity: a few numbers make many calls, most make few
    weight = rng.lognormal(0.0, 1.2, subscribers)
    # a slot table (each number repeated in proportion to its activity) samples in O(1) per row
    slots = np.repeat(
        np.arange(subscribers, dtype=np.int32), np.maximum(1, np.rint(weight / weight.mean() * 4)).astype(np.int64)
    )
    fweight = rng.pareto(1.2, fraud) + 1.0  # some fraud numbers dial far more than others
    fcdf = np.cumsum(fweight)
    fcdf /= fcdf[-1]
    targets = rng.choice(subscribers, min(subscribers, 500_000), replace=False)  # people the gangs work on
    cells = pa.array([f"XM-CELL-{i:05d}" for i in range(5_000)], pa.string())
    texts = pa.array(
        [
            "晚上回家吃饭吗",
            "【快递】您的包裹已到驿站，请凭取件码领取",
            "会议改到下午三点",
            "【银行】您尾号1234的账户支出100.00元",
            "兼职刷单日结，详情 http://a.example/j",
            "您的医保卡已停用，请登录 http://b.example/m 处理",
        ],
        pa.string(),
    )
    ingress = pa.array(["local", "long_distance", "international"], pa.string())

    calls_rows = round(rows * (1 - sms_share))
    sms_rows = rows - calls_rows
    span_ms = int(SPAN.total_seconds() * 1000)
    start_ms = int(START.timestamp() * 1000)
    planted_people: list[np.ndarray] = []
    planted_rows = 0
    parts: list[tuple[str, int, int]] = []
    for table, total in (("calls", calls_rows), ("sms", sms_rows)):
        folder = root / table
        folder.mkdir(parents=True, exist_ok=True)
        n_parts = max(1, -(-total // PART_ROWS))
        for p in range(n_parts):
            n = total // n_parts + (1 if p < total % n_parts else 0)
            lo = start_ms + span_ms * p // n_parts
            hi = start_ms + span_ms * (p + 1) // n_parts
            t = np.sort(rng.integers(lo, hi, n))
            a = slots[rng.integers(0, slots.size, n)].astype(np.int64)
            b = slots[rng.integers(0, slots.size, n)].astype(np.int64)
            b = np.where(a == b, (b + 1) % subscribers, b)
            plant = np.flatnonzero(rng.random(n) < contact_share)
            k = plant.size
            f = subscribers + np.searchsorted(fcdf, rng.random(k))
            person = targets[rng.integers(0, targets.size, k)]
            f2f = rng.random(k) < 0.005  # fraud ↔ fraud rows (tests, mule coordination): nobody's evidence
            person = np.where(f2f, subscribers + rng.integers(0, fraud, k), person)
            person = np.where(person == f, subscribers + (f - subscribers + 1) % fraud, person)
            inbound = rng.random(k) < (0.85 if table == "calls" else 0.97)
            a[plant] = np.where(inbound, f, person)
            b[plant] = np.where(inbound, person, f)
            planted_rows += int((~f2f).sum())
            planted_people.append(person[~f2f])
            src = numbers.take(pa.array(a))
            dst = numbers.take(pa.array(b))
            ts = pa.array(t, pa.timestamp("ms", tz="UTC"))
            if table == "calls":
                dur = np.where(rng.random(n) < 0.2, 0, rng.lognormal(4.0, 1.0, n)).astype(np.int32)
                dur[plant] = np.where(rng.random(k) < 0.6, 0, rng.lognormal(5.0, 1.2, k)).astype(np.int32)
                ing = np.zeros(n, np.int64)
                ing[plant] = rng.choice([0, 1, 2], k, p=[0.2, 0.5, 0.3])
                data = pa.Table.from_arrays(
                    [
                        src,
                        dst,
                        ts,
                        pa.array(dur, pa.int32()),
                        ingress.take(pa.array(ing)),
                        cells.take(pa.array(rng.integers(0, len(cells), n))),
                        pa.nulls(n, pa.string()),
                    ],
                    schema=CALLS,
                )
            else:
                txt = rng.integers(0, 4, n)
                txt[plant] = rng.integers(4, 6, k)
                data = pa.Table.from_arrays([src, dst, ts, texts.take(pa.array(txt))], schema=SMS)
            pq.write_table(
                data,
                folder / f"part-{p:05d}.parquet",
                row_group_size=ROW_GROUP,
                compression=compression,
                use_dictionary=[c for c in DICT_COLUMNS if c in data.column_names],
            )
            parts.append((table, p, n))
            if progress:
                print(f"  wrote {table} part {p + 1}/{n_parts} ({n:,} rows)", file=sys.stderr, flush=True)
    people = np.unique(np.concatenate(planted_people)) if planted_people else np.empty(0, np.int64)
    size = sum(f.stat().st_size for f in root.rglob("*.parquet"))
    return Generated(
        root=root,
        calls_rows=calls_rows,
        sms_rows=sms_rows,
        fraud_numbers=fraud_numbers,
        planted_rows=planted_rows,
        planted_people=int(people.size),
        parts=parts,
        seconds=time.perf_counter() - t0,
        bytes=size,
    )


def _evict(root: Path) -> bool:
    """Drop our own Parquet files from the OS page cache so a cold run reads from disk (Linux)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in root.rglob("*.parquet"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def _slice(gen: Generated, rows: int) -> tuple[Path, int]:
    """A folder of symlinks to the first parts of each table, about ``rows`` rows in the same call/SMS mix."""
    root = gen.root / f"slice-{rows}"
    share = min(1.0, rows / (gen.calls_rows + gen.sms_rows))
    total = 0
    for table, want in (("calls", gen.calls_rows * share), ("sms", gen.sms_rows * share)):
        (root / table).mkdir(parents=True, exist_ok=True)
        got = 0
        for t, p, n in gen.parts:
            if t != table or (got and got + n > want * 1.0001):
                continue
            (root / table / f"part-{p:05d}.parquet").symlink_to(gen.root / table / f"part-{p:05d}.parquet")
            got += n
        total += got
    return root, total


def _tables(root: Path) -> dict[str, Any]:
    return {"calls": root / "calls", "sms": root / "sms"}


def _timed(engine: Any, root: Path, el: CaseElements) -> tuple[float, float, pa.Table]:
    """Wall seconds, this process's CPU seconds (DuckDB runs in-process), and the contacts."""
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    res = reverse_lookup(engine, _tables(root), el, START, START + SPAN)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return wall, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), res.contacts


def _spark(
    figures: dict[str, Any], gen: Generated, el: CaseElements, duck: DuckDBEngine, spark_rows: int | None
) -> None:
    """PySpark beside DuckDB. Auto (None): a 10M-row slice first, the full data too if that projects to <= 4 min."""
    if not java_available():
        figures["spark_skipped"] = "no Java runtime"
        return
    rows = gen.calls_rows + gen.sms_rows
    t0 = time.perf_counter()
    spark = SparkEngine(cores=2, shuffle_partitions=8)
    figures["spark_session_start_s"] = round(time.perf_counter() - t0, 1)
    plan = [min(rows, 10_000_000)] if spark_rows is None else [min(rows, spark_rows)]
    runs = []
    try:
        while plan:
            want = plan.pop(0)
            s_root, s_rows = (gen.root, rows) if want >= rows else _slice(gen, want)
            d_contacts = _timed(duck, s_root, el)[2]
            first, _, s_contacts = _timed(spark, s_root, el)
            second, _, _ = _timed(spark, s_root, el)
            runs.append(
                {
                    "rows": s_rows,
                    "first_s": round(first, 2),
                    "second_s": round(second, 2),
                    "contacts": s_contacts.num_rows,
                    "identical_to_duckdb": bool(s_contacts.equals(d_contacts)),
                }
            )
            print(
                f"spark ({s_rows:,} rows): first {first:.1f} s, second {second:.1f} s; "
                f"identical to duckdb: {runs[-1]['identical_to_duckdb']}",
                file=sys.stderr,
                flush=True,
            )
            if spark_rows is None and s_rows < rows and second * rows / s_rows <= 240:
                plan.append(rows)
            elif spark_rows is None and s_rows < rows:
                figures["spark_full_skipped"] = f"projected {second * rows / s_rows:.0f} s a run at {rows:,} rows"
    finally:
        spark.close()
    last = runs[-1]
    figures.update(
        spark_runs=runs,
        spark_rows=last["rows"],
        spark_on_slice=last["rows"] < rows,
        spark_second_s=last["second_s"],
        engines_identical=all(r["identical_to_duckdb"] for r in runs),
    )


def run(
    rows: int = 100_000_000,
    spark_rows: int | None = None,
    seed: int = 6,
    compression: str = "none",
    tmp: Path | None = None,
    memory_limit: str = "8GB",
) -> dict[str, Any]:
    """Generate, time DuckDB cold/warm and PySpark, check results, print the last-line JSON."""
    if rows < 1_000_000:
        raise SystemExit("--rows must be at least 1,000,000")
    if compression not in {"none", "zstd", "snappy", "lz4"}:
        raise SystemExit("--compression must be one of none, zstd, snappy, lz4")
    base = Path(tmp or tempfile.gettempdir())
    need = rows * (50 if compression == "none" else 25) + rows * 25  # contract + layout bytes a row, measured
    free = shutil.disk_usage(base).free
    if free < need * 1.5:
        raise SystemExit(f"not enough disk under {base}: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed")
    root = Path(tempfile.mkdtemp(prefix="fanzha-bench-lookup-", dir=base))
    figures: dict[str, Any] = {}
    try:
        print(f"generating {rows:,} call/SMS rows under {root} ...", file=sys.stderr, flush=True)
        gen = generate(root, rows=rows, seed=seed, compression=compression)
        el = CaseElements.of(numbers=gen.fraud_numbers)
        figures.update(
            rows=rows,
            calls_rows=gen.calls_rows,
            sms_rows=gen.sms_rows,
            number_space=5_000_000 + len(gen.fraud_numbers),
            fraud_numbers=len(el.numbers),
            planted_contact_rows=gen.planted_rows,
            planted_people=gen.planted_people,
            compression=compression,
            parquet_gb=round(gen.bytes / 1e9, 2),
            generate_s=round(gen.seconds, 1),
        )

        t0 = time.perf_counter()
        layouts = prepare_lookup(_tables(root))
        figures.update(
            layout="lookup-v1: caller/callee/sender/recipient as BIGINT E.164 digits, PLAIN, uncompressed",
            layout_s=round(time.perf_counter() - t0, 1),
            layout_gb=round(sum(f.stat().st_size for d in layouts.values() for f in d.glob("*.parquet")) / 1e9, 2),
        )
        print(f"number-keyed layout derived in {figures['layout_s']} s", file=sys.stderr, flush=True)

        evicted = _evict(root)
        duck = DuckDBEngine(memory_limit=memory_limit)
        cold, cold_cpu, contacts = _timed(duck, root, el)
        figures["duckdb_cold_cpu_s"] = round(cold_cpu, 3)
        warm = [_timed(duck, root, el) for _ in range(3)]
        warm_s = statistics.median(w[0] for w in warm)
        figures.update(
            duckdb_cold_s=round(cold, 3),
            duckdb_cold_page_cache_evicted=evicted,
            duckdb_warm_s=round(warm_s, 3),
            duckdb_warm_runs_s=[round(w[0], 3) for w in warm],
            duckdb_warm_cpu_s=round(statistics.median(w[1] for w in warm), 3),
            load_avg_1m=round(os.getloadavg()[0], 2),
            cores=os.cpu_count(),
            contacts_found=contacts.num_rows,
            contacts_match_planted=contacts.num_rows == gen.planted_people,
            contacts_evidence_rows=int(
                pc.sum(contacts.column("calls")).as_py() + pc.sum(contacts.column("sms")).as_py()
            ),
        )
        print(
            f"duckdb: cold {cold:.2f} s, warm {warm_s:.2f} s (cpu {figures['duckdb_warm_cpu_s']:.2f} s); "
            f"{contacts.num_rows:,} people found ({gen.planted_people:,} planted)",
            file=sys.stderr,
            flush=True,
        )
        if spark_rows is None or spark_rows > 0:
            _spark(figures, gen, el, duck, spark_rows)
        duck.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    bars = [Bar("lookup_1000_numbers_100m_rows_s", figures["duckdb_warm_s"], "<=", 3.0)]
    print(result_line("lookup", figures, bars))
    return figures
