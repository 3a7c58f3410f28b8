"""Wake-ups for desk streams: new orders were committed, read the queue.

A desk that polls its queue costs a request per poll, and with a hundred reports arriving
at once the polls were two thirds of the API's work. A desk stream (``GET
/api/desk/stream``) instead waits on an :class:`OrderFeed` and reads its queue only when
a commit has made new orders, or after ``desk_stream_poll_seconds`` at the latest.

The feed keeps the highest order id it has heard of; a wake-up names the highest id of
its commit and only an id beyond that wakes the streams. So a write that made no order
(an audit row, an acknowledgement) wakes nobody, and a commit heard twice (by this
process's writer and by its watcher) wakes the streams once.

On a wake-up the feed itself reads the new orders once, for all its streams
(:meth:`OrderFeed.take` hands each stream its own organisation's), instead of every
stream reading its queue: with ten bank desks connected that was ten reads per commit.
It reads only the orders of organisations with a stream open in this process: with two
workers each holding half the bank desks, reading every order (blocks, takedowns and
the other worker's banks too) was four times the rows, each made into an
:class:`OrderPublic` on the event loop (~50 µs a row). A stream further behind than the
feed's window, one whose organisation joined the window after the orders it wants, or
one woken by its fallback timer, reads its queue itself.

Wake-ups are counted in ``generation``, bumped on the event loop's thread only: a stream
notes the generation before it reads and :meth:`OrderFeed.wait` returns at once if it has
moved since, so a commit landing between the read and the wait is never missed.

Commits of other processes (a second ``fanzha serve`` worker, a CLI) are heard through
:func:`watch_commits`: on SQLite by ``PRAGMA data_version`` (it changes when any other
connection commits; a check costs microseconds) and then the highest order id; on
PostgreSQL by ``LISTEN`` on the channel that API write transactions that made orders
notify with their highest order id (:data:`CHANNEL`; an empty payload wakes the streams).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from fanzha.response.schemas import OrderPublic

log = logging.getLogger("fanzha.api.feed")
CHANNEL = "fanzha_commits"
"""The PostgreSQL notification channel the API's write transactions notify on commit."""


OrderReader = Callable[[int, int, frozenset[int]], list[tuple[int, OrderPublic]]]
"""(after_id, limit, organisations) → those organisations' orders above ``after_id``, oldest first, each with its
organisation id."""


