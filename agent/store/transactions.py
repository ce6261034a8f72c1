"""One transaction per store call, and what every write leaves behind: an audit entry for each change, and,
for what people follow, a line in the incident's timeline.

A write's audit entries are chained last, just before it commits: the chain has one head, so appending to it
is the one step that all writers take in turn, and it is kept as short as it can be.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from agent.store import audit
from agent.store.db import READ_ONLY, is_memory_sqlite, lock_keys
from agent.store.models import TimelineEntryRow
from agent.store.schemas import INCIDENT_PREFIX, TimelineKind, make_ref

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Note(NamedTuple):
    """A line of an incident's timeline."""

    kind: TimelineKind
    message: str
    data: Mapping[str, Any] = {}


@dataclass
class Transaction:
    """An open write: its session, the clock, and the audit entries it will chain when it commits."""

    session: Session
    clock: Clock
    _entries: list[audit.Entry] = field(default_factory=list)

    def now(self) -> datetime:
        return self.clock()

    def lock(self, keys: Iterable[str]) -> None:
        """Hold these keys until the transaction ends (see `db.lock_keys`)."""
        lock_keys(self.session.connection(), keys)

    def record(
        self, actor: str, event: str, incident_id: int | None, data: Mapping[str, Any], note: Note | None = None
    ) -> None:
        """Audit a change and, with a note, tell the incident's timeline about it too."""
        ref = make_ref(INCIDENT_PREFIX, incident_id) if incident_id is not None else None
        self._entries.append(audit.Entry(self.now(), actor, event, ref, audit.normalise_data(dict(data))))
        if note is not None:
            assert incident_id is not None, "a timeline belongs to an incident"
            self.note(incident_id, note)

    def note(self, incident_id: int, note: Note) -> TimelineEntryRow:
        entry = TimelineEntryRow(
            incident_id=incident_id, at=self.now(), kind=note.kind, message=note.message,
            data=audit.normalise_data(dict(note.data)),
        )
        self.session.add(entry)
        return entry

    def chain_audit(self) -> None:
        audit.append_all(self.session, self._entries)
        self._entries.clear()


class Transactions:
    """The engine and clock that every part of the store works with, and its two kinds of transaction."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self._clock = clock
        self._writer = sessionmaker(engine, expire_on_commit=False)
        self._reader = sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        # An in-memory SQLite database is one shared connection: its transactions must take turns.
        self._shared_connection_lock: AbstractContextManager[Any] = (
            threading.Lock() if is_memory_sqlite(engine.url) else nullcontext()
        )

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        with self._shared_connection_lock, self._writer.begin() as session:
            transaction = Transaction(session, self._clock)
            yield transaction
            transaction.chain_audit()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._shared_connection_lock, self._reader.begin() as session:
            yield session
