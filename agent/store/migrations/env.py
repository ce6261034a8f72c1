"""Alembic environment.

`Store.open` runs the migrations on its own connection (passed in `config.attributes`); the alembic command
line (`alembic -c agent/store/alembic.ini ...`) connects to FIREBREAK_DB_URL, or to the ini's URL.
"""

import os

from alembic import context
from sqlalchemy import Connection

from agent.store.db import DEFAULT_URL, lock_keys, make_engine
from agent.store.models import Base


def run_migrations(connection: Connection) -> None:
    # Batch mode lets later migrations alter SQLite tables (it rebuilds them); PostgreSQL is unaffected.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        lock_keys(connection, ["migrations"])  # two processes opening one new database migrate one at a time
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = os.environ.get("FIREBREAK_DB_URL") or context.config.get_main_option("sqlalchemy.url") or DEFAULT_URL
    engine = make_engine(url)
    try:
        with engine.connect() as own_connection:
            run_migrations(own_connection)
    finally:
        engine.dispose()


main()
