"""Fixtures shared by every test folder.

``postgres_url``: a fresh, empty PostgreSQL database for this test session (one per
xdist worker), found through ``scripts/postgres.sh`` and dropped afterwards. Without a
server the tests that need it skip, and the run says so loudly at the end.
"""

from __future__ import annotations

import subprocess
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
POSTGRES_SKIP_MARK = "PostgreSQL tests SKIPPED"


def _skip_loudly(why: str) -> NoReturn:
    message = f"{POSTGRES_SKIP_MARK}: {why} (set FANZHA_TEST_POSTGRES_URL or start a server on 127.0.0.1:5432)"
    # A plain UserWarning: pytest-xdist ships warnings between processes by category name,
    # and a class defined in a conftest module cannot be found again on the other side.
    warnings.warn(message, UserWarning, stacklevel=2)
    pytest.skip(message)


def _find_postgres_server() -> tuple[str | None, str]:
    """(server URL, reason when None) from scripts/postgres.sh."""
    try:
        proc = subprocess.run(
            [str(REPO / "scripts" / "postgres.sh")], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"scripts/postgres.sh failed to run: {exc}"
    url = proc.stdout.strip()
    if proc.returncode != 0 or not url:
        return None, proc.stderr.strip() or f"scripts/postgres.sh exited {proc.returncode}"
    return url, ""


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL (``postgresql+psycopg://``) of a database created for this session and dropped after it."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from fanzha.store.db import display_url, dispose_all, normalise_url

    server, why = _find_postgres_server()
    if server is None:
        _skip_loudly(why)
    admin_url = normalise_url(server)
    name = f"fanzha_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    except SQLAlchemyError as exc:
        admin.dispose()
        _skip_loudly(f"cannot create a test database on {display_url(admin_url)}: {str(exc).splitlines()[0]}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_all()  # the store's cached pools would keep the database busy
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        admin.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A red line at the very end if PostgreSQL tests were skipped, so CI logs cannot hide it."""
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for rep in skipped if POSTGRES_SKIP_MARK in str(getattr(rep, "longrepr", "")))
    if n:
        terminalreporter.write_sep("!", f"{n} {POSTGRES_SKIP_MARK}: no PostgreSQL server was reachable", red=True)


# --------------------------------------------------------------------------- operations store, both backends

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _wipe_postgres(url: str) -> None:
    from sqlalchemy import text

    from fanzha.store.db import create_store_engine
    from fanzha.store.models import Base

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
    from fanzha.store.db import downgrade

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ops.sqlite3'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    downgrade(url, "base")
    yield url
    downgrade(url, "base")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database migrated to head with every table empty (SQLite file, or the session's PostgreSQL)."""
    from fanzha.store.db import upgrade

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
