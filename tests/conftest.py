"""Fixtures shared by every suite: a throwaway PostgreSQL schema per test.

PostgreSQL is the server on 127.0.0.1:5432 (user postgres, trust auth), or FIREBREAK_TEST_POSTGRES
(a SQLAlchemy URL of a server, without database). Its tests skip, saying so, when it is unreachable, and fail
under CI=true, where it must be there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_SERVER = os.environ.get("FIREBREAK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _admin_conninfo(database: str = "postgres") -> str:
    url = make_url(POSTGRES_SERVER).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        with psycopg.connect(_admin_conninfo(), connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":  # CI promises the server: its absence is a failure, not a skip
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {exc}")
    return POSTGRES_SERVER


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """One throwaway database for the session (creating one per test costs seconds under load)."""
    name = f"firebreak_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server: str, postgres_database: str) -> Iterator[str]:
    """A new empty schema, made the connections' search path, so each test starts from an empty database."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(postgres_database), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(postgres_server).set(database=postgres_database)
    yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with psycopg.connect(_admin_conninfo(postgres_database), autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
