"""Store fixtures, each parametrised over SQLite (a temp file) and PostgreSQL (marked ``postgres``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from fanzha.store.db import create_store_engine, downgrade, upgrade
from fanzha.store.models import Base

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _wipe_postgres(url: str) -> None:
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            names = ", ".join(conn.dialect.identifier_preparer.quote(t.name) for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no fanzha tables at all (never migrated, or migrated back to base)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ops.sqlite3'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    downgrade(url, "base")
    yield url
    downgrade(url, "base")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database migrated to head with every table empty."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
        upgrade(url)
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    upgrade(url)
    _wipe_postgres(url)
    yield url
    _wipe_postgres(url)


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    eng = create_store_engine(store_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
