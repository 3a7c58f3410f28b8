"""Reverse lookup: a simulated city checked against ground truth, a hand-built world for the edge cases,
and DuckDB and PySpark giving identical tables for the same query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from fanzha.analytics import AnalyticsError, DuckDBEngine, Engine, SparkEngine
from fanzha.contracts.schemas import ACCOUNTS, CALLS, SMS, TRANSFERS, URL_VISITS
from fanzha.sim import City
from fanzha.warning import CONTACTS, CaseElements, LookupInputError, city_tables, reverse_lookup
from fanzha.warning.lookup import APPS_NOTE

# ---------------------------------------------------------------- simulated city vs ground truth


def _city_window(city: City) -> tuple[datetime, datetime]:
    start = city.config.start
    return start - timedelta(days=1), start + timedelta(days=city.config.days + 2)


def _reports(city: City) -> list[dict[str, Any]]:
    return pl.read_parquet(city.out / "reports.parquet").to_dicts()


def _elements(report: dict[str, Any]) -> CaseElements:
    return CaseElements.of(
        numbers=report["fraud_numbers"] or [], accounts=report["fraud_accounts"] or [], domains=report["domains"] or []
    )


def _oracle(city: City, el: CaseElements) -> pl.DataFrame:
    """Per-person evidence computed independently with Polars from the raw tables (no SQL)."""
    fn = list(el.numbers)
    calls = pl.read_parquet(city.out / "calls.parquet")
    sms = pl.read_parquet(city.out / "sms.parquet")
    tr = pl.read_parquet(city.out / "transfers.parquet")
    acc = pl.read_parquet(city.out / "accounts.parquet").select("account_id", "holder_number")
    vis = pl.read_parquet(city.out / "url_visits.parquet")
    c_in = calls.filter(pl.col("caller").is_in(fn) & ~pl.col("callee").is_in(fn)).select(
        person="callee", t="start", d="duration_s", ch=pl.lit("call"), inbound=pl.lit(True)
    )
    c_out = calls.filter(pl.col("callee").is_in(fn) & ~pl.col("caller").is_in(fn)).select(
        person="caller", t="start", d="duration_s", ch=pl.lit("call"), inbound=pl.lit(False)
    )
    s_in = sms.filter(pl.col("sender").is_in(fn) & ~pl.col("recipient").is_in(fn)).select(
        person="recipient", t="time", d=pl.lit(None, pl.Int32), ch=pl.lit("sms"), inbound=pl.lit(True)
    )
    s_out = sms.filter(pl.col("recipient").is_in(fn) & ~pl.col("sender").is_in(fn)).select(
        person="sender", t="time", d=pl.lit(None, pl.Int32), ch=pl.lit("sms"), inbound=pl.lit(False)
    )
    t_hit = (
        tr.filter(pl.col("to_account").is_in(list(el.accounts)) & ~pl.col("from_account").is_in(list(el.accounts)))
        .join(acc, left_on="from_account", right_on="account_id")
        .filter(pl.col("holder_number").is_not_null() & ~pl.col("holder_number").is_in(fn))
    )
    v_hit = vis.filter(pl.col("domain").str.to_lowercase().is_in(list(el.domains)) & ~pl.col("number").is_in(fn))
    phone = pl.concat([c_in, c_out, s_in, s_out])
    per_phone = phone.group_by("person").agg(
        calls=(pl.col("ch") == "call").sum(),
        calls_in=((pl.col("ch") == "call") & pl.col("inbound")).sum(),
        call_s_total=pl.col("d").filter(pl.col("ch") == "call").sum(),
        sms=(pl.col("ch") == "sms").sum(),
        first_phone=pl.col("t").min(),
    )
    per_tr = t_hit.group_by(person="holder_number").agg(
        transfers=pl.len(), transfer_cents=pl.col("amount_cents").sum(), first_transfer_at=pl.col("time").min()
    )
    per_vis = v_hit.group_by(person="number").agg(visits=pl.len(), first_visit_at=pl.col("time").min())
    out = per_phone.join(per_tr, on="person", how="full", coalesce=True).join(
        per_vis, on="person", how="full", coalesce=True
    )
    return out.fill_null(strategy="zero").sort("person") if out.height else out


@pytest.fixture(scope="module")
def city_results() -> dict[str, pa.Table]:
    """Whole-city lookups by engine name, so each engine runs the (slowest) city query once."""
    return {}


def _city_lookup(city: City, el: CaseElements, engine: Engine, cache: dict[str, pa.Table]) -> pa.Table:
    if engine.name not in cache:
        since, until = _city_window(city)
        cache[engine.name] = reverse_lookup(engine, city_tables(city.out), el, since, until).contacts
    return cache[engine.name]


@pytest.fixture(scope="module")
def city_all_elements(lookup_city: City) -> CaseElements:
    reports = _reports(lookup_city)
    return CaseElements.of(
        numbers=[n for r in reports for n in r["fraud_numbers"] or []],
        accounts=[a for r in reports for a in r["fraud_accounts"] or []],
        domains=[d for r in reports for d in r["domains"] or []],
    )


def _earliest_touch(city: City, report: dict[str, Any]) -> datetime:
    """Earliest call, SMS, visit or flagged payment linking the victim to the report's elements (Polars)."""
    v, fn = report["victim_number"], report["fraud_numbers"]
    calls = pl.read_parquet(city.out / "calls.parquet").filter(
        ((pl.col("caller") == v) & pl.col("callee").is_in(fn)) | ((pl.col("callee") == v) & pl.col("caller").is_in(fn))
    )
    sms = pl.read_parquet(city.out / "sms.parquet").filter(
        ((pl.col("sender") == v) & pl.col("recipient").is_in(fn))
        | ((pl.col("recipient") == v) & pl.col("sender").is_in(fn))
    )
    visits = pl.read_parquet(city.out / "url_visits.parquet").filter(
        (pl.col("number") == v) & pl.col("domain").is_in(report["domains"] or [])
    )
    paid = pl.read_parquet(city.out / "transfers.parquet").filter(
        pl.col("transfer_id").is_in(report["transfer_ids"]) & pl.col("to_account").is_in(report["fraud_accounts"])
    )
    times = [calls["start"].min(), sms["time"].min(), visits["time"].min(), paid["time"].min()]
    return min(t for t in times if t is not None)


