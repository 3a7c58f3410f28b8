"""Group commit (fanzha.api.writer): reports that share a transaction are still each atomic."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_helpers import actor_named
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fanzha.api.deps import Database
from fanzha.api.writer import Arrival, IntakeWriter
from fanzha.response.schemas import ReportCreate
from fanzha.response.seed import seed_demo
from fanzha.response.service import IntakeResult, InvalidInput
from fanzha.store.audit import Actor
from fanzha.store.models import AuditLog, Case, Order, TraceJob


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    database = Database(store_url)
    with database.write() as s:
        seed_demo(s, password="pw-for-tests-1")
    yield database
    database.dispose()


def _intake(db: Database) -> Actor:
    with db.read() as s:
        return actor_named(s, "intake")


def _report(key: str, account: str, station: str | None = None) -> ReportCreate:
    t = datetime.now(UTC) - timedelta(minutes=3)
    victim: dict[str, Any] = {"number": "13812345678", "name": "张三"}
    if station:
        victim["station"] = station
    return ReportCreate.model_validate({
        "idempotency_key": key, "victim": victim,
        "transfers": [{"amount_cents": 10_000, "time": t.isoformat(), "to_bank": "ICBC", "to_account": account}],
        "fraud_numbers": ["13912345678"],
    })


def _gate_first() -> tuple[Any, threading.Event, threading.Event]:
    """A hook that holds the writer in its first report until released, so the rest queue into one batch."""
    release = threading.Event()
    held = threading.Event()

    def hook(step: str, _session: Session) -> None:
        if step == "checked" and not held.is_set():
            held.set()
            release.wait(10)

    return hook, release, held


async def _submit_all(writer: IntakeWriter, actor: Actor, reports: list[ReportCreate], hook: Any,
                      release: threading.Event, held: threading.Event) -> list[IntakeResult | BaseException]:
    first = asyncio.ensure_future(writer.submit(reports[0], actor, hook=hook))
    assert await asyncio.to_thread(held.wait, 30)  # the writer now holds report 0; the others queue behind it
    rest = [asyncio.ensure_future(writer.submit(r, actor, hook=hook)) for r in reports[1:]]
    await asyncio.sleep(0.1)
    release.set()
    return list(await asyncio.gather(first, *rest, return_exceptions=True))


def test_a_failing_report_does_not_take_its_batch_down(db: Database) -> None:
    writer = IntakeWriter(db)
    actor = _intake(db)
    hook, release, held = _gate_first()
    reports = [_report("g-0", "6222000000000100"), _report("g-bad", "6222000000000101", station="NO-SUCH-UNIT"),
               _report("g-2", "6222000000000102"), _report("g-0", "6222000000000100")]
    try:
        results = asyncio.run(_submit_all(writer, actor, reports, hook, release, held))
    finally:
        writer.close()
    assert writer.batches == 2  # report 0 alone, then the three that queued behind it together
    ok0, bad, ok2, again = results
    assert isinstance(bad, InvalidInput) and bad.loc == ("body", "victim", "station")
    assert isinstance(ok0, IntakeResult) and ok0.created
    assert isinstance(ok2, IntakeResult) and ok2.created
    assert isinstance(again, IntakeResult) and not again.created and again.case.id == ok0.case.id
    with db.read() as s:
        keys = set(s.scalars(select(Case.idempotency_key)))
        assert keys == {"g-0", "g-2"}
        assert s.scalar(select(func.count()).select_from(TraceJob)) == 2
        assert s.scalar(select(func.count()).select_from(Order).where(Order.target == "6222000000000101")) == 0
        creations = s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "create"))
        assert creations == 2


def test_a_report_whose_hook_fails_leaves_nothing_and_the_others_commit(db: Database) -> None:
    writer = IntakeWriter(db)
    actor = _intake(db)
    gate, release, held = _gate_first()

    def hook(step: str, session: Session) -> None:
        gate(step, session)
        if step == "outbox" and session.scalar(select(func.count()).select_from(Case)
                                               .where(Case.idempotency_key == "h-fail")):
            raise RuntimeError("disk on fire")

    reports = [_report(f"h-{i}", f"62220000000002{i:02d}") for i in range(3)] + [_report("h-fail", "6222000000000299")]
    try:
        results = asyncio.run(_submit_all(writer, actor, reports, hook, release, held))
    finally:
        writer.close()
    assert [isinstance(r, IntakeResult) for r in results] == [True, True, True, False]
    assert isinstance(results[3], RuntimeError)
    with db.read() as s:
        assert set(s.scalars(select(Case.idempotency_key))) == {"h-0", "h-1", "h-2"}
        assert s.scalar(select(func.count()).select_from(Order).where(Order.target == "6222000000000299")) == 0


def test_a_batch_whose_commit_fails_is_written_again_report_by_report(db: Database) -> None:
    class FlakyCommit:
        """The batch's unit of work fails at COMMIT once; later ones work."""

        def __init__(self, inner: Database) -> None:
            self.inner = inner
            self.failed = False

        @contextmanager
        def write(self) -> Iterator[Session]:
            with self.inner.write() as session:
                yield session
                if not self.failed:
                    self.failed = True
                    raise OSError("disk full at commit")

    flaky = FlakyCommit(db)
    writer = IntakeWriter(flaky)
    actor = _intake(db)

    async def both() -> list[IntakeResult]:
        return list(await asyncio.gather(writer.submit(_report("c-1", "6222000000000301"), actor),
                                         writer.submit(_report("c-2", "6222000000000302"), actor)))

    try:
        results = asyncio.run(both())
    finally:
        writer.close()
    assert flaky.failed and all(r.created for r in results)
    with db.read() as s:
        assert set(s.scalars(select(Case.idempotency_key))) == {"c-1", "c-2"}
        assert s.scalar(select(func.count()).select_from(TraceJob)) == 2


