"""Incidents and the alerts that open them: Alertmanager's alerts and the watcher's findings grouped into one
active incident per SLO instance, its status, diagnosis, summary and timeline.

Grouping is a check-then-write (find the group's active incident, else open one); a write holds its groups'
keys while it runs it, and a unique index backs that up, so concurrent alerts of one group open one incident.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from agent.store.errors import Conflict
from agent.store.lookup import active_incident_row, incident_row, ref
from agent.store.models import CLOSED_STATUS, ActionRow, AlertRow, IncidentRow
from agent.store.notifications import owe_resolutions
from agent.store.schemas import (
    ActionView,
    AlertIn,
    AlertOutcome,
    AlertOutcomeKind,
    AlertView,
    DiagnosisRecord,
    IncidentDetail,
    IncidentOpen,
    IncidentOpened,
    IncidentStatus,
    IncidentView,
    NotificationView,
    TimelineKind,
    TimelineView,
    group_key,
)
from agent.store.transactions import Note, Transaction, Transactions

_ALERTS = TypeAdapter(list[AlertIn])
_TIMELINE_KIND = TypeAdapter(TimelineKind)
_INCIDENT_STATUS = TypeAdapter(IncidentStatus)
_SEVERITY_RANK = {"page": 3, "critical": 3, "ticket": 2, "warning": 2, "info": 1}


class IncidentStore(Transactions):
    def ingest_alerts(
        self, alerts: Iterable[AlertIn | Mapping[str, Any]], *, actor: str = "alertmanager"
    ) -> list[AlertOutcome]:
        """Store a webhook's alerts: all of them or, if any is invalid or a write fails, none.

        A repeated alert (same fingerprint and start) is a duplicate; a firing one joins the active incident
        of its group (SLO and model) or opens one; a resolved one closes the stored alert, not the incident:
        deciding that the incident is over is the agent's verification, not Alertmanager's.
        """
        parsed = _ALERTS.validate_python(list(alerts))
        with self._write() as tx:
            tx.lock([_alert_key(alert) for alert in parsed] + [_group_lock(alert.group_key) for alert in parsed])
            return [_ingest(tx, alert, actor) for alert in parsed]

    def open_incident(self, spec: IncidentOpen | Mapping[str, Any], *, actor: str | None = None) -> IncidentOpened:
        """The active incident of the spec's group, or a new one (the watcher's and chat's way in)."""
        spec = IncidentOpen.model_validate(spec)
        with self._write() as tx:
            tx.lock([_group_lock(spec.group_key)])
            incident, created = _open_or_join(tx, spec, actor or spec.detected_by)
            return IncidentOpened(incident=IncidentView.of(incident), created=created)

    def set_status(
        self, incident_id: str, status: IncidentStatus, *, actor: str = "agent", reason: str = ""
    ) -> IncidentView:
        """Move an incident to a status; `resolved` is final (a recurrence opens a new incident). Closing an
        incident owes every channel that took its page a resolution, in the same transaction, so that no
        crash between the two leaves people paged for an incident that is over."""
        status = _INCIDENT_STATUS.validate_python(status)
        with self._write() as tx:
            incident = incident_row(tx.session, incident_id, for_update=True)
            if incident.status == status:
                return IncidentView.of(incident)
            if incident.status == CLOSED_STATUS:
                raise Conflict(f"{ref(incident.id)} is resolved; it cannot become {status}")
            change = {"old": incident.status, "new": status}
            tx.record(actor, "incident.status", incident.id, {**change, "reason": reason},
                      Note("status", reason or f"{incident.status} -> {status}", change))
            incident.status, incident.updated_at = status, tx.now()
            if status == CLOSED_STATUS:
                incident.resolved_at = incident.updated_at
                owe_resolutions(tx, incident, reason or "the incident is resolved", actor)
            return IncidentView.of(incident)

    def set_diagnosis(
        self, incident_id: str, diagnosis: DiagnosisRecord | Mapping[str, Any], *, actor: str = "agent"
    ) -> IncidentView:
        diagnosis = DiagnosisRecord.model_validate(diagnosis)
        with self._write() as tx:
            incident = incident_row(tx.session, incident_id)
            incident.diagnosis, incident.updated_at = diagnosis.model_dump(), tx.now()
            tx.record(actor, "incident.diagnosis", incident.id, diagnosis.model_dump())
            return IncidentView.of(incident)

    def set_summary(self, incident_id: str, summary: str, *, actor: str = "agent") -> IncidentView:
        with self._write() as tx:
            incident = incident_row(tx.session, incident_id)
            incident.summary, incident.updated_at = summary, tx.now()
            tx.record(actor, "incident.summary", incident.id, {"chars": len(summary)})
            return IncidentView.of(incident)

    def add_timeline(
        self,
        incident_id: str,
        kind: TimelineKind,
        message: str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str = "agent",
    ) -> TimelineView:
        kind = _TIMELINE_KIND.validate_python(kind)
        with self._write() as tx:
            incident = incident_row(tx.session, incident_id)
            entry = tx.note(incident.id, Note(kind, message, data or {}))
            tx.record(actor, "timeline.added", incident.id, {"kind": kind, "message": message})
            return TimelineView.of(entry)

    def list_incidents(
        self, status: IncidentStatus | Collection[IncidentStatus] | None = None, limit: int = 50
    ) -> list[IncidentView]:
        """Newest first."""
        query = select(IncidentRow).order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc()).limit(limit)
        if status is not None:
            query = query.where(IncidentRow.status.in_([status] if isinstance(status, str) else list(status)))
        with self._read() as session:
            return [IncidentView.of(row) for row in session.scalars(query)]

    def get_incident(self, incident_id: str) -> IncidentDetail:
        with self._read() as session:
            incident = incident_row(session, incident_id)
            actions = session.scalars(
                select(ActionRow)
                .where(ActionRow.incident_id == incident.id)
                .order_by(ActionRow.id)
                .options(selectinload(ActionRow.approval))
            )
            return IncidentDetail(
                incident=IncidentView.of(incident),
                alerts=[AlertView.of(row) for row in incident.alerts],
                timeline=[TimelineView.of(row) for row in incident.timeline],
                actions=[ActionView.of(row) for row in actions],
                notifications=[NotificationView.of(row) for row in incident.notifications],
            )

    def active_incident(self, slo: str, model: str | None = None) -> IncidentView | None:
        """The unresolved incident of one SLO instance, if any (what the watcher checks before opening)."""
        with self._read() as session:
            incident = active_incident_row(session, group_key(slo, model))
            return IncidentView.of(incident) if incident is not None else None


