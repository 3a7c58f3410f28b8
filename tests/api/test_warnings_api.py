"""Warnings over real HTTP: a station sees and answers only its own; bank desks see none."""

from __future__ import annotations

import polars as pl
from api_helpers import PASSWORD, LiveServer

from fanzha.response.service import create_user
from fanzha.store.db import session_factory, session_scope
from fanzha.store.models import Role
from fanzha.warning.dispatch import dispatch
from fanzha.warning.store import save_dispatched

T0 = 1_800_000_000_000


def _seed_warnings(live: LiveServer) -> None:
    warnings = pl.DataFrame({
        "person": ["p-siming", "p-huli", "p-unknown"], "warned_at": [T0] * 3, "grade": [4, 3, 2],
        "graded_at": [T0] * 3, "p": [0.97, 0.92, 0.5], "elements": [["+8613900000000"]] * 3,
    })
    register = pl.DataFrame({"number": ["p-siming", "p-huli"], "district": ["思明区", "湖里区"],
                             "police_station": ["思明派出所", "湖里派出所"]})
    with session_scope(session_factory(live.url)) as session:
        save_dispatched(session, dispatch(warnings, register), "risk-test")
        create_user(session, "station-huli", PASSWORD, Role.STATION_OFFICER, "XM-HULI-PS")


def test_stations_see_and_answer_only_their_own_warnings(live: LiveServer) -> None:
    _seed_warnings(live)
    c = live.client
    mine = c.get("/api/warnings", headers=live.login("station"))
    assert mine.status_code == 200, mine.text
    assert [w["person"] for w in mine.json()] == ["p-siming"]
    w = mine.json()[0]
    assert (w["grade"], w["grade_zh"], w["channel"], w["status"]) == (4, "特危", "visit", "open")

    huli = c.get("/api/warnings", headers=live.login("station-huli")).json()
    assert [x["person"] for x in huli] == ["p-huli"]
    r = c.post(f"/api/warnings/{huli[0]['id']}/feedback", json={"state": "dissuaded"}, headers=live.login("station"))
    assert r.status_code == 404, r.text  # another station's warning does not exist for you

    r = c.post(f"/api/warnings/{w['id']}/feedback", json={"state": "not_reachable", "note": "关机"},
               headers=live.login("station"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["escalations"] == 1
    r = c.post(f"/api/warnings/{w['id']}/feedback", json={"state": "dissuaded"}, headers=live.login("station"))
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert [f["state"] for f in r.json()["feedback"]] == ["not_reachable", "dissuaded"]
    assert c.post(f"/api/warnings/{w['id']}/feedback", json={"state": "reached"},
                  headers=live.login("station")).status_code == 409
    assert c.post(f"/api/warnings/{w['id']}/feedback", json={"state": "maybe"},
                  headers=live.login("station")).status_code == 422
    assert c.get("/api/warnings", headers=live.login("station")).json() == []

    everything = c.get("/api/warnings", headers=live.login("commander")).json()
    assert {x["person"] for x in everything} == {"p-huli", "p-unknown"}  # open ones, every unit
    queue = c.get("/api/warnings", params={"address_resolution": True}, headers=live.login("commander")).json()
    assert [x["person"] for x in queue] == ["p-unknown"]

    assert c.get("/api/warnings", headers=live.login("desk-icbc")).status_code == 403
    assert c.post(f"/api/warnings/{huli[0]['id']}/feedback", json={"state": "reached"},
                  headers=live.login("desk-icbc")).status_code == 403
    audit = c.get("/api/audit", params={"object_type": "warning"}, headers=live.login("auditor")).json()
    assert {"feedback", "read"} <= {a["action"] for a in audit}