def _two_reports_apart(writer: IntakeWriter, actor: Actor, arrival: Arrival | None, gap: float,
                       tag: str) -> list[IntakeResult]:
    """Report 1 at once, report 2 ``gap`` seconds later (closing ``arrival`` as the route does when it queues)."""

    async def run() -> list[IntakeResult]:
        first = asyncio.ensure_future(writer.submit(_report(f"{tag}-1", f"62220000{tag}01"), actor))
        await asyncio.sleep(gap)
        second = asyncio.ensure_future(writer.submit(_report(f"{tag}-2", f"62220000{tag}02"), actor, arrival))
        return list(await asyncio.gather(first, second))

    return asyncio.run(run())


def test_a_report_still_arriving_joins_the_batch(db: Database) -> None:
    """While a request is being read and validated, the batch waits for it (up to gather_seconds)."""
    actor = _intake(db)
    alone = IntakeWriter(db, gather_seconds=5.0)
    try:
        results = _two_reports_apart(alone, actor, None, 0.3, "400000")  # nothing announced: two batches
    finally:
        alone.close()
    assert alone.batches == 2 and all(r.created for r in results)
    gathering = IntakeWriter(db, gather_seconds=5.0)
    try:
        results = _two_reports_apart(gathering, actor, Arrival(gathering), 0.3, "410000")
    finally:
        gathering.close()
    assert gathering.batches == 1 and all(r.created for r in results)
    assert gathering.arriving == 0


class _TimeoutThenPause:
    """The writer's queue, paused once just after a linger timeout: the instant a CI run once hit by chance."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.timed_out = threading.Event()
        self.resume = threading.Event()

    def put(self, item: Any) -> None:
        self.inner.put(item)

    def get_nowait(self) -> Any:
        return self.inner.get_nowait()

    def get(self, timeout: float | None = None) -> Any:
        try:
            return self.inner.get(timeout=timeout)
        except queue.Empty:
            if not self.timed_out.is_set():
                self.timed_out.set()
                self.resume.wait(30)
            raise


def test_a_report_queued_as_the_linger_times_out_still_joins_the_batch(db: Database) -> None:
    """Queued, and its arrival closed, between the writer's timeout and its look at the count: same batch."""
    actor = _intake(db)
    writer = IntakeWriter(db, gather_seconds=5.0)
    paused = _TimeoutThenPause(writer._queue)
    writer._queue = paused  # type: ignore[assignment]
    arrival = Arrival(writer)

    async def run() -> list[IntakeResult]:
        first = asyncio.ensure_future(writer.submit(_report("race-1", "6222000042000001"), actor))
        assert await asyncio.to_thread(paused.timed_out.wait, 30)
        second = asyncio.ensure_future(writer.submit(_report("race-2", "6222000042000002"), actor, arrival))
        while arrival.open:
            await asyncio.sleep(0)
        paused.resume.set()
        return list(await asyncio.gather(first, second))

    try:
        results = asyncio.run(asyncio.wait_for(run(), 60))
    finally:
        writer.close()
    assert all(r.created for r in results)
    assert writer.batches == 1 and writer.arriving == 0


def test_a_request_that_never_arrives_holds_a_batch_back_for_gather_seconds_at_most(db: Database) -> None:
    writer = IntakeWriter(db, gather_seconds=0.3)
    stuck = Arrival(writer)  # a client that sent its headers and then stalled

    async def one() -> tuple[IntakeResult, float]:
        started = time.monotonic()
        result = await writer.submit(_report("stuck-1", "6222000000000501"), _intake(db))
        return result, time.monotonic() - started

    try:
        result, waited = asyncio.run(asyncio.wait_for(one(), 30))
    finally:
        writer.close()
    assert result.created and writer.batches == 1
    assert waited >= 0.3  # it did wait for the stalled request ...
    stuck.close()
    assert writer.arriving == 0


def test_linger_must_be_positive(db: Database) -> None:
    with pytest.raises(ValueError, match="linger_seconds"):
        IntakeWriter(db, linger_seconds=0)