def test_reported_victims_found_with_their_evidence(lookup_city: City, duckdb_engine: DuckDBEngine) -> None:
    """Each report's elements lead back to its victim, with first contact and payments as ground truth has them."""
    reports = _reports(lookup_city)
    assert len(reports) >= 5
    gt = pl.read_parquet(lookup_city.out / "gt_victims.parquet")
    transfers = pl.read_parquet(lookup_city.out / "transfers.parquet")
    since, until = _city_window(lookup_city)
    tables = city_tables(lookup_city.out)
    for report in reports:
        res = reverse_lookup(duckdb_engine, tables, _elements(report), since, until).to_polars()
        rows = res.filter(pl.col("number") == report["victim_number"])
        assert rows.height == 1, f"victim of {report['report_id']} not found"
        v = rows.row(0, named=True)
        truth = gt.filter(pl.col("number") == report["victim_number"]).row(0, named=True)
        # the case's first contact, or an earlier touch by the same elements (e.g. a blitz SMS before the call)
        assert v["first_contact_at"] <= truth["first_contact"]
        assert v["first_contact_at"] == _earliest_touch(lookup_city, report)
        paid = transfers.filter(
            pl.col("transfer_id").is_in(report["transfer_ids"]) & pl.col("to_account").is_in(report["fraud_accounts"])
        )
        assert v["transfers"] == paid.height
        assert v["transfer_cents"] == paid["amount_cents"].sum()
        assert v["transfer_cents"] <= truth["loss_cents"]
        assert v["first_transfer_at"] == paid["time"].min()
        assert set(v["matched_accounts"]) == set(paid["to_account"])
        assert set(v["matched_numbers"]) <= set(report["fraud_numbers"])
        assert v["calls"] + v["sms"] + v["visits"] > 0  # reached by phone or link before paying
        if paid.height:
            assert v["first_contact_at"] <= v["first_transfer_at"]


