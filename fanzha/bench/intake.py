"""``fanzha bench intake``: from POST of a report to its stop-payments on the bank desks, over real HTTP.

For each backend (SQLite in a temp folder; PostgreSQL in a fresh temporary database when
``scripts/postgres.sh`` finds a server) the API runs as its own process (``fanzha serve``)
on localhost, and is measured once it says it is ready (``/api/ready``: the start-up
kernel compile is over). The demo partners and users are seeded, then 100 reports are
fired at once, each on its own keep-alive HTTP/1.1 connection; each report's clock stops
when every one of its first-level stop-payment orders has reached the addressed bank's
desk. How a desk sees its orders is ``desks``:

* ``stream`` (default, the bars): each bank's desk user holds ``GET /api/desk/stream``
  open, as a desk console does, and an order counts as seen when its event arrives;
* ``poll``: each report polls its banks' queues (``GET /api/desk/orders?case_id=``) every
  2 ms until its orders show, as a desk system without streams would; a figure only.

Bars: p99 <= 200 ms on each backend.

The client is a few lines of HTTP/1.1 over asyncio streams rather than ``httpx``: on the
2-core machine the client shares the cores with the server, and httpx's connection pool
spent about as much CPU per request as the server did (7 ms with 150 connections open),
so it measured the client as much as the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
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


def _cpu_seconds(pid: int) -> dict[int, float] | None:
    """User + system CPU seconds so far of process ``pid`` and of each of its children (the workers); Linux only."""
    def stat(path: Path) -> list[str] | None:
        try:
            return path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None

    own = stat(Path(f"/proc/{pid}/stat"))
    if own is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    out = {pid: (int(own[11]) + int(own[12])) / tick}
    for path in Path("/proc").glob("[0-9]*/stat"):
        fields = stat(path)
        if fields is not None and fields[1] == str(pid):  # its parent is the server
            out[int(path.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _cpu_spent(before: dict[int, float] | None, after: dict[int, float] | None) -> dict[int, float] | None:
    """CPU seconds each process spent between two readings (a process started in between counts from zero)."""
    if before is None or after is None:
        return None
    return {p: after[p] - before.get(p, 0.0) for p in after}


@contextmanager
def _server(url: str, workers: int) -> Iterator[tuple[str, int]]:
    """``fanzha serve --workers N`` as a subprocess on a free port; yields its base URL and pid."""
    port = _free_port()
    env = dict(os.environ, FANZHA_ESCALATION_INTERVAL_SECONDS="30", FANZHA_OUTBOX_INTERVAL_SECONDS="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fanzha.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port), "--url", url,
         "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # importing the app takes over a minute on a loaded machine
        ready_in_a_row = 0
        while ready_in_a_row < 10 * workers:  # each new connection may land on another worker
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"fanzha serve exited with {proc.returncode}: {err[-2000:]}")
            try:
                # Ready, not merely alive: the start-up kernel compile must not be measured.
                ready = httpx.get(f"{base}/api/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                ready = False
            ready_in_a_row = ready_in_a_row + 1 if ready else 0
            if ready:
                continue
            if time.monotonic() > deadline:
                raise RuntimeError("fanzha serve did not answer within 240 s")
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Connection:
    """One keep-alive HTTP/1.1 connection: a request at a time, ``Content-Length`` bodies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str],
                      body: bytes = b"") -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._send(method, path, headers | {"Content-Length": str(len(body))}, body)
        status_line = await self._reader.readline()
        if not status_line:
            raise RuntimeError(f"{method} {path}: connection closed by the server")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise RuntimeError("chunked responses are not expected from the API")
        return status, await self._reader.readexactly(length)

    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> None:
        assert self._writer is not None
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    async def events(self, path: str, headers: dict[str, str],
                     opened: asyncio.Event) -> AsyncIterator[tuple[str, str]]:
        """GET a server-sent event stream (chunked): yields (event, id) per event until it ends.

        ``opened`` is set once the response has begun: the server has fixed where the stream starts.
        """
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._send("GET", path, headers | {"Accept": "text/event-stream"})
        status = int((await self._reader.readline()).split(b" ", 2)[1])
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}")
        while await self._reader.readline() not in (b"\r\n", b""):
            pass
        opened.set()
        buffer, name, ident = b"", "message", ""
        while size := int((await self._reader.readline()).strip() or b"0", 16):
            buffer += await self._reader.readexactly(size)
            await self._reader.readexactly(2)
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                if raw.startswith(b"event: "):
                    name = raw[7:].decode()
                elif raw.startswith(b"id: "):
                    ident = raw[4:].decode()
                elif raw == b"":
                    if ident or name != "message":
                        yield name, ident
                    name, ident = "message", ""

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


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


