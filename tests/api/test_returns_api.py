"""Freeze and return of frozen money over real HTTP: who may, and the statement balancing to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_helpers import LiveServer

T = datetime.now(UTC) - timedelta(minutes=20)


def _body(cents: int, minutes: int, number: str) -> dict[str, object]:
    return {"victim": {"number": number}, "typology": "impersonate_police",
            "transfers": [{"amount_cents": cents, "time": (T + timedelta(minutes=minutes)).isoformat(),
                           "to_bank": "ICBC", "to_account": "6222020000000777"}]}


def test_two_victims_money_on_one_card_is_frozen_and_returned_pro_rata(live: LiveServer) -> None:
    c = live.client
    first = live.report(_body(600_000, 0, "+8613906001111"), "ret-1")
    second = live.report(_body(400_000, 1, "+8613906002222"), "ret-2")
    assert first.status_code == second.status_code == 201, first.text
    case1, case2 = first.json(), second.json()
    stop = next(o for o in case1["orders"] if o["kind"] == "stop_payment")
    desk = live.login("desk-icbc")
    assert c.post(f"/api/orders/{stop['id']}/execute", json={"amount_stopped_cents": 1_000_000},
                  headers=desk).status_code == 200
    assert c.post(f"/api/orders/{stop['id']}/freeze", headers=desk).status_code == 403
    r = c.post(f"/api/orders/{stop['id']}/freeze", headers=live.login("stopper"))
    assert r.status_code == 201, r.text
    freeze_id = r.json()["freeze_order_id"]
    assert c.post(f"/api/orders/{stop['id']}/freeze", headers=live.login("analyst")).json() == r.json()
    assert c.post(f"/api/orders/{freeze_id}/execute", json={"amount_stopped_cents": 1_000_000},
                  headers=desk).status_code == 200

    plan = c.get(f"/api/cases/{case2['id']}/returns/plan", headers=live.login("analyst")).json()
    assert plan["cases"] == sorted([case1["id"], case2["id"]])
    assert plan["per_case_cents"] == {str(case1["id"]): 600_000, str(case2["id"]): 400_000}
    assert c.post(f"/api/cases/{case2['id']}/returns", headers=live.login("station")).status_code == 403
    done = c.post(f"/api/cases/{case2['id']}/returns", headers=live.login("commander"))
    assert done.status_code == 200, done.text
    assert done.json()["returned_cents"] == done.json()["frozen_cents"] == 1_000_000
    again = c.post(f"/api/cases/{case1['id']}/returns", headers=live.login("commander")).json()
    assert again["lines"] == [] and again["already_returned"] == [freeze_id]
    statement = c.get(f"/api/cases/{case1['id']}/returns", headers=live.login("commander"))
    assert [(ln["cents"], ln["basis"]) for ln in statement.json()] == [(600_000, "pro_rata")]
    assert c.get("/api/cases/999999/returns/plan", headers=live.login("analyst")).status_code == 404
    assert c.get(f"/api/cases/{case1['id']}/returns", headers=desk).status_code == 403
