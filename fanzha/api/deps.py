"""Dependencies of the routes: the database's units of work, the signed-in actor, role checks.

Routes open units of work explicitly (``with db.write() as session:``) so a request's
writes commit before its response is sent. On SQLite the writers of this process queue
on one lock before ``BEGIN IMMEDIATE``: the database takes one writer at a time anyway,
and a lock hands over at once where SQLite's busy handler would sleep and poll. Reads
never take it (WAL readers do not block the writer).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session, sessionmaker

from fanzha.api.core.security import TokenError, decode_access_token
from fanzha.response.escalation import EscalationPolicy
from fanzha.response.service import IntakeHook, actor_of
from fanzha.settings import Settings
from fanzha.store.audit import Actor
from fanzha.store.db import normalise_url, session_factory, session_scope
from fanzha.store.models import Role, User


class Database:
    """Session factories for one database URL, with the SQLite writer lock."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = normalise_url(url).get_backend_name() == "sqlite"
        self.sessions: sessionmaker[Session] = session_factory(url)
        self.write_sessions: sessionmaker[Session] = session_factory(url, sqlite_immediate=self.is_sqlite)
        self._write_lock = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        with session_scope(self.sessions) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        if self._write_lock is None:
            with session_scope(self.write_sessions) as session:
                yield session
            return
        with self._write_lock, session_scope(self.write_sessions) as session:
            yield session


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_policy(request: Request) -> EscalationPolicy:
    policy: EscalationPolicy = request.app.state.policy
    return policy


def get_intake_hook(request: Request) -> IntakeHook | None:
    hook: IntakeHook | None = request.app.state.intake_hook
    return hook


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token")

SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbDep = Annotated[Database, Depends(get_db)]
PolicyDep = Annotated[EscalationPolicy, Depends(get_policy)]
HookDep = Annotated[IntakeHook | None, Depends(get_intake_hook)]
TokenDep = Annotated[str, Depends(oauth2_scheme)]

_UNAUTHORISED = {"WWW-Authenticate": "Bearer"}


def current_actor(token: TokenDep, settings: SettingsDep, db: DbDep) -> Actor:
    """The signed-in user, re-read from the store on every request."""
    try:
        user_id = decode_access_token(token, settings)
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=_UNAUTHORISED) from None
    with db.read() as session:
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or inactive user", headers=_UNAUTHORISED)
        return actor_of(user)


ActorDep = Annotated[Actor, Depends(current_actor)]


def require(roles: frozenset[Role]) -> Callable[[Actor], Actor]:
    """A dependency admitting only ``roles`` (403 otherwise); scoping by organisation is the service's."""

    def check(actor: ActorDep) -> Actor:
        if actor.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {actor.role} may not do this")
        return actor

    return check
