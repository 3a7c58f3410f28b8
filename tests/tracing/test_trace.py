from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledgers import T0, ledger_table

from fanzha.tracing import LedgerError, LedgerIndex, Seed, TraceError, extend, trace
from fanzha.tracing.freeze import FreezeAction, freeze_plan
from fanzha.tracing.restitution import RestitutionError, largest_remainder, restitution

# A mule A receives the victim's 1000 on top of 500 of its own; splits; B pays D through a platform.
BASE = [
    ("N1", -1, "X", "A", 500, "bank"),
    ("V1", 0, "VIC", "A", 1000, "bank"),
    ("T1", 1, "A", "B", 700, "bank"),
    ("T2", 2, "A", "C", 800, "bank"),
    ("T3", 3, "B", "TP-ALIPAY-POOL", 300, "third_party", "O1"),
    ("T4", 3.1, "TP-ALIPAY-POOL", "D", 300, "third_party", "O1"),
    ("T5", 4, "C", None, 800, "atm"),
]


def held(res, account: str) -> float:
    return sum(res.held_by(account).values())


def acct(res, account: str) -> dict:
    for r in res.accounts_table().to_pylist():
        if r["account_id"] == account:
            return r
    raise KeyError(account)


@pytest.fixture
def base() -> LedgerIndex:
    return LedgerIndex.from_arrow(ledger_table(BASE))


def test_fifo_takes_oldest_money_first(base):
    res = trace(base, [Seed("v", transfer_id="V1")], min_amount=0)
    # T1 (700) takes A's own 500 first, then 200 of the victim's; T2 takes the other 800.
    assert acct(res, "B")["tainted_in_cents"] == 200
    assert acct(res, "C")["tainted_in_cents"] == 800
    assert res.summary["cashed_out_cents"] == 800
    assert held(res, "A") == pytest.approx(0)


def test_lifo_takes_newest_money_first(base):
    res = trace(base, [Seed("v", transfer_id="V1")], policy="lifo", min_amount=0)
    assert acct(res, "B")["tainted_in_cents"] == 700
    assert acct(res, "C")["tainted_in_cents"] == 300
    assert held(res, "A") == pytest.approx(0)


def test_proportional_haircut(base):
    res = trace(base, [Seed("v", transfer_id="V1")], policy="proportional", min_amount=0)
    # A holds 1500 of which 2/3 tainted; T1 carries 2/3 of 700, T2 takes all that is left (800 of 800).
    assert res.movements_table().to_pylist()[1]["tainted_cents"] == pytest.approx(700 * 2 / 3)
    assert acct(res, "C")["tainted_in_cents"] == pytest.approx(1000 - 700 * 2 / 3, abs=1)


def test_poison_marks_every_later_outflow(base):
    res = trace(base, [Seed("v", transfer_id="V1")], policy="poison", min_amount=0)
    assert acct(res, "A")["tainted_out_cents"] == 1500
    assert acct(res, "B")["tainted_in_cents"] == 700


def test_third_party_hop_goes_through_the_order_to_the_card(base):
    res = trace(base, [Seed("v", transfer_id="V1")], policy="lifo", min_amount=0)
    ids = set(res.account_ids(res.a_account))
    assert "D" in ids and "TP-ALIPAY-POOL" not in ids
    mv = next(m for m in res.movements_table().to_pylist() if m["transfer_id"] == "T3")
    assert mv["to_account"] == "D" and mv["order_no"] == "O1" and mv["via_pool"] == "TP-ALIPAY-POOL"
    assert acct(res, "D")["tainted_in_cents"] == 300


def test_unmatched_order_stops_at_the_pool_as_pending():
    lg = LedgerIndex.from_arrow(ledger_table([
        ("V1", 0, "VIC", "A", 1000, "bank"),
        ("T3", 1, "A", "TP-WECHAT-POOL", 600, "third_party", "O9"),
        ("Z1", 2, "TP-WECHAT-POOL", "Q", 5000, "third_party", "O7"),
    ]))
    res = trace(lg, [Seed("v", transfer_id="V1")], min_amount=0)
    assert "Q" not in set(res.account_ids(res.a_account))
    assert res.summary["pending_at_platform_cents"] == 600
    assert any("order to resolve" in k for k in lg.flags.counts)


