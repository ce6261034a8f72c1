"""Notifications: an outbox of what people are owed (an escalation's page, its resolution), one row per
channel, kept until the channel accepts it, so that a failed delivery is retried and never lost, also across
a restart.

The first channel to accept an escalation's page is what makes its escalate action succeed: a person has
been paged only once some channel took the page.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.store import audit
from agent.store.actions import may_follow, record_outcome
from agent.store.errors import NotFound
from agent.store.lookup import action_by_key, incident_row
from agent.store.models import IncidentRow, NotificationRow
from agent.store.schemas import NotificationEvent, NotificationView
from agent.store.transactions import Note, Transaction, Transactions


class NotificationStore(Transactions):
    def queue_page(
        self, incident_id: str, message: Mapping[str, Any], channels: Collection[str], *, action_key: str,
        actor: str = "agent",
    ) -> list[NotificationView]:
        """Owe an escalation's page on each channel; `action_key`'s escalate action succeeds when one accepts."""
        with self._write() as tx:
            incident = incident_row(tx.session, incident_id)
            rows = [_owe(tx, incident, channel, "escalated", message, action_key) for channel in channels]
            if rows:
                tx.record(actor, "notification.queued", incident.id,
                          {"event": "escalated", "channels": list(channels)})
            return [NotificationView.of(row) for row in rows]

    def due_notifications(self, limit: int = 50) -> list[NotificationView]:
        """Pending notifications whose next attempt is due, oldest first."""
        query = (
            select(NotificationRow)
            .where(NotificationRow.status == "pending", NotificationRow.next_attempt_at <= self._clock())
            .order_by(NotificationRow.id)
            .limit(limit)
        )
        with self._read() as session:
            return [NotificationView.of(row) for row in session.scalars(query)]

    def notification_delivered(self, notification_id: int, accepted_by: str, *, actor: str = "notifier") -> None:
        """A channel accepted the message; the first acceptance of a page concludes its escalate action."""
        with self._write() as tx:
            row = _pending_notification(tx.session, notification_id)
            if row is None:
                return
            row.status, row.attempts, row.delivered_at = "delivered", row.attempts + 1, tx.now()
            tx.record(actor, "notification.delivered", row.incident_id,
                      {"channel": row.channel, "event": row.event, "attempts": row.attempts},
                      Note("notification", f"{row.event} sent to {row.channel}: accepted by {accepted_by}"
                           + (f" after {row.attempts} attempts" if row.attempts > 1 else ""),
                           {"channel": row.channel, "event": row.event}))
            action = action_by_key(tx.session, row.action_key, for_update=True) if row.action_key else None
            if action is not None and action.status in may_follow("succeeded"):
                record_outcome(tx, action, "succeeded", {"paged": row.channel, "accepted_by": accepted_by,
                                                         "why": row.message.get("reason", "")}, actor)

    def notification_failed(
        self, notification_id: int, error: str, retry_in: timedelta, *, actor: str = "notifier"
    ) -> None:
        """A delivery failed: it stays owed, and is tried again `retry_in` from now."""
        with self._write() as tx:
            row = _pending_notification(tx.session, notification_id)
            if row is None:
                return
            retry_at = tx.now() + retry_in
            row.attempts, row.last_error, row.next_attempt_at = row.attempts + 1, error, retry_at
            tx.record(actor, "notification.failed", row.incident_id,
                      {"channel": row.channel, "event": row.event, "attempts": row.attempts, "error": error},
                      Note("notification", f"{row.event} NOT delivered to {row.channel} (attempt {row.attempts}): "
                           f"{error}; next try at {retry_at:%H:%M:%S} UTC",
                           {"channel": row.channel, "event": row.event}))

    def open_escalations(self, channel: str) -> list[NotificationView]:
        """Escalations delivered on `channel` whose incident is still escalated: what a channel that forgets
        an alert unless told again (Alertmanager) is sent again."""
        query = (
            select(NotificationRow)
            .join(IncidentRow, IncidentRow.id == NotificationRow.incident_id)
            .where(NotificationRow.channel == channel, NotificationRow.event == "escalated",
                   NotificationRow.status == "delivered", IncidentRow.status == "escalated")
            .order_by(NotificationRow.id)
        )
        with self._read() as session:
            return [NotificationView.of(row) for row in session.scalars(query)]


def owe_resolutions(tx: Transaction, incident: IncidentRow, reason: str, actor: str) -> None:
    """A resolution for each channel that took the incident's page; a page still owed is superseded instead,
    as nobody needs paging for an incident that is over. The pages are locked, so that one a channel is
    accepting right now is either delivered before this reads it, or finds itself superseded."""
    pages = tx.session.scalars(
        select(NotificationRow)
        .where(NotificationRow.incident_id == incident.id, NotificationRow.event == "escalated")
        .order_by(NotificationRow.id)
        .with_for_update(key_share=True)
    ).all()
    for owed in (n for n in pages if n.status == "pending"):
        owed.status = "superseded"
    delivered = {n.channel: n for n in pages if n.status == "delivered"}
    for channel, page in delivered.items():
        _owe(tx, incident, channel, "resolved", {**page.message, "reason": reason}, None)
    if pages:
        tx.record(actor, "notification.queued", incident.id, {"event": "resolved", "channels": list(delivered)})


def _owe(tx: Transaction, incident: IncidentRow, channel: str, event: NotificationEvent,
         message: Mapping[str, Any], action_key: str | None) -> NotificationRow:
    now = tx.now()
    row = NotificationRow(incident_id=incident.id, channel=channel, event=event, status="pending", attempts=0,
                          message=audit.normalise_data(dict(message)), next_attempt_at=now, created_at=now,
                          action_key=action_key)
    tx.session.add(row)
    tx.session.flush()
    return row


def _pending_notification(session: Session, notification_id: int) -> NotificationRow | None:
    """The notification, locked, while it is still owed; None once delivered or superseded (a late answer is
    moot)."""
    row = session.get(NotificationRow, notification_id, with_for_update={"key_share": True})
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    return row if row.status == "pending" else None
