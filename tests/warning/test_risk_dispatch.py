"""Risk features, grades, one warning per person, dispatch by jurisdiction, escalation."""

from __future__ import annotations

import numpy as np
import polars as pl

from fanzha.warning.dispatch import ADDRESS_RESOLUTION, Feedback, dispatch, escalate
from fanzha.warning.risk import WarningGrade, contact_evidence, grade_of

MIN = 60_000
T0 = 1_800_000_000_000


def test_grades_follow_the_documented_thresholds() -> None:
    g = grade_of(np.array([0.0, 0.29, 0.3, 0.89, 0.9, 0.949, 0.95, 1.0]))
    assert g.tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert WarningGrade.CRITICAL.zh == "特危" and WarningGrade.LOW.zh == "低危"


def test_contact_evidence_accumulates_per_person_and_decides_at_the_later_of_contact_and_flag() -> None:
    events = pl.DataFrame({
        "src": ["F", "F", "p", "F", "q"],
        "dst": ["p", "p", "F", "G", "r"],
        "time": [T0, T0 + 10 * MIN, T0 + 20 * MIN, T0, T0],
        "kind": [0, 0, 0, 0, 0],
        "duration_s": [30, 1800, 60, 10, 100],
    })
    flagged = pl.DataFrame({"number": ["F", "G"], "flagged_at": [T0 + 5 * MIN, T0]})
    visits = pl.DataFrame({"number": ["p"], "time": [T0 + 25 * MIN], "domain": ["bad.top"]})
    domains = pl.DataFrame({"domain": ["bad.top"], "flagged_at": [T0]})
    rows = contact_evidence(events, visits, flagged, domains)
    assert set(rows["person"].to_list()) == {"p"}  # F→G is fraud-to-fraud; q→r is not evidence
    p = rows.sort("decided_at")
    assert p["decided_at"].to_list()[0] == T0 + 5 * MIN  # the first call was before F was flagged
    last = p.row(-1, named=True)
    assert last["calls"] == 3 and last["calls_out"] == 1 and last["visits"] == 1
    # the 30-minute call ended last (at +40 min), after the visit: it is the latest evidence
    assert last["call_s_total"] == 30 + 1800 + 60 and last["call_s_max"] == 1800 and last["call_s_last"] == 1800
    visit = p.filter(pl.col("channel") == "visit").row(0, named=True)
    assert visit["call_s_last"] == 60 and visit["calls"] == 2


def test_dispatch_routes_by_jurisdiction_with_grade_deadlines_and_escalates() -> None:
    warnings = pl.DataFrame({
        "person": ["a", "b", "c"],
        "warned_at": [T0 + 2 * MIN, T0, T0 + MIN],
        "grade": [4, 3, 1],
    })
    register = pl.DataFrame({"number": ["a", "b"], "district": ["思明区", "湖里区"],
                             "police_station": ["中华派出所", "殿前派出所"]})
    d = dispatch(warnings, register)
    assert d["person"].to_list() == ["b", "c", "a"]  # first found, first pushed
    row = {r["person"]: r for r in d.iter_rows(named=True)}
    assert row["a"]["channel"] == "visit" and row["a"]["deadline_at"] == T0 + 7 * MIN
    assert row["b"]["channel"] == "call" and row["b"]["deadline_at"] == T0 + 10 * MIN
    assert row["c"]["station"] == ADDRESS_RESOLUTION  # unknown jurisdiction
    feedback = pl.DataFrame({"person": ["a", "b"], "state": [Feedback.DISSUADED.value, Feedback.NOT_REACHABLE.value],
                             "at": [T0 + 3 * MIN, T0 + 4 * MIN]})
    up = escalate(d, feedback, now=T0 + 30 * MIN)
    got = {r["person"]: (r["channel"], r["reason"]) for r in up.iter_rows(named=True)}
    assert got == {"b": ("visit", "not_reachable"), "c": ("call", "deadline_missed")}
