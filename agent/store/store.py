"""The Store: the only way the agent reads or changes its database.

Every public method is one transaction: input is validated (pydantic) before anything is written, and a
failure part-way rolls the whole operation back, audit entry included. Every change appends to the audit
log in the same transaction, so the log and the state it describes cannot disagree.

The remediation rule lives here: an action exists only as a recorded policy decision, and
`claim_for_execution` moves it to `executing` with one conditional UPDATE, so of any number of threads or
processes holding the same idempotency key exactly one is told to act, also after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import CursorResult, Engine, func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from agent.store import audit
from agent.store.db import DEFAULT_URL, READ_ONLY, is_memory_sqlite, lock_for_writing, make_engine, upgrade_to_head
from agent.store.models import CLOSED_STATUS, Action, Alert, Approval, Incident, Notification, TimelineEntry
from agent.store.schemas import (
    ACTION_PREFIX,
    INCIDENT_PREFIX,
    ActionDecision,
    ActionStatus,
    ActionView,
    AlertIn,
    AlertOutcome,
    AlertOutcomeKind,
    AlertView,
    AuditEntryView,
    Diagnosis,
    IncidentDetail,
    IncidentOpen,
    IncidentOpened,
    IncidentStatus,
    IncidentView,
    NotificationEvent,
    NotificationView,
    TimelineKind,
    TimelineView,
    group_key,
    make_ref,
    parse_ref,
)

Clock = Callable[[], datetime]

_ALERTS = TypeAdapter(list[AlertIn])
_TIMELINE_KIND = TypeAdapter(TimelineKind)
_INCIDENT_STATUS = TypeAdapter(IncidentStatus)
_ACTION_STATUS = TypeAdapter(ActionStatus)
# The status a recorded decision starts in; only `decided` (and later `approved`) can be claimed.
_INITIAL_STATUS: dict[str, ActionStatus] = {
    "allow": "decided",
    "require_approval": "awaiting_approval",
    "deny": "denied",
}
_CLAIMABLE: tuple[ActionStatus, ...] = ("decided", "approved")
_SEVERITY_RANK = {"page": 3, "critical": 3, "ticket": 2, "warning": 2, "info": 1}


class StoreError(RuntimeError):
    """A request the store's state does not allow; the message says why."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


def utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Incidents, alerts, timeline, actions, approvals and the audit log in one SQLAlchemy database."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self._clock = clock
        self._writer = sessionmaker(engine, expire_on_commit=False)
        self._reader = sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        # An in-memory SQLite database is one shared connection: its transactions must take turns.
        self._turns: AbstractContextManager[Any] = threading.Lock() if is_memory_sqlite(engine.url) else nullcontext()

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

    # --- transactions -------------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._turns, self._writer.begin() as session:
            lock_for_writing(session.connection())
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._turns, self._reader.begin() as session:
            yield session

    # Positional-only, so that the data may use any key (even `incident_id`).
    def _audit(self, session: Session, actor: str, event: str, incident_id: int | None, /, **data: Any) -> None:
        ref = make_ref(INCIDENT_PREFIX, incident_id) if incident_id is not None else None
        audit.append(session, at=self._clock(), actor=actor, event=event, incident_id=ref, data=data)

    def _note(
        self, session: Session, incident_id: int, kind: TimelineKind, message: str, /, **data: Any
    ) -> TimelineEntry:
        entry = TimelineEntry(
            incident_id=incident_id, at=self._clock(), kind=kind, message=message, data=audit.normalise_data(data)
        )
        session.add(entry)
        return entry

    # --- incidents and alerts -----------------------------------------------------------------------------

    def ingest_alerts(
        self, alerts: Iterable[AlertIn | Mapping[str, Any]], *, actor: str = "alertmanager"
    ) -> list[AlertOutcome]:
        """Store a webhook's alerts: all of them or, if any is invalid or a write fails, none.

        A repeated alert (same fingerprint and start) is a duplicate; a firing one joins the active incident
        of its group (SLO and model) or opens one; a resolved one closes the stored alert, not the incident:
        deciding that the incident is over is the agent's verification, not Alertmanager's.
        """
        parsed = _ALERTS.validate_python(list(alerts))
        with self._write() as session:
            return [self._ingest(session, alert, actor) for alert in parsed]

    def _ingest(self, session: Session, alert: AlertIn, actor: str) -> AlertOutcome:
        known = session.scalars(
            select(Alert).where(Alert.fingerprint == alert.fingerprint, Alert.starts_at == alert.starts_at)
        ).first()
        if known is not None:
            return self._update_known(session, known, alert, actor)
        incident: Incident | None
        if alert.status == "firing":
            incident, created = self._open_or_join(session, _incident_from_alert(alert), actor)
        else:
            incident, created = self._active(session, alert.group_key), False
        row = Alert(
            incident_id=incident.id if incident is not None else None,
            fingerprint=alert.fingerprint,
            alertname=alert.alertname,
            labels=alert.labels,
            annotations=alert.annotations,
            status=alert.status,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
            received_at=self._clock(),
        )
        session.add(row)
        session.flush()
        self._audit(
            session,
            actor,
            "alert.received",
            row.incident_id,
            fingerprint=alert.fingerprint,
            alertname=alert.alertname,
            status=alert.status,
            labels=alert.labels,
        )
        if incident is not None:
            self._note(session, incident.id, "alert", _alert_message(alert), fingerprint=alert.fingerprint)
        outcome: AlertOutcomeKind = "opened" if created else ("joined" if alert.status == "firing" else "resolved")
        return AlertOutcome(
            fingerprint=alert.fingerprint, alert_id=row.id, incident_id=_ref(row.incident_id), outcome=outcome
        )

    def _update_known(self, session: Session, known: Alert, alert: AlertIn, actor: str) -> AlertOutcome:
        outcome: AlertOutcomeKind = "duplicate"
        if known.status == "firing" and alert.status == "resolved":
            known.status, known.ends_at = "resolved", alert.ends_at or self._clock()
            self._audit(session, actor, "alert.resolved", known.incident_id, fingerprint=known.fingerprint)
            if known.incident_id is not None:
                self._note(session, known.incident_id, "alert", _alert_message(alert), fingerprint=alert.fingerprint)
            outcome = "resolved"
        return AlertOutcome(
            fingerprint=known.fingerprint, alert_id=known.id, incident_id=_ref(known.incident_id), outcome=outcome
        )

    def open_incident(self, spec: IncidentOpen | Mapping[str, Any], *, actor: str | None = None) -> IncidentOpened:
        """The active incident of the spec's group, or a new one (the watcher's and chat's way in)."""
        spec = IncidentOpen.model_validate(spec)
        with self._write() as session:
            incident, created = self._open_or_join(session, spec, actor or spec.detected_by)
            return IncidentOpened(incident=IncidentView.of(incident), created=created)

    def _open_or_join(self, session: Session, spec: IncidentOpen, actor: str) -> tuple[Incident, bool]:
        incident = self._active(session, spec.group_key)
        if incident is not None:
            if _SEVERITY_RANK.get(spec.severity, 0) > _SEVERITY_RANK.get(incident.severity, 0):
                self._audit(session, actor, "incident.severity", incident.id, old=incident.severity, new=spec.severity)
                incident.severity, incident.updated_at = spec.severity, self._clock()
            return incident, False
        now = self._clock()
        incident = Incident(
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
        session.add(incident)
        session.flush()
        self._audit(
            session,
            actor,
            "incident.opened",
            incident.id,
            group_key=spec.group_key,
            title=spec.title,
            severity=spec.severity,
            detected_by=spec.detected_by,
        )
        self._note(session, incident.id, "status", f"Opened by {spec.detected_by}: {spec.title}")
        return incident, True

    @staticmethod
    def _active(session: Session, key: str) -> Incident | None:
        return session.scalars(
            select(Incident).where(Incident.group_key == key, Incident.status != CLOSED_STATUS)
        ).first()

    def set_status(
        self, incident_id: str, status: IncidentStatus, *, actor: str = "agent", reason: str = ""
    ) -> IncidentView:
        """Move an incident to a status; `resolved` is final (a recurrence opens a new incident). Closing an
        incident owes every channel that took its page a resolution, in the same transaction, so that no
        crash between the two leaves people paged for an incident that is over."""
        status = _INCIDENT_STATUS.validate_python(status)
        with self._write() as session:
            incident = _get_incident(session, incident_id)
            if incident.status == status:
                return IncidentView.of(incident)
            if incident.status == CLOSED_STATUS:
                raise Conflict(f"{_ref(incident.id)} is resolved; it cannot become {status}")
            self._audit(session, actor, "incident.status", incident.id, old=incident.status, new=status, reason=reason)
            self._note(
                session,
                incident.id,
                "status",
                reason or f"{incident.status} -> {status}",
                old=incident.status,
                new=status,
            )
            incident.status, incident.updated_at = status, self._clock()
            if status == CLOSED_STATUS:
                incident.resolved_at = incident.updated_at
                self._owe_resolutions(session, incident, reason or "the incident is resolved", actor)
            return IncidentView.of(incident)

    def set_diagnosis(
        self, incident_id: str, diagnosis: Diagnosis | Mapping[str, Any], *, actor: str = "agent"
    ) -> IncidentView:
        diagnosis = Diagnosis.model_validate(diagnosis)
        with self._write() as session:
            incident = _get_incident(session, incident_id)
            incident.diagnosis, incident.updated_at = diagnosis.model_dump(), self._clock()
            self._audit(session, actor, "incident.diagnosis", incident.id, **diagnosis.model_dump())
            return IncidentView.of(incident)

    def set_summary(self, incident_id: str, summary: str, *, actor: str = "agent") -> IncidentView:
        with self._write() as session:
            incident = _get_incident(session, incident_id)
            incident.summary, incident.updated_at = summary, self._clock()
            self._audit(session, actor, "incident.summary", incident.id, chars=len(summary))
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
        with self._write() as session:
            incident = _get_incident(session, incident_id)
            entry = self._note(session, incident.id, kind, message, **(data or {}))
            self._audit(session, actor, "timeline.added", incident.id, kind=kind, message=message)
            return TimelineView.of(entry)

    # --- actions and approvals ----------------------------------------------------------------------------

    def record_decision(self, decision: ActionDecision | Mapping[str, Any], *, actor: str = "policy") -> ActionView:
        """Record a policy decision before anything acts on it. Recording the same decision again (a restart)
        returns the stored action; the same key for a different action is a Conflict."""
        decision = ActionDecision.model_validate(decision)
        with self._write() as session:
            known = _action_by_key(session, decision.idempotency_key)
            if known is not None:
                if _decision_of(known) != _normalised(decision):
                    raise Conflict(f"idempotency key {decision.idempotency_key!r} already names another decision")
                return ActionView.of(known)
            incident = _get_incident(session, decision.incident_id)
            action = Action(
                incident_id=incident.id,
                idempotency_key=decision.idempotency_key,
                kind=decision.kind,
                target=decision.target,
                params=audit.normalise_data(decision.params),
                decision=decision.decision,
                reasons=list(decision.reasons),
                status=_INITIAL_STATUS[decision.decision],
                decided_at=self._clock(),
            )
            session.add(action)
            session.flush()
            self._audit(
                session,
                actor,
                "action.decided",
                incident.id,
                action=_ref(action.id, ACTION_PREFIX),
                **_normalised(decision),
            )
            self._note(
                session,
                incident.id,
                "decision",
                f"{decision.decision}: {decision.kind} {decision.target}: {'; '.join(decision.reasons) or '-'}",
                action=_ref(action.id, ACTION_PREFIX),
                reasons=decision.reasons,
            )
            return ActionView.of(action)

    def claim_for_execution(self, idempotency_key: str, *, actor: str = "agent") -> bool:
        """True exactly once per allowed (or approved) decision: the caller may act. False when the key has no
        recorded decision, was denied, awaits approval, or was claimed before (by anyone, at any time)."""
        with self._write() as session:
            claimed = cast(  # an UPDATE's result is a cursor's: it counts the rows it changed
                "CursorResult[Any]",
                session.execute(
                    update(Action)
                    .where(Action.idempotency_key == idempotency_key, Action.status.in_(_CLAIMABLE))
                    .values(status="executing", executed_at=self._clock())
                    .execution_options(synchronize_session=False)
                ),
            )
            if claimed.rowcount != 1:
                return False
            action = _action_by_key(session, idempotency_key)
            assert action is not None  # the UPDATE just matched it
            self._audit(
                session,
                actor,
                "action.executing",
                action.incident_id,
                action=_ref(action.id, ACTION_PREFIX),
                key=idempotency_key,
            )
            self._note(
                session,
                action.incident_id,
                "action",
                f"executing: {action.kind} {action.target}",
                action=_ref(action.id, ACTION_PREFIX),
            )
            return True

    def finish_action(
        self, idempotency_key: str, ok: bool, result: Mapping[str, Any] | None = None, *, actor: str = "agent"
    ) -> ActionView:
        """Record the outcome of a claimed action."""
        status: ActionStatus = "succeeded" if ok else "failed"
        return self._advance(idempotency_key, ("executing",), status, result, actor)

    def mark_reverted(
        self, idempotency_key: str, result: Mapping[str, Any] | None = None, *, actor: str = "agent"
    ) -> ActionView:
        """Record that a finished action was undone (its verification failed)."""
        return self._advance(idempotency_key, ("succeeded", "failed"), "reverted", result, actor)

    def _advance(
        self,
        key: str,
        sources: tuple[ActionStatus, ...],
        status: ActionStatus,
        result: Mapping[str, Any] | None,
        actor: str,
    ) -> ActionView:
        with self._write() as session:
            action = _action_by_key(session, key)
            if action is None:
                raise NotFound(f"no action with idempotency key {key!r}")
            if action.status not in sources:
                raise Conflict(f"{_ref(action.id, ACTION_PREFIX)} is {action.status}, not {' or '.join(sources)}")
            self._finish(session, action, status, result, actor)
            return ActionView.of(action)

    def _finish(
        self, session: Session, action: Action, status: ActionStatus, result: Mapping[str, Any] | None, actor: str
    ) -> None:
        action.status, action.finished_at = status, self._clock()
        action.result = audit.normalise_data(dict(result or {}))
        ref = _ref(action.id, ACTION_PREFIX)
        self._audit(session, actor, f"action.{status}", action.incident_id, action=ref, result=action.result)
        self._note(
            session, action.incident_id, "action", f"{status}: {action.kind} {action.target}", action=ref,
            result=action.result,
        )

    def decide_approval(
        self, ref: str, approve: bool, *, decided_by: str, via: str = "cli", comment: str | None = None
    ) -> ActionView:
        """A person approves or denies a pending action. `ref` is the action (`ACT-0003`) or its incident
        (`INC-0007`) when that has exactly one pending approval. Deciding twice is a Conflict."""
        return self._settle(
            ref, "approved" if approve else "denied", "approve" if approve else "deny", decided_by, via, comment
        )

    def expire_approval(self, ref: str, *, actor: str = "timeout") -> ActionView:
        """Nobody decided in time: the action can no longer run (the caller escalates)."""
        return self._settle(ref, "expired", "timeout", actor, "timeout", None)

    def _settle(
        self, ref: str, status: ActionStatus, decision: str, decided_by: str, via: str, comment: str | None
    ) -> ActionView:
        with self._write() as session:
            action = _pending_action(session, ref)
            action.status = status
            action.approval = Approval(
                decision=decision, decided_by=decided_by, via=via, at=self._clock(), comment=comment
            )
            action_ref = _ref(action.id, ACTION_PREFIX)
            self._audit(
                session,
                decided_by,
                f"approval.{decision}",
                action.incident_id,
                action=action_ref,
                via=via,
                comment=comment,
            )
            self._note(
                session,
                action.incident_id,
                "approval",
                f"{decision} by {decided_by} via {via}: {action.kind} {action.target}",
                action=action_ref,
                comment=comment,
            )
            return ActionView.of(action)

    # --- notifications (an outbox: owed messages are rows until a channel accepts them) --------------------

    def queue_page(
        self, incident_id: str, message: Mapping[str, Any], channels: Collection[str], *, action_key: str,
        actor: str = "agent",
    ) -> list[NotificationView]:
        """Owe an escalation's page on each channel; `action_key`'s escalate action succeeds when one accepts."""
        with self._write() as session:
            incident = _get_incident(session, incident_id)
            rows = [self._owe(session, incident, channel, "escalated", message, action_key) for channel in channels]
            if rows:
                self._audit(session, actor, "notification.queued", incident.id, event="escalated",
                            channels=list(channels))
            return [NotificationView.of(row) for row in rows]

    def _owe_resolutions(self, session: Session, incident: Incident, reason: str, actor: str) -> None:
        """A resolution for each channel that took the page; a page still owed is superseded instead, as
        nobody needs paging for an incident that is over."""
        pages = [n for n in incident.notifications if n.event == "escalated"]
        for owed in (n for n in pages if n.status == "pending"):
            owed.status = "superseded"
        delivered = {n.channel: n for n in pages if n.status == "delivered"}
        for channel, page in delivered.items():
            self._owe(session, incident, channel, "resolved", {**page.message, "reason": reason}, None)
        if pages:
            self._audit(session, actor, "notification.queued", incident.id, event="resolved",
                        channels=list(delivered))

    def _owe(self, session: Session, incident: Incident, channel: str, event: NotificationEvent,
             message: Mapping[str, Any], action_key: str | None) -> Notification:
        now = self._clock()
        row = Notification(incident_id=incident.id, channel=channel, event=event, status="pending", attempts=0,
                           message=audit.normalise_data(dict(message)), next_attempt_at=now, created_at=now,
                           action_key=action_key)
        session.add(row)
        session.flush()
        return row

    def due_notifications(self, limit: int = 50) -> list[NotificationView]:
        """Pending notifications whose next attempt is due, oldest first."""
        query = (
            select(Notification)
            .where(Notification.status == "pending", Notification.next_attempt_at <= self._clock())
            .order_by(Notification.id)
            .limit(limit)
        )
        with self._read() as session:
            return [NotificationView.of(row) for row in session.scalars(query)]

    def notification_delivered(self, notification_id: int, accepted_by: str, *, actor: str = "notifier") -> None:
        """A channel accepted the message. The first acceptance of an escalation is what makes its escalate
        action succeed: a person has been paged only once some channel took the page."""
        with self._write() as session:
            row = _pending_notification(session, notification_id)
            if row is None:
                return
            row.status, row.attempts, row.delivered_at = "delivered", row.attempts + 1, self._clock()
            self._audit(session, actor, "notification.delivered", row.incident_id, channel=row.channel,
                        event=row.event, attempts=row.attempts)
            self._note(session, row.incident_id, "notification", f"{row.event} sent to {row.channel}: accepted by "
                       f"{accepted_by}" + (f" after {row.attempts} attempts" if row.attempts > 1 else ""),
                       channel=row.channel, event=row.event)
            action = _action_by_key(session, row.action_key) if row.action_key else None
            if action is not None and action.status == "executing":
                self._finish(session, action, "succeeded", {"paged": row.channel, "accepted_by": accepted_by,
                                                            "why": row.message.get("reason", "")}, actor)

    def notification_failed(
        self, notification_id: int, error: str, retry_in: timedelta, *, actor: str = "notifier"
    ) -> None:
        """A delivery failed: it stays owed, and is tried again `retry_in` from now."""
        with self._write() as session:
            row = _pending_notification(session, notification_id)
            if row is None:
                return
            retry_at = self._clock() + retry_in
            row.attempts, row.last_error, row.next_attempt_at = row.attempts + 1, error, retry_at
            self._audit(session, actor, "notification.failed", row.incident_id, channel=row.channel,
                        event=row.event, attempts=row.attempts, error=error)
            self._note(session, row.incident_id, "notification", f"{row.event} NOT delivered to {row.channel} "
                       f"(attempt {row.attempts}): {error}; next try at {retry_at:%H:%M:%S} UTC",
                       channel=row.channel, event=row.event)

    def open_escalations(self, channel: str) -> list[NotificationView]:
        """Escalations delivered on `channel` whose incident is still escalated: what a channel that forgets
        an alert unless told again (Alertmanager) is sent again."""
        query = (
            select(Notification)
            .join(Incident, Incident.id == Notification.incident_id)
            .where(Notification.channel == channel, Notification.event == "escalated",
                   Notification.status == "delivered", Incident.status == "escalated")
            .order_by(Notification.id)
        )
        with self._read() as session:
            return [NotificationView.of(row) for row in session.scalars(query)]

    # --- queries --------------------------------------------------------------------------------------------

    def list_incidents(
        self, status: IncidentStatus | Collection[IncidentStatus] | None = None, limit: int = 50
    ) -> list[IncidentView]:
        """Newest first."""
        query = select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit)
        if status is not None:
            query = query.where(Incident.status.in_([status] if isinstance(status, str) else list(status)))
        with self._read() as session:
            return [IncidentView.of(row) for row in session.scalars(query)]

    def get_incident(self, incident_id: str) -> IncidentDetail:
        with self._read() as session:
            incident = _get_incident(session, incident_id)
            actions = session.scalars(
                select(Action)
                .where(Action.incident_id == incident.id)
                .order_by(Action.id)
                .options(selectinload(Action.approval))
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
            incident = self._active(session, group_key(slo, model))
            return IncidentView.of(incident) if incident is not None else None

    def get_action(self, idempotency_key: str) -> ActionView | None:
        with self._read() as session:
            action = _action_by_key(session, idempotency_key)
            return ActionView.of(action) if action is not None else None

    def pending_approvals(self, incident_id: str | None = None) -> list[ActionView]:
        query = select(Action).where(Action.status == "awaiting_approval").order_by(Action.id)
        if incident_id is not None:
            query = query.where(Action.incident_id == parse_ref(INCIDENT_PREFIX, incident_id))
        with self._read() as session:
            return [ActionView.of(row) for row in session.scalars(query)]

    def recent_actions(
        self,
        target: str,
        within: timedelta,
        *,
        kinds: Collection[str] | None = None,
        statuses: Collection[ActionStatus] | None = None,
    ) -> list[ActionView]:
        """Actions on `target` decided in the last `within`, oldest first: the input of the policy's rate
        limits (pass `statuses=EXECUTED_STATUSES` to count only what touched the world)."""
        query = (
            select(Action)
            .where(Action.target == target, Action.decided_at >= self._clock() - within)
            .order_by(Action.decided_at, Action.id)
        )
        if kinds is not None:
            query = query.where(Action.kind.in_(list(kinds)))
        if statuses is not None:
            query = query.where(Action.status.in_(list(statuses)))
        with self._read() as session:
            return [ActionView.of(row) for row in session.scalars(query)]

    def action_counts(self, incident_id: str) -> dict[ActionStatus, int]:
        """How many of an incident's actions are in each status (the per-incident cap's input)."""
        number = parse_ref(INCIDENT_PREFIX, incident_id)
        query = select(Action.status, func.count()).where(Action.incident_id == number).group_by(Action.status)
        with self._read() as session:
            return {_ACTION_STATUS.validate_python(status): count for status, count in session.execute(query)}

    def audit_log(self, incident_id: str | None = None, limit: int = 100) -> list[AuditEntryView]:
        """The newest `limit` entries, oldest first."""
        query = select(audit.AuditEntry).order_by(audit.AuditEntry.seq.desc()).limit(limit)
        if incident_id is not None:
            query = query.where(audit.AuditEntry.incident_id == _ref(parse_ref(INCIDENT_PREFIX, incident_id)))
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


# --- helpers ------------------------------------------------------------------------------------------------


def _ref(number: int | None, prefix: str = INCIDENT_PREFIX) -> str | None:
    return make_ref(prefix, number) if number is not None else None


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


def _get_incident(session: Session, ref: str) -> Incident:
    try:
        number = parse_ref(INCIDENT_PREFIX, ref)
    except ValueError as exc:
        raise NotFound(str(exc)) from exc
    incident = session.get(Incident, number)
    if incident is None:
        raise NotFound(f"no incident {make_ref(INCIDENT_PREFIX, number)}")
    return incident


def _action_by_key(session: Session, key: str) -> Action | None:
    return session.scalars(select(Action).where(Action.idempotency_key == key)).first()


def _pending_notification(session: Session, notification_id: int) -> Notification | None:
    """The notification while it is still owed; None once delivered or superseded (a late answer is moot)."""
    row = session.get(Notification, notification_id)
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    return row if row.status == "pending" else None


def _pending_action(session: Session, ref: str) -> Action:
    """The action a person means by `ACT-n`, or by `INC-n` when that incident waits on one approval only."""
    if ref.strip().upper().startswith(f"{INCIDENT_PREFIX}-"):
        incident = _get_incident(session, ref)
        pending = session.scalars(
            select(Action).where(Action.incident_id == incident.id, Action.status == "awaiting_approval")
        ).all()
        if len(pending) != 1:
            raise Conflict(f"{ref} has {len(pending)} actions awaiting approval: name one (ACT-...)")
        return pending[0]
    try:
        action = session.get(Action, parse_ref(ACTION_PREFIX, ref))
    except ValueError as exc:
        raise NotFound(str(exc)) from exc
    if action is None:
        raise NotFound(f"no action {ref}")
    if action.status != "awaiting_approval":
        raise Conflict(f"{make_ref(ACTION_PREFIX, action.id)} is {action.status}, not awaiting approval")
    return action


def _normalised(decision: ActionDecision) -> dict[str, Any]:
    return audit.normalise_data(decision.model_dump())


def _decision_of(action: Action) -> dict[str, Any]:
    return _normalised(ActionDecision.model_validate({
        "incident_id": action.incident_id, "idempotency_key": action.idempotency_key, "kind": action.kind,
        "target": action.target, "params": action.params, "decision": action.decision, "reasons": action.reasons,
    }))
