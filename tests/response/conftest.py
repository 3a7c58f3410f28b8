"""A seeded operations store session for the response tests (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from fanzha.response.seed import seed_demo
from fanzha.store.db import create_store_engine, session_scope


@pytest.fixture
def session(store_url: str) -> Iterator[Session]:
    """The demo organisations and users (one password for all), in a session the test commits."""
    engine = create_store_engine(store_url)
    with Session(engine) as s:
        seed_demo(s, password="test-password-123")
        s.commit()
        yield s
    engine.dispose()


@pytest.fixture
def sessions(store_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory over the seeded demo platform (password ``pw-for-tests-1``)."""
    engine = create_store_engine(store_url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with session_scope(factory) as s:
        seed_demo(s, password="pw-for-tests-1")
    yield factory
    engine.dispose()
