"""Simulate a whole city and write it as Parquet tables in the data contracts + ground truth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from fanzha.contracts.schemas import GROUND_TRUTH, TABLES
from fanzha.sim.config import SimConfig
from fanzha.sim.events import (
    CHANNEL_CODES,
    DAY,
    INGRESS_CODES,
    calls_buffer,
    sms_buffer,
    transfers_buffer,
    visits_buffer,
)
from fanzha.sim.gangs import FraudEcosystem
from fanzha.sim.geography import XIAMEN_DISTRICTS
from fanzha.sim.life import OrderNumbers, TextPool, day_calls, day_sms, day_transfers
from fanzha.sim.population import AGE_BANDS, CLASS_CODES, STATIONS
from fanzha.sim.texts import render_pool
from fanzha.sim.world import build_world

TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class City:
    """What a simulation wrote: the folder, row counts, and a few headline figures."""

    out: Path
    config: SimConfig
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    figures: dict[str, object] = field(default_factory=dict)


def _ts(ms: np.ndarray) -> pa.Array:
    return pa.array(ms.astype(np.int64), type=pa.timestamp("ms", tz="UTC"))


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """values[idx] with null where idx < 0."""
    idx = np.asarray(idx)
    return pc.take(values, pa.array(idx, mask=idx < 0))


def _prefixed(prefix: str, ints: np.ndarray, null_if_zero: bool = False) -> pa.Array:
    arr = pa.array(ints.astype(np.int64), mask=(ints == 0) if null_if_zero else None)
    return pc.binary_join_element_wise(prefix, pc.cast(arr, pa.string()), "")


def _write(out: Path, name: str, table: pa.Table, schema: pa.Schema) -> int:
    table = table.select(schema.names).cast(schema)
    pq.write_table(table, out / f"{name}.parquet", compression="zstd", compression_level=1)
    return table.num_rows


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=False) as p:
        yield p


def simulate_city(cfg: SimConfig, out: Path, progress: bool = False) -> City:
    """Generate the city for ``cfg`` and write every table to ``out`` (created if needed)."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(cfg.seed).spawn(3 + cfg.days)
    rng_world, rng_text, rng_fraud = (np.random.default_rng(s) for s in seeds[:3])
    with _progress(progress) as bar:
        task = bar.add_task("building the city", total=cfg.days + 3) if bar else None

        def step(desc: str) -> None:
            if bar is not None and task is not None:
                bar.update(task, advance=1, description=desc)

        world = build_world(rng_world, cfg)
        texts = TextPool()
        pools = {k: texts.add(render_pool(rng_text, k, s)) for k, s in (("p2p", 3000), ("bank", 2000),
                                                                          ("service", 1000))}
        fraud = FraudEcosystem(rng_fraud, world, texts)
        calls, sms, tr, visits = calls_buffer(), sms_buffer(), transfers_buffer(), visits_buffer()
        start_local = cfg.start.astimezone(TZ)
        orders = OrderNumbers(int(start_local.strftime("%Y%m%d")) * 10**8 + 1)
        step("population and contacts")
        for d in range(cfg.days):
            rng = np.random.default_rng(seeds[3 + d])
            day_ms = cfg.start_ms + d * DAY
            dom = (start_local + timedelta(days=d)).day
            day_calls(rng, world, day_ms, calls)
            day_sms(rng, world, day_ms, sms, pools)
            day_transfers(rng, world, day_ms, dom, tr, orders)
            fraud.day(d, day_ms, calls, sms, visits, tr, orders)
            step(f"day {d + 1}/{cfg.days}")
        city = City(out=out, config=cfg)
        _render(world, fraud, texts, calls.finish(), sms.finish(), tr.finish(), visits.finish(), city)
        step("written")
    city.seconds = time.perf_counter() - t0
    return city


