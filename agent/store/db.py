"""Engines for any SQLAlchemy URL, and bringing a database's schema to the newest migration.

SQLite has one writer at a time by nature: each write transaction starts with BEGIN IMMEDIATE, so two
writers never deadlock upgrading a read lock, and wait on the busy timeout instead. PostgreSQL writers run
side by side: a write locks only what its check-then-write reads (a row, or a key such as an alert group's,
with `lock_keys`), so a person's approval does not wait on the webhook's alerts of another incident.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

DEFAULT_URL = "sqlite:///firebreak.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Execution option marking the store's read-only sessions: they need no write lock.
READ_ONLY = "firebreak_read_only"
SQLITE_BUSY_TIMEOUT_S = 30.0
# Alembic runs env.py through module-global proxies (`alembic.context`): one migration per process at a time.
# Processes are kept apart by the database (BEGIN IMMEDIATE, or the advisory lock env.py takes).
_MIGRATING = threading.Lock()


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(url: str | URL) -> Engine:
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: URL) -> Engine:
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}}
    if is_memory_sqlite(url):
        # Every connection to ":memory:" is a new empty database: share one.
        options["poolclass"] = StaticPool
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions on its own: `_sqlite_begin` chooses how each one starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer, nor it them
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def lock_keys(connection: Connection, keys: Iterable[str]) -> None:
    """Hold each key until this transaction ends, so that of the transactions naming one key one at a time
    runs its check-then-write. Keys are taken in sorted order, so that two transactions naming the same
    keys cannot deadlock. SQLite's BEGIN IMMEDIATE already keeps every writer to itself."""
    if connection.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        connection.execute(select(func.pg_advisory_xact_lock(_lock_id(key))))


def _lock_id(key: str) -> int:
    """A key as PostgreSQL's advisory lock id: a signed 64-bit integer, the same in every process."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Apply every migration the database lacks, in one transaction (both backends have transactional DDL)."""
    with _MIGRATING, engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
