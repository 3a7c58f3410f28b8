"""Engines, sessions and migrations for the operations store.

SQLite (the embedded default) gets WAL, enforced foreign keys, a busy timeout and
real ``BEGIN`` statements so a failed transaction rolls back as a whole (pysqlite's
own implicit transactions would commit DDL and miss SAVEPOINTs). PostgreSQL goes
through psycopg 3; a bare ``postgresql://`` URL is read as that, and there every
transaction that inserts orders takes one transaction-level advisory lock first
(:data:`ID_ORDERED_TABLES`), so orders become visible in the order of their ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from threading import Lock
from typing import Any

from sqlalchemy import (
    ColumnDefault,
    Engine,
    Table,
    column,
    create_engine,
    event,
    func,
    insert,
    select,
    table,
    text,
)
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, StatementError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class StoreURLError(ValueError):
    """A database URL the store cannot use."""


def normalise_url(url: str | URL) -> URL:
    """Parse ``url`` and pick the drivers fanzha ships (psycopg 3 for PostgreSQL)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreURLError(f"not a database URL: {url!r} ({exc})") from None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        # fanzha ships psycopg 3 only; 'postgres://' (Heroku style) and bare 'postgresql://' mean it too.
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise StoreURLError(f"unsupported database {backend!r} in {display_url(parsed)}: use sqlite:/// or postgresql://")


