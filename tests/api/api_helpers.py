"""Starting the API for real (uvicorn on a free localhost port) and talking to it with httpx."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanzha.api import create_app
from fanzha.response.escalation import DEFAULT_POLICY, EscalationPolicy
from fanzha.response.seed import seed_demo
from fanzha.response.service import IntakeHook, actor_of
from fanzha.settings import Settings
from fanzha.store.audit import Actor
from fanzha.store.db import session_factory, session_scope, upgrade
from fanzha.store.models import User

PASSWORD = "test-password-1"


def actor_named(session: Session, username: str) -> Actor:
    """The seeded user ``username`` as the service's Actor (for writing as that user outside the API)."""
    return actor_of(session.scalars(select(User).where(User.username == username)).one())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_process(tmp_path: Any, *, workers: int = 2, env: dict[str, str] | None = None,
                  ) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """``fanzha serve --workers N`` as a real subprocess on a seeded SQLite store, once ready.

    Yields the process, its base URL and the database URL; terminates it (SIGTERM) afterwards.
    """
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    upgrade(url)
    with session_scope(session_factory(url)) as s:
        seed_demo(s, password=PASSWORD)
    port = free_port()
    full_env = {**os.environ, "FANZHA_DATA_DIR": str(tmp_path), "FANZHA_OUTBOX_INTERVAL_SECONDS": "0",
                "FANZHA_ESCALATION_INTERVAL_SECONDS": "0", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "fanzha.cli.main", "serve", "--url", url, "--port", str(port),
                             "--workers", str(workers), "--no-console"], env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # importing the app can take a minute on a loaded machine
        while True:
            try:
                if httpx.get(f"{base}/api/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, f"serve --workers {workers} did not start"
            time.sleep(0.2)
        yield proc, base, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)


@dataclass
class LiveServer:
    base_url: str
    url: str  # the database
    settings: Settings
    client: httpx.Client
    app: Any = None  # the FastAPI app when it runs in this process (its state can be looked at)
    _tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        """Authorization headers for ``username`` (cached per test)."""
        if username not in self._tokens:
            r = self.client.post("/api/auth/token", data={"username": username, "password": password})
            assert r.status_code == 200, r.text
            self._tokens[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self._tokens[username]

    def report(self, body: dict[str, Any], key: str, user: str = "intake") -> httpx.Response:
        return self.client.post("/api/cases", json=body, headers=self.login(user) | {"Idempotency-Key": key})


@contextmanager
def live_server(settings: Settings, *, seed: bool = True, policy: EscalationPolicy = DEFAULT_POLICY,
                intake_hook: IntakeHook | None = None) -> Iterator[LiveServer]:
    url = settings.sqlalchemy_url
    if seed:
        with session_scope(session_factory(url)) as session:
            seed_demo(session, password=PASSWORD)
    app = create_app(settings, policy=policy, migrate=True, intake_hook=intake_hook)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("API server did not start")
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as client:
        try:
            yield LiveServer(base_url=base, url=url, settings=settings, client=client, app=app)
        finally:
            server.should_exit = True
            thread.join(timeout=20)


def report_body(n: int = 0, *, minutes_ago: float = 5, **extra: Any) -> dict[str, Any]:
    """A rebate-task report: two bank transfers (ICBC, CCB), one via Alipay, two numbers, a URL, an app."""
    t = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    body: dict[str, Any] = {
        "victim": {"number": "138 1234 5678", "name": "张三", "id_hash": "h-001", "age_band": "60+",
                   "district": "思明区", "station": "XM-SIMING-PS"},
        "typology": "rebate_task",
        "transfers": [
            {"bank": "XMBANK", "account": "6210000000000001", "amount_cents": 500_000, "time": t.isoformat(),
             "to_bank": "icbc", "to_account": f"62220000{n:08d}"},
            {"amount_cents": 300_000, "time": (t + timedelta(minutes=2)).isoformat(), "to_bank": "CCB",
             "to_account": f"62270000{n:08d}"},
            {"amount_cents": 100_000, "time": (t + timedelta(minutes=3)).isoformat(), "to_account": "alipay-pool",
             "order_no": f"2025{n:010d}", "platform": "ALIPAY", "channel": "third_party"},
        ],
        "fraud_numbers": ["+86 139 1234 5678", "17012345678"],
        "urls": ["https://Pay.Evil-Rebate.cn/task?id=1"],
        "domains": ["evil-rebate.cn"],
        "apps": ["RebateStar"],
        "social_accounts": ["wxid_fraud01"],
    }
    body.update(extra)
    return body
