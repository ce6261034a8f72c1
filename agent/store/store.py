"""The Store: the only way the agent reads or changes its database, one part per idea (incidents, actions,
notifications) behind one object.

Every public method is one transaction: input is validated (pydantic) before anything is written, and a
failure part-way rolls the whole operation back, audit entry included. Every change appends to the audit
log in the same transaction, so the log and the state it describes cannot disagree.
"""

from __future__ import annotations

from sqlalchemy import select

from agent.store import audit
from agent.store.actions import ActionStore
from agent.store.db import DEFAULT_URL, make_engine, upgrade_to_head
from agent.store.incidents import IncidentStore
from agent.store.lookup import ref
from agent.store.models import AuditEntryRow
from agent.store.notifications import NotificationStore
from agent.store.schemas import INCIDENT_PREFIX, AuditEntryView, parse_ref
from agent.store.transactions import Clock, utc_now


class Store(IncidentStore, ActionStore, NotificationStore):
    """Incidents, alerts, timeline, actions, approvals, notifications and the audit log in one database."""

    @classmethod
    def open(cls, url: str = DEFAULT_URL, *, clock: Clock = utc_now) -> Store:
        """Connect to any SQLAlchemy URL and bring its schema to the newest migration."""
        engine = make_engine(url)
        upgrade_to_head(engine)
        return cls(engine, clock)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def audit_log(self, incident_id: str | None = None, limit: int = 100) -> list[AuditEntryView]:
        """The newest `limit` entries, oldest first."""
        query = select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(limit)
        if incident_id is not None:
            query = query.where(AuditEntryRow.incident_id == ref(parse_ref(INCIDENT_PREFIX, incident_id)))
        with self._read() as session:
            return [AuditEntryView.of(row) for row in reversed(session.scalars(query).all())]

    def audit_head(self) -> AuditEntryView | None:
        """The newest entry: keep its hash elsewhere to detect truncation of the log's tail."""
        with self._read() as session:
            entry = audit.head(session)
            return AuditEntryView.of(entry) if entry is not None else None

    def verify_chain(self) -> int | None:
        """The seq of the first audit entry that was changed, inserted or follows a deleted one; None if intact."""
        with self._read() as session:
            return audit.verify_chain(session)