def test_city_lookup_matches_independent_oracle(
    lookup_city: City, city_all_elements: CaseElements, engine: Engine, city_results: dict[str, pa.Table]
) -> None:
    """All reports at once: the set of people and their per-channel counts equal a Polars re-computation."""
    res = pl.from_arrow(_city_lookup(lookup_city, city_all_elements, engine, city_results))
    assert isinstance(res, pl.DataFrame)
    want = _oracle(lookup_city, city_all_elements)
    assert res.height == want.height > 50
    got = res.select(
        person="number",
        calls="calls",
        calls_in="calls_in",
        call_s_total="call_s_total",
        sms="sms",
        transfers="transfers",
        transfer_cents="transfer_cents",
        visits="visits",
    ).sort("person")
    cols = got.columns
    assert got.to_dicts() == want.select(cols).cast(dict(got.schema)).to_dicts()
    fraud = set(city_all_elements.numbers)
    assert not fraud & set(res["number"].to_list()), "fraud numbers must not be listed as contacts"


@pytest.mark.spark
def test_city_lookup_identical_on_duckdb_and_spark(
    lookup_city: City,
    city_all_elements: CaseElements,
    duckdb_engine: DuckDBEngine,
    spark_engine: SparkEngine,
    city_results: dict[str, pa.Table],
) -> None:
    a = _city_lookup(lookup_city, city_all_elements, duckdb_engine, city_results)
    b = _city_lookup(lookup_city, city_all_elements, spark_engine, city_results)
    assert a.num_rows > 50
    assert a.schema.equals(b.schema)
    assert a.equals(b)


# ---------------------------------------------------------------- a hand-built world for the edge cases

T0 = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
MS = timedelta(milliseconds=1)
F1, F2 = "+8617000000001", "+8617000000002"
A, B, C, D, E, G, H = (f"+861390000000{i}" for i in range(1, 8))


def _t(delta: timedelta) -> datetime:
    return T0 + delta


def _world() -> dict[str, pa.Table]:
    m = timedelta(minutes=1)
    calls = [
        (F1, A, _t(0 * m), 30),  # exactly at since: included
        (A, F1, _t(10 * m), 0),  # A calls back, unanswered
        (F2, A, _t(20 * m), 120),  # latest call, tied in time with the next
        (F1, A, _t(20 * m), 60),
        (F1, F2, _t(5 * m), 300),  # fraud to fraud: nobody's evidence
        (B, F2, T1, 50),  # exactly at until: excluded
        (B, F2, T1 - MS, 40),  # last millisecond inside
        (F1, C, T0 - MS, 10),  # just before since: excluded
        (D, E, _t(30 * m), 99),  # no fraud party
    ]
    sms = [(F1, D, _t(1 * m)), (D, F1, _t(2 * m)), (F2, F1, _t(3 * m))]
    accounts = [
        ("ACC_A", A),
        ("ACC_G", G),
        ("ACC_H", None),
        ("ACC_F", F1),
        ("MULE1", None),
        ("MULE2", None),
    ]
    transfers = [
        ("T1", _t(15 * m), "ACC_G", "MULE1", 10_000),
        ("T2", _t(40 * m), "ACC_G", "MULE2", 5_000),
        ("T3", _t(41 * m), "MULE1", "MULE2", 15_000),  # mule to mule
        ("T4", _t(42 * m), "ACC_H", "MULE1", 700),  # payer account without a holder number
        ("T5", _t(43 * m), "ACC_F", "MULE1", 800),  # paid by a fraud number's own account
        ("T6", _t(120 * m), "ACC_A", "MULE1", 900),  # after the window
        ("T7", _t(44 * m), "ACC_A", None, 100),  # cash-out without receiver
    ]
    visits = [
        (E, _t(50 * m), "http://EVIL.example/x", "EVIL.example"),
        (F1, _t(51 * m), "http://evil.example/", "evil.example"),
        (H, _t(52 * m), "http://sub.evil.example/", "sub.evil.example"),
    ]
    return {
        "calls": pa.Table.from_pylist(
            [
                {
                    "caller": a,
                    "callee": b,
                    "start": t,
                    "duration_s": d,
                    "ingress": "local",
                    "cell_id": None,
                    "imei": None,
                }
                for a, b, t, d in calls
            ],
            schema=CALLS,
        ),
        "sms": pa.Table.from_pylist(
            [{"sender": a, "recipient": b, "time": t, "text": None} for a, b, t in sms], schema=SMS
        ),
        "accounts": pa.Table.from_pylist(
            [
                {
                    "account_id": i,
                    "kind": "bank",
                    "institution": "XMBANK",
                    "holder_id_hash": None,
                    "holder_number": n,
                    "registration_quality": "verified",
                    "opened_at": None,
                }
                for i, n in accounts
            ],
            schema=ACCOUNTS,
        ),
        "transfers": pa.Table.from_pylist(
            [
                {
                    "transfer_id": i,
                    "time": t,
                    "from_account": f,
                    "to_account": to,
                    "amount_cents": c,
                    "channel": "bank",
                    "order_no": None,
                }
                for i, t, f, to, c in transfers
            ],
            schema=TRANSFERS,
        ),
        "url_visits": pa.Table.from_pylist(
            [{"number": n, "time": t, "url": u, "domain": d} for n, t, u, d in visits], schema=URL_VISITS
        ),
    }


