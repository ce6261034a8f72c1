"""The outbox of pages: a page is owed until a channel accepts it, a failed delivery stays owed with its
error, the escalate action succeeds only once a channel took the page, and a closed incident tells only
the channels that were paged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.store import Store
from tests.store.conftest import FakeClock

KEY = "INC-0001/escalate"
PAGE = {"incident": "INC-0001", "reason": "no runbook explains the evidence"}


@pytest.fixture
def escalating(store: Store) -> str:
    """An incident whose escalate action is decided and claimed: the page is about to be sent."""
    incident = store.open_incident({"slo": "availability", "model": "llama-70b", "title": "5xx",
                                    "detected_by": "watcher"}).incident.id
    store.record_decision({"incident_id": incident, "idempotency_key": KEY, "kind": "escalate",
                           "target": f"incident/{incident}", "decision": "allow", "reasons": ["always allowed"]})
    assert store.claim_for_execution(KEY)
    return incident


def test_a_page_is_owed_on_every_channel_until_one_accepts_it(store: Store, escalating: str) -> None:
    queued = store.queue_page(escalating, PAGE, ["alertmanager", "webhook"], action_key=KEY)
    assert [(n.channel, n.status, n.attempts) for n in queued] == [("alertmanager", "pending", 0),
                                                                     ("webhook", "pending", 0)]
    assert [n.id for n in store.due_notifications()] == [n.id for n in queued]
    action = store.get_action(KEY)
    assert action is not None and action.status == "executing"  # nobody has taken the page yet

    store.notification_delivered(queued[1].id, "webhook https://hooks.example (HTTP 200)")
    action = store.get_action(KEY)
    assert action is not None and action.status == "succeeded"
    assert action.result == {"paged": "webhook", "accepted_by": "webhook https://hooks.example (HTTP 200)",
                             "why": PAGE["reason"]}
    assert [n.channel for n in store.due_notifications()] == ["alertmanager"]  # still owed there


def test_a_failed_delivery_stays_owed_with_its_error_and_waits_for_its_retry(
        store: Store, escalating: str, clock: FakeClock) -> None:
    [page] = store.queue_page(escalating, PAGE, ["alertmanager"], action_key=KEY)
    store.notification_failed(page.id, "Alertmanager at http://am:9093 is unreachable", timedelta(seconds=4))
    detail = store.get_incident(escalating)
    [owed] = detail.notifications
    assert (owed.status, owed.attempts, owed.last_error) == ("pending", 1, "Alertmanager at http://am:9093 is "
                                                                           "unreachable")
    assert store.due_notifications() == []
    assert [a.status for a in detail.actions] == ["executing"]  # not paged: never recorded as paged
    assert any("NOT delivered to alertmanager (attempt 1)" in e.message for e in detail.timeline)
    clock.advance(seconds=4)
    assert [n.id for n in store.due_notifications()] == [page.id]


def test_a_late_answer_for_a_delivered_page_changes_nothing(store: Store, escalating: str,
                                                             clock: FakeClock) -> None:
    [page] = store.queue_page(escalating, PAGE, ["alertmanager"], action_key=KEY)
    store.notification_delivered(page.id, "Alertmanager at http://am:9093")
    store.notification_failed(page.id, "a retry that raced the delivery", timedelta(0))
    [row] = store.get_incident(escalating).notifications
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)


def test_closing_owes_the_paged_channels_a_resolution_and_supersedes_a_page_still_owed(
        store: Store, escalating: str) -> None:
    am, hook = store.queue_page(escalating, PAGE, ["alertmanager", "webhook"], action_key=KEY)
    store.notification_delivered(am.id, "Alertmanager at http://am:9093")
    store.set_status(escalating, "resolved", reason="the burn stopped")
    notifications = store.get_incident(escalating).notifications
    statuses = {(n.event, n.channel): n.status for n in notifications}
    assert statuses == {("escalated", "alertmanager"): "delivered", ("escalated", "webhook"): "superseded",
                        ("resolved", "alertmanager"): "pending"}
    [resolution] = [n for n in notifications if n.event == "resolved"]
    assert resolution.message == {**PAGE, "reason": "the burn stopped"}
    assert [n.id for n in store.due_notifications()] == [resolution.id]


def test_closing_an_incident_nobody_was_paged_for_owes_nothing(store: Store, escalating: str) -> None:
    store.set_status(escalating, "resolved")
    assert store.get_incident(escalating).notifications == []


def test_open_escalations_are_those_delivered_for_incidents_still_escalated(store: Store, escalating: str) -> None:
    [page] = store.queue_page(escalating, PAGE, ["alertmanager"], action_key=KEY)
    assert store.open_escalations("alertmanager") == []  # not delivered yet: the retry loop has it
    store.notification_delivered(page.id, "Alertmanager at http://am:9093")
    store.set_status(escalating, "escalated")
    assert [n.id for n in store.open_escalations("alertmanager")] == [page.id]
    assert store.open_escalations("webhook") == []
    store.set_status(escalating, "resolved")
    assert store.open_escalations("alertmanager") == []
