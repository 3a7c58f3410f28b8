"""The console over HTTP without a browser: sign-in cookie, CSRF, roles, scoping, live fragments, headers."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from console_helpers import PASSWORD, csrf_of
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fanzha.response.service import create_user
from fanzha.store.models import AuditLog, Role


def _client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="http://testserver")


def _login(app: FastAPI, username: str) -> TestClient:
    c = _client(app)
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def _report(app: FastAPI, to_bank: str) -> dict[str, Any]:
    """A report through the JSON API (the console and the API share the store)."""
    c = _client(app)
    token = c.post("/api/auth/token", data={"username": "intake", "password": PASSWORD}).json()["access_token"]
    body = {"idempotency_key": uuid.uuid4().hex, "victim": {"number": "13800138000"},
            "transfers": [{"amount_cents": 10_000, "time": datetime.now(UTC).isoformat(), "to_bank": to_bank,
                           "to_account": f"6{uuid.uuid4().int % 10**15:015d}"}]}
    r = c.post("/api/cases", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    return case


def test_sign_in_sets_strict_httponly_cookies_and_lands_on_the_role_home(console_app: FastAPI) -> None:
    c = _client(console_app)
    page = c.get("/login")
    assert "fanzha_csrf" in page.cookies
    csrf_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in csrf_cookie and "samesite=strict" in csrf_cookie
    r = c.post("/login", data={"username": "desk-icbc", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/desk"
    cookies = [v.lower() for k, v in r.headers.multi_items() if k == "set-cookie"]
    session = next(v for v in cookies if v.startswith("fanzha_session="))
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    # the nonce is replaced at sign-in: a nonce planted before cannot be reused
    assert any(v.startswith("fanzha_csrf=") for v in cookies)
    assert c.cookies["fanzha_csrf"] != page.cookies["fanzha_csrf"]
    desk = c.get("/desk")
    assert desk.status_code == 200 and "desk-icbc" in desk.text
    for header in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert header in desk.headers
    assert "script-src 'self';" in desk.headers["content-security-policy"]
    assert desk.headers["cache-control"] == "no-store"


def test_wrong_password_is_refused_and_audited(console_app: FastAPI) -> None:
    c = _client(console_app)
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": "commander", "password": "nope", "csrf_token": token})
    assert r.status_code == 401 and "fanzha_session" not in r.cookies
    with console_app.state.db.read() as session:
        last = session.query(AuditLog).order_by(AuditLog.id.desc()).first()
        assert last is not None and last.action == "login_failed" and last.details["via"] == "console"


def test_posts_need_the_csrf_token_of_this_browser(console_app: FastAPI) -> None:
    c = _login(console_app, "desk-icbc")
    order = next(o for o in _report(console_app, "ICBC")["orders"] if o["addressee"] == "ICBC")
    url = f"/desk/orders/{order['id']}/acknowledge"
    assert c.post(url, data={}).status_code == 403
    other = _client(console_app)
    foreign = csrf_of(other.get("/login").text)  # valid for another browser's nonce only
    assert c.post(url, data={"csrf_token": foreign}).status_code == 403
    token = csrf_of(c.get("/desk").text)
    assert c.post(url, data={"csrf_token": token}, headers={"Origin": "http://evil.example"}).status_code == 403
    ok = c.post(url, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert ok.status_code == 200 and 'data-status="acknowledged"' in ok.text


def test_without_a_session_pages_go_to_sign_in_and_remember_where(console_app: FastAPI) -> None:
    c = _client(console_app)
    r = c.get("/cases?page=2", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fcases%3Fpage%3D2"
    htmx = c.get("/desk/queue", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"].startswith("/login")
    c.cookies.set("fanzha_session", "forged.token.value")
    assert c.get("/dashboard", follow_redirects=False).status_code == 303
    # next may only be a path on this site
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": "auditor", "password": PASSWORD, "csrf_token": token,
                               "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/audit"


@pytest.mark.parametrize(("username", "links", "home"), [
    ("commander", ["/dashboard", "/intake", "/cases", "/station", "/numbers"], "/dashboard"),
    ("intake", ["/dashboard", "/intake", "/cases"], "/intake"),
    ("stopper", ["/dashboard", "/cases", "/desk"], "/desk"),
    ("desk-cmcc", ["/desk"], "/desk"),
    ("station", ["/intake", "/cases", "/station"], "/station"),
    ("auditor", ["/audit"], "/audit"),
    ("admin", ["/dashboard", "/numbers", "/audit"], "/dashboard"),
])
def test_navigation_follows_the_role(console_app: FastAPI, username: str, links: list[str], home: str) -> None:
    c = _login(console_app, username)
    page = c.get("/", follow_redirects=False)
    assert page.headers["location"] == home
    html = c.get(home).text
    nav = re.search(r'<nav aria-label="[^"]+">(.*?)</nav>', html, re.S)
    assert nav is not None
    assert re.findall(r'href="([^"]+)"', nav.group(1)) == links
    for path in ("/dashboard", "/intake", "/cases", "/desk", "/station", "/numbers", "/audit"):
        expected = 200 if path in links else 403
        assert c.get(path).status_code == expected, (username, path)


def test_a_desk_cannot_see_or_act_on_another_organisations_order(console_app: FastAPI) -> None:
    order = next(o for o in _report(console_app, "ICBC")["orders"] if o["addressee"] == "ICBC")
    ccb = _login(console_app, "desk-ccb")
    token = csrf_of(ccb.get("/desk").text)
    page = ccb.get(f"/orders/{order['id']}")
    assert page.status_code == 404 and order["target"] not in page.text
    for action, data in (("acknowledge", {}), ("execute", {"amount_stopped": "1"}), ("reject", {"reason": "x"})):
        r = ccb.post(f"/desk/orders/{order['id']}/{action}", data={"csrf_token": token, **data})
        assert r.status_code == 404, action
    assert order["target"] not in ccb.get("/desk?show=all").text
    icbc = _login(console_app, "desk-icbc")
    assert order["target"] in icbc.get("/desk").text
    assert icbc.get(f"/orders/{order['id']}").status_code == 200


def test_desk_errors_come_back_on_the_card_and_a_done_order_cannot_be_redone(console_app: FastAPI) -> None:
    order = next(o for o in _report(console_app, "ICBC")["orders"] if o["addressee"] == "ICBC")
    c = _login(console_app, "desk-icbc")
    token = csrf_of(c.get("/desk").text)
    hx = {"HX-Request": "true", "X-CSRF-Token": token}
    url = f"/desk/orders/{order['id']}"
    missing = c.post(url + "/execute", data={"account_holder": "李四"}, headers=hx)
    assert missing.status_code == 200 and 'aria-invalid="true"' in missing.text and "李四" in missing.text
    bad_line = c.post(url + "/execute", data={"amount_stopped": "10", "statement": "yesterday, 5"}, headers=hx)
    assert "line 1" in bad_line.text
    empty_reason = c.post(url + "/reject", data={"reason": "  "}, headers=hx)
    assert "必填" in empty_reason.text
    done = c.post(url + "/reject", data={"reason": "账户已销户"}, headers=hx)
    assert 'data-status="rejected"' in done.text
    again = c.post(url + "/acknowledge", headers=hx)
    assert again.status_code == 200 and 'role="alert"' in again.text  # the conflict is said on the card
    no_js = c.post(url + "/acknowledge", data={"csrf_token": token})
    assert no_js.status_code == 409


def test_live_fragments_answer_204_when_nothing_changed_and_do_not_extend_the_session(console_app: FastAPI) -> None:
    c = _login(console_app, "commander")
    poll = {"HX-Request": "true", "X-Fanzha-Poll": "1"}
    first = c.get("/dashboard/live?period=day", headers=poll)
    assert first.status_code == 200 and "fanzha_session" not in first.headers.get("set-cookie", "")
    version = re.search(r'data-version="(\w+)"', first.text)
    assert version is not None
    same = c.get(f"/dashboard/live?period=day&v={version.group(1)}", headers=poll)
    assert same.status_code == 204
    _report(console_app, "ABC")
    changed = c.get(f"/dashboard/live?period=day&v={version.group(1)}", headers=poll)
    assert changed.status_code == 200 and 'data-version="' in changed.text
    # a page view, unlike a poll, re-issues the session cookie (sliding session)
    assert "fanzha_session=" in c.get("/dashboard").headers.get("set-cookie", "")


def test_intake_form_round_trip_and_validation(console_app: FastAPI) -> None:
    c = _login(console_app, "intake")
    page = c.get("/intake").text
    token, key = csrf_of(page), re.search(r'name="idempotency_key" value="(\w+)"', page)
    assert key is not None
    bad = c.post("/intake", data={"csrf_token": token, "idempotency_key": key.group(1), "victim_number": "12",
                                  "t0_amount": "abc", "t0_time": "2025-03-01T10:00", "t0_to_account": "1"})
    assert bad.status_code == 422
    assert bad.text.count('aria-invalid="true"') == 2 and 'value="12"' in bad.text
    form = {"csrf_token": token, "idempotency_key": key.group(1), "victim_number": "13800138000",
            "t0_amount": "800", "t0_time": "2025-03-01T10:00", "t0_to_bank": "BOC", "t0_to_account": "4563"}
    created = c.post("/intake", data=form, follow_redirects=False)
    assert created.status_code == 303 and re.fullmatch(r"/cases/\d+", created.headers["location"])
    again = c.post("/intake", data=form, follow_redirects=False)  # double submit: the same case
    assert again.headers["location"] == created.headers["location"]
    case = c.get(created.headers["location"])
    assert case.status_code == 200 and "4563" in case.text and "BOC" in case.text


def test_language_switch_and_browser_preference(console_app: FastAPI) -> None:
    c = _client(console_app)
    assert "Sign in" in c.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert "登录" in c.get("/login").text
    r = c.get("/lang/en?next=/login", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "Sign in" in c.get("/login").text
    assert c.get("/lang/en?next=https://evil.example", follow_redirects=False).headers["location"] == "/"


def test_a_deactivated_user_is_signed_out_at_once(console_app: FastAPI) -> None:
    with console_app.state.db.write() as session:
        user = create_user(session, f"temp-{uuid.uuid4().hex[:6]}", PASSWORD, Role.AUDITOR, "CENTER")
        name = user.username
    c = _login(console_app, name)
    assert c.get("/audit").status_code == 200
    with console_app.state.db.write() as session:
        from fanzha.store.models import User

        found = session.query(User).filter_by(username=name).one()
        found.active = False
    assert c.get("/audit", follow_redirects=False).status_code == 303


def test_case_page_freezes_the_stopped_money_and_returns_it(console_app: FastAPI) -> None:
    case = _report(console_app, "ICBC")
    stop = next(o for o in case["orders"] if o["kind"] == "stop_payment")
    icbc = _login(console_app, "desk-icbc")
    token = csrf_of(icbc.get("/desk").text)
    r = icbc.post(f"/desk/orders/{stop['id']}/execute", data={"csrf_token": token, "amount_stopped": "100"})
    assert r.status_code in (200, 303), r.text
    commander = _login(console_app, "commander")
    page = commander.get(f"/cases/{case['id']}").text
    assert f'data-testid="freeze-{stop["id"]}"' in page and 'data-testid="returns-table"' not in page
    r = commander.post(f"/cases/{case['id']}/orders/{stop['id']}/freeze", data={"csrf_token": csrf_of(page)},
                       follow_redirects=False)
    assert r.status_code == 303
    page = commander.get(f"/cases/{case['id']}").text
    assert f'data-testid="freeze-{stop["id"]}"' not in page  # frozen once, the button is gone
    freeze_id = int(re.findall(r'data-order-id="(\d+)"', page)[-1])
    assert freeze_id != stop["id"]
    r = icbc.post(f"/desk/orders/{freeze_id}/execute", data={"csrf_token": token, "amount_stopped": "100"})
    assert r.status_code in (200, 303), r.text
    # a station officer reads cases but may not hand money back
    station = _login(console_app, "station")
    denied = station.post(f"/cases/{case['id']}/returns", data={"csrf_token": csrf_of(station.get("/station").text)})
    assert denied.status_code == 403
    r = commander.post(f"/cases/{case['id']}/returns", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    page = commander.get(f"/cases/{case['id']}").text
    assert 'data-testid="returns-table"' in page and "100.00" in page
    dash = commander.get("/dashboard").text
    assert re.search(r'data-testid="metric-returned">[^<]*100', dash), "dashboard shows the returned money"


def test_case_page_shows_the_money_following_progress_live(console_app: FastAPI) -> None:
    case = _report(console_app, "ICBC")
    stop = next(o for o in case["orders"] if o["kind"] == "stop_payment")
    commander = _login(console_app, "commander")
    page = commander.get(f"/cases/{case['id']}").text
    assert "已办结 0/1 个止付/冻结指令" in page and 'id="case-progress"' in page
    version = re.search(r'id="case-progress"[^>]*data-version="([0-9a-f]+)"', page)
    assert version, "the progress fragment carries its version"
    unchanged = commander.get(f"/cases/{case['id']}/progress?v={version.group(1)}", headers={"HX-Request": "true"})
    assert unchanged.status_code == 204
    icbc = _login(console_app, "desk-icbc")
    token = csrf_of(icbc.get("/desk").text)
    icbc.post(f"/desk/orders/{stop['id']}/execute", data={"csrf_token": token, "amount_stopped": "60"})
    moved = commander.get(f"/cases/{case['id']}/progress?v={version.group(1)}", headers={"HX-Request": "true"})
    assert moved.status_code == 200 and "已办结 1/1" in moved.text and "60.00" in moved.text
    # a bank desk does not read cases, so it cannot poll one either
    assert _login(console_app, "desk-icbc").get(f"/cases/{case['id']}/progress").status_code == 403