class OrderFeed:
    """Commit notifications from any thread to the streams on one event loop, and the new orders they brought."""

    READ_LIMIT = 1000  # orders per read while catching up
    KEEP = 5000  # orders held for the streams; beyond that the window restarts

    def __init__(self) -> None:
        self.generation = 0
        self.max_order_id = 0  # the highest order id heard of so far
        self.reads = 0  # shared reads made (tests and tuning)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future[None]] = set()
        self._open: dict[int, int] = {}  # organisation id → its streams open on this feed (each inside :meth:`opened`)
        self._reader: OrderReader | None = None
        # For each organisation in ``_since``: its every order with _since[org] < id <= cursor, oldest first
        # (cursor None: no window).
        self._cursor: int | None = None
        self._since: dict[int, int] = {}
        self._recent: dict[int, list[OrderPublic]] = {}
        self._held = 0

    def bind(self, loop: asyncio.AbstractEventLoop | None, reader: OrderReader | None = None,
             cursor: int | None = None) -> None:
        """Deliver wake-ups to ``loop`` (the API's, set in its lifespan; None detaches).

        With ``reader`` (run on the loop's thread) the feed reads each commit's new orders
        for the streams, starting after order id ``cursor``, all of which must be committed.
        """
        self._loop = loop
        self._reader = reader if loop is not None else None
        self.max_order_id = max(self.max_order_id, cursor or 0)
        self._restart(cursor if self._reader is not None else None)

    def _restart(self, cursor: int | None) -> None:
        self._cursor = cursor
        self._since = {} if cursor is None else dict.fromkeys(self._open, cursor)
        self._recent = {}
        self._held = 0

    def take(self, organisation_id: int, after_id: int) -> list[OrderPublic] | None:
        """The organisation's orders above ``after_id`` the feed holds; None if its window does not reach back
        that far, or the feed does not read for it (the stream then reads its queue itself)."""
        since = self._since.get(organisation_id)
        if self._cursor is None or since is None or after_id < since:
            return None
        held = self._recent.get(organisation_id, [])
        return held[bisect.bisect_right(held, after_id, key=lambda o: o.id):]

    def _read_new(self, heard_before: int) -> None:
        """Read what has been committed beyond the window into it (on the loop's thread).

        ``heard_before`` is the highest order id heard of before this wake-up: where a new window starts.
        """
        if self._reader is None:
            return
        if not self._open:  # nobody to hand orders to: let the window go rather than read for nobody
            self._restart(None)
            return
        if self._cursor is None:
            # Orders up to the highest id heard of before this wake-up are committed (ids are commit-ordered).
            self._restart(heard_before)
        assert self._cursor is not None
        try:
            while True:
                rows = self._reader(self._cursor, self.READ_LIMIT, frozenset(self._since))
                self.reads += 1
                for organisation_id, order in rows:
                    self._recent.setdefault(organisation_id, []).append(order)
                if rows:
                    self._cursor = rows[-1][1].id
                    self._held += len(rows)
                if len(rows) < self.READ_LIMIT:
                    break
        except Exception:
            log.warning("desk feed could not read new orders; streams read their own queues", exc_info=True)
            self._restart(None)
            return
        if self._held > self.KEEP:
            self._restart(self._cursor)

    def notify(self, max_order_id: int | None = None) -> None:
        """Orders up to ``max_order_id`` are committed (None: something may be; call from any thread)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            loop.call_soon_threadsafe(self.saw, max_order_id)

    def saw(self, max_order_id: int | None) -> None:
        """On the loop's thread: if ``max_order_id`` is new (or unknown), read the new orders and wake the streams."""
        heard_before = self.max_order_id
        if max_order_id is not None:
            if max_order_id <= heard_before:
                return
            self.max_order_id = max_order_id
        self._read_new(heard_before)
        self._wake()

    @property
    def listening(self) -> bool:
        """Whether any stream is open (the SQLite watcher looks less often when none is)."""
        return bool(self._open)

    @contextlib.contextmanager
    def opened(self, organisation_id: int) -> Iterator[None]:
        """A stream of ``organisation_id`` is open for the duration (on the loop's thread).

        One busy with the last wake-up still counts: under a burst the streams are rarely all
        waiting when the next commit is heard, and the window must not lapse then. The
        feed reads the organisation's orders from now on; those before, its stream reads itself.
        """
        self._open[organisation_id] = self._open.get(organisation_id, 0) + 1
        if self._cursor is not None:
            self._since.setdefault(organisation_id, self._cursor)
        try:
            yield
        finally:
            self._open[organisation_id] -= 1
            if not self._open[organisation_id]:  # its last stream closed: stop reading for it
                del self._open[organisation_id]
                self._since.pop(organisation_id, None)
                self._held -= len(self._recent.pop(organisation_id, []))

    def _wake(self) -> None:
        self.generation += 1
        waiters, self._waiters = self._waiters, set()
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def wait(self, since: int, timeout: float) -> bool:
        """Until the generation moves past ``since`` or ``timeout`` seconds pass; True if it moved."""
        if self.generation != since:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(future)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(future)
        return True


async def watch_commits(feed: OrderFeed, url: str, sqlite_file: Path | None,
                        busy_seconds: float = 0.005, idle_seconds: float = 0.1) -> None:
    """Wake ``feed`` whenever another connection commits to the database at ``url`` (runs until cancelled).

    SQLite (``sqlite_file``): a check of ``PRAGMA data_version`` every ``busy_seconds`` while
    a stream is open, every ``idle_seconds`` otherwise. PostgreSQL: a thread holding one
    connection in ``LISTEN``. Other databases (in-memory SQLite): nothing to watch.
    """
    if sqlite_file is not None:
        conn = sqlite3.connect(sqlite_file, check_same_thread=False)
        try:
            last = conn.execute("PRAGMA data_version").fetchone()[0]
            while True:
                await asyncio.sleep(busy_seconds if feed.listening else idle_seconds)
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != last:
                    last = version
                    feed.saw(_max_order_id(conn))
        finally:
            conn.close()
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    stop = threading.Event()
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    thread = threading.Thread(target=_listen, args=(conninfo, feed, stop), name="fanzha-commit-listener",
                              daemon=True)
    thread.start()
    try:
        await asyncio.Event().wait()  # until cancelled
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 5)


def _max_order_id(conn: sqlite3.Connection) -> int | None:
    """The highest committed order id (None if there is no orders table to read: wake anyway)."""
    try:
        return int(conn.execute("SELECT max(id) FROM orders").fetchone()[0] or 0)
    except sqlite3.Error:
        return None


def _listen(conninfo: str, feed: OrderFeed, stop: threading.Event) -> None:
    """LISTEN on :data:`CHANNEL` and wake ``feed`` per notification; reconnects after a failure."""
    import psycopg

    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        feed.notify(int(note.payload) if note.payload.isdigit() else None)
        except psycopg.Error:
            log.warning("commit listener lost its connection; reconnecting in 1 s", exc_info=True)
            stop.wait(1.0)