WORLD_ELEMENTS = CaseElements.of(numbers=[F1, F2], accounts=["MULE1", "MULE2"], domains=["Evil.Example."])


@pytest.fixture(scope="module")
def world_results() -> dict[str, pa.Table]:
    """Filled lazily per engine so each engine runs the world query once."""
    return {}


@pytest.mark.spark
def test_world_identical_on_duckdb_and_spark(duckdb_engine: DuckDBEngine, spark_engine: SparkEngine) -> None:
    a = reverse_lookup(duckdb_engine, _world(), WORLD_ELEMENTS, T0, T1).contacts
    b = reverse_lookup(spark_engine, _world(), WORLD_ELEMENTS, T0, T1).contacts
    assert a.num_rows == 5 and a.equals(b)


@pytest.fixture
def world(engine: Engine, world_results: dict[str, pa.Table]) -> dict[str, dict[str, Any]]:
    if engine.name not in world_results:
        world_results[engine.name] = reverse_lookup(engine, _world(), WORLD_ELEMENTS, T0, T1).contacts
    return {r["number"]: r for r in world_results[engine.name].to_pylist()}


def test_world_finds_exactly_the_people_in_contact(world: dict[str, dict[str, Any]]) -> None:
    # C only before the window; F1/F2 are the fraud side; H visited a subdomain, which is not listed.
    assert sorted(world) == sorted([A, B, D, E, G])


def test_calls_in_both_directions_with_durations(world: dict[str, dict[str, Any]]) -> None:
    a = world[A]
    assert (a["calls"], a["calls_in"], a["calls_out"], a["calls_answered"]) == (4, 3, 1, 3)
    assert a["call_s_total"] == 30 + 0 + 120 + 60
    assert a["call_s_last"] == 120  # two calls at the same latest instant: the longer one
    assert a["last_call_at"] == _t(timedelta(minutes=20))
    assert a["first_contact_at"] == T0  # since is inclusive
    assert a["matched_numbers"] == [F1, F2]
    assert (a["sms"], a["transfers"], a["visits"]) == (0, 0, 0)
    assert a["matched_accounts"] == [] and a["matched_domains"] == []


def test_window_until_is_exclusive(world: dict[str, dict[str, Any]]) -> None:
    b = world[B]
    assert (b["calls"], b["calls_out"], b["call_s_total"]) == (1, 1, 40)
    assert b["last_contact_at"] == T1 - MS


