"""The LangGraph checkpointer in the store's own database, so an approval or a restart resumes the graph
where it stopped: the same SQLite file, or the same PostgreSQL database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from sqlalchemy.engine import make_url


@contextlib.asynccontextmanager
async def checkpointer(database_url: str) -> AsyncIterator[BaseCheckpointSaver]:
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        # Autocommit: a checkpoint write never holds SQLite's lock across an await, so the store's own
        # (synchronous) transactions on the same file cannot deadlock with it on the event loop.
        async with aiosqlite.connect(url.database or ":memory:", isolation_level=None) as connection:
            sqlite_saver = AsyncSqliteSaver(connection)
            await sqlite_saver.setup()
            yield sqlite_saver
    elif backend == "postgresql":
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        async with AsyncPostgresSaver.from_conn_string(plain) as postgres_saver:
            await postgres_saver.setup()
            yield postgres_saver
    else:
        raise ValueError(f"no LangGraph checkpointer for {backend!r} databases: use SQLite or PostgreSQL")
