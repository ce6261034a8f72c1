"""The agent's state: incidents, alerts, timeline, actions, approvals and a hash-chained audit log.

`Store.open(url)` connects to SQLite (the default, `sqlite:///firebreak.db`) or any SQLAlchemy URL such as
`postgresql+psycopg://...`, and migrates the schema to the newest Alembic revision.
"""

from agent.store.db import DEFAULT_URL
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
    Diagnosis,
    IncidentDetail,
    IncidentOpen,
    IncidentOpened,
    IncidentStatus,
    IncidentView,
    NotificationEvent,
    NotificationStatus,
    NotificationView,
    PolicyDecision,
    TimelineKind,
    TimelineView,
    group_key,
)
from agent.store.store import Conflict, NotFound, Store, StoreError, utc_now

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
    "AuditEntryView",
    "Conflict",
    "DetectedBy",
    "Diagnosis",
    "IncidentDetail",
    "IncidentOpen",
    "IncidentOpened",
    "IncidentStatus",
    "IncidentView",
    "NotFound",
    "NotificationEvent",
    "NotificationStatus",
    "NotificationView",
    "PolicyDecision",
    "Store",
    "StoreError",
    "TimelineKind",
    "TimelineView",
    "group_key",
    "utc_now",
]
