"""Group commit for intake: one writer thread, concurrent reports share a transaction.

A burst of reports (the bench fires 100 at once; a scam wave does the same) used to be
100 transactions queued on SQLite's single writer, each paying its own BEGIN, COMMIT and
session, with 100 worker threads fighting over the GIL. Here every report of this
process goes to one thread. It takes whatever has queued up (up to ``max_batch``),
writes them all with one statement per table (:func:`service.submit_reports`), commits
once, and only then answers the waiting requests. If the bulk write fails, its SAVEPOINT
is rolled back and each report is written in a SAVEPOINT of its own.

Each report is still atomic in effect:

* a report that fails (bad input, a hook raising, a unique index losing a race) rolls
  back its own SAVEPOINT only; the others in the batch commit;
* if the batch's COMMIT itself fails, nothing of it is stored, and every report in it is
  written again alone, in its own transaction (:func:`service.submit_report_retrying`);
* nobody is answered before the COMMIT that holds their report, so a client that got a
  201 has a durable case, and one that did not resends the same idempotency key;
* two reports with one idempotency key in one batch: the second finds the first's case
  inside the transaction and is answered with it (200), as if it came later.

A batch also waits for the intake requests this process has begun to receive but not
yet queued (:class:`IntakeArrivals` counts them from their first byte), for at most
``gather_seconds``. Without that, the first report of a burst was often written alone:
the event loop was still reading and validating the others, with gaps longer than the
linger between them, and the rest of the burst then waited behind a batch of one that
took as long as a batch of fifty (in 4 of 7 bursts traced on PostgreSQL; with the wait,
over 3 x 10 bursts each way, p99 median 143 -> 117 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from fanzha.response import service
from fanzha.response.schemas import ReportCreate
from fanzha.response.service import IntakeResult
from fanzha.store.audit import Actor

log = logging.getLogger("fanzha.api.writer")


@dataclass
class _Job:
    report: ReportCreate
    actor: Actor
    kwargs: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[IntakeResult]
    result: IntakeResult | None = None
    error: BaseException | None = None
    retry: bool = field(default=False)


INTAKE_PATH = "/api/cases"
ARRIVAL_SCOPE_KEY = "fanzha.intake_arrival"
"""Where :class:`IntakeArrivals` leaves a request's :class:`Arrival` in the ASGI scope."""


class Arrival:
    """One intake request from its first byte until it is queued for the writer, or has ended without."""

    __slots__ = ("_writer", "open")

    def __init__(self, writer: IntakeWriter) -> None:
        self._writer = writer
        self.open = True
        writer.arriving += 1

    def close(self) -> None:
        """It is queued, or it ended (rejected, say) without a report to write; on the event loop's thread."""
        if self.open:
            self.open = False
            self._writer.arriving -= 1


