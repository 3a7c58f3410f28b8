from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from typer.testing import CliRunner

from fanzha.cli.main import app
from fanzha.store.db import (
    StoreURLError,
    create_store_engine,
    current_revision,
    downgrade,
    head_revision,
    normalise_url,
    upgrade,
)
from fanzha.store.models import Base

APP_TABLES = {t.name for t in Base.metadata.sorted_tables}


def _tables(url: str) -> set[str]:
    eng = create_store_engine(url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_migrations_go_up_down_and_up_again(empty_url: str) -> None:
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision() is not None
    assert _tables(empty_url) >= APP_TABLES

    downgrade(empty_url, "base")
    assert current_revision(empty_url) is None
    assert not (APP_TABLES & _tables(empty_url))

    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    assert _tables(empty_url) >= APP_TABLES


def test_migrations_create_exactly_what_the_models_declare(engine: Engine) -> None:
    """Fails when a model changes without a migration (or the other way round)."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_the_desk_and_outbox_indexes_exist(engine: Engine) -> None:
    insp = inspect(engine)
    order_ix = {tuple(ix["column_names"]) for ix in insp.get_indexes("orders")}
    assert ("organisation_id", "status") in order_ix
    outbox = {ix["name"]: ix for ix in insp.get_indexes("outbox_messages")}
    assert outbox["ix_outbox_messages_due"]["column_names"] == ["next_attempt_at"]


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    eng = create_store_engine(f"sqlite:///{tmp_path / 'deep' / 'er' / 'ops.sqlite3'}")  # folders are created
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        eng.dispose()


def test_urls_are_read_with_the_shipped_drivers() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(StoreURLError, match="unsupported database 'mysql'"):
        normalise_url("mysql://u@h/db")
    with pytest.raises(StoreURLError, match="not a database URL"):
        normalise_url("no url at all")


def test_cli_upgrades_and_reports_the_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    runner = CliRunner()

    before = runner.invoke(app, ["db", "current", "--url", url])
    assert before.exit_code == 1, before.output
    assert "behind" in before.output
    assert not (tmp_path / "cli.sqlite3").exists()  # asking does not create the database

    up = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert up.exit_code == 0, up.output
    assert f"base → {head_revision()}" in up.output

    again = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert again.exit_code == 0 and f"already at {head_revision()}" in again.output

    after = runner.invoke(app, ["db", "current", "--url", url])
    assert after.exit_code == 0 and "up to date" in after.output


def test_cli_uses_the_configured_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fanzha.settings import get_settings

    monkeypatch.setenv("FANZHA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FANZHA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert current_revision(f"sqlite:///{tmp_path / 'data' / 'fanzha.sqlite3'}") == head_revision()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["db", "upgrade", "--url", "mysql://u@h/db"], "unsupported database"),
        (["db", "current", "--url", "not a url"], "not a database URL"),
        (["db", "upgrade", "--url", "postgresql://nobody:s3cret@127.0.0.1:1/none"], "cannot migrate"),
        (["db", "upgrade", "--url", "sqlite:///{tmp}/x.sqlite3", "-r", "nonsense"], "nonsense"),
    ],
)
def test_cli_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert "s3cret" not in result.output  # passwords never printed


def test_sqlite_immediate_mode_takes_the_write_lock_at_begin(tmp_path: Path) -> None:
    """With BEGIN IMMEDIATE a second writer waits at BEGIN instead of failing later mid-transaction."""
    from sqlalchemy.exc import OperationalError

    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    upgrade(url)
    for immediate, second_may_begin in ((False, True), (True, False)):
        eng = create_store_engine(url, sqlite_immediate=immediate)
        try:
            with eng.connect() as first, eng.connect() as second:
                raw = second.connection.dbapi_connection
                assert raw is not None
                raw.execute("PRAGMA busy_timeout=50")  # outside any SQLAlchemy transaction
                first.begin()
                first.exec_driver_sql("SELECT count(*) FROM cases").scalar()
                if second_may_begin:
                    second.begin()
                    second.rollback()
                else:
                    with pytest.raises(OperationalError, match="locked"):
                        second.begin()
                first.rollback()
        finally:
            eng.dispose()
