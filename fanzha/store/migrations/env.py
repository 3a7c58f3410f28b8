"""Alembic environment for the operations store.

Run programmatically by :func:`fanzha.store.db.upgrade` (which hands over an open
connection) or by developers with ``alembic upgrade head`` from the repository root
(the database then comes from ``FANZHA_DATABASE_URL`` / the default SQLite file).
SQLite gets batch mode: it cannot ALTER most things, so Alembic rebuilds the table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from fanzha.store.db import create_store_engine
from fanzha.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=False,
    )


def _url() -> str:
    url = config.attributes.get("fanzha_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from fanzha.settings import get_settings

    return get_settings().sqlalchemy_url


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    shared = config.attributes.get("connection")
    if shared is not None:
        _configure(shared)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_store_engine(_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
