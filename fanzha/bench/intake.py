"""``fanzha bench intake``: from POST of a report to its stop-payments on the bank desks, over real HTTP.

For each backend (SQLite in a temp folder; PostgreSQL in a fresh temporary database when
``scripts/postgres.sh`` finds a server) the API runs as its own process (``fanzha serve``)
on localhost. The demo partners and users are seeded, then 100 reports are fired at once
with an ``httpx.AsyncClient``; each report's clock stops when every one of its
first-level stop-payment orders is seen in the addressed bank's desk queue, polled as that
bank's desk user. Bars: p99 <= 200 ms on each backend.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from fanzha.bench import Bar, result_line
from fanzha.sim.geography import BANKS

REPO = Path(__file__).resolve().parents[2]
BAR_MS = 200.0
BANK_CODES = [code for code, _ in BANKS]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _postgres_database() -> Iterator[str | None]:
    """A fresh temporary database on the server scripts/postgres.sh finds (None if there is none)."""
    from sqlalchemy import create_engine

    from fanzha.store.db import normalise_url

    script = REPO / "scripts" / "postgres.sh"
    try:
        proc = subprocess.run([str(script)], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        yield None
        return
    server = proc.stdout.strip()
    if proc.returncode != 0 or not server:
        yield None
        return
    admin_url = normalise_url(server)
    name = f"fanzha_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        from fanzha.store.db import dispose_all

        dispose_all()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        admin.dispose()


@contextmanager
def _server(url: str) -> Iterator[str]:
    """``fanzha serve`` as a subprocess on a free port; yields its base URL."""
    port = _free_port()
    env = dict(os.environ, FANZHA_ESCALATION_INTERVAL_SECONDS="30", FANZHA_OUTBOX_INTERVAL_SECONDS="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fanzha.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port), "--url", url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"fanzha serve exited with {proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("fanzha serve did not answer within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _report(i: int, rng: random.Random, run: str) -> dict[str, Any]:
    """A victim who paid two mule accounts at two banks minutes ago, with a fraud number and a link."""
    t = datetime.now(UTC) - timedelta(minutes=rng.uniform(2, 20))
    banks = rng.sample(BANK_CODES, 2)
    return {
        "idempotency_key": f"bench-{run}-{i}",
        "typology": rng.choice(["rebate_task", "impersonate_police", "fake_customer_service"]),
        "victim": {"number": f"138{rng.randrange(10**8):08d}", "name": "受害人", "age_band": "60+"},
        "transfers": [
            {"amount_cents": rng.randrange(10_000, 5_000_000), "time": (t + timedelta(minutes=k)).isoformat(),
             "to_bank": bank, "to_account": f"62{rng.randrange(10**14):014d}"}
            for k, bank in enumerate(banks)
        ],
        "fraud_numbers": [f"139{rng.randrange(10**8):08d}"],
        "urls": [f"https://task{rng.randrange(1000)}.rebate-{rng.randrange(100)}.cn/pay"],
    }


async def _measure(base: str, passwords: dict[str, str], reports: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    limits = httpx.Limits(max_connections=reports + 50, max_keepalive_connections=reports + 50)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def login(user: str) -> dict[str, str]:
            r = await client.post("/api/auth/token", data={"username": user, "password": passwords[user]})
            r.raise_for_status()
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        intake = await login("intake")
        desks = {code: await login(f"desk-{code.lower()}") for code in BANK_CODES}

        async def one(i: int) -> float:
            body = _report(i, rng, run)
            t0 = time.perf_counter()
            r = await client.post("/api/cases", json=body, headers=intake)
            if r.status_code != 201:
                raise RuntimeError(f"report {i}: HTTP {r.status_code} {r.text[:300]}")
            case = r.json()
            want: dict[str, set[int]] = {}
            for o in case["orders"]:
                if o["kind"] == "stop_payment" and o["addressee"] in desks:
                    want.setdefault(o["addressee"], set()).add(o["id"])

            async def visible(bank: str, ids: set[int]) -> None:
                while True:
                    q = await client.get("/api/desk/orders", params={"status": "pending", "case_id": case["id"]},
                                         headers=desks[bank])
                    q.raise_for_status()
                    if ids <= {o["id"] for o in q.json()}:
                        return
                    await asyncio.sleep(0.002)

            await asyncio.gather(*(visible(bank, ids) for bank, ids in want.items()))
            return (time.perf_counter() - t0) * 1000.0

        for i in range(5):  # warm-up: imports, connection pools, caches
            await one(reports + i)
        started = time.perf_counter()
        latencies = await asyncio.gather(*(one(i) for i in range(reports)))
        wall = time.perf_counter() - started
    arr = np.array(latencies)
    return {
        "reports": reports,
        "p50_ms": round(float(np.percentile(arr, 50)), 1),
        "p99_ms": round(float(np.percentile(arr, 99)), 1),
        "max_ms": round(float(arr.max()), 1),
        "wall_s": round(wall, 3),
        "reports_per_s": round(reports / wall, 1),
    }


def _bench_backend(url: str, reports: int, seed: int) -> dict[str, Any]:
    from fanzha.response.seed import seed_demo
    from fanzha.store.db import session_factory, session_scope, upgrade

    upgrade(url)
    password = secrets.token_urlsafe(12)
    with session_scope(session_factory(url)) as session:
        seeded = seed_demo(session, password=password)
    with _server(url) as base:
        return asyncio.run(_measure(base, seeded.passwords, reports, seed))


def run(reports: int = 100, backends: tuple[str, ...] = ("sqlite", "postgres"), seed: int = 11) -> dict[str, Any]:
    """Measure each backend, print one line per backend and the last-line JSON; returns the figures."""
    figures: dict[str, Any] = {}
    bars: list[Bar] = []
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="fanzha-bench-intake-") as tmp:
            fig = _bench_backend(f"sqlite:///{Path(tmp) / 'ops.sqlite3'}", reports, seed)
        figures["sqlite"] = fig
        bars.append(Bar("intake_p99_ms_sqlite", fig["p99_ms"], "<=", BAR_MS))
        print(f"sqlite: p50 {fig['p50_ms']} ms, p99 {fig['p99_ms']} ms, {fig['reports_per_s']} reports/s")
    if "postgres" in backends:
        with _postgres_database() as pg_url:
            if pg_url is None:
                figures["postgres"] = {"skipped": "no PostgreSQL server (scripts/postgres.sh found none)"}
                print("postgres: SKIPPED, no server found by scripts/postgres.sh", file=sys.stderr)
            else:
                fig = _bench_backend(pg_url, reports, seed)
                figures["postgres"] = fig
                bars.append(Bar("intake_p99_ms_postgres", fig["p99_ms"], "<=", BAR_MS))
                print(f"postgres: p50 {fig['p50_ms']} ms, p99 {fig['p99_ms']} ms, {fig['reports_per_s']} reports/s")
    print(result_line("intake", figures, bars))
    return figures
