"""Operations store (业务库): SQLAlchemy models, sessions and Alembic migrations.

The bottom layer: it imports nothing from the capability packages, the API, the
web console or the CLI.
"""

from fanzha.store.db import (
    create_store_engine,
    current_revision,
    downgrade,
    head_revision,
    session_factory,
    session_scope,
    upgrade,
)

__all__ = [
    "create_store_engine",
    "current_revision",
    "downgrade",
    "head_revision",
    "session_factory",
    "session_scope",
    "upgrade",
]