class IntakeWriter:
    """The process's single intake writer; :meth:`submit` is awaited by the API route."""

    def __init__(self, db: Any, max_batch: int = 64, linger_seconds: float = 0.002,
                 gather_seconds: float = 0.02) -> None:
        self.db = db  # fanzha.api.deps.Database (not imported: deps imports this module's users)
        self.max_batch = max_batch
        # How long the writer waits for the next report of a burst before writing what it has:
        # a batch of 6 cost 2.5 ms of CPU per report, one of 50 cost 1.5 ms; a lone report waits this once.
        if linger_seconds <= 0:
            raise ValueError("linger_seconds must be positive")
        self.linger_seconds = linger_seconds
        # How long a batch may wait, in all, for reports still arriving (see the module docstring).
        self.gather_seconds = gather_seconds
        self.arriving = 0  # intake requests begun, not yet queued; changed on the event loop, read by the writer
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0  # how many transactions were committed (tests and tuning)

    async def submit(self, report: ReportCreate, actor: Actor, arrival: Arrival | None = None,
                     **kwargs: Any) -> IntakeResult:
        """Queue ``report`` and wait until it is committed (or has failed on its own).

        ``arrival`` is the request's, closed here: once queued it no longer holds a batch back.
        """
        self._ensure_started()
        loop = asyncio.get_running_loop()
        job = _Job(report, actor, kwargs, loop, loop.create_future())
        self._queue.put(job)
        if arrival is not None:
            arrival.close()
        return await job.future

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fanzha-intake-writer", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            stop = False
            gather_until = time.monotonic() + self.gather_seconds
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get(timeout=self.linger_seconds)
                except queue.Empty:
                    if self.arriving > 0 and time.monotonic() < gather_until:
                        continue  # reports still being read and validated join this batch
                    # submit() queues its job before closing its arrival, so a report whose arrival
                    # closed between the timeout above and the count just read is in the queue now.
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            try:
                self._write(batch)
            except BaseException as exc:  # never let the thread die with requests waiting
                log.exception("intake writer failed")
                for j in batch:
                    if j.result is None and j.error is None:
                        j.error = exc
            for j in batch:
                _answer(j)
            if stop:
                return

    def _write(self, batch: list[_Job]) -> None:
        try:
            with self.db.write() as session:
                if not self._write_bulk(session, batch):
                    self._write_each(session, batch)
            self.batches += 1
        except Exception:
            log.warning("intake batch of %d failed to commit; writing its reports one by one", len(batch),
                        exc_info=True)
            for job in batch:
                job.result, job.error, job.retry = None, None, True
        for job in batch:
            if job.retry:
                try:
                    job.result = service.submit_report_retrying(self.db.write, job.report, job.actor, **job.kwargs)
                except Exception as exc:
                    job.error = exc

    def _write_bulk(self, session: Session, batch: list[_Job]) -> bool:
        """The whole batch with one statement per table (:func:`service.submit_reports`), in a SAVEPOINT.

        False (and nothing written) when it cannot or did not work: a fault-test hook is
        set, the reports differ in options, or a statement failed (a unique index lost a
        race with another process, say); the caller then writes report by report.
        """
        shared = {k: v for k, v in batch[0].kwargs.items() if k != "idempotency_key"}
        if shared.get("hook") is not None or any(
                {k: v for k, v in j.kwargs.items() if k != "idempotency_key"} != shared for j in batch):
            return False
        jobs = [service.ReportJob(j.report, j.actor, j.kwargs.get("idempotency_key")) for j in batch]
        try:
            with session.begin_nested():
                outcomes = service.submit_reports(session, jobs, **shared)
        except Exception:
            log.info("bulk intake of %d reports failed; writing them one by one", len(batch), exc_info=True)
            return False
        for job, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                job.error = outcome
            else:
                job.result = outcome
        return True

    def _write_each(self, session: Session, batch: list[_Job]) -> None:
        """Each report in its own SAVEPOINT: a failing one rolls back alone."""
        for job in batch:
            try:
                with session.begin_nested():
                    job.result = service.submit_report(session, job.report, job.actor, **job.kwargs)
            except IntegrityError:
                job.retry = True  # lost a race on a unique index: alone, after this batch
            except Exception as exc:
                job.error = exc


def _answer(job: _Job) -> None:
    def settle() -> None:
        if job.future.done():  # the client went away; its report stands (or failed) all the same
            return
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            assert job.result is not None
            job.future.set_result(job.result)

    with contextlib.suppress(RuntimeError):  # that event loop is closed: nobody is waiting
        job.loop.call_soon_threadsafe(settle)


class IntakeArrivals:
    """ASGI middleware: an :class:`Arrival` for every ``POST /api/cases`` from its first byte.

    It runs before the body is read, the token checked and the report validated, so the
    writer knows reports are on their way while the event loop is still busy with them.
    The route closes the arrival when it queues the report; this closes it when the
    request ends without doing so (a 401 or a 422).
    """

    def __init__(self, app: ASGIApp, writer: IntakeWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != INTAKE_PATH:
            await self.app(scope, receive, send)
            return
        arrival = scope[ARRIVAL_SCOPE_KEY] = Arrival(self.writer)
        try:
            await self.app(scope, receive, send)
        finally:
            arrival.close()