def test_sms_both_directions_and_fraud_to_fraud_excluded(world: dict[str, dict[str, Any]]) -> None:
    d = world[D]
    assert (d["sms"], d["sms_in"], d["sms_out"], d["calls"]) == (2, 1, 1, 0)
    assert d["matched_numbers"] == [F1]
    assert F1 not in world and F2 not in world


def test_transfers_to_flagged_accounts_via_holder_number(world: dict[str, dict[str, Any]]) -> None:
    g = world[G]
    assert (g["transfers"], g["transfer_cents"]) == (2, 15_000)
    assert g["first_transfer_at"] == _t(timedelta(minutes=15))
    assert g["matched_accounts"] == ["MULE1", "MULE2"]
    assert g["calls"] == 0 and g["matched_numbers"] == []
    assert A in world and world[A]["transfers"] == 0  # A's payment fell after the window


def test_domain_visits_case_insensitive_fraud_side_excluded(world: dict[str, dict[str, Any]]) -> None:
    e = world[E]
    assert (e["visits"], e["matched_domains"]) == (1, ["evil.example"])
    assert e["first_visit_at"] == e["first_contact_at"] == _t(timedelta(minutes=50))
    assert e["calls"] == 0  # D→E call had no fraud party


def test_unknown_elements_give_empty_result(engine: Engine) -> None:
    el = CaseElements.of(numbers=["+8617099999999"], accounts=["NOPE"], domains=["nowhere.example"])
    res = reverse_lookup(engine, _world(), el, T0, T1)
    assert res.contacts.num_rows == 0
    assert res.contacts.schema.equals(CONTACTS)


def test_empty_elements_give_empty_result_and_apps_are_noted(duckdb_engine: DuckDBEngine) -> None:
    res = reverse_lookup(duckdb_engine, _world(), CaseElements(), T0, T1)
    assert res.contacts.num_rows == 0 and res.contacts.schema.equals(CONTACTS)
    res = reverse_lookup(duckdb_engine, _world(), CaseElements.of(apps=["com.fake.loan"]), T0, T1)
    assert res.contacts.num_rows == 0 and APPS_NOTE in res.notes


def test_missing_table_is_searched_as_empty_and_noted(duckdb_engine: DuckDBEngine) -> None:
    tables = {k: v for k, v in _world().items() if k != "url_visits"}
    res = reverse_lookup(duckdb_engine, tables, WORLD_ELEMENTS, T0, T1)
    assert E not in res.contacts.column("number").to_pylist()
    assert any(n.startswith("url_visits") for n in res.notes)


def test_elements_are_normalised() -> None:
    el = CaseElements.of(numbers=["139 0000 0001", "+8613900000001", "13900000001"], domains=["HTTPS://Evil.Example/a"])
    assert el.numbers == ("+8613900000001",)
    assert el.domains == ("evil.example",)


@pytest.mark.parametrize(
    "since, until, match",
    [
        (datetime(2026, 11, 3), T1, "time-zone aware"),
        (T1, T0, "empty window"),
        (T0, T0, "empty window"),
    ],
)
def test_bad_window_is_refused(duckdb_engine: DuckDBEngine, since: datetime, until: datetime, match: str) -> None:
    with pytest.raises(LookupInputError, match=match):
        reverse_lookup(duckdb_engine, _world(), WORLD_ELEMENTS, since, until)


def test_bad_elements_and_tables_are_refused(duckdb_engine: DuckDBEngine, tmp_path: Any) -> None:
    with pytest.raises(LookupInputError, match="not a phone number"):
        CaseElements.of(numbers=["call me maybe"])
    with pytest.raises(LookupInputError, match="not a domain"):
        CaseElements.of(domains=["bad domain!"])
    with pytest.raises(LookupInputError, match="element lists"):
        CaseElements.of(numbers="+8613900000001")
    with pytest.raises(LookupInputError, match="unknown tables"):
        reverse_lookup(duckdb_engine, {"cals": _world()["calls"]}, WORLD_ELEMENTS, T0, T1)
    with pytest.raises(AnalyticsError, match="no such Parquet"):
        reverse_lookup(duckdb_engine, {"calls": tmp_path / "missing"}, WORLD_ELEMENTS, T0, T1)
    with pytest.raises(LookupInputError, match="no such data folder"):
        city_tables(tmp_path / "missing")