def _render(world, fraud, texts, calls, sms, tr, visits, city: City) -> None:  # type: ignore[no-untyped-def]
    """Turn position-coded buffers into contract tables (strings built once, by ``take``)."""
    cfg, out, nb, ab, res = world.cfg, city.out, world.numbers, world.accounts, world.residents
    end_ms = cfg.start_ms + cfg.days * DAY
    e164 = nb.e164()
    n_num = nb.size
    person = nb.col("person")
    resident = person >= 0
    pidx = np.where(resident, person, -1)
    districts = pa.array([d.name for d in XIAMEN_DISTRICTS])
    stations = pa.array([s for _, s in STATIONS])
    id_hash = np.zeros(n_num, np.int64)
    id_hash[resident] = res.id_hash[person[resident]]
    rows = city.rows
    rows["subscribers"] = _write(out, "subscribers", pa.table({
        "number": e164,
        "carrier": pa.array(nb.col("carrier").tolist(), pa.string()),
        "number_class": pc.take(pa.array(CLASS_CODES), pa.array(nb.col("cls"))),
        "real_name_verified": pa.array(nb.col("verified")),
        "id_hash": _prefixed("H", id_hash, null_if_zero=True),
        "district": _take(districts, np.where(resident, res.district[np.maximum(pidx, 0)], -1)),
        "police_station": _take(stations, np.where(resident, res.station[np.maximum(pidx, 0)], -1)),
        "age_band": _take(pa.array(AGE_BANDS), np.where(resident, res.age[np.maximum(pidx, 0)], -1)),
        "activated_at": _ts(nb.col("activated_ms")),
    }), TABLES["subscribers"])
    acct_ids = pa.array(ab.col("account_id").tolist(), pa.string())
    rows["accounts"] = _write(out, "accounts", pa.table({
        "account_id": acct_ids,
        "kind": pa.array(ab.col("kind").tolist(), pa.string()),
        "institution": pa.array(ab.col("institution").tolist(), pa.string()),
        "holder_id_hash": _prefixed("H", ab.col("holder"), null_if_zero=True),
        "holder_number": _take(e164, ab.col("holder_number")),
        "registration_quality": pa.array(ab.col("quality").tolist(), pa.string()),
        "opened_at": _ts(ab.col("opened_ms")),
    }), TABLES["accounts"])
    rows["protected_numbers"] = _write(out, "protected_numbers", pa.table({
        "number": pc.take(e164, pa.array(world.protected)), "owner": pa.array(world.protected_owner),
    }), TABLES["protected_numbers"])

    o = np.argsort(calls["start"], kind="stable")
    n_cells = int(res.cell.max()) + 1
    cell_names = _prefixed("XM-CELL-", np.arange(1, n_cells + 1))
    rows["calls"] = _write(out, "calls", pa.table({
        "caller": pc.take(e164, pa.array(calls["caller"][o])),
        "callee": pc.take(e164, pa.array(calls["callee"][o])),
        "start": _ts(calls["start"][o]),
        "duration_s": pa.array(calls["duration"][o]),
        "ingress": pc.take(pa.array(INGRESS_CODES), pa.array(calls["ingress"][o])),
        "cell_id": _take(cell_names, calls["cell"][o]),
        "imei": pc.cast(pa.array(calls["imei"][o], mask=calls["imei"][o] == 0), pa.string()),
    }), TABLES["calls"])
    del calls
    o = np.argsort(sms["time"], kind="stable")
    rows["sms"] = _write(out, "sms", pa.table({
        "sender": pc.take(e164, pa.array(sms["sender"][o])),
        "recipient": pc.take(e164, pa.array(sms["recipient"][o])),
        "time": _ts(sms["time"][o]),
        "text": pc.take(pa.array(texts.texts, pa.string()), pa.array(sms["text"][o])),
    }), TABLES["sms"])
    del sms
    o = np.argsort(tr["time"], kind="stable")
    tr = {k: v[o] for k, v in tr.items()}
    keep = tr["time"] < end_ms  # money still moving after the last day is not in the ledger yet
    tr = {k: v[keep] for k, v in tr.items()}
    tid = _prefixed("TX", np.arange(1, len(tr["time"]) + 1) + 10**10)
    rows["transfers"] = _write(out, "transfers", pa.table({
        "transfer_id": tid,
        "time": _ts(tr["time"]),
        "from_account": pc.take(acct_ids, pa.array(tr["src"])),
        "to_account": _take(acct_ids, tr["dst"]),
        "amount_cents": pa.array(tr["amount"]),
        "channel": pc.take(pa.array(CHANNEL_CODES), pa.array(tr["channel"])),
        "order_no": _prefixed("", tr["order_no"], null_if_zero=True),
    }), TABLES["transfers"])
    domains = pa.array(fraud.gt.domains)
    paths = pa.array(["", "/a", "/login", "/m/index.html", "/kf"])
    dom = pc.take(domains, pa.array(visits["domain"]))
    rows["url_visits"] = _write(out, "url_visits", pa.table({
        "number": pc.take(e164, pa.array(visits["number"])),
        "time": _ts(visits["time"]),
        "url": pc.binary_join_element_wise("http://", dom, pc.take(paths, pa.array(visits["path"])), ""),
        "domain": dom,
    }).sort_by("time"), TABLES["url_visits"])
    _ground_truth(world, fraud, tr, tid, acct_ids, e164, end_ms, city)


