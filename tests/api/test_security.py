"""Who sees and does what: a role × endpoint matrix over real HTTP, organisation scoping, audit, tokens, rate limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import PASSWORD, LiveServer, live_server, report_body
from sqlalchemy import select

from fanzha.settings import DEV_SECRET, Settings
from fanzha.store.db import session_factory, session_scope, upgrade
from fanzha.store.models import AuditLog

USERS = {
    "intake_officer": "intake", "stop_payment_specialist": "stopper", "fund_analyst": "analyst",
    "commander": "commander", "bank_desk": "desk-icbc", "carrier_desk": "desk-cmcc", "payment_desk": "desk-alipay",
    "station_officer": "station", "admin": "admin", "auditor": "auditor",
}
CENTER = {"intake_officer", "stop_payment_specialist", "fund_analyst", "commander"}
ALL = set(USERS)


def _expect(ok: set[str], hidden: set[str] = frozenset(), ok_code: int = 200) -> dict[str, int]:  # type: ignore[assignment]
    """ok → ok_code, hidden → 404 (a foreign organisation's object), everyone else → 403."""
    return {role: ok_code if role in ok else 404 if role in hidden else 403 for role in ALL}


OTHER_DESKS = {"carrier_desk", "payment_desk"}
MATRIX: dict[str, dict[str, int]] = {
    "POST /api/cases": _expect({"intake_officer", "station_officer", "commander"}, ok_code=201),
    "GET /api/cases": _expect(CENTER | {"station_officer"}),
    "GET /api/cases/{case}": _expect(CENTER | {"station_officer"}),
    "GET /api/desk/orders": _expect({"bank_desk", "carrier_desk", "payment_desk", "stop_payment_specialist"}),
    "GET /api/orders": _expect(CENTER),
    "GET /api/orders/{order}": _expect(CENTER | {"bank_desk"}, hidden=OTHER_DESKS),
    "POST /api/orders/{order}/acknowledge": _expect({"bank_desk"}, hidden=OTHER_DESKS | {"stop_payment_specialist"}),
    "POST /api/orders/{order}/reject": _expect({"bank_desk"}, hidden=OTHER_DESKS | {"stop_payment_specialist"}),
    "GET /api/audit": _expect({"auditor", "admin"}),
    "PUT /api/organisations/ICBC/webhook": _expect({"admin", "bank_desk"}, hidden=OTHER_DESKS),
    "GET /api/organisations": _expect(ALL),
}
CASES = [(endpoint, role, code) for endpoint, codes in MATRIX.items() for role, code in sorted(codes.items())]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'api.sqlite3'}"
    upgrade(url)
    with live_server(Settings(database_url=url, env="test", escalation_interval_seconds=0,
                              outbox_interval_seconds=0, login_attempts_per_minute=1000)) as server:
        yield server


_counter = iter(range(10**6))


@pytest.mark.parametrize(("endpoint", "role", "expected"), CASES, ids=[f"{e}|{r}" for e, r, _ in CASES])
def test_role_matrix(shared: LiveServer, endpoint: str, role: str, expected: int) -> None:
    n = next(_counter)
    case = shared.report(report_body(1000 + n), f"matrix-{n}").json()
    icbc = next(o for o in case["orders"] if o["addressee"] == "ICBC")
    method, path = endpoint.split(" ")
    path = path.replace("{case}", str(case["id"])).replace("{order}", str(icbc["id"]))
    body: dict[str, object] | None = None
    headers = shared.login(USERS[role])
    if path == "/api/cases":
        body = report_body(5000 + n)
        headers = headers | {"Idempotency-Key": f"matrix-post-{n}"}
    elif path.endswith("/reject"):
        body = {"reason": "not ours"}
    elif path.endswith("/webhook"):
        body = {"url": "http://127.0.0.1:9/hook", "secret": "s" * 32}
    r = shared.client.request(method, path, json=body, headers=headers)
    assert r.status_code == expected, f"{role} {endpoint}: {r.status_code} {r.text[:200]}"


