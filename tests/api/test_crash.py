"""SIGKILL the API server in the middle of reports and desk results; after a restart, nothing is lost or doubled.

Clients do what the protocol asks of them: a report whose answer never came is sent
again with the same Idempotency-Key, a desk result again for the same order. The bank's
webhook receiver counts deliveries by Idempotency-Key (what a real receiver keeps).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
from api_helpers import PASSWORD, free_port, report_body
from sqlalchemy import func, select

from fanzha.response.seed import seed_demo
from fanzha.store.db import session_factory, session_scope, upgrade
from fanzha.store.models import Case, Order, OrderKind, OutboxMessage, StatementRow, TraceJob

SECRET = "a-webhook-secret-for-tests"
N_REPORTS = 30


class Receiver(BaseHTTPRequestHandler):
    seen: ClassVar[Counter[str]] = Counter()
    bad_signatures = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if self.headers.get("X-Fanzha-Signature") != want:
            type(self).bad_signatures += 1
            self.send_response(401)
        else:
            type(self).seen[self.headers["Idempotency-Key"]] += 1
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def _start(url: str, port: int, data: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FANZHA_DATA_DIR": str(data), "FANZHA_OUTBOX_INTERVAL_SECONDS": "0.2",
           "FANZHA_ESCALATION_INTERVAL_SECONDS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "fanzha.cli.main", "serve", "--url", url, "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Importing the app (phonenumbers' geocoder data above all) takes a second or two on a quiet
    # machine but over a minute on the 2 shared cores under load: wait long enough not to flake.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def test_sigkill_mid_load_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
    upgrade(url)
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    with session_scope(session_factory(url)) as s:
        seed_demo(s, password=PASSWORD)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(url, port, tmp_path)

    def token(c: httpx.Client, user: str) -> dict[str, str]:
        r = c.post(f"{base}/api/auth/token", data={"username": user, "password": PASSWORD})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    with httpx.Client(timeout=10) as c:
        admin = token(c, "admin")
        r = c.put(f"{base}/api/organisations/ICBC/webhook",
                  json={"url": f"http://127.0.0.1:{hook.server_port}/hook", "secret": SECRET}, headers=admin)
        assert r.status_code == 200, r.text
        intake, desk = token(c, "intake"), token(c, "desk-icbc")
        answered: set[int] = set()
        killed = False
        for n in range(N_REPORTS):
            if n == N_REPORTS // 2:
                server.send_signal(signal.SIGKILL)  # mid-load: some reports and results never answered
                server.wait()
                killed = True
            try:
                r = c.post(f"{base}/api/cases", json=report_body(n), headers=intake | {"Idempotency-Key": f"k{n}"})
                if r.status_code in (200, 201):
                    answered.add(n)
                    icbc = next(o for o in r.json()["orders"] if o["addressee"] == "ICBC")
                    c.post(f"{base}/api/orders/{icbc['id']}/execute", headers=desk, json={
                        "amount_stopped_cents": 1000, "statement_rows": [{
                            "transfer_id": f"s{n}", "time": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                            "to_account": f"62170000{n:08d}", "to_bank": "CCB", "amount_cents": 200_000}]})
            except httpx.HTTPError:
                pass
        assert killed and 0 < len(answered) < N_REPORTS

    server = _start(url, port, tmp_path)  # restart on the same store
    try:
        with httpx.Client(timeout=10) as c:
            intake, desk = token(c, "intake"), token(c, "desk-icbc")
            for n in range(N_REPORTS):  # every client resends what it is not sure of
                r = c.post(f"{base}/api/cases", json=report_body(n), headers=intake | {"Idempotency-Key": f"k{n}"})
                assert r.status_code in (200, 201), r.text
                icbc = next(o for o in r.json()["orders"] if o["addressee"] == "ICBC")
                e = c.post(f"{base}/api/orders/{icbc['id']}/execute", headers=desk, json={
                    "amount_stopped_cents": 1000, "statement_rows": [{
                        "transfer_id": f"s{n}", "time": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                        "to_account": f"62170000{n:08d}", "to_bank": "CCB", "amount_cents": 200_000}]})
                assert e.status_code in (200, 409), e.text  # 409: it had been executed before the kill
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with session_scope(session_factory(url)) as s:
                    pending = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.delivered_at.is_(None)))
                if pending == 0:
                    break
                time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        hook.shutdown()
    with session_scope(session_factory(url)) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == N_REPORTS
        per_target = Counter(s.execute(select(Order.case_id, Order.kind, Order.target)).tuples().all())
        assert max(per_target.values()) == 1, "an order was created twice"
        first_level_icbc = s.scalar(select(func.count()).select_from(Order).where(
            Order.kind == OrderKind.STOP_PAYMENT, Order.level == 1, Order.target.like("62220000%")))
        assert first_level_icbc == N_REPORTS
        assert s.scalar(select(func.count()).select_from(StatementRow)) == N_REPORTS  # one result each, once
        assert s.scalar(select(func.count()).select_from(TraceJob)) == N_REPORTS
        icbc_orders = s.scalars(select(Order.id).where(Order.organisation.has(code="ICBC"))).all()
        undelivered = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.delivered_at.is_(None)))
    assert undelivered == 0
    assert Receiver.bad_signatures == 0
    delivered = {k for k in Receiver.seen if k.startswith("order.created:")}
    assert delivered == {f"order.created:{i}" for i in icbc_orders}, "every ICBC order delivered, in effect once"
