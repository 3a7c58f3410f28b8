"""``fanzha bench trace-quality``: the trace against the simulator's ground truth.

A simulated city (``fanzha.sim``) writes transfers, reports and ground truth: every fraud
transfer with the case whose money it carries. For each case reported within 30 minutes of
its first transfer, the victim's reported transfers are traced (FIFO) with the horizon at
the report time — what the center would see then — and compared with where ground truth
says that case's money sits at that moment (its fraud transfers into an account before T
minus those out of it). Bar: the share of that money the trace locates on the right
accounts (min of traced and true amount per account, summed) >= 0.95. Also: mule-card
recall and precision by level, tracing every reported case over the whole ledger.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from fanzha.bench import Bar, result_line

GOLDEN_MS = 30 * 60 * 1000


def _truth_held(tr: Any, gt: Any, case: str, t_ms: int, pools: set[str]) -> dict[str, float]:
    rows = gt.filter(pc.equal(gt.column("case_id"), case)).column("transfer_id")
    sel = tr.filter(pc.is_in(tr.column("transfer_id"), value_set=rows))
    sel = sel.filter(pc.less(pc.cast(sel.column("time"), "int64"), t_ms))
    held: dict[str, float] = {}
    for f, t, a in zip(*(sel.column(c).to_pylist() for c in ("from_account", "to_account", "amount_cents")),
                       strict=True):
        if t is not None:
            held[t] = held.get(t, 0.0) + a
        held[f] = held.get(f, 0.0) - a
    return {k: v for k, v in held.items() if v > 0 and k not in pools}


def evaluate(folder: Path) -> dict[str, Any]:
    """Figures on one simulated city folder."""
    from fanzha.tracing import LedgerIndex, Seed, TraceError, trace

    tr = pq.read_table(folder / "transfers.parquet")
    acc = pq.read_table(folder / "accounts.parquet") if (folder / "accounts.parquet").exists() else None
    ledger = LedgerIndex.from_arrow(tr, acc)
    pools = {a for a in ledger.accounts.to_pylist() if a and a.startswith("TP-") and a.endswith("-POOL")}
    gt = pq.read_table(folder / "gt_fraud_transfers.parquet")
    victims = pq.read_table(folder / "gt_victims.parquet").to_pylist()
    reports = {r["report_id"]: r for r in pq.read_table(folder / "reports.parquet").to_pylist()}
    case_of = {f"R{v['case_id'][1:]}": v for v in victims}
    located = total = 0.0
    n_fast = skipped = 0
    per_case = []
    all_seeds: list[Seed] = []
    for rid, rep in reports.items():
        v = case_of.get(rid)
        if v is None or not rep["transfer_ids"]:
            skipped += 1
            continue
        seeds = [Seed(v["case_id"], transfer_id=t) for t in rep["transfer_ids"]]
        all_seeds.extend(seeds)
        t_rep = int(rep["reported_at"].timestamp() * 1000)
        t_first = int(v["first_transfer"].timestamp() * 1000)
        if t_rep - t_first > GOLDEN_MS:
            continue
        n_fast += 1
        truth = _truth_held(tr, gt, v["case_id"], t_rep, pools)
        try:
            res = trace(ledger, seeds, horizon=t_rep - 1, min_amount=0)
        except TraceError:
            skipped += 1
            continue
        got: dict[str, float] = {}
        for a, h in zip(res.account_ids(res.h_account), res.h_held.tolist(), strict=True):
            got[a] = got.get(a, 0.0) + h
        loc = sum(min(got.get(a, 0.0), x) for a, x in truth.items())
        located += loc
        total += sum(truth.values())
        per_case.append(loc / max(sum(truth.values()), 1))
    figures: dict[str, Any] = {"reports": len(reports), "reported_within_30min": n_fast, "skipped": skipped,
                               "held_cents_truth": total, "held_cents_located": located,
                               "per_case_min_share": round(min(per_case), 4) if per_case else None}
    # Mule recall / precision by level over all reported cases, whole ledger.
    res = trace(ledger, all_seeds, min_amount=0)
    traced = dict(zip(res.account_ids(res.a_account), res.a_level_min.tolist(), strict=True))
    cases = {s.victim for s in all_seeds}
    g = gt.filter(pc.is_in(gt.column("case_id"), value_set=__import__("pyarrow").array(sorted(cases))))
    rec = tr.filter(pc.is_in(tr.column("transfer_id"), value_set=g.column("transfer_id")))
    lvl_of = dict(zip(g.column("transfer_id").to_pylist(), g.column("level").to_pylist(), strict=True))
    truth_lvl: dict[str, int] = {}
    for tid, to in zip(rec.column("transfer_id").to_pylist(), rec.column("to_account").to_pylist(), strict=True):
        if to is None or to in pools:
            continue
        lv = lvl_of[tid] + 1
        truth_lvl[to] = min(truth_lvl.get(to, 99), lv)
    by_level = {}
    for lv in sorted(set(truth_lvl.values())):
        gts = {a for a, x in truth_lvl.items() if x == lv}
        found = {a for a, x in traced.items() if x == lv and a not in pools}
        by_level[str(lv)] = {"mules": len(gts), "recall": round(len(gts & set(traced)) / max(len(gts), 1), 4),
                             "precision": round(len(found & set(truth_lvl)) / max(len(found), 1), 4)}
    tr_set = {a for a in traced if a not in pools}
    figures["mules_by_level"] = by_level
    figures["mule_recall"] = round(len(set(truth_lvl) & tr_set) / max(len(truth_lvl), 1), 4)
    figures["mule_precision"] = round(len(set(truth_lvl) & tr_set) / max(len(tr_set), 1), 4)
    figures["located_share"] = located / total if total else None
    return figures


def run(subscribers: int = 100_000, days: int = 1, seed: int = 11) -> dict[str, Any]:
    from fanzha.sim import SimConfig, simulate_city

    work = Path(tempfile.mkdtemp(prefix="fanzha-trace-quality-"))
    try:
        t = time.perf_counter()
        simulate_city(SimConfig(subscribers=subscribers, days=days, seed=seed), work)
        sim_s = time.perf_counter() - t
        figures = evaluate(work)
        figures["simulate_s"] = round(sim_s, 1)
        figures["city"] = {"subscribers": subscribers, "days": days, "seed": seed}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    share = figures["located_share"]
    bars = [Bar("located_share_reported_30min", round(share, 4) if share is not None else 0.0, ">=", 0.95)]
    print(result_line("trace-quality", figures, bars))
    return figures
