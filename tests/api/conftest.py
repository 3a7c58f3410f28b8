"""A real API server on localhost for each test (uvicorn in a thread), over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import LiveServer, live_server

from fanzha.settings import Settings


@pytest.fixture
def live(store_url: str) -> Iterator[LiveServer]:
    """The API over a migrated, seeded database; background loops off."""
    with live_server(Settings(database_url=store_url, env="test", escalation_interval_seconds=0,
                              outbox_interval_seconds=0)) as server:
        yield server


@pytest.fixture
def live_sqlite(tmp_path) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    from fanzha.store.db import upgrade

    url = f"sqlite:///{tmp_path / 'api.sqlite3'}"
    upgrade(url)
    with live_server(Settings(database_url=url, env="test", escalation_interval_seconds=0,
                              outbox_interval_seconds=0)) as server:
        yield server
