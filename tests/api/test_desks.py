"""Desks over real HTTP: acknowledge, execute with statement rows, reject, illegal moves, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_helpers import LiveServer, report_body
from sqlalchemy import select
from typer.testing import CliRunner

from fanzha.cli.main import app as cli
from fanzha.response.escalation import DEFAULT_POLICY, parse_durations, sweep
from fanzha.store.db import session_factory, session_scope
from fanzha.store.models import Order, OrderKind, StatementRow, TraceJob, TraceJobStatus


def _orders(live: LiveServer, key: str, n: int) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    r = live.report(report_body(n), key)
    assert r.status_code == 201, r.text
    return {(o["kind"], o["addressee"]): o for o in r.json()["orders"]}


def test_a_bank_desk_acknowledges_and_executes_with_statement_rows(live: LiveServer) -> None:
    order = _orders(live, "desk-1", 1)[("stop_payment", "ICBC")]
    desk = live.login("desk-icbc")
    ack = live.client.post(f"/api/orders/{order['id']}/acknowledge", headers=desk)
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    acked_at = datetime.fromisoformat(ack.json()["acknowledged_at"])
    assert datetime.fromisoformat(ack.json()["deadline_at"]) == acked_at + timedelta(minutes=30)

    t = datetime.now(UTC)
    result = {
        "amount_stopped_cents": 320_000,
        "account_holder": "李四",
        "statement_rows": [
            {"transfer_id": "T1", "time": t.isoformat(), "to_account": "6217000000000009", "to_bank": "ABC",
             "amount_cents": 100_000},
            {"transfer_id": "T2", "time": t.isoformat(), "amount_cents": 80_000, "channel": "atm"},
        ],
    }
    done = live.client.post(f"/api/orders/{order['id']}/execute", json=result, headers=desk)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "executed" and body["amount_held_cents"] == 320_000 and body["account_holder"] == "李四"
    executed_at = datetime.fromisoformat(body["executed_at"])
    assert datetime.fromisoformat(body["legal_expires_at"]) == executed_at + timedelta(hours=48)
    assert [(r["transfer_id"], r["from_account"], r["to_account"]) for r in body["statement_rows"]] == [
        ("T1", order["target"], "6217000000000009"), ("T2", order["target"], None)]

    # Re-sending the same result is refused (already executed) and adds no rows.
    again = live.client.post(f"/api/orders/{order['id']}/execute", json=result, headers=desk)
    assert again.status_code == 409 and "cannot go from executed to executed" in again.json()["detail"]
    with session_scope(session_factory(live.url)) as s:
        assert len(s.scalars(select(StatementRow)).all()) == 2
        job = s.scalars(select(TraceJob).where(TraceJob.case_id == order["case_id"])).one()
        assert job.status == TraceJobStatus.DONE  # the money-following loop ran in the same transaction
        assert all(r.traced_at is not None for r in s.scalars(select(StatementRow)))
        nxt = s.scalars(select(Order).where(Order.parent_order_id == order["id"])).one()
        assert (nxt.kind, nxt.target, nxt.level, nxt.organisation.code) == (
            OrderKind.STOP_PAYMENT, "6217000000000009", 2, "ABC")


def test_executing_a_pending_order_acknowledges_it_on_the_way(live: LiveServer) -> None:
    order = _orders(live, "desk-2", 2)[("block", "CTCC")]
    r = live.client.post(f"/api/orders/{order['id']}/execute", json={"note": "empty-number tone set"},
                         headers=live.login("desk-ctcc"))
    assert r.status_code == 200 and r.json()["acknowledged_at"] and r.json()["status"] == "executed"


def test_results_are_checked_per_order_kind(live: LiveServer) -> None:
    orders = _orders(live, "desk-3", 3)
    stop, resolution = orders[("stop_payment", "CCB")], orders[("resolution", "ALIPAY")]
    r = live.client.post(f"/api/orders/{stop['id']}/execute", json={"account_holder": "x"},
                         headers=live.login("desk-ccb"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "amount_stopped_cents"]
    r = live.client.post(f"/api/orders/{resolution['id']}/execute", json={"resolved_bank": "BOC"},
                         headers=live.login("desk-alipay"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "resolved_account"]
    r = live.client.post(f"/api/orders/{resolution['id']}/execute",
                         json={"resolved_bank": "BOC", "resolved_account": "6216000000000001"},
                         headers=live.login("desk-alipay"))
    assert r.status_code == 200 and r.json()["resolved_account"] == "6216000000000001"
    r = live.client.post(f"/api/orders/{stop['id']}/execute",
                         json={"amount_stopped_cents": 1, "statement_rows": [{"time": "x", "amount_cents": -1}]},
                         headers=live.login("desk-ccb"))
    assert r.status_code == 422
    locs = {tuple(d["loc"]) for d in r.json()["detail"]}
    assert ("body", "statement_rows", 0, "time") in locs and ("body", "statement_rows", 0, "amount_cents") in locs


def test_reject_needs_a_reason_and_is_final(live: LiveServer) -> None:
    order = _orders(live, "desk-4", 4)[("stop_payment", "ICBC")]
    desk = live.login("desk-icbc")
    blank = live.client.post(f"/api/orders/{order['id']}/reject", json={"reason": "  "}, headers=desk)
    assert blank.status_code == 422
    missing = live.client.post(f"/api/orders/{order['id']}/reject", json={}, headers=desk)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "reason"]
    ok = live.client.post(f"/api/orders/{order['id']}/reject", json={"reason": "account closed 2025-01"}, headers=desk)
    assert ok.status_code == 200 and ok.json()["reason"] == "account closed 2025-01"
    for action in ("acknowledge", "execute"):
        body = {"amount_stopped_cents": 1} if action == "execute" else None
        r = live.client.post(f"/api/orders/{order['id']}/{action}", json=body, headers=desk)
        assert r.status_code == 409 and "allowed: nothing (final)" in r.json()["detail"]
    # A rejected stop frees its legal slot: the next report on that account takes slot 1 again.
    body = report_body(4, fraud_numbers=[], urls=[], domains=[])
    body["transfers"] = body["transfers"][:1]
    (order2,) = live.report(body, "desk-4b").json()["orders"]
    assert order2["kind"] == "stop_payment" and order2["stop_sequence"] == 1


def test_overdue_orders_escalate_and_can_still_be_acted_on(live: LiveServer) -> None:
    orders = _orders(live, "desk-5", 5)
    stop, block = orders[("stop_payment", "ICBC")], orders[("block", "CMCC")]
    factory = session_factory(live.url)
    at = datetime.fromisoformat(stop["created_at"]) + timedelta(minutes=11)
    with session_scope(factory) as s:
        escalated = set(sweep(s, at))
    assert stop["id"] in escalated and block["id"] not in escalated  # stop: 10 min, block: 30 min
    with session_scope(factory) as s:
        assert set(sweep(s, at)) == set()  # raised once
    board = live.client.get("/api/orders", params={"status": "escalated"}, headers=live.login("commander")).json()
    assert stop["id"] in {o["id"] for o in board}
    esc = next(o for o in board if o["id"] == stop["id"])
    assert "not acknowledged by its deadline" in esc["reason"]
    r = live.client.post(f"/api/orders/{stop['id']}/acknowledge", headers=live.login("desk-icbc"))
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"


def test_the_escalation_cli_sweeps_the_configured_database(live: LiveServer) -> None:
    orders = _orders(live, "desk-6", 6)
    with session_scope(session_factory(live.url)) as s:
        overdue = s.scalars(select(Order).where(Order.case_id == orders[("stop_payment", "ICBC")]["case_id"])).all()
        for o in overdue:
            o.deadline_at = datetime.now(UTC) - timedelta(seconds=1)
    out = CliRunner().invoke(cli, ["response", "escalate", "--url", live.url])
    assert out.exit_code == 0 and f"escalated {len(overdue)} order(s)" in out.output


def test_deadlines_are_configurable() -> None:
    policy = DEFAULT_POLICY.with_overrides("stop_payment=2m,block=90s", "takedown=1h")
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert policy.acknowledge_by(OrderKind.STOP_PAYMENT, t) == t + timedelta(minutes=2)
    assert policy.acknowledge_by(OrderKind.BLOCK, t) == t + timedelta(seconds=90)
    assert policy.execute_by(OrderKind.TAKEDOWN, t) == t + timedelta(hours=1)
    for bad in ("stop=1m", "block=soon"):
        try:
            parse_durations(bad)
        except ValueError as exc:
            assert bad.split("=")[0] in str(exc) or "bad duration" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")
