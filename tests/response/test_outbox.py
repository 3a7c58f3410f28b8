"""Webhook delivery through the outbox against a real local HTTP receiver that fails now and then."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fanzha.response.outbox import SIGNATURE_HEADER, Backoff, Dispatcher, pending_count, sign, verify
from fanzha.response.schemas import ReportCreate, WebhookIn
from fanzha.response.seed import seed_demo
from fanzha.response.service import actor_of, set_webhook, submit_report
from fanzha.store.db import create_store_engine, session_scope
from fanzha.store.models import OutboxMessage, User

SECRETS = {"ICBC": "icbc-webhook-secret-0001", "CCB": "ccb-webhook-secret-00002", "CMCC": "cmcc-webhook-secret-003"}


class Receiver:
    """A partner's endpoint: checks signatures, dedupes on Idempotency-Key, fails on purpose.

    30% of requests fail before doing anything; 15% do the work and then answer 500 (the
    answer is lost, so the sender must retry and the receiver must not act twice).
    """

    def __init__(self, seed: int = 5) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.effects: Counter[str] = Counter()  # what the partner acted on, per key
        self.accepted: Counter[str] = Counter()  # 2xx answers per key
        self.requests = 0
        self.bad_signatures = 0
        self.in_flight: set[str] = set()
        self.overlaps = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = outer.handle(self.path.strip("/"), body, self.headers)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, org: str, body: bytes, headers: object) -> int:
        sig = headers.get(SIGNATURE_HEADER)  # type: ignore[attr-defined]
        key = headers.get("Idempotency-Key")  # type: ignore[attr-defined]
        with self.lock:
            self.requests += 1
            if not verify(SECRETS[org], body, sig) or not key:
                self.bad_signatures += 1
                return 401
            if key in self.in_flight:
                self.overlaps += 1
            self.in_flight.add(key)
            roll = self.rng.random()
        time.sleep(0.001)
        with self.lock:
            self.in_flight.discard(key)
            if roll < 0.30:
                return 500
            if key not in self.effects:
                assert json.loads(body)["order"]["addressee"] == org
            self.effects[key] = 1  # idempotent: a repeat changes nothing
            if roll < 0.45:
                return 500  # did the work, lost the answer
            self.accepted[key] += 1
            return 200

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def factory(store_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_store_engine(store_url)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


def _fill(factory: sessionmaker[Session], receiver_url: str, reports: int) -> list[str]:
    """Seed, register three webhooks, submit reports; the outbox keys written with the orders."""
    with session_scope(factory) as s:
        seed_demo(s, password="pw-for-tests-1")
        admin = actor_of(s.scalars(select(User).where(User.username == "admin")).one())
        intake = actor_of(s.scalars(select(User).where(User.username == "intake")).one())
        for code, secret in SECRETS.items():
            set_webhook(s, admin, code, WebhookIn(url=f"{receiver_url}/{code}", secret=secret))
    t = datetime.now(UTC) - timedelta(minutes=4)
    for i in range(reports):
        report = ReportCreate.model_validate({
            "idempotency_key": f"r{i}", "victim": {"number": "13812345678"},
            "transfers": [
                {"amount_cents": 1000, "time": t.isoformat(), "to_bank": "ICBC", "to_account": f"A{i}"},
                {"amount_cents": 2000, "time": t.isoformat(), "to_bank": "CCB", "to_account": f"B{i}"},
                {"amount_cents": 3000, "time": t.isoformat(), "to_bank": "BOC", "to_account": f"C{i}"},  # no webhook
            ],
            "fraud_numbers": [f"1391234{i:04d}"],
        })
        with session_scope(factory) as s:
            submit_report(s, report, intake)
    with session_scope(factory) as s:
        return list(s.scalars(select(OutboxMessage.idempotency_key)))


def test_two_dispatchers_deliver_each_order_exactly_once_in_effect(
    factory: sessionmaker[Session], receiver: Receiver, store_url: str
) -> None:
    keys = _fill(factory, receiver.url, reports=30)
    assert len(keys) == 90  # ICBC + CCB + the CMCC block per report; BOC has no webhook

    fast = Backoff(base_seconds=0.01, factor=2.0, cap_seconds=0.05)
    engines = [create_store_engine(store_url) for _ in range(2)]  # like two processes: own pools
    dispatchers = [
        Dispatcher(sessionmaker(bind=e, expire_on_commit=False), worker=f"w{i}", batch=7, backoff=fast,
                   rng=random.Random(i))
        for i, e in enumerate(engines)
    ]
    deadline = time.monotonic() + 60

    def run(d: Dispatcher) -> None:
        while time.monotonic() < deadline:
            d.dispatch_once()
            with session_scope(factory) as s:
                if pending_count(s) == 0:
                    return
            time.sleep(0.005)

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in dispatchers:
        d.close()
    for e in engines:
        e.dispose()

    assert receiver.bad_signatures == 0
    assert set(receiver.effects) == set(keys)  # every order arrived ...
    assert set(receiver.accepted) == set(keys) and set(receiver.accepted.values()) == {1}  # ... acknowledged once
    assert receiver.overlaps == 0  # never sent by both dispatchers at once
    assert receiver.requests > len(keys)  # and it really had to retry
    with session_scope(factory) as s:
        rows = s.scalars(select(OutboxMessage)).all()
        assert all(r.delivered_at is not None and r.claimed_by is None for r in rows)
        assert max(r.attempts for r in rows) >= 2


def test_a_failed_delivery_backs_off_and_a_lapsed_claim_returns(
    factory: sessionmaker[Session], store_url: str
) -> None:
    keys = _fill(factory, "http://127.0.0.1:9", reports=1)  # port 9: nothing listens
    now = datetime.now(UTC)
    crashed = Dispatcher(factory, worker="crashed", claim_seconds=30)
    assert len(crashed.claim(now)) == len(keys)
    other = Dispatcher(factory, worker="other", backoff=Backoff(base_seconds=10, cap_seconds=10),
                       rng=random.Random(1), timeout_seconds=2)
    assert other.claim(now + timedelta(seconds=5)) == []  # still held
    stats = other.dispatch_once(now + timedelta(seconds=31))  # the claim lapsed: picked up again
    assert stats.claimed == len(keys) and stats.failed == len(keys)
    with session_scope(factory) as s:
        for row in s.scalars(select(OutboxMessage)):
            assert row.attempts == 1 and row.delivered_at is None and row.claimed_by is None
            assert "ConnectError" in (row.last_error or "")
            wait = (row.next_attempt_at - datetime.now(UTC)).total_seconds()
            assert -1 < wait <= 10
    other.close()


def test_signatures_and_backoff() -> None:
    body = b'{"a":1}'
    header = sign("k" * 16, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify("k" * 16, body, header) and not verify("k" * 16, body + b" ", header)
    assert not verify("other-secret-000", body, header) and not verify("k" * 16, body, None)
    b = Backoff(base_seconds=1, factor=2, cap_seconds=30)
    rng = random.Random(0)
    for attempt, ceiling in ((1, 1), (2, 2), (3, 4), (6, 30), (50, 30)):
        delays = [b.delay(attempt, rng).total_seconds() for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling and max(delays) > ceiling * 0.8  # full jitter
