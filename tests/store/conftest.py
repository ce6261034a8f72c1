"""Stores on both backends: a SQLite file per test, and an empty PostgreSQL schema per test.

PostgreSQL is the server on 127.0.0.1:5432 (user postgres, trust auth), or FIREBREAK_TEST_POSTGRES
(a SQLAlchemy URL of a server, without database). Its tests skip, saying so, only when it is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url

from agent.store import Store

POSTGRES_SERVER = os.environ.get("FIREBREAK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


class FakeClock:
    """A clock the test moves, so that time windows are tested without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _admin_conninfo(database: str = "postgres") -> str:
    url = make_url(POSTGRES_SERVER).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        with psycopg.connect(_admin_conninfo(), connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
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


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'firebreak.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on each backend."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_store(db_url: str, clock: FakeClock) -> Iterator[Callable[[], Store]]:
    """Opens as many stores on the test's database as the test wants (as several processes would)."""
    opened: list[Store] = []

    def _open() -> Store:
        store = Store.open(db_url, clock=clock)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()


@pytest.fixture
def make_alert() -> Callable[..., dict[str, object]]:
    return alert


def alert(
    fingerprint: str = "fp-llama-avail",
    *,
    status: str = "firing",
    slo: str = "availability",
    model: str = "llama-70b",
    severity: str = "page",
    starts_at: str = "2026-03-01T11:58:00.123456789Z",
    ends_at: str = "0001-01-01T00:00:00Z",
) -> dict[str, object]:
    """One alert as Alertmanager's webhook (version 4) sends it."""
    return {
        "status": status,
        "labels": {
            "alertname": "ModelAvailabilityBudgetBurn",
            "service": "inference-gateway",
            "slo": slo,
            "model": model,
            "severity": severity,
        },
        "annotations": {"summary": f"inference-gateway {slo} {model}: error budget burning at 20.0x ({severity})"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }
