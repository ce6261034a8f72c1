"""The store's edges: pydantic models for what goes in (validated before any write) and what comes out.

Callers never hold ORM rows, so nothing they keep can lazily reach back into a closed session, and the
views are plain data for the CLI, Slack and the graph's state. Incidents and actions are named by short
readable ids (`INC-0007`, `ACT-0012`) made from their integer keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from agent.vocabulary import ActionKind, Verdict

IncidentStatus = Literal["open", "investigating", "awaiting_approval", "mitigating", "resolved", "escalated"]
DetectedBy = Literal["alertmanager", "watcher", "chat"]
TimelineKind = Literal[
    "alert", "status", "evidence", "hypothesis", "decision", "approval", "action", "verification", "escalation",
    "notification", "note"
]
ActionStatus = Literal[
    "decided", "awaiting_approval", "approved", "denied", "executing", "succeeded", "failed", "reverted", "expired"
]
ApprovalDecision = Literal["approve", "deny", "timeout"]
AlertOutcomeKind = Literal["opened", "joined", "duplicate", "resolved"]
NotificationEvent = Literal["escalated", "resolved"]
# pending until a channel accepts it (retried meanwhile); superseded when the incident closed before that
NotificationStatus = Literal["pending", "delivered", "superseded"]

# Statuses of actions that touched (or may have touched) the world: what rate limits count.
EXECUTED_STATUSES: tuple[ActionStatus, ...] = ("executing", "succeeded", "failed", "reverted")
INCIDENT_PREFIX = "INC"
ACTION_PREFIX = "ACT"


def make_ref(prefix: str, number: int) -> str:
    return f"{prefix}-{number:04d}"


def parse_ref(prefix: str, ref: str | int) -> int:
    """`INC-0007`, `inc-7`, `7` or 7 -> 7; anything else is a ValueError naming what was expected."""
    if isinstance(ref, int):
        return ref
    text = ref.strip().upper()
    number = text.removeprefix(f"{prefix}-")
    if not number.isdigit():
        raise ValueError(f"{ref!r} is not an id like {make_ref(prefix, 7)}")
    return int(number)


def _ref_of(prefix: str) -> BeforeValidator:
    """A row's integer key as the readable id people use (`7` -> `INC-0007`)."""
    return BeforeValidator(lambda value: make_ref(prefix, value) if isinstance(value, int) else value)


IncidentRef = Annotated[str, _ref_of(INCIDENT_PREFIX)]
ActionRef = Annotated[str, _ref_of(ACTION_PREFIX)]


def group_key(slo: str, model: str | None) -> str:
    """Alerts and watcher findings of one SLO instance share an incident (Alertmanager's group_by)."""
    return f"{slo}/{model}" if model else slo


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    """A view of stored rows, read straight from the ORM objects' attributes."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    @classmethod
    def of(cls, row: object) -> Self:
        return cls.model_validate(row)


class AlertIn(BaseModel):
    """One alert of Alertmanager's webhook payload (version 4); unknown fields are ignored."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: AwareDatetime = Field(alias="startsAt")
    ends_at: AwareDatetime | None = Field(default=None, alias="endsAt")
    fingerprint: str = Field(min_length=1, max_length=64)

    @field_validator("labels")
    @classmethod
    def _has_alertname(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels.get("alertname"):
            raise ValueError("labels must include alertname")
        return labels

    @field_validator("ends_at")
    @classmethod
    def _zero_time_is_unset(cls, value: datetime | None) -> datetime | None:
        # Alertmanager sends Go's zero time (0001-01-01) for a firing alert's endsAt.
        return None if value is not None and value.year <= 1 else value

    @property
    def alertname(self) -> str:
        return self.labels["alertname"]

    @property
    def slo(self) -> str:
        return self.labels.get("slo") or self.alertname

    @property
    def group_key(self) -> str:
        return group_key(self.slo, self.labels.get("model"))


class IncidentOpen(_In):
    """An incident as a detector reports it; it joins the active incident of its group when there is one."""

    slo: str = Field(min_length=1, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    service: str | None = Field(default=None, max_length=100)
    severity: str = Field(default="page", min_length=1, max_length=32)
    title: str = Field(min_length=1, max_length=300)
    detected_by: DetectedBy

    @property
    def group_key(self) -> str:
        return group_key(self.slo, self.model)


class DiagnosisRecord(_In):
    """What a diagnosis concluded, as the incident keeps it."""

    root_cause: str = Field(min_length=1)
    component: str = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list)
    runbook: str | None = None


class ActionDecision(_In):
    """A policy decision about one remediation; its idempotency key makes it executable at most once."""

    incident_id: str
    idempotency_key: str = Field(min_length=1, max_length=200)
    kind: ActionKind
    target: str = Field(min_length=1, max_length=300)
    params: dict[str, Any] = Field(default_factory=dict)
    decision: Verdict
    reasons: list[str] = Field(default_factory=list)

    @field_validator("incident_id", mode="before")
    @classmethod
    def _canonical_incident_id(cls, value: str | int) -> str:
        return make_ref(INCIDENT_PREFIX, parse_ref(INCIDENT_PREFIX, value))


class IncidentView(_Out):
    id: IncidentRef
    group_key: str
    slo: str
    model: str | None
    service: str | None
    severity: str
    status: IncidentStatus
    title: str
    detected_by: DetectedBy
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    diagnosis: DiagnosisRecord | None
    summary: str | None


class IncidentOpened(_Out):
    incident: IncidentView
    created: bool


class AlertView(_Out):
    id: int
    incident_id: IncidentRef | None
    fingerprint: str
    alertname: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    status: Literal["firing", "resolved"]
    starts_at: datetime
    ends_at: datetime | None
    received_at: datetime


class AlertOutcome(_Out):
    """What one ingested alert did: opened or joined an incident, resolved a stored alert, or nothing."""

    fingerprint: str
    alert_id: int
    incident_id: str | None
    outcome: AlertOutcomeKind


class TimelineView(_Out):
    incident_id: IncidentRef
    at: datetime
    kind: TimelineKind
    message: str
    data: dict[str, Any]


class ApprovalView(_Out):
    action_id: ActionRef
    decision: ApprovalDecision
    decided_by: str
    via: str
    at: datetime
    comment: str | None


class ActionView(_Out):
    id: ActionRef
    incident_id: IncidentRef
    idempotency_key: str
    kind: ActionKind
    target: str
    params: dict[str, Any]
    decision: Verdict
    reasons: list[str]
    status: ActionStatus
    result: dict[str, Any] | None
    decided_at: datetime
    executed_at: datetime | None
    finished_at: datetime | None
    approval: ApprovalView | None


class NotificationView(_Out):
    id: int
    incident_id: IncidentRef
    channel: str
    event: NotificationEvent
    message: dict[str, Any]
    status: NotificationStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    action_key: str | None


class IncidentDetail(_Out):
    incident: IncidentView
    alerts: list[AlertView]
    timeline: list[TimelineView]
    actions: list[ActionView]
    notifications: list[NotificationView] = Field(default_factory=list)


class AuditEntryView(_Out):
    seq: int
    at: datetime
    actor: str
    event: str
    incident_id: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