async def _measure(base: str, pid: int, passwords: dict[str, str], reports: int, seed: int,
                   desks_see: str = "stream") -> dict[str, Any]:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    url = httpx.URL(base)
    host, port = url.host, url.port or 80
    connections: list[_Connection] = []

    def connect() -> _Connection:
        conn = _Connection(host, port)
        connections.append(conn)
        return conn

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def login(user: str) -> dict[str, str]:
            r = await client.post("/api/auth/token", data={"username": user, "password": passwords[user]})
            r.raise_for_status()
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        intake = await login("intake") | {"Content-Type": "application/json"}
        desks = {code: await login(f"desk-{code.lower()}") for code in BANK_CODES}

    # Stream mode: one open stream per bank desk; an order's future resolves when its event arrives.
    arrivals: dict[int, asyncio.Future[float]] = {}

    def arrival(order_id: int) -> asyncio.Future[float]:
        if order_id not in arrivals:
            arrivals[order_id] = asyncio.get_running_loop().create_future()
        return arrivals[order_id]

    async def follow(bank: str, stream: _Connection, opened: asyncio.Event) -> None:
        async for name, ident in stream.events("/api/desk/stream", desks[bank], opened):
            if name == "order" and not arrival(int(ident)).done():
                arrival(int(ident)).set_result(time.perf_counter())

    streams = [_Connection(host, port) for _ in BANK_CODES] if desks_see == "stream" else []
    opened = [asyncio.Event() for _ in streams]
    followers = [asyncio.create_task(follow(bank, stream, event))
                 for bank, stream, event in zip(BANK_CODES, streams, opened, strict=False)]

    async def one(i: int) -> float:
        body = json.dumps(_report(i, rng, run)).encode()
        conn = connect()
        t0 = time.perf_counter()
        status, answer = await conn.request("POST", "/api/cases", intake, body)
        if status != 201:
            raise RuntimeError(f"report {i}: HTTP {status} {answer[:300]!r}")
        case = json.loads(answer)
        want: dict[str, set[int]] = {}
        for o in case["orders"]:
            if o["kind"] == "stop_payment" and o["addressee"] in desks:
                want.setdefault(o["addressee"], set()).add(o["id"])

        async def visible(bank: str, ids: set[int], poller: _Connection) -> None:
            path = f"/api/desk/orders?status=pending&case_id={case['id']}"
            while True:
                code, queue = await poller.request("GET", path, desks[bank])
                if code != 200:
                    raise RuntimeError(f"desk {bank}: HTTP {code} {queue[:300]!r}")
                if ids <= {o["id"] for o in json.loads(queue)}:
                    return
                await asyncio.sleep(0.002)

        if desks_see == "stream":
            try:
                seen = await asyncio.wait_for(asyncio.gather(*(
                    asyncio.shield(arrival(order_id)) for ids in want.values() for order_id in ids)), 60)
            except TimeoutError:
                raise RuntimeError(f"report {i}: its orders did not reach the desk streams within 60 s") from None
            return (max(seen, default=time.perf_counter()) - t0) * 1000.0
        pollers = [conn] + [connect() for _ in range(len(want) - 1)]  # the POST's connection polls first
        await asyncio.gather(*(visible(bank, ids, poller)
                               for (bank, ids), poller in zip(want.items(), pollers[:len(want)], strict=True)))
        return (time.perf_counter() - t0) * 1000.0

    try:
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 30)
        for i in range(5):  # warm-up: imports, connection pools, caches
            await one(reports + i)
        # ... and a small burst, so the statements of a batched write are compiled before the clock runs.
        await asyncio.gather(*(one(reports + 5 + i) for i in range(10)))
        for conn in connections:
            await conn.close()
        connections.clear()
        # The load generator shares the cores with the server: no collection of its own during the
        # burst (a full one, due by the second backend's run, cost ~100 ms of client CPU there).
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            cpu0, client0, started = _cpu_seconds(pid), time.process_time(), time.perf_counter()
            latencies = await asyncio.gather(*(one(i) for i in range(reports)))
            wall = time.perf_counter() - started
            cpu1, client1 = _cpu_seconds(pid), time.process_time()
        finally:
            gc.enable()
            gc.unfreeze()
    finally:
        for task in followers:
            task.cancel()
        for conn in connections + streams:
            await conn.close()
    arr = np.array(latencies)
    spent = _cpu_spent(cpu0, cpu1)
    return {
        "reports": reports,
        "p50_ms": round(float(np.percentile(arr, 50)), 1),
        "p99_ms": round(float(np.percentile(arr, 99)), 1),
        "max_ms": round(float(arr.max()), 1),
        "wall_s": round(wall, 3),
        "reports_per_s": round(reports / wall, 1),
        "desks": desks_see,
        # CPU per report, server and this client: on 2 shared cores, what the wall figures depend on.
        "server_cpu_ms_per_report": None if spent is None else round(sum(spent.values()) / reports * 1e3, 2),
        # How evenly the workers shared the burst (each has its own listening socket; ticks of 10 ms).
        "server_cpu_ms_by_process": None if spent is None else sorted(
            (round(v * 1e3) for v in spent.values() if v > 0), reverse=True),
        "client_cpu_ms_per_report": round((client1 - client0) / reports * 1e3, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def _bench_backend(url: str, reports: int, seed: int, desks: str, workers: int) -> dict[str, Any]:
    from fanzha.response.seed import seed_demo
    from fanzha.store.db import session_factory, session_scope, upgrade

    upgrade(url)
    password = secrets.token_urlsafe(12)
    with session_scope(session_factory(url)) as session:
        seeded = seed_demo(session, password=password)
    with _server(url, workers) as (base, pid):
        return asyncio.run(_measure(base, pid, seeded.passwords, reports, seed, desks)) | {"workers": workers}


def run(reports: int = 100, backends: tuple[str, ...] = ("sqlite", "postgres"), seed: int = 11,
        desks: str = "stream", workers: int = 2) -> dict[str, Any]:
    """Measure each backend, print one line per backend and the last-line JSON; returns the figures.

    The bars are stated for desks that stream (the default); polling desks are a figure only.
    """
    if desks not in ("stream", "poll"):
        raise ValueError(f"desks must be 'stream' or 'poll', not {desks!r}")
    figures: dict[str, Any] = {}
    bars: list[Bar] = []
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="fanzha-bench-intake-") as tmp:
            fig = _bench_backend(f"sqlite:///{Path(tmp) / 'ops.sqlite3'}", reports, seed, desks, workers)
        figures["sqlite"] = fig
        if desks == "stream":
            bars.append(Bar("intake_p99_ms_sqlite", fig["p99_ms"], "<=", BAR_MS))
        print(f"sqlite: p50 {fig['p50_ms']} ms, p99 {fig['p99_ms']} ms, {fig['reports_per_s']} reports/s")
    if "postgres" in backends:
        with _postgres_database() as pg_url:
            if pg_url is None:
                figures["postgres"] = {"skipped": "no PostgreSQL server (scripts/postgres.sh found none)"}
                print("postgres: SKIPPED, no server found by scripts/postgres.sh", file=sys.stderr)
            else:
                fig = _bench_backend(pg_url, reports, seed, desks, workers)
                figures["postgres"] = fig
                if desks == "stream":
                    bars.append(Bar("intake_p99_ms_postgres", fig["p99_ms"], "<=", BAR_MS))
                print(f"postgres: p50 {fig['p50_ms']} ms, p99 {fig['p99_ms']} ms, {fig['reports_per_s']} reports/s")
    print(result_line("intake", figures, bars))
    return figures
