"""The agent's state: incidents, alerts, timeline, actions, approvals and a hash-chained audit log.

`Store.open(url)` connects to SQLite (the default, `sqlite:///firebreak.db`) or any SQLAlchemy URL such as
`postgresql+psycopg://...`, and migrates the schema to the newest Alembic revision. Synchronous code (the
command line) calls the `Store`; code on an event loop calls it through `AsyncStore`, which runs each call
on a worker thread, so that a slow write never stalls the loop.
"""

from agent.store.async_store import AsyncStore
from agent.store.db import DEFAULT_URL
from agent.store.errors import Conflict, NotFound, StoreError
from agent.store.schemas import (
    EXECUTED_STATUSES,
    ActionDecision,
    ActionKind,
    ActionStatus,
    ActionView,
    AlertIn,
    AlertOutcome,
    AlertView,
    ApprovalView,
    AuditEntryView,
    DetectedBy,
    DiagnosisRecord,
    IncidentDetail,
    IncidentOpen,
    IncidentOpened,
    IncidentStatus,
    IncidentView,
    NotificationEvent,
    NotificationStatus,
    NotificationView,
    TimelineKind,
    TimelineView,
    group_key,
)
from agent.store.store import Store
from agent.store.transactions import utc_now

__all__ = [
    "DEFAULT_URL",
    "EXECUTED_STATUSES",
    "ActionDecision",
    "ActionKind",
    "ActionStatus",
    "ActionView",
    "AlertIn",
    "AlertOutcome",
    "AlertView",
    "ApprovalView",
    "AsyncStore",
    "AuditEntryView",
    "Conflict",
    "DetectedBy",
    "DiagnosisRecord",
    "IncidentDetail",
    "IncidentOpen",
    "IncidentOpened",
    "IncidentStatus",
    "IncidentView",
    "NotFound",
    "NotificationEvent",
    "NotificationStatus",
    "NotificationView",
    "Store",
    "StoreError",
    "TimelineKind",
    "TimelineView",
    "group_key",
    "utc_now",
]