def test_no_token_is_401(shared: LiveServer) -> None:
    for path in ("/api/cases", "/api/desk/orders", "/api/audit", "/api/auth/me"):
        r = shared.client.get(path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    forged = {"Authorization": "Bearer " + shared.login("admin")["Authorization"].split()[1][:-4] + "AAAA"}
    assert shared.client.get("/api/auth/me", headers=forged).status_code == 401


def test_me_names_the_role_and_organisation(shared: LiveServer) -> None:
    me = shared.client.get("/api/auth/me", headers=shared.login("desk-icbc")).json()
    assert (me["role"], me["organisation"], me["organisation_kind"]) == ("bank_desk", "ICBC", "bank")


def test_a_bank_cannot_see_or_act_on_another_banks_order(live: LiveServer) -> None:
    case = live.report(report_body(1), "scope-1").json()
    icbc = next(o for o in case["orders"] if o["addressee"] == "ICBC")
    ccb = live.login("desk-ccb")
    assert live.client.get(f"/api/orders/{icbc['id']}", headers=ccb).status_code == 404
    for action, body in (("acknowledge", None), ("execute", {"amount_stopped_cents": 1}), ("reject", {"reason": "x"})):
        r = live.client.post(f"/api/orders/{icbc['id']}/{action}", json=body, headers=ccb)
        assert r.status_code == 404, action
    assert live.client.get("/api/orders/999999", headers=ccb).status_code == 404  # same answer as a foreign id
    mine = live.client.get("/api/desk/orders", params={"case_id": case["id"]}, headers=ccb).json()
    assert {o["addressee"] for o in mine} == {"CCB"}
    # The ICBC order is untouched.
    assert live.client.get(f"/api/orders/{icbc['id']}", headers=live.login("desk-icbc")).json()["status"] == "pending"


def test_every_personal_data_read_is_audited(live: LiveServer) -> None:
    case = live.report(report_body(2), "audit-1").json()
    icbc = next(o for o in case["orders"] if o["addressee"] == "ICBC")
    assert live.client.get(f"/api/cases/{case['id']}", headers=live.login("analyst")).status_code == 200
    assert live.client.get(f"/api/cases/{case['id']}", headers=live.login("station")).status_code == 200
    live.client.post(f"/api/orders/{icbc['id']}/execute", json={"amount_stopped_cents": 5, "account_holder": "李四"},
                     headers=live.login("desk-icbc"))
    assert live.client.get(f"/api/orders/{icbc['id']}", headers=live.login("commander")).status_code == 200

    log = live.client.get("/api/audit", params={"personal_data": True}, headers=live.login("auditor")).json()
    seen = [(a["username"], a["action"], a["object_type"], a["object_id"]) for a in reversed(log)]
    assert seen == [
        ("intake", "create", "case", str(case["id"])),
        ("analyst", "read", "case", str(case["id"])),
        ("station", "read", "case", str(case["id"])),
        ("desk-icbc", "execute", "order", str(icbc["id"])),
        ("commander", "read", "order", str(icbc["id"])),
    ]
    with session_scope(session_factory(live.url)) as s:
        roles = {a.username: a.role for a in s.scalars(select(AuditLog).where(AuditLog.personal_data.is_(True)))}
    assert roles["analyst"] == "fund_analyst"


def test_login_is_rate_limited_per_username_and_ip(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rate.sqlite3'}"
    upgrade(url)
    settings = Settings(database_url=url, env="test", escalation_interval_seconds=0, outbox_interval_seconds=0,
                        login_attempts_per_minute=3)
    with live_server(settings) as server:
        codes = [server.client.post("/api/auth/token", data={"username": "admin", "password": "wrong"}).status_code
                 for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        r = server.client.post("/api/auth/token", data={"username": "admin", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # even the right password waits
        other = server.client.post("/api/auth/token", data={"username": "auditor", "password": PASSWORD})
        assert other.status_code == 200  # another username from the same IP has its own bucket
        with session_scope(session_factory(url)) as s:
            failed = s.scalars(select(AuditLog).where(AuditLog.action == "login_failed")).all()
            assert len(failed) == 3


def test_tokens_expire(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'exp.sqlite3'}"
    upgrade(url)
    settings = Settings(database_url=url, env="test", escalation_interval_seconds=0, outbox_interval_seconds=0,
                        access_token_minutes=0.05)
    with live_server(settings) as server:
        token = server.client.post("/api/auth/token", data={"username": "intake", "password": PASSWORD}).json()
        assert token["expires_in"] == 3
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert server.client.get("/api/auth/me", headers=headers).status_code == 200
        time.sleep(3.2)
        r = server.client.get("/api/auth/me", headers=headers)
        assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValueError, match="FANZHA_SECRET_KEY"):
        Settings(env="production", secret_key=DEV_SECRET)
    assert Settings(env="production", secret_key="a-private-value-from-the-vault").env == "production"