def test_money_arriving_after_an_outflow_is_not_carried():
    lg = LedgerIndex.from_arrow(ledger_table([
        ("E1", 0, "A", "B", 400, "bank"),  # A pays before the victim's money arrives
        ("V1", 1, "VIC", "A", 1000, "bank"),
    ]))
    res = trace(lg, [Seed("v", transfer_id="V1")], min_amount=0)
    assert "B" not in set(res.account_ids(res.a_account))
    assert held(res, "A") == 1000


def test_cycle_fan_in_fan_out_terminate_and_conserve():
    rows = [("V1", 0, "VIC", "A", 1000, "bank")]
    rows += [(f"F{i}", 1 + i * 0.01, "A", f"K{i}", 100, "bank") for i in range(10)]  # fan-out
    rows += [(f"G{i}", 2 + i * 0.01, f"K{i}", "H", 100, "bank") for i in range(10)]  # fan-in
    rows += [("C1", 3, "H", "A", 900, "bank"), ("C2", 4, "A", "H", 900, "bank"),  # cycle
             ("C3", 5, "H", "A", 900, "bank"), ("C4", 6, "A", None, 500, "crypto_otc")]
    lg = LedgerIndex.from_arrow(ledger_table(rows))
    res = trace(lg, [Seed("v", transfer_id="V1")], min_amount=0)
    s = res.summary
    assert s["held_cents"] + s["cashed_out_cents"] == pytest.approx(1000)
    assert s["cashed_out_cents"] == pytest.approx(500)
    again = trace(lg, [Seed("v", transfer_id="V1")], min_amount=0)
    assert np.array_equal(again.e_row, res.e_row) and np.array_equal(again.e_taint, res.e_taint)


def test_multi_victim_attribution_keeps_each_victims_money(base):
    lg = LedgerIndex.from_arrow(ledger_table([
        ("V1", 0, "P1", "A", 1000, "bank"),
        ("V2", 1, "P2", "A", 3000, "bank"),
        ("T1", 2, "A", "B", 2000, "bank"),
    ]))
    res = trace(lg, [Seed("p1", transfer_id="V1"), Seed("p2", transfer_id="V2")], min_amount=0)
    assert res.held_by("B") == {"p1": 1000, "p2": 1000}
    assert res.held_by("A") == {"p2": 2000}


def test_levels_horizon_and_min_amount():
    rows = [("V1", 0, "VIC", "L1", 1000, "bank")]
    rows += [(f"H{k}", k, f"L{k}", f"L{k + 1}", 1000, "bank") for k in range(1, 6)]
    lg = LedgerIndex.from_arrow(ledger_table(rows))
    res = trace(lg, [Seed("v", transfer_id="V1")], max_levels=3, min_amount=0)
    assert res.a_level_max.max() == 3 and res.summary["beyond_max_levels_cents"] == 1000
    assert res.account_ids(res.frontier()) == ["L4"]
    res = trace(lg, [Seed("v", transfer_id="V1")], horizon=T0 + int(2.5 * 60_000), min_amount=0)
    assert res.held_by("L3") == {"v": 1000}
    res = trace(lg, [Seed("v", transfer_id="V1")], min_amount=2000)
    assert res.summary["below_min_amount_cents"] == 1000


def test_seed_by_account_amount_time(base):
    from datetime import UTC, datetime

    s = Seed("v", account="A", amount_cents=1000, time=datetime.fromtimestamp(T0 / 1000 + 60, UTC))
    assert trace(base, [s], min_amount=0).summary["cashed_out_cents"] == 800


def test_bad_input_is_refused_or_flagged(base):
    with pytest.raises(LedgerError, match="missing required"):
        LedgerIndex.from_arrow(ledger_table(BASE).drop(["amount_cents"]))
    t = ledger_table([("V1", 0, "VIC", "A", 1000, "bank"), ("B1", 1, "A", "B", -5, "bank"),
                      ("B2", 2, "A", "A", 10, "bank"), ("V1", 3, "VIC", "A", 1000, "bank"),
                      ("B3", 4, "A", "B", 10, "teleport")])
    lg = LedgerIndex.from_arrow(t)
    c = lg.flags.counts
    assert c["non-positive or missing amount"] == 1 and c["self-transfer (no movement)"] == 1
    assert c["repeated transfer id (kept the first row)"] == 1 and c["unknown channel, read as bank"] == 1
    with pytest.raises(TraceError, match="not in the ledger"):
        trace(base, [Seed("v", transfer_id="NOPE")])
    with pytest.raises(TraceError, match="not in the ledger"):
        trace(base, [Seed("v", account="ZZZ", amount_cents=5, time=T0)])
    with pytest.raises(TraceError, match="no inflow"):
        trace(base, [Seed("v", account="A", amount_cents=5, time=T0)])
    with pytest.raises(TraceError, match="unknown policy"):
        trace(base, [Seed("v", transfer_id="V1")], policy="magic")
    with pytest.raises(TraceError, match="no seeds"):
        trace(base, [])


