"""The desk stream over real HTTP: a desk's new orders arrive as server-sent events, its own only."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from api_helpers import LiveServer, actor_named, live_server, report_body, serve_process
from sqlalchemy import event as sa_event
from sqlalchemy import text

from fanzha.api.feed import CHANNEL
from fanzha.response import service
from fanzha.response.schemas import ReportCreate
from fanzha.settings import Settings
from fanzha.store.db import session_factory, session_scope, upgrade
from fanzha.store.models import Role

Event = tuple[str, str | None, Any]  # (event, id, data)


@contextmanager
def _stream(live: LiveServer, user: str, **params: Any) -> Iterator[queue.Queue[Event]]:
    """Read ``/api/desk/stream`` as ``user`` in a thread; events arrive on the queue."""
    events: queue.Queue[Event] = queue.Queue()
    headers = live.login(user) | params.pop("headers", {})
    opened = threading.Event()
    stop = threading.Event()

    def read() -> None:
        try:
            follow()
        except httpx.HTTPError as exc:  # the server went away (a shutdown test): say so, do not raise
            events.put(("closed", None, str(exc)))

    def follow() -> None:
        with httpx.Client(base_url=live.base_url, timeout=30) as client, \
                client.stream("GET", "/api/desk/stream", headers=headers, params=params) as r:
            events.put(("status", None, r.status_code))
            opened.set()
            name, ident, data = "message", None, []
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if line == "":
                    if data:
                        events.put((name, ident, json.loads("\n".join(data))))
                    name, ident, data = "message", None, []
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("id: "):
                    ident = line[4:]
                elif line.startswith("data: "):
                    data.append(line[6:])

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert opened.wait(20), "the stream did not open"
    assert events.get(timeout=1) == ("status", None, 200)
    try:
        yield events
    finally:
        stop.set()


def _take(events: queue.Queue[Event], n: int, timeout: float = 10) -> list[Event]:
    got: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        got.append(events.get(timeout=max(0.01, deadline - time.monotonic())))
    return got


def _nothing_more(events: queue.Queue[Event], wait: float = 0.6) -> None:
    with pytest.raises(queue.Empty):
        extra = events.get(timeout=wait)
        pytest.fail(f"unexpected event {extra}")


def test_a_desk_stream_carries_its_own_new_orders_and_nobody_elses(live: LiveServer) -> None:
    with _stream(live, "desk-icbc") as icbc, _stream(live, "desk-abc") as abc:
        r = live.report(report_body(1), "stream-1")
        assert r.status_code == 201, r.text
        mine = [o for o in r.json()["orders"] if o["addressee"] == "ICBC"]
        assert len(mine) == 1
        (name, ident, data), = _take(icbc, 1)
        assert name == "order" and ident == str(mine[0]["id"]) and data["id"] == mine[0]["id"]
        assert data["kind"] == "stop_payment" and data["target"] == mine[0]["target"]
        _nothing_more(icbc)  # the CCB, carrier and platform orders went elsewhere
        _nothing_more(abc, 0.1)

        # The money-following loop's next level (an ABC account in ICBC's statement) reaches ABC's stream.
        t = datetime.now(UTC).isoformat()
        done = live.client.post(f"/api/orders/{mine[0]['id']}/execute", headers=live.login("desk-icbc"), json={
            "amount_stopped_cents": 100_000, "statement_rows": [
                {"transfer_id": "S1", "time": t, "to_account": "6228480000000077", "to_bank": "ABC",
                 "amount_cents": 200_000}]})
        assert done.status_code == 200, done.text
        (name, _ident, data), = _take(abc, 1)
        assert (name, data["target"], data["level"], data["addressee"]) == ("order", "6228480000000077", 2, "ABC")


def test_one_read_per_commit_serves_every_stream_its_own_orders(live: LiveServer) -> None:
    """Three desks listening, one report with orders for two of them: the feed reads the commit's
    orders once and each stream gets its own organisation's, nothing else."""
    db = live.app.state.db
    queue_reads: list[str] = []  # SELECTs of orders on the event loop's own connection: the feed's and the streams'

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "orders" in statement:
            queue_reads.append(statement)

    loop_engine = db._loop_sessions.kw["bind"]
    with _stream(live, "desk-icbc") as icbc, _stream(live, "desk-ccb") as ccb, _stream(live, "desk-abc") as abc:
        time.sleep(0.3)  # all three wait on the feed
        reads = db.feed.reads
        sa_event.listen(loop_engine, "before_cursor_execute", count)
        try:
            r = live.report(report_body(21), "stream-21")
            assert r.status_code == 201, r.text
            by_bank = {o["addressee"]: o["id"] for o in r.json()["orders"] if o["kind"] == "stop_payment"}
            assert [int(e[1] or 0) for e in _take(icbc, 1)] == [by_bank["ICBC"]]
            assert [int(e[1] or 0) for e in _take(ccb, 1)] == [by_bank["CCB"]]
            _nothing_more(abc)
        finally:
            sa_event.remove(loop_engine, "before_cursor_execute", count)
        assert db.feed.reads - reads == 1, f"{db.feed.reads - reads} shared reads for one commit"
        assert len(queue_reads) == 1, f"{len(queue_reads)} queue reads for one commit (streams read their own?)"


