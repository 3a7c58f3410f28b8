"""Realism properties of the simulated city (not exact values: shapes and ratios)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from fanzha.contracts.schemas import GROUND_TRUTH, TABLES
from fanzha.sim import City, SimConfig, simulate_city


def q(city: City, sql: str) -> list[tuple]:
    con = duckdb.connect()
    for name in list(TABLES) + list(GROUND_TRUTH):
        con.read_parquet(str(city.out / f"{name}.parquet")).create_view(name)
    return con.execute(sql).fetchall()


def test_every_table_conforms_to_its_contract(small_city: City) -> None:
    for name, schema in {**TABLES, **GROUND_TRUTH}.items():
        got = pq.read_schema(small_city.out / f"{name}.parquet")
        assert got.remove_metadata().equals(schema.remove_metadata()), name
        assert small_city.rows[name] > 0, f"{name} is empty"


def test_numbers_are_e164_and_unique(small_city: City) -> None:
    bad = q(small_city, r"select count(*) from subscribers where not regexp_full_match(number, '\+86[0-9]{5,13}')")
    assert bad == [(0,)]
    assert q(small_city, "select count(*) - count(distinct number) from subscribers") == [(0,)]
    # every number in the call records is a known subscriber
    assert q(small_city, "select count(*) from calls where caller not in (select number from subscribers)") == [(0,)]


def test_contact_degrees_are_heavy_tailed(small_city: City) -> None:
    deg = np.array([r[0] for r in q(small_city, """
        select count(distinct callee) from calls c join subscribers s on s.number = c.caller
        where s.district is not null group by caller""")])
    median, p999 = np.median(deg), np.quantile(deg, 0.999)
    assert p999 / median > 8, (median, p999)
    # a power-law-ish tail: the top 1% of callers hold far more than 1% of distinct contacts
    top = np.sort(deg)[-len(deg) // 100:]
    assert top.sum() / deg.sum() > 0.04


def test_calls_follow_a_daily_rhythm(small_city: City) -> None:
    by_hour = dict(q(small_city, """select hour(timezone('Asia/Shanghai', start)), count(*) from calls group by 1"""))
    night = sum(by_hour.get(h, 0) for h in (1, 2, 3, 4))
    day = sum(by_hour.get(h, 0) for h in (9, 10, 11, 15))
    assert day > 10 * night


def test_mule_trees_reach_configured_depth(tmp_path) -> None:
    city = simulate_city(SimConfig(subscribers=5_000, days=1, seed=5, mule_depth_range=(2, 9)), tmp_path)
    levels = dict(q(city, "select level, count(*) from gt_mule_accounts group by level"))
    assert max(levels) == 9
    assert all(levels[lv] > 0 for lv in range(1, 10))
    # money moves down levels: every non-victim fraud transfer leaves a mule of the level it claims
    wrong = q(city, """select count(*) from gt_fraud_transfers f join transfers t using (transfer_id)
                       join gt_mule_accounts m on m.account_id = t.from_account
                       where f.level > 0 and m.level <> f.level""")
    assert wrong == [(0,)]


def test_money_is_time_respecting_and_conserved_in_mule_trees(small_city: City) -> None:
    # per case and mule account: money out never exceeds money in before it
    over = q(small_city, """
        with f as (select t.*, f.case_id from transfers t join gt_fraud_transfers f using (transfer_id)),
        mv as (select case_id, to_account as acct, time, amount_cents as amt from f where to_account is not null
               union all select case_id, from_account, time, -amount_cents from f),
        run as (select case_id, acct, sum(amt) over (partition by case_id, acct order by time, amt desc
                 rows unbounded preceding) as bal from mv)
        select count(*) from run where bal < 0 and acct in (select account_id from gt_mule_accounts)""")
    assert over == [(0,)]


def test_losses_per_typology_follow_configured_proportions(tmp_path) -> None:
    cfg = SimConfig(subscribers=100_000, days=2, seed=2)
    city = simulate_city(cfg, tmp_path)
    counts = dict(q(city, "select typology, count(*) from gt_victims group by 1"))
    total = sum(counts.values())
    w = {t.value: x for t, x in cfg.typology_weights.items()}
    for typ, share in w.items():
        got = counts.get(typ, 0) / total
        assert abs(got - share / sum(w.values())) < 0.08, (typ, got, share)
    # 冒充公检法 (impersonating police) targets older people; 刷单返利 (task rebates) the young
    ages = dict(q(city, """select v.typology, avg(case s.age_band when '60+' then 1.0 when '45-59' then 1.0 else 0 end)
                           from gt_victims v join subscribers s using (number) group by 1"""))
    assert ages["impersonate_police"] > ages["rebate_task"] + 0.3


def test_legit_heavy_callers_overlap_fraud_numbers_in_simple_features(small_city: City) -> None:
    feats = q(small_city, """
        with per as (select caller, count(*) n, count(distinct callee) d, avg((duration_s = 0)::int) unanswered
                     from calls group by caller)
        select p.caller in (select number from gt_fraud_numbers) as fraud, n, d, unanswered from per p
        where d >= 50""")
    fraud = [r for r in feats if r[0]]
    legit = [r for r in feats if not r[0]]
    assert fraud and legit, "both legit heavy callers and fraud numbers reach 50+ distinct callees"
    fraud_d = sorted(r[2] for r in fraud)
    legit_above = [r for r in legit if r[2] >= fraud_d[len(fraud_d) // 2]]
    assert legit_above, "some legit callers are as busy as a median fraud number"


def test_spoofed_calls_come_through_the_international_gateway(small_city: City) -> None:
    rows = q(small_city, """select c.ingress, count(*) from calls c join protected_numbers p on p.number = c.caller
                            group by 1""")
    by = dict(rows)
    assert by.get("local", 0) > 0, "real government lines make local calls"
    assert by.get("international", 0) > 0, "spoofs of government lines arrive internationally"


def test_reports_point_at_the_victims_transfers_and_first_level_accounts(small_city: City) -> None:
    rows = q(small_city, """
        select r.report_id, t.to_account, t.channel from reports r, unnest(r.transfer_ids) u(tid)
        join transfers t on t.transfer_id = u.tid""")
    assert rows
    for _, to_account, channel in rows:
        assert to_account is not None and channel in ("bank", "third_party")
    late = q(small_city, """select count(*) from reports r join gt_victims v on v.number = r.victim_number
                            where r.reported_at < v.first_transfer""")
    assert late == [(0,)]


def test_sms_blitz_reaches_a_large_share(small_city: City) -> None:
    blitz = q(small_city, "select max(targets) from gt_campaigns where typology = 'medical_insurance_sms'")
    assert blitz[0][0] >= 0.2 * 30_000


def test_same_seed_same_output(tmp_path) -> None:
    a = simulate_city(SimConfig(subscribers=3_000, days=1, seed=9), tmp_path / "a")
    b = simulate_city(SimConfig(subscribers=3_000, days=1, seed=9), tmp_path / "b")
    c = simulate_city(SimConfig(subscribers=3_000, days=1, seed=10), tmp_path / "c")
    for name in ("calls", "sms", "transfers", "gt_victims", "accounts"):
        ta, tb = pq.read_table(a.out / f"{name}.parquet"), pq.read_table(b.out / f"{name}.parquet")
        assert ta.equals(tb), name
    assert not pq.read_table(a.out / "transfers.parquet").equals(pq.read_table(c.out / "transfers.parquet"))


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 500"):
        SimConfig(subscribers=10)
    with pytest.raises(ValueError, match="mule_depth_range"):
        SimConfig(mule_depth_range=(5, 2))