def test_unsorted_input_gives_the_same_trace(base):
    t = ledger_table(BASE)
    rev = t.take(pa.array(np.arange(t.num_rows)[::-1]))
    a = trace(base, [Seed("v", transfer_id="V1")], min_amount=0)
    b = trace(LedgerIndex.from_arrow(rev), [Seed("v", transfer_id="V1")], min_amount=0)
    assert a.holdings_table().sort_by("account_id").equals(b.holdings_table().sort_by("account_id"))


@pytest.mark.parametrize("policy", ["fifo", "lifo", "proportional", "poison"])
def test_incremental_equals_full_retrace(policy):
    first = [("V1", 0, "VIC", "A", 1000, "bank"), ("N1", 0.5, "X", "B", 300, "bank"),
             ("T1", 1, "A", "B", 600, "bank"), ("T2", 1.5, "A", "C", 400, "bank")]
    statement_b = [("T1", 1, "A", "B", 600, "bank"),  # repeated row: skipped
                   ("S1", 2, "B", "E", 500, "bank"), ("S2", 3, "B", "TP-ALIPAY-POOL", 200, "third_party", "O5"),
                   ("S3", 3.1, "TP-ALIPAY-POOL", "F", 200, "third_party", "O5"), ("S4", 4, "E", "A", 100, "bank")]
    lg = LedgerIndex.from_arrow(ledger_table(first))
    res = trace(lg, [Seed("v", transfer_id="V1")], policy=policy, min_amount=0)
    ext = extend(res, ledger_table(statement_b))
    full = trace(ext.result.ledger, [Seed("v", transfer_id="V1")], policy=policy, min_amount=0)
    key = ["account_id", "victim"]
    a = ext.result.holdings_table().sort_by([(k, "ascending") for k in key])
    b = full.holdings_table().sort_by([(k, "ascending") for k in key])
    assert a.column("account_id").equals(b.column("account_id"))
    for col in ("tainted_in_cents", "tainted_out_cents", "cashed_out_cents", "held_cents"):
        assert np.allclose(a.column(col).to_numpy(), b.column(col).to_numpy())
    assert {"E", "F"} <= set(ext.new_accounts)
    assert ext.reallocated_accounts < full.stats["accounts_loaded"] + 1


def test_freeze_plan_ranks_and_applies_legal_clocks(base):
    from datetime import UTC, datetime, timedelta

    res = trace(base, [Seed("v", transfer_id="V1")], policy="lifo", min_amount=0)
    now = datetime.fromtimestamp(T0 / 1000, UTC) + timedelta(minutes=10)
    plan = freeze_plan(res, now, previous_stops={"B": 2})
    items = {i.account: i for i in plan.items}
    assert items["B"].action is FreezeAction.FREEZE
    assert items["D"].action is FreezeAction.STOP_PAYMENT
    assert items["D"].expires_at - now == timedelta(hours=48)
    held_order = [i.held_cents for i in plan.items]
    assert held_order == sorted(held_order, reverse=True)
    assert sum(len(v) for v in plan.by_institution().values()) == len(plan.items)


def test_restitution_balances_to_the_cent():
    lg = LedgerIndex.from_arrow(ledger_table([
        ("V1", 0, "P1", "A", 1001, "bank"), ("V2", 1, "P2", "A", 1001, "bank"),
        ("V3", 2, "P3", "A", 1001, "bank"), ("V4", 3, "P4", "B", 700, "bank"),
    ]))
    res = trace(lg, [Seed(f"p{i}", transfer_id=f"V{i}") for i in range(1, 5)], min_amount=0)
    r = restitution(res, {"A": 1000, "B": 900, "NOT-TRACED": 50})
    per = r.per_victim()
    assert sum(per.values()) == 1000 + 700 and per["p4"] == 700
    assert sorted(per[p] for p in ("p1", "p2", "p3")) == [333, 333, 334]
    assert r.not_attributable == {"B": 200, "NOT-TRACED": 50}
    assert r.returned_total + sum(r.not_attributable.values()) == r.frozen_total
    assert all(ln.basis == "pro_rata" for ln in r.statement("p1"))
    with pytest.raises(RestitutionError):
        restitution(trace(lg, [Seed("p1", transfer_id="V1")], policy="poison"), {"A": 1})


