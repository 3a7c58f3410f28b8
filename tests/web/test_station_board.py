"""The station board over HTTP: own warnings by grade, the feedback form with CSRF, the dashboard's tile."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from console_helpers import PASSWORD, csrf_of, make_app
from fastapi.testclient import TestClient
from sqlalchemy import select

from fanzha.store.db import session_factory, session_scope
from fanzha.store.models import WarningRecord
from fanzha.warning.dispatch import dispatch
from fanzha.warning.store import save_dispatched

T0 = 1_800_000_000_000


def _login(c: TestClient, username: str) -> None:
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(c.get("/login").text)},
               follow_redirects=False)
    assert r.status_code == 303, r.text


def test_station_board_lists_own_warnings_and_takes_feedback(tmp_path: Path) -> None:
    app = make_app(tmp_path / "ops.sqlite3")
    warnings = pl.DataFrame({"person": ["p-a", "p-b", "p-huli"], "warned_at": [T0] * 3, "grade": [2, 4, 3],
                             "graded_at": [T0] * 3, "p": [0.5, 0.97, 0.92], "elements": [["+8613900000000"]] * 3})
    register = pl.DataFrame({"number": ["p-a", "p-b", "p-huli"], "district": ["思明区", "思明区", "湖里区"],
                             "police_station": ["思明派出所", "思明派出所", "湖里派出所"]})
    with session_scope(session_factory(app.state.settings.sqlalchemy_url)) as session:
        save_dispatched(session, dispatch(warnings, register), "risk-test")
        ids = {person: wid for wid, person in session.execute(select(WarningRecord.id, WarningRecord.person))}
    c = TestClient(app, base_url="http://testserver")
    _login(c, "station")
    page = c.get("/station").text
    assert "p-huli" not in page  # another station's
    assert page.index("p-b") < page.index("p-a")  # 特危 before 中危
    assert "特危" in page and "中危" in page and 'name="state"' in page
    url = f"/station/warnings/{ids['p-b']}/feedback"
    assert c.post(url, data={"state": "dissuaded"}).status_code == 403  # no CSRF token
    r = c.post(url, data={"state": "dissuaded", "note": "已劝阻", "csrf_token": csrf_of(page)},
               headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/station"
    assert "p-b" not in c.get("/station").text  # closed
    foreign = c.post(f"/station/warnings/{ids['p-huli']}/feedback", data={"state": "reached",
                                                                          "csrf_token": csrf_of(page)})
    assert foreign.status_code == 404

    d = TestClient(app, base_url="http://testserver")
    _login(d, "commander")
    dash = d.get("/dashboard").text
    assert 'data-testid="metric-warnings">3<' in dash
    assert "33.3%" in dash  # one of three warnings has feedback
