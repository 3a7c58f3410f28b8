"""Intake over real HTTP: one report creates every first-response order at once; bad input is a 422 per field."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from api_helpers import LiveServer, report_body
from sqlalchemy import func, select

from fanzha.store.db import session_factory, session_scope
from fanzha.store.models import AuditLog, Case, CaseElement, Order, OutboxMessage, TraceJob


def _counts(url: str) -> dict[str, int]:
    with session_scope(session_factory(url)) as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
                for m in (Case, CaseElement, Order, TraceJob, OutboxMessage)}


def test_a_report_creates_every_first_response_order(live: LiveServer) -> None:
    body = report_body(1)
    r = live.report(body, "rep-1")
    assert r.status_code == 201, r.text
    case = r.json()
    orders = {(o["kind"], o["addressee"], o["target"]): o for o in case["orders"]}
    assert set(orders) == {
        ("stop_payment", "ICBC", "6222000000000001"),
        ("stop_payment", "CCB", "6227000000000001"),
        ("resolution", "ALIPAY", "20250000000001"),
        ("block", "CMCC", "+8613912345678"),
        ("block", "CTCC", "+8617012345678"),
        ("takedown", "CNCERT", "evil-rebate.cn"),
        ("takedown", "CNCERT", "pay.evil-rebate.cn"),
    }
    icbc = orders[("stop_payment", "ICBC", "6222000000000001")]
    sent = datetime.fromisoformat(body["transfers"][0]["time"])
    assert datetime.fromisoformat(icbc["golden_window_start"]) == sent
    assert datetime.fromisoformat(icbc["golden_window_ends_at"]) == sent + timedelta(minutes=30)
    created = datetime.fromisoformat(icbc["created_at"])
    assert datetime.fromisoformat(icbc["legal_expires_at"]) == created + timedelta(hours=48)
    assert datetime.fromisoformat(icbc["deadline_at"]) == created + timedelta(minutes=10)
    assert icbc["stop_sequence"] == 1 and icbc["amount_cents"] == 500_000 and icbc["status"] == "pending"
    virtual = orders[("block", "CTCC", "+8617012345678")]
    assert virtual["number_class"] == "virtual" and virtual["carrier_action"] == "empty_number_tone"
    assert orders[("block", "CMCC", "+8613912345678")]["carrier_action"] == "caller_interception"
    assert case["trace_status"] == "queued" and case["trace_job_id"]
    assert case["victim"]["number"] == "+8613812345678" and case["police_unit"] == "XM-SIMING-PS"
    assert case["loss_cents"] == 900_000
    kinds = {(e["kind"], e["value"]) for e in case["elements"]}
    assert {("phone", "+8617012345678"), ("app", "RebateStar"), ("social", "wxid_fraud01"),
            ("order_no", "20250000000001"), ("domain", "pay.evil-rebate.cn")} <= kinds

    # Visible at once on the ICBC desk, and only there.
    queue = live.client.get("/api/desk/orders", params={"status": "pending"}, headers=live.login("desk-icbc"))
    assert [o["target"] for o in queue.json()] == ["6222000000000001"]
    ccb = live.client.get("/api/desk/orders", headers=live.login("desk-ccb")).json()
    assert [o["target"] for o in ccb] == ["6227000000000001"]


def test_bad_input_is_a_422_naming_each_field(live: LiveServer) -> None:
    body = report_body(2)
    body["fraud_numbers"] = ["1391234", "13912345678"]
    body["transfers"][0]["amount_cents"] = 0
    body["transfers"][1]["time"] = "2026-01-01T10:00:00"  # no time zone
    body["typology"] = "lottery"
    body["domains"] = ["not a domain"]
    r = live.report(body, "bad-1")
    assert r.status_code == 422
    locs = {tuple(d["loc"]): d["msg"] for d in r.json()["detail"]}
    assert ("body", "fraud_numbers", 0) in locs and "not a valid phone number" in locs[("body", "fraud_numbers", 0)]
    assert ("body", "transfers", 0, "amount_cents") in locs
    assert ("body", "transfers", 1, "time") in locs
    assert ("body", "typology") in locs
    assert ("body", "domains", 0) in locs
    assert _counts(live.url)["cases"] == 0


def test_a_report_needs_an_idempotency_key(live: LiveServer) -> None:
    r = live.client.post("/api/cases", json=report_body(3), headers=live.login("intake"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "idempotency_key"]
    with_body_key = live.client.post("/api/cases", json=report_body(3, idempotency_key="in-body"),
                                     headers=live.login("intake"))
    assert with_body_key.status_code == 201


def test_resubmitting_a_report_returns_the_same_case_and_creates_nothing(live: LiveServer) -> None:
    first = live.report(report_body(4), "same-key")
    assert first.status_code == 201
    before = _counts(live.url)
    again = live.report(report_body(4), "same-key")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert [o["id"] for o in again.json()["orders"]] == [o["id"] for o in first.json()["orders"]]
    assert _counts(live.url) == before


def test_concurrent_resubmissions_make_one_case(live: LiveServer) -> None:
    live.login("intake")
    codes: list[int] = []
    ids: list[int] = []
    lock = threading.Lock()

    def submit() -> None:
        r = live.report(report_body(5), "raced-key")
        with lock:
            codes.append(r.status_code)
            ids.append(r.json()["id"])

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 7 + [201]
    assert len(set(ids)) == 1
    assert _counts(live.url)["cases"] == 1


def test_an_account_is_stopped_twice_at_most_then_frozen(live: LiveServer) -> None:
    """The legal limit counts across cases: a third victim paying the same mule gets a freeze order."""
    seen = []
    for i in range(3):
        body = report_body(6, victim={"number": f"1381234560{i}"}, fraud_numbers=[], urls=[], domains=[])
        body["transfers"] = body["transfers"][:1]
        r = live.report(body, f"mule-{i}")
        assert r.status_code == 201, r.text
        (order,) = r.json()["orders"]
        seen.append((order["kind"], order["stop_sequence"], order["addressee"]))
    assert seen == [("stop_payment", 1, "ICBC"), ("stop_payment", 2, "ICBC"), ("freeze", None, "ICBC")]
    freeze = r.json()["orders"][0]
    created = datetime.fromisoformat(freeze["created_at"])
    assert datetime.fromisoformat(freeze["legal_expires_at"]) == created + timedelta(days=182)


def test_an_unknown_bank_goes_to_the_centers_desk(live: LiveServer) -> None:
    body = report_body(7, fraud_numbers=[], urls=[], domains=[])
    body["transfers"] = [dict(body["transfers"][0], to_bank="NOSUCHBANK", to_account="999000111")]
    r = live.report(body, "unknown-bank")
    (order,) = r.json()["orders"]
    assert order["addressee"] == "CENTER"
    queue = live.client.get("/api/desk/orders", headers=live.login("stopper")).json()
    assert [o["target"] for o in queue] == ["999000111"]


def test_every_intake_request_stops_counting_as_arriving_when_it_ends(live: LiveServer) -> None:
    """A request the writer waited for while it was read leaves the count, queued or refused (401, 422)."""
    writer = live.app.state.intake_writer
    assert live.report(report_body(9), "counted").status_code == 201
    unsigned = live.client.post("/api/cases", json=report_body(10), headers={"Idempotency-Key": "no-token"})
    assert unsigned.status_code == 401
    bad = report_body(11)
    bad["typology"] = "lottery"
    assert live.report(bad, "refused").status_code == 422
    assert writer.arriving == 0


def test_creating_a_case_is_audited_as_personal_data(live: LiveServer) -> None:
    r = live.report(report_body(8), "audited")
    with session_scope(session_factory(live.url)) as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.object_type == "case")).all()
        assert [(a.action, a.object_id, a.personal_data, a.username) for a in rows] == [
            ("create", str(r.json()["id"]), True, "intake")
        ]


def test_openapi_documents_every_endpoint(live: LiveServer) -> None:
    spec = live.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/api/cases", "/api/cases/{case_id}", "/api/desk/orders", "/api/orders/{order_id}/execute",
            "/api/orders/{order_id}/acknowledge", "/api/orders/{order_id}/reject", "/api/audit",
            "/api/auth/token", "/api/organisations/{code}/webhook"} <= paths
    assert "ReportCreate" in spec["components"]["schemas"]


def test_readiness_turns_ready_once_the_start_up_warm_up_finished(live_sqlite: LiveServer) -> None:
    """``/api/health`` answers at once; ``/api/ready`` is 503 until the kernels are compiled, then 200."""
    assert live_sqlite.client.get("/api/health").json() == {"status": "ok"}
    deadline = time.monotonic() + 120
    while (code := live_sqlite.client.get("/api/ready").status_code) != 200:
        assert code == 503, code
        assert time.monotonic() < deadline, "the warm-up did not finish within 120 s"
        time.sleep(0.05)
    assert live_sqlite.client.get("/api/ready").json() == {"status": "ready"}