# ---------------------------------------------------------------- the number-keyed layout the lookup scans


def _calls(rows: list[tuple[str, str, int]]) -> pa.Table:
    t0 = datetime(2026, 11, 3, 1, tzinfo=UTC)
    return pa.table(
        {
            "caller": [r[0] for r in rows],
            "callee": [r[1] for r in rows],
            "start": pa.array([t0 + timedelta(minutes=r[2]) for r in rows], pa.timestamp("ms", tz="UTC")),
            "duration_s": pa.array([30] * len(rows), pa.int32()),
            "ingress": ["local"] * len(rows),
            "cell_id": [None] * len(rows),
            "imei": [None] * len(rows),
        },
        schema=CALLS,
    )


def test_e164_digits_round_trip_and_malformed_numbers_are_refused() -> None:
    from fanzha.analytics import e164_to_int64, int64_to_e164

    raw = pa.array(["+8613900000001", "+8695588", "+14155550100", "+8610690123"])
    ints = e164_to_int64(raw)
    assert ints.type == pa.int64()
    assert int64_to_e164(ints).to_pylist() == raw.to_pylist()
    for bad in ["13900000001", "+0861", "+86 139", "+1234567890123456789", ""]:
        with pytest.raises(AnalyticsError, match=r"not an E\.164 number"):
            e164_to_int64(pa.array(["+8613900000001", bad]))


def test_layout_is_derived_once_refreshed_on_change_and_stale_parts_removed(tmp_path: Any) -> None:
    import os

    import pyarrow.parquet as pq

    from fanzha.warning.lookup import LOOKUP_LAYOUT, prepare_lookup

    fraud = "+8617000000001"
    folder = tmp_path / "calls"
    folder.mkdir()
    pq.write_table(_calls([(fraud, "+8613900000001", 0)]), folder / "part-0.parquet")
    pq.write_table(_calls([("+8613900000002", fraud, 1)]), folder / "part-1.parquet")
    layout = prepare_lookup({"calls": folder})["calls"]
    assert layout == tmp_path / "_analytics" / "calls" / LOOKUP_LAYOUT
    first = sorted(layout.glob("*.parquet"))
    assert len(first) == 2 and pq.read_schema(first[0]).field("caller").type == pa.int64()
    stamps = {p.name: p.stat().st_mtime_ns for p in first}

    el = CaseElements.of(numbers=[fraud])
    since, until = datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC)
    engine = DuckDBEngine()
    found = reverse_lookup(engine, {"calls": folder}, el, since, until).contacts.column("number").to_pylist()
    assert found == ["+8613900000001", "+8613900000002"]
    assert {p.name: p.stat().st_mtime_ns for p in layout.glob("*.parquet")} == stamps  # reused, not rewritten

    pq.write_table(_calls([(fraud, "+8613900000003", 2)]), folder / "part-1.parquet")  # a part replaced
    os.utime(folder / "part-1.parquet", ns=(1, 1))
    (folder / "part-0.parquet").unlink()  # and one removed
    found = reverse_lookup(engine, {"calls": folder}, el, since, until).contacts.column("number").to_pylist()
    assert found == ["+8613900000003"]
    assert len(list(layout.glob("*.parquet"))) == 1
    engine.close()


def test_malformed_number_in_data_is_a_clear_error(tmp_path: Any) -> None:
    import pyarrow.parquet as pq

    pq.write_table(_calls([("+8617000000001", "anonymous", 0)]), tmp_path / "calls.parquet")
    el = CaseElements.of(numbers=["+8617000000001"])
    since, until = datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC)
    with pytest.raises(AnalyticsError, match=r"calls\.callee holds a value that is not an E\.164 number"):
        reverse_lookup(DuckDBEngine(), {"calls": tmp_path / "calls.parquet"}, el, since, until)
