"""Stores on both backends: a SQLite file per test, and an empty PostgreSQL schema per test (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory

from agent.store import Store
from agent.store.db import alembic_config

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()  # the newest migration


class FakeClock:
    """A clock the test moves, so that time windows are tested without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


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