def display_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None for an in-memory database or another backend)."""
    parsed = normalise_url(url)
    return _sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None


def _sqlite_file(url: URL) -> Path | None:
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (see the "begin" listener below).
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses at most the last commits' fsync
        cur.execute("PRAGMA busy_timeout=10000")
    finally:
        cur.close()


def create_store_engine(url: str | URL, *, sqlite_immediate: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url`` set up for fanzha.

    ``sqlite_immediate`` makes every SQLite transaction ``BEGIN IMMEDIATE``: writers then
    queue on the busy timeout instead of failing with "database is locked" when two
    transactions that both read first try to write. Use it for write-heavy services.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        begin = "BEGIN IMMEDIATE" if sqlite_immediate else "BEGIN"

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(parsed, **kwargs)
    _watch_order_inserts(engine)
    return engine


# Tables read with an id cursor ("everything after id N": a desk stream, ``after_id`` polling).
# PostgreSQL hands out ids when a row is inserted, not when it commits: with two writers, the
# one holding the lower ids can commit second, after a reader has moved its cursor past them,
# and that desk never sees those orders. Inserting into these tables therefore waits for the
# other writers' transactions that did so to end, making commit order id order (SQLite
# writers take turns anyway).
ID_ORDERED_TABLES = frozenset({"orders"})
ID_ORDER_LOCK = 0x66616E7A68610001  # pg_advisory_xact_lock key ('fanzha' + 1); released on COMMIT/ROLLBACK
_TAKE_ID_ORDER_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=ID_ORDER_LOCK)
_ORDERS_INSERTED = "fanzha_orders_inserted"  # in the connection's info while its transaction inserted orders
_MAX_ORDER_ID = select(func.max(table("orders", column("id")).c.id))


def _note_order_insert(conn: Connection) -> None:
    """This transaction is about to insert orders: note it, and on PostgreSQL take the id-order lock first."""
    if not conn.info.get(_ORDERS_INSERTED):
        if conn.dialect.name == "postgresql":
            conn.execute(_TAKE_ID_ORDER_LOCK)  # held to the end of the transaction: once is enough
        conn.info[_ORDERS_INSERTED] = True


def _watch_order_inserts(engine: Engine) -> None:
    """Note on the connection when its transaction inserts orders (and on PostgreSQL take the lock first)."""

    def before_execute(conn: Connection, clause: Any, *_args: Any) -> None:
        if isinstance(clause, Insert) and clause.table.name in ID_ORDERED_TABLES:
            _note_order_insert(conn)

    def ended(conn: Connection, *_args: Any) -> None:
        conn.info.pop(_ORDERS_INSERTED, None)

    def checked_in(_dbapi: Any, record: Any) -> None:
        record.info.pop(_ORDERS_INSERTED, None)

    event.listen(engine, "before_execute", before_execute)
    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    event.listen(engine, "checkin", checked_in)


def new_orders_max_id(session: Session, notify: str | None = None) -> int | None:
    """Before commit: the highest order id if this transaction inserted orders, else None.

    What wakes the desk streams: a write that made no order (an audit row, an acknowledgement)
    gives them nothing to read. With ``notify`` (PostgreSQL), the same statement also sends
    that id on the channel ``notify``, delivered at COMMIT: one round trip, not two, while
    the transaction holds the id-order lock that the other writers wait for.
    """
    session.flush()
    if not session.in_transaction():
        return None
    conn = session.connection()
    if not conn.info.get(_ORDERS_INSERTED):
        return None
    if notify is not None and conn.dialect.name == "postgresql":
        return int(conn.execute(_MAX_ORDER_ID_NOTIFY, {"channel": notify}).scalar() or 0)
    return max_order_id(conn)


_MAX_ORDER_ID_NOTIFY = text(
    "SELECT m.max_id, pg_notify(:channel, m.max_id::text) FROM (SELECT max(id) AS max_id FROM orders) AS m")


_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")


def insert_rows(session: Session, target: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``target`` in one statement and one round trip.

    PostgreSQL: one ``COPY … FROM STDIN``, each value passed through its column type's bind
    processor first (enums to their values, JSON to text, times checked and made UTC), so
    the rows stored are those an executemany stores. An executemany sends a Bind/Execute
    per row and the server runs the statement once per row (intake's element rows: ~60 µs
    a row); an ``INSERT … SELECT FROM unnest(arrays)`` ran once but spent as much client
    CPU quoting the arrays in Python as COPY spends in all (a burst's 50 reports: 11.0 ms
    against 6.3 ms). Python-side column defaults are filled in here, as an executemany
    would (a default SQLAlchemy cannot give without a statement context makes it fall back
    to the executemany). Errors come as SQLAlchemy's (an ``IntegrityError`` for a unique
    index, say), as from any statement. SQLite: an executemany (in-process, nothing to save).
    """
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql" or len(rows) == 1:
        session.execute(insert(target), rows)
        return
    columns = tuple(rows[0])
    keys = rows[0].keys()
    for n, row in enumerate(rows):
        if row.keys() != keys:
            raise ValueError(f"insert_rows: row {n} has other columns than row 0 ({sorted(row)} vs {sorted(columns)})")
    values = [[row[name] for name in columns] for row in rows]
    for col in target.columns:
        default = col.default
        if col.name in keys or default is None:
            continue
        if not isinstance(default, ColumnDefault) or not (default.is_scalar or default.is_callable):
            session.execute(insert(target), rows)
            return
        for row_values in values:
            row_values.append(default.arg if default.is_scalar else default.arg(None))  # type: ignore[arg-type]
        columns += (col.name,)
    _copy_rows(conn, target, columns, values)


def _copy_rows(conn: Connection, target: Table, columns: tuple[str, ...], values: list[list[Any]]) -> None:
    """``COPY target (columns) FROM STDIN`` with ``values`` (PostgreSQL), in the connection's transaction."""
    statement, processors = _copy_plan(target, columns, conn.dialect)
    try:
        for row_values in values:
            for i, process in processors:
                row_values[i] = process(row_values[i])
    except Exception as exc:  # as SQLAlchemy reports a value its type refuses
        raise StatementError(f"({type(exc).__name__}) {exc}", statement, None, exc) from exc
    if target.name in ID_ORDERED_TABLES:
        _note_order_insert(conn)  # COPY is no Insert: the before_execute listener does not see it
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row_values in values:
                copy.write_row(row_values)
    except conn.dialect.loaded_dbapi.Error as exc:
        if conn.dialect.is_disconnect(exc, dbapi_connection, cursor):
            conn.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