def _ingest(tx: Transaction, alert: AlertIn, actor: str) -> AlertOutcome:
    known = tx.session.scalars(
        select(AlertRow).where(AlertRow.fingerprint == alert.fingerprint, AlertRow.starts_at == alert.starts_at)
    ).first()
    if known is not None:
        return _update_known(tx, known, alert, actor)
    incident: IncidentRow | None
    if alert.status == "firing":
        incident, created = _open_or_join(tx, _incident_from_alert(alert), actor)
    else:
        incident, created = active_incident_row(tx.session, alert.group_key), False
    row = AlertRow(
        incident_id=incident.id if incident is not None else None,
        fingerprint=alert.fingerprint,
        alertname=alert.alertname,
        labels=alert.labels,
        annotations=alert.annotations,
        status=alert.status,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        received_at=tx.now(),
    )
    tx.session.add(row)
    tx.session.flush()
    tx.record(
        actor,
        "alert.received",
        row.incident_id,
        {"fingerprint": alert.fingerprint, "alertname": alert.alertname, "status": alert.status,
         "labels": alert.labels},
        Note("alert", _alert_message(alert), {"fingerprint": alert.fingerprint}) if incident is not None else None,
    )
    outcome: AlertOutcomeKind = "opened" if created else ("joined" if alert.status == "firing" else "resolved")
    return AlertOutcome(
        fingerprint=alert.fingerprint, alert_id=row.id, incident_id=ref(row.incident_id), outcome=outcome
    )


def _update_known(tx: Transaction, known: AlertRow, alert: AlertIn, actor: str) -> AlertOutcome:
    outcome: AlertOutcomeKind = "duplicate"
    if known.status == "firing" and alert.status == "resolved":
        known.status, known.ends_at = "resolved", alert.ends_at or tx.now()
        note = Note("alert", _alert_message(alert), {"fingerprint": alert.fingerprint})
        tx.record(actor, "alert.resolved", known.incident_id, {"fingerprint": known.fingerprint},
                  note if known.incident_id is not None else None)
        outcome = "resolved"
    return AlertOutcome(
        fingerprint=known.fingerprint, alert_id=known.id, incident_id=ref(known.incident_id), outcome=outcome
    )


def _open_or_join(tx: Transaction, spec: IncidentOpen, actor: str) -> tuple[IncidentRow, bool]:
    """The caller holds the group's key (`_group_lock`). The incident's row is locked too, so that one being
    resolved meanwhile is seen resolved, and the alert opens the group's next incident instead of joining it."""
    incident = active_incident_row(tx.session, spec.group_key, for_update=True)
    if incident is not None:
        if _SEVERITY_RANK.get(spec.severity, 0) > _SEVERITY_RANK.get(incident.severity, 0):
            tx.record(actor, "incident.severity", incident.id, {"old": incident.severity, "new": spec.severity})
            incident.severity, incident.updated_at = spec.severity, tx.now()
        return incident, False
    now = tx.now()
    incident = IncidentRow(
        group_key=spec.group_key,
        slo=spec.slo,
        model=spec.model,
        service=spec.service,
        severity=spec.severity,
        status="open",
        title=spec.title,
        detected_by=spec.detected_by,
        opened_at=now,
        updated_at=now,
    )
    tx.session.add(incident)
    tx.session.flush()
    tx.record(
        actor,
        "incident.opened",
        incident.id,
        {"group_key": spec.group_key, "title": spec.title, "severity": spec.severity,
         "detected_by": spec.detected_by},
        Note("status", f"Opened by {spec.detected_by}: {spec.title}"),
    )
    return incident, True


def _group_lock(key: str) -> str:
    return f"incident-group:{key}"


def _alert_key(alert: AlertIn) -> str:
    """One firing episode of one alert, which HA Alertmanagers both send at once."""
    return f"alert:{alert.fingerprint}@{alert.starts_at.isoformat()}"


def _incident_from_alert(alert: AlertIn) -> IncidentOpen:
    summary = alert.annotations.get("summary") or f"{alert.alertname} {alert.group_key}"
    return IncidentOpen(
        slo=alert.slo,
        model=alert.labels.get("model"),
        service=alert.labels.get("service"),
        severity=alert.labels.get("severity", "page"),
        title=summary[:300],
        detected_by="alertmanager",
    )


def _alert_message(alert: AlertIn) -> str:
    summary = alert.annotations.get("summary")
    return f"{alert.alertname} {alert.status}" + (f": {summary}" if summary else "")
