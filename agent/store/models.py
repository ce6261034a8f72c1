"""The store's tables as typed SQLAlchemy 2 models.

The schema is created and changed only by the Alembic migrations next to this module; these models are what
the migrations must produce (a test compares the two). Enumerated fields are plain strings here: the pydantic
models at the store's edges hold the allowed values, so a new status needs no schema change. Each class is
named `...Row`: it is a table's row, never the domain's incident, alert or action that the views carry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Fixed constraint names keep migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The one status in which an incident no longer collects alerts of its group.
CLOSED_STATUS = "resolved"
ACTIVE_INCIDENT_CONDITION = text(f"status != '{CLOSED_STATUS}'")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite keeps no offset, so values go in as naive UTC and come back with UTC attached; naive input is
    refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps timezone-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # At most one active incident per group, so concurrent alerts and the watcher cannot open two.
        Index(
            "uq_incidents_active_group_key",
            "group_key",
            unique=True,
            sqlite_where=ACTIVE_INCIDENT_CONDITION,
            postgresql_where=ACTIVE_INCIDENT_CONDITION,
        ),
        Index("ix_incidents_status_opened_at", "status", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(200))
    slo: Mapped[str] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    service: Mapped[str | None] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    detected_by: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    diagnosis: Mapped[dict[str, Any] | None]
    summary: Mapped[str | None] = mapped_column(Text)

    alerts: Mapped[list[AlertRow]] = relationship(back_populates="incident", order_by="AlertRow.id")
    timeline: Mapped[list[TimelineEntryRow]] = relationship(order_by="TimelineEntryRow.id")
    actions: Mapped[list[ActionRow]] = relationship(back_populates="incident", order_by="ActionRow.id")
    notifications: Mapped[list[NotificationRow]] = relationship(order_by="NotificationRow.id")


class AlertRow(Base):
    __tablename__ = "alerts"
    # Alertmanager repeats an alert on every group interval; one firing episode is one fingerprint+start.
    __table_args__ = (Index("uq_alerts_fingerprint_starts_at", "fingerprint", "starts_at", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    alertname: Mapped[str] = mapped_column(String(200))
    labels: Mapped[dict[str, Any]]
    annotations: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    received_at: Mapped[datetime]

    incident: Mapped[IncidentRow | None] = relationship(back_populates="alerts")


class TimelineEntryRow(Base):
    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]


class ActionRow(Base):
    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_target_decided_at", "target", "decided_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    # One per policy decision: what makes "never twice for one decision" a database fact.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict[str, Any]]
    decision: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list[Any]]
    status: Mapped[str] = mapped_column(String(32))
    result: Mapped[dict[str, Any] | None]
    decided_at: Mapped[datetime]
    executed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    incident: Mapped[IncidentRow] = relationship(back_populates="actions")
    approval: Mapped[ApprovalRow | None] = relationship(back_populates="action")


class ApprovalRow(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Unique: an action is approved, denied or timed out once.
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id"), unique=True)
    decision: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(200))
    via: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    comment: Mapped[str | None] = mapped_column(Text)

    action: Mapped[ActionRow] = relationship(back_populates="approval")


class NotificationRow(Base):
    """A message owed to people (an escalation, its resolution) on one channel: an outbox row, kept until a
    channel accepted it, so that a failed delivery is retried and never lost, also across a restart."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(16))
    message: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    # The escalate action this message carries out: it succeeds when the first channel accepts.
    action_key: Mapped[str | None] = mapped_column(String(200))


class AuditEntryRow(Base):
    __tablename__ = "audit_log"

    # Assigned by the appender (previous + 1), never by the database, so the chain has no gaps by design.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[str | None] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