@lru_cache(maxsize=256)
def _copy_plan(target: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[str, list[tuple[int, Any]]]:
    """The COPY statement for ``columns`` of ``target`` and the bind processor of each column that has one."""
    quote = dialect.identifier_preparer
    statement = f"COPY {quote.format_table(target)} ({', '.join(quote.quote(c) for c in columns)}) FROM STDIN"
    processors = [(i, process) for i, name in enumerate(columns)
                  if (process := target.c[name].type.bind_processor(dialect)) is not None]
    return statement, processors


def insert_with_ids(session: Session, target: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` into ``target`` and return their new ids, in the order of ``rows``.

    The ids are decided first and inserted explicitly, so the rows go in by
    :func:`insert_rows` (COPY on PostgreSQL, an executemany on SQLite): a multi-row
    ``INSERT … RETURNING`` (SQLAlchemy's insertmanyvalues) is one
    statement with a placeholder per value, which psycopg re-parses every time (200 orders:
    ~6,000 placeholders, ~5 ms per statement), and on SQLite it cannot promise RETURNING's
    order, so SQLAlchemy sent one INSERT per row. PostgreSQL: the ids come from the table's
    sequence (after the id-order lock for orders, so commit order stays id order). SQLite:
    from ``max(id)``, safe because a writer holds SQLite's write lock (were another
    connection to write in between, the insert fails (busy snapshot or the primary key),
    never overwrites).
    """
    if not rows:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        if target.name in ID_ORDERED_TABLES:
            _note_order_insert(conn)
        ids = sorted(int(i) for i in session.execute(_NEXT_IDS, {"table": target.name, "n": len(rows)}).scalars())
    else:
        start = int(session.execute(select(func.max(target.c.id))).scalar() or 0) + 1
        ids = list(range(start, start + len(rows)))
    insert_rows(session, target, [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
    return ids


def max_order_id(conn: Connection) -> int:
    """The highest order id stored (0 if none)."""
    return int(conn.execute(_MAX_ORDER_ID).scalar() or 0)


_factories: dict[tuple[str, bool], sessionmaker[Session]] = {}
_factories_lock = Lock()


def session_factory(url: str | URL | None = None, *, sqlite_immediate: bool = False) -> sessionmaker[Session]:
    """The process-wide session factory for ``url`` (default: the configured database).

    Objects stay readable after commit (``expire_on_commit=False``): a service returns
    what it just wrote without a second round trip.
    """
    if url is None:
        from fanzha.settings import get_settings

        url = get_settings().sqlalchemy_url
    key = (normalise_url(url).render_as_string(hide_password=False), sqlite_immediate)
    with _factories_lock:
        factory = _factories.get(key)
        if factory is None:
            engine = create_store_engine(key[0], sqlite_immediate=sqlite_immediate)
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            _factories[key] = factory
        return factory


def dispose_all() -> None:
    """Close every pooled connection (tests, and before a fork)."""
    with _factories_lock:
        for factory in _factories.values():
            bind = factory.kw.get("bind")
            if isinstance(bind, Engine):
                bind.dispose()
        _factories.clear()


@contextmanager
def session_scope(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """One unit of work: commit if the block finishes, roll everything back if it raises."""
    session = (factory or session_factory())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --------------------------------------------------------------------------- migrations


def alembic_config(url: str | URL | None = None) -> Any:
    """A programmatic Alembic config pointing at the migrations shipped in the package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # Kept out of the ini options: configparser would read '%' in passwords as interpolation.
        cfg.attributes["fanzha_url"] = normalise_url(url).render_as_string(hide_password=False)
    return cfg


def _run(url: str | URL, fn: Any, *args: Any) -> None:
    cfg = alembic_config(url)
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            fn(cfg, *args)
    finally:
        engine.dispose()


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` in one transaction."""
    from alembic import command

    _run(url, command.upgrade, revision)


def downgrade(url: str | URL, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` = empty)."""
    from alembic import command

    _run(url, command.downgrade, revision)


def current_revision(url: str | URL) -> str | None:
    """The revision the database is at (None = never migrated)."""
    from alembic.runtime.migration import MigrationContext

    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None and not path.exists():
            return None  # asking must not create the file
    engine = create_store_engine(parsed)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision shipped with this version of fanzha."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
