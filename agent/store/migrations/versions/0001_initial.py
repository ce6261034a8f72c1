"""The initial schema: incidents, alerts, timeline, actions, approvals, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_INCIDENT = sa.text("status != 'resolved'")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_key", sa.String(length=200), nullable=False),
        sa.Column("slo", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("service", sa.String(length=100), nullable=True),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("detected_by", sa.String(length=32), nullable=False),
        _time("opened_at"),
        _time("updated_at"),
        _time("resolved_at", nullable=True),
        sa.Column("diagnosis", sa.JSON(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index("ix_incidents_status_opened_at", "incidents", ["status", "opened_at"])
    op.create_index(
        "uq_incidents_active_group_key",
        "incidents",
        ["group_key"],
        unique=True,
        sqlite_where=ACTIVE_INCIDENT,
        postgresql_where=ACTIVE_INCIDENT,
    )

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("alertname", sa.String(length=200), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _time("starts_at"),
        _time("ends_at", nullable=True),
        _time("received_at"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_alerts_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_incident_id"), "alerts", ["incident_id"])
    op.create_index("uq_alerts_fingerprint_starts_at", "alerts", ["fingerprint", "starts_at"], unique=True)

    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        _time("at"),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_timeline_entries_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entries")),
    )
    op.create_index(op.f("ix_timeline_entries_incident_id"), "timeline_entries", ["incident_id"])

    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        _time("decided_at"),
        _time("executed_at", nullable=True),
        _time("finished_at", nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_actions_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_actions_idempotency_key")),
    )
    op.create_index(op.f("ix_actions_incident_id"), "actions", ["incident_id"])
    op.create_index("ix_actions_target_decided_at", "actions", ["target", "decided_at"])

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        _time("at"),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["actions.id"], name=op.f("fk_approvals_action_id_actions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("action_id", name=op.f("uq_approvals_action_id")),
    )

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        _time("at"),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    op.create_index(op.f("ix_audit_log_incident_id"), "audit_log", ["incident_id"])


def downgrade() -> None:
    for table in ("audit_log", "approvals", "actions", "timeline_entries", "alerts", "incidents"):
        op.drop_table(table)