def _ground_truth(world, fraud, tr, tid, acct_ids, e164, end_ms: int, city: City) -> None:  # type: ignore[no-untyped-def]
    out, gt, rows = city.out, fraud.gt, city.rows
    fn = gt.fraud_numbers
    seen: dict[tuple[int, str], tuple[int, int, str, str, int]] = {}
    for rec in fn:  # one row per (number, role): earliest activity
        key = (rec[0], rec[2])
        if key not in seen or rec[4] < seen[key][4]:
            seen[key] = rec
    recs = sorted(seen.values())
    rows["gt_fraud_numbers"] = _write(out, "gt_fraud_numbers", pa.table({
        "number": pc.take(e164, pa.array([r[0] for r in recs], pa.int32())),
        "gang_id": pa.array([r[1] for r in recs], pa.int32()),
        "role": pa.array([r[2] for r in recs]),
        "typology": pa.array([r[3] for r in recs]),
        "first_active": _ts(np.array([r[4] for r in recs], np.int64)),
    }), GROUND_TRUTH["gt_fraud_numbers"])
    mules = sorted(set(gt.mules))
    rows["gt_mule_accounts"] = _write(out, "gt_mule_accounts", pa.table({
        "account_id": pc.take(acct_ids, pa.array([m[0] for m in mules], pa.int32())),
        "gang_id": pa.array([m[1] for m in mules], pa.int32()),
        "level": pa.array([m[2] for m in mules], pa.int16()),
    }), GROUND_TRUTH["gt_mule_accounts"])
    fraud_rows = np.flatnonzero(tr["case"] >= 0)
    case_gang = np.zeros(max(fraud.case_seq, 1), np.int32)
    for v in gt.victims:
        case_gang[v["case"]] = v["gang"]
    rows["gt_fraud_transfers"] = _write(out, "gt_fraud_transfers", pa.table({
        "transfer_id": pc.take(tid, pa.array(fraud_rows)),
        "case_id": _prefixed("C", tr["case"][fraud_rows].astype(np.int64) + 10**6),
        "gang_id": pa.array(case_gang[tr["case"][fraud_rows]]),
        "level": pa.array(tr["level"][fraud_rows]),
    }), GROUND_TRUTH["gt_fraud_transfers"])

    victims = [v for v in gt.victims if v["first_transfer"] < end_ms]
    # A victim's own transfers: level-0 rows leaving the victim's (or employer's) account.
    first_leg: dict[int, list[int]] = {}
    lvl0 = fraud_rows[tr["level"][fraud_rows] == 0]
    pools = set(world.pools.values())
    for r in lvl0.tolist():
        if int(tr["src"][r]) not in pools:
            first_leg.setdefault(int(tr["case"][r]), []).append(r)
    loss = {c: int(tr["amount"][rs].sum()) for c, rs in first_leg.items()}
    rows["gt_victims"] = _write(out, "gt_victims", pa.table({
        "case_id": pa.array([f"C{v['case'] + 10**6}" for v in victims]),
        "number": pc.take(e164, pa.array([v["person"] for v in victims], pa.int32())),
        "gang_id": pa.array([v["gang"] for v in victims], pa.int32()),
        "typology": pa.array([v["typology"] for v in victims]),
        "first_contact": _ts(np.array([v["first_contact"] for v in victims], np.int64)),
        "first_transfer": _ts(np.array([v["first_transfer"] for v in victims], np.int64)),
        "loss_cents": pa.array([loss.get(v["case"], 0) for v in victims], pa.int64()),
        "reported_at": pa.array([v["reported"] for v in victims], pa.timestamp("ms", tz="UTC")),
    }), GROUND_TRUTH["gt_victims"])
    reported = [v for v in victims if v["reported"] is not None and v["reported"] < end_ms]
    tid_py = tid.to_pylist() if reported else []
    rows["reports"] = _write(out, "reports", pa.table({
        "report_id": pa.array([f"R{v['case'] + 10**6}" for v in reported], pa.string()),
        "victim_number": pc.take(e164, pa.array([v["person"] for v in reported], pa.int32())),
        "reported_at": _ts(np.array([v["reported"] for v in reported], np.int64)),
        "typology": pa.array([v["typology"] for v in reported], pa.string()),
        "loss_cents": pa.array([loss.get(v["case"], 0) for v in reported], pa.int64()),
        "fraud_numbers": pa.array([pc.take(e164, pa.array(v["contacted"], pa.int32())).to_pylist()
                                   for v in reported], pa.list_(pa.string())),
        "fraud_accounts": pa.array([pc.take(acct_ids, pa.array(sorted(set(v["l1"])), pa.int32())).to_pylist()
                                    for v in reported], pa.list_(pa.string())),
        "domains": pa.array([[v["domain"]] if v["domain"] else [] for v in reported], pa.list_(pa.string())),
        "transfer_ids": pa.array([[tid_py[r] for r in first_leg.get(v["case"], [])] for v in reported],
                                 pa.list_(pa.string())),
    }), TABLES["reports"])
    camps = gt.campaigns
    rows["gt_campaigns"] = _write(out, "gt_campaigns", pa.table({
        "campaign_id": pa.array([f"K{i + 1:05d}" for i in range(len(camps))], pa.string()),
        "gang_id": pa.array([c["gang"] for c in camps], pa.int32()),
        "typology": pa.array([c["typology"] for c in camps], pa.string()),
        "channel": pa.array([c["channel"] for c in camps], pa.string()),
        "start": _ts(np.array([c["start"] for c in camps], np.int64)),
        "domain": pa.array([c["domain"] for c in camps], pa.string()),
        "targets": pa.array([c["targets"] for c in camps], pa.int64()),
    }), GROUND_TRUTH["gt_campaigns"])
    city.figures = {
        "victims": len(victims),
        "reported": len(reported),
        "loss_cents": int(sum(loss.get(v["case"], 0) for v in victims)),
        "gangs": len(fraud.gangs),
        "max_mule_level": max((m[2] for m in mules), default=0),
    }
