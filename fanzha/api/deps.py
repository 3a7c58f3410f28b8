"""Dependencies of the routes: the database's units of work, the signed-in actor, role checks.

Routes open units of work explicitly (``with db.write() as session:``) so a request's
writes commit before its response is sent. On SQLite the writers of this process queue
on one lock before ``BEGIN IMMEDIATE``: the database takes one writer at a time anyway,
and a lock hands over at once where SQLite's busy handler would sleep and poll. Reads
never take it (WAL readers do not block the writer).

Every dependency here is ``async``: FastAPI runs a plain ``def`` dependency in the
thread pool, and a hop there and back per dependency per request cost more than the
work itself. The signed-in user is checked from the JWT and a per-process cache of
users (:class:`ActorCache`, re-read after ``USER_RECHECK_SECONDS``), so a deactivated
user or a changed role takes effect within seconds without a database read per request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any

try:
    import fcntl
except ImportError:  # Windows: one process per SQLite database
    fcntl = None  # type: ignore[assignment]

from anyio import to_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from fanzha.api.core.security import TokenError, decode_access_token
from fanzha.api.feed import CHANNEL, OrderFeed
from fanzha.response.escalation import EscalationPolicy
from fanzha.response.schemas import OrderPublic
from fanzha.response.service import IntakeHook, actor_of, orders_after_for_feed
from fanzha.settings import Settings
from fanzha.store.audit import Actor
from fanzha.store.db import (
    create_store_engine,
    max_order_id,
    new_orders_max_id,
    normalise_url,
    session_factory,
    session_scope,
    sqlite_file,
)
from fanzha.store.models import Role, User

log = logging.getLogger("fanzha.api")


class Database:
    """Session factories for one database URL, with the SQLite writer lock."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = normalise_url(url).get_backend_name() == "sqlite"
        self.sessions: sessionmaker[Session] = session_factory(url)
        self.write_sessions: sessionmaker[Session] = session_factory(url, sqlite_immediate=self.is_sqlite)
        self._write_lock = threading.Lock() if self.is_sqlite else None
        # SQLite file: the write lock is also a file lock, so the writers of several worker
        # processes hand over at once too (SQLite's own busy handler sleeps 1, 2, 5, 10… ms).
        self.sqlite_file = sqlite_file(url) if self.is_sqlite else None
        self._lock_file = _open_lock_file(self.sqlite_file)
        # PostgreSQL: every write transaction that made orders notifies the other processes' desk streams.
        postgres = normalise_url(url).get_backend_name() == "postgresql"
        # (The payload is the highest new order id: a process that has already seen it skips the wake-up.)
        self._notify_channel = CHANNEL if postgres else None
        self.actors = ActorCache(self)
        self.feed = OrderFeed()  # committed writes that made orders wake the desk streams of this process
        # Its own one-connection pool: only the event loop's thread uses it, so checking a
        # connection out never waits behind the worker threads' transactions.
        # (An in-memory SQLite database exists once per engine: it keeps the shared one.)
        in_memory = self.is_sqlite and normalise_url(url).database in (None, "", ":memory:")
        # PostgreSQL: autocommit and no pre-ping, so a poll is one round trip, not four (ping, BEGIN,
        # SELECT, COMMIT) while the loop waits; one SELECT is atomic on its own, and a dropped
        # connection fails one poll and is replaced (SQLAlchemy invalidates it on the error).
        loop_options: dict[str, Any] = {} if self.is_sqlite else {"isolation_level": "AUTOCOMMIT",
                                                                    "pool_pre_ping": False}
        self._loop_sessions: sessionmaker[Session] = self.sessions if in_memory else sessionmaker(
            bind=create_store_engine(url, pool_size=1, max_overflow=0, **loop_options), expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with session_scope(self.sessions) as session:
            yield session

    @contextmanager
    def read_in_loop(self) -> Iterator[Session]:
        """A read-only unit of work run on the event loop itself, for small indexed reads.

        A desk queue poll is a millisecond of database work; sending it to the thread pool
        and back cost more than that (and waited for the GIL behind busy workers). Only
        for reads that never wait on a lock: WAL readers and PostgreSQL snapshots do not.
        """
        with session_scope(self._loop_sessions) as session:
            yield session

    @contextmanager
    def connect_in_loop(self) -> Iterator[Connection]:
        """The event loop's own connection without an ORM session, for the hottest reads (a desk stream's)."""
        bind = self._loop_sessions.kw.get("bind")
        assert isinstance(bind, Engine)
        with bind.connect() as conn:
            yield conn

    def start_feed(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake-ups to ``loop`` (the API's), the feed reading new orders from the highest one stored now."""
        try:
            with self.connect_in_loop() as conn:
                cursor = max_order_id(conn)
        except SQLAlchemyError:
            log.warning("desk feed cannot read the orders table; streams read their own queues", exc_info=True)
            self.feed.bind(loop)
            return
        self.feed.bind(loop, reader=self._orders_after, cursor=cursor)

    def _orders_after(self, after_id: int, limit: int, organisations: frozenset[int]) -> list[tuple[int, OrderPublic]]:
        with self.connect_in_loop() as conn:
            return orders_after_for_feed(conn, after_id, limit, organisations)

    def dispose(self) -> None:
        """Close the event loop's own connection (the shared factories are :func:`dispose_all`'s)."""
        bind = self._loop_sessions.kw.get("bind")
        if bind is not None and self._loop_sessions is not self.sessions:
            bind.dispose()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit of work that commits on exit; if it made orders, desk streams (of every process) are woken."""
        if self._write_lock is None:
            with session_scope(self.write_sessions) as session:
                yield session
                new_max = new_orders_max_id(session, notify=self._notify_channel)
        else:
            with self._write_lock, _file_lock(self._lock_file), session_scope(self.write_sessions) as session:
                yield session
                new_max = new_orders_max_id(session)
        if new_max is not None:
            self.feed.notify(new_max)

    def close(self) -> None:
        """Release the lock file (the process is shutting the API down)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def _open_lock_file(database: Path | None) -> IO[bytes] | None:
    if database is None or fcntl is None:
        return None
    return open(database.with_name(database.name + ".write-lock"), "a+b")  # held open while the API runs


@contextmanager
def _file_lock(handle: IO[bytes] | None) -> Iterator[None]:
    if handle is None or fcntl is None:
        yield
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # blocks without the GIL
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


USER_RECHECK_SECONDS = 2.0
"""How long a user's active flag, role and organisation are trusted before being re-read."""


class ActorCache:
    """Signed-in users by id, re-read from the store once they are ``USER_RECHECK_SECONDS`` old.

    A token proves who signed in; whether that user may still act is the store's, and
    asking it on every request was a round trip (and a thread hop) per request. A stale
    entry is at most a few seconds old, so deactivation is still effectively at once.
    """

    def __init__(self, db: Database, ttl: float = USER_RECHECK_SECONDS) -> None:
        self._db = db
        self.ttl = ttl
        self._entries: dict[int, tuple[float, Actor | None]] = {}
        self._loading: dict[int, asyncio.Future[Actor | None]] = {}  # the event loop's own: no lock

    async def get(self, user_id: int) -> Actor | None:
        """The user as the store last said, re-read at most once at a time per user.

        When an entry goes stale under load, every request in flight for that user found it
        stale at once and each re-read it (57 reads in one burst of 100 reports); now they
        all wait for the one re-read.
        """
        fresh, actor = self.cached(user_id)
        if fresh:
            return actor
        loading = self._loading.get(user_id)
        if loading is None:
            loading = asyncio.ensure_future(to_thread.run_sync(self.load, user_id))
            self._loading[user_id] = loading
            loading.add_done_callback(lambda _done: self._loading.pop(user_id, None))
        return await asyncio.shield(loading)

    def cached(self, user_id: int) -> tuple[bool, Actor | None]:
        """(fresh, actor) without touching the store; actor None = unknown or inactive."""
        entry = self._entries.get(user_id)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return False, None
        return True, entry[1]

    def load(self, user_id: int) -> Actor | None:
        """Re-read the user (blocking: call it from a worker thread)."""
        with self._db.read() as session:
            user = session.get(User, user_id)
            actor = actor_of(user) if user is not None and user.active else None
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[user_id] = (time.monotonic(), actor)
        return actor

    def forget(self, user_id: int | None = None) -> None:
        """Drop one user (or all): the next request re-reads them."""
        if user_id is None:
            self._entries.clear()
        else:
            self._entries.pop(user_id, None)


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_policy(request: Request) -> EscalationPolicy:
    policy: EscalationPolicy = request.app.state.policy
    return policy


async def get_intake_hook(request: Request) -> IntakeHook | None:
    hook: IntakeHook | None = request.app.state.intake_hook
    return hook


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token")

SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbDep = Annotated[Database, Depends(get_db)]
PolicyDep = Annotated[EscalationPolicy, Depends(get_policy)]
HookDep = Annotated[IntakeHook | None, Depends(get_intake_hook)]
TokenDep = Annotated[str, Depends(oauth2_scheme)]

_UNAUTHORISED = {"WWW-Authenticate": "Bearer"}


async def current_actor(token: TokenDep, settings: SettingsDep, db: DbDep) -> Actor:
    """The signed-in user: a valid JWT, and a user the store knows as active (cached briefly)."""
    try:
        user_id = decode_access_token(token, settings)
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=_UNAUTHORISED) from None
    actor = await db.actors.get(user_id)
    if actor is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or inactive user", headers=_UNAUTHORISED)
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def require(roles: frozenset[Role]) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency admitting only ``roles`` (403 otherwise); scoping by organisation is the service's."""

    async def check(actor: ActorDep) -> Actor:
        if actor.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {actor.role} may not do this")
        return actor

    return check