def test_a_stream_resumes_after_the_last_event_id_and_refuses_other_roles(live: LiveServer) -> None:
    first = live.report(report_body(2), "stream-2").json()
    second = live.report(report_body(3), "stream-3").json()
    icbc_ids = [o["id"] for case in (first, second) for o in case["orders"] if o["addressee"] == "ICBC"]
    assert len(icbc_ids) == 2
    with _stream(live, "desk-icbc", headers={"Last-Event-ID": str(icbc_ids[0])}) as icbc:
        assert [int(e[1] or 0) for e in _take(icbc, 1)] == icbc_ids[1:]
    with _stream(live, "desk-icbc", after_id=0) as icbc:  # the whole queue, oldest first
        assert [int(e[1] or 0) for e in _take(icbc, 2)] == icbc_ids

    for user, code in (("intake", 403), ("commander", 403)):
        assert live.client.get("/api/desk/stream", headers=live.login(user)).status_code == code
    assert live.client.get("/api/desk/stream").status_code == 401
    bad = live.client.get("/api/desk/stream", headers=live.login("desk-icbc") | {"Last-Event-ID": "x"})
    assert bad.status_code == 422 and "Last-Event-ID" in json.dumps(bad.json())


def test_orders_written_by_another_process_arrive_by_the_poll_and_the_stream_ends_with_the_token(
        tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'stream.sqlite3'}"
    upgrade(url)
    settings = Settings(database_url=url, env="test", escalation_interval_seconds=0, outbox_interval_seconds=0,
                        desk_stream_poll_seconds=0.2, access_token_minutes=0.1)
    with live_server(settings) as live, _stream(live, "desk-icbc") as icbc:
        started = time.monotonic()
        # A CLI or a second worker writes the report: this API process is never told.
        with session_scope(session_factory(url, sqlite_immediate=True)) as s:
            intake = actor_named(s, "intake")
            assert intake.role == Role.INTAKE_OFFICER
            case = service.submit_report(s, ReportCreate.model_validate(report_body(4)), intake,
                                         idempotency_key="elsewhere-4")
        target = next(o.target for o in case.case.orders if o.addressee == "ICBC")
        (name, _ident, data), = _take(icbc, 1)
        assert name == "order" and data["target"] == target
        # The 6 s token runs out: the stream says so and closes (the client signs in again and resumes).
        name, _ident, data = _take(icbc, 1, timeout=15)[0]
        assert (name, data) == ("end", {"reason": "token expired"})
        assert time.monotonic() - started < 12


def test_another_processes_commit_wakes_the_stream_at_once(store_url: str) -> None:
    """With the fallback poll at 30 s, an order written outside this API process still arrives in
    seconds: SQLite's data_version watcher or PostgreSQL's LISTEN/NOTIFY wakes the stream."""
    settings = Settings(database_url=store_url, env="test", escalation_interval_seconds=0,
                        outbox_interval_seconds=0, desk_stream_poll_seconds=30)
    with live_server(settings) as live, _stream(live, "desk-icbc") as icbc:
        time.sleep(0.5)  # the watcher has started and the stream waits
        with session_scope(session_factory(store_url, sqlite_immediate=True)) as s:
            intake = actor_named(s, "intake")
            case = service.submit_report(s, ReportCreate.model_validate(report_body(5)), intake,
                                         idempotency_key="elsewhere-5")
            if not store_url.startswith("sqlite"):
                s.execute(text(f"NOTIFY {CHANNEL}"))  # what every API write transaction does
        started = time.monotonic()
        target = next(o.target for o in case.case.orders if o.addressee == "ICBC")
        (name, _ident, data), = _take(icbc, 1, timeout=10)
        assert name == "order" and data["target"] == target
        assert time.monotonic() - started < 5, "woken by the poll, not by the commit watcher"


def test_serve_with_two_workers_delivers_every_order_to_one_stream(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``fanzha serve --workers 2``: reports on many connections land on both workers, and a
    desk stream held by either sees every one of its orders within seconds (poll at 30 s)."""
    with serve_process(tmp_path, env={"FANZHA_DESK_STREAM_POLL_SECONDS": "30"}) as (proc, base, url):
        live = LiveServer(base_url=base, url=url, settings=Settings(database_url=url), client=httpx.Client(
            base_url=base, timeout=30))
        with live.client, _stream(live, "desk-icbc") as icbc:
            wanted = set()
            for n in range(8):  # a new connection each: the kernel spreads them over the workers
                with httpx.Client(base_url=base, timeout=30) as fresh:
                    r = fresh.post("/api/cases", json=report_body(10 + n), headers=live.login("intake") | {
                        "Idempotency-Key": f"workers-{n}"})
                assert r.status_code == 201, r.text
                wanted |= {o["id"] for o in r.json()["orders"] if o["addressee"] == "ICBC"}
            got = {int(e[1] or 0) for e in _take(icbc, len(wanted), timeout=10)}
            assert got == wanted
            _nothing_more(icbc)
            stopping = time.monotonic()
            proc.terminate()  # the stream's connection is still open: shutdown must not wait on it
            proc.wait(timeout=60)
    assert time.monotonic() - stopping < 20, "shutdown waited on the open desk stream"