@given(st.integers(0, 10**9), st.lists(st.floats(0.01, 1e6), min_size=1, max_size=20))
def test_largest_remainder_sums_exactly(total, weights):
    parts = largest_remainder(total, np.array(weights))
    assert parts.sum() == total and (parts >= 0).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["fifo", "lifo", "proportional"]))
def test_conservation_per_account(seed, policy):
    rng = np.random.default_rng(seed)
    n = 40
    rows = [(f"V{v}", v * 0.1, f"P{v}", f"A{rng.integers(6)}", int(rng.integers(100, 5000)), "bank") for v in range(3)]
    for i in range(n):
        a, b = rng.integers(8, size=2)
        ch = "atm" if rng.random() < 0.1 else "bank"
        rows.append((f"R{i}", 0.5 + rng.random() * 10, f"A{a}", None if ch == "atm" else f"A{b}",
                     int(rng.integers(1, 3000)), ch))
    lg = LedgerIndex.from_arrow(ledger_table(rows))
    res = trace(lg, [Seed(f"p{v}", transfer_id=f"V{v}") for v in range(3)], policy=policy, min_amount=0)
    assert np.allclose(res.h_in, res.h_out + res.h_cashed + res.h_held, atol=1e-6)
    s = res.summary
    assert s["held_cents"] + s["cashed_out_cents"] == pytest.approx(s["seeded_cents"], abs=1e-6)


@pytest.mark.parametrize("policy", ["fifo", "lifo", "proportional", "poison"])
def test_kernel_workspace_grows_and_gives_the_same_trace(policy, monkeypatch):
    """The kernel's fixed-capacity workspace reruns with room when a trace outgrows it."""
    from fanzha.tracing import kernels

    rng = np.random.default_rng(5)
    rows = [(f"V{v}", v * 0.1, f"P{v}", f"A{rng.integers(6)}", int(rng.integers(100, 5000)), "bank") for v in range(3)]
    for i in range(300):
        a, b = rng.integers(30, size=2)
        ch = "atm" if rng.random() < 0.05 else "bank"
        rows.append((f"R{i}", 0.5 + rng.random() * 10, f"A{a}", None if ch == "atm" else f"A{b}",
                     int(rng.integers(1, 3000)), ch))
    lg = LedgerIndex.from_arrow(ledger_table(rows))
    seeds = [Seed(f"p{v}", transfer_id=f"V{v}") for v in range(3)]
    roomy = trace(lg, seeds, policy=policy, min_amount=0)
    tiny = np.ones(kernels.N_CAPS, np.int64)
    monkeypatch.setattr(kernels, "_caps", tiny)
    grown = trace(lg, seeds, policy=policy, min_amount=0)
    used = np.delete(tiny, kernels.C_CACHED) if policy in ("proportional", "poison") else tiny
    assert (used > 1).all()  # every capacity class the policy uses had to grow
    for name in ("e_victim", "e_row", "e_taint", "e_level", "e_status", "p_in_row", "p_out_row", "p_amount"):
        assert np.array_equal(getattr(roomy, name), getattr(grown, name)), name
    assert roomy.e_row.size > 50


def test_dictionary_coded_columns_index_like_strings():
    """Dictionary columns are read by their codes; an order number repeated in the dictionary still pairs."""
    plain = ledger_table(BASE)
    orders = pa.DictionaryArray.from_arrays(pa.array([None, None, None, None, 0, 2, None], pa.int32()),
                                            pa.array(["O1", "O9", "O1"]))
    coded = plain.set_column(6, "order_no", orders)
    for c in ("from_account", "to_account", "channel"):
        i = coded.schema.get_field_index(c)
        coded = coded.set_column(i, c, pc.dictionary_encode(coded.column(c)))
    a, b = LedgerIndex.from_arrow(plain), LedgerIndex.from_arrow(coded)
    assert a.tp_pos.size == b.tp_pos.size == 1
    for attr in ("out_off", "dst", "time", "amount", "row", "in_off", "in_pos", "tp_pos", "tp_time", "tp_row"):
        assert np.array_equal(getattr(a, attr), getattr(b, attr)), attr
    assert b.tp_order.to_pylist() == ["O1"]
