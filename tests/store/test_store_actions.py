"""The store's actions: no remediation without a recorded decision, never twice for one, also under concurrency;
on SQLite and on PostgreSQL alike (the `db_url` fixture runs each test on both)."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from agent.store import EXECUTED_STATUSES, ActionStatus, Conflict, NotFound, Store
from agent.store.actions import START, TRANSITIONS, may_follow
from agent.vocabulary import Verdict

from .conftest import FakeClock
from .decisions import claim_in_parallel, decision

AlertFactory = Callable[..., dict[str, object]]


# --- actions: no remediation without a recorded decision, never twice for one --------------------------------


@pytest.fixture
def incident(store: Store) -> str:
    opened = store.open_incident(
        {"slo": "availability", "model": "llama-70b", "title": "5xx", "detected_by": "watcher"}
    )
    return opened.incident.id


def test_an_allowed_decision_is_claimed_exactly_once(store: Store, incident: str) -> None:
    recorded = store.record_decision(decision())
    assert (recorded.id, recorded.status, recorded.incident_id) == ("ACT-0001", "decided", incident)
    assert store.claim_for_execution("INC-0001/cordon/1") is True
    assert store.claim_for_execution("INC-0001/cordon/1") is False
    finished = store.finish_action("INC-0001/cordon/1", ok=True, result={"cordoned": True})
    assert (finished.status, finished.result) == ("succeeded", {"cordoned": True})
    assert finished.executed_at is not None and finished.finished_at is not None
    assert store.claim_for_execution("INC-0001/cordon/1") is False


def test_nothing_is_claimable_without_a_recorded_allow(store: Store, incident: str) -> None:
    assert store.claim_for_execution("never-decided") is False
    store.record_decision(decision("denied", "deny", reasons=["node pool frozen"]))
    store.record_decision(decision("pending", "require_approval"))
    assert store.get_action("denied") is not None and store.get_action("denied").status == "denied"
    assert store.claim_for_execution("denied") is False
    assert store.claim_for_execution("pending") is False


def test_recording_the_same_decision_again_returns_it_and_a_reused_key_is_refused(store: Store, incident: str) -> None:
    first = store.record_decision(decision())
    assert store.record_decision(decision(incident_id="inc-1")) == first
    with pytest.raises(Conflict, match="another decision"):
        store.record_decision(decision(target="node/gpu-node-3"))
    assert len(store.get_incident(incident).actions) == 1


def test_a_decision_needs_a_known_incident_and_a_known_action_kind(store: Store, incident: str) -> None:
    with pytest.raises(NotFound):
        store.record_decision(decision(incident_id="INC-0099"))
    with pytest.raises(ValidationError):
        store.record_decision(decision(kind="reboot_datacenter"))


def test_an_approved_action_is_claimable_once_and_a_denied_one_never(store: Store, incident: str) -> None:
    store.record_decision(decision("a", "require_approval"))
    store.record_decision(decision("b", "require_approval", target="node/gpu-node-3"))
    assert [a.idempotency_key for a in store.pending_approvals()] == ["a", "b"]
    approved = store.decide_approval("ACT-0001", True, decided_by="alice", via="slack", comment="go ahead")
    assert approved.status == "approved"
    assert approved.approval is not None
    assert (approved.approval.decision, approved.approval.decided_by, approved.approval.via) == (
        "approve",
        "alice",
        "slack",
    )
    denied = store.decide_approval("INC-0001", False, decided_by="bob")
    assert (denied.id, denied.status) == ("ACT-0002", "denied"), "the incident's one pending action"
    assert store.pending_approvals(incident) == []
    assert [store.claim_for_execution(key) for key in ("a", "a", "b")] == [True, False, False]


def test_an_approval_is_decided_once(store: Store, incident: str) -> None:
    store.record_decision(decision("a", "require_approval"))
    store.decide_approval("ACT-0001", True, decided_by="alice")
    with pytest.raises(Conflict, match="approved, not awaiting approval"):
        store.decide_approval("ACT-0001", False, decided_by="bob")
    with pytest.raises(Conflict, match="0 actions awaiting approval"):
        store.decide_approval("INC-0001", True, decided_by="bob")


def test_an_expired_approval_can_no_longer_be_approved_or_run(store: Store, incident: str) -> None:
    store.record_decision(decision("a", "require_approval"))
    expired = store.expire_approval("ACT-0001")
    assert expired.status == "expired"
    assert expired.approval is not None and expired.approval.decision == "timeout"
    with pytest.raises(Conflict):
        store.decide_approval("ACT-0001", True, decided_by="late-alice")
    assert store.claim_for_execution("a") is False


def test_finishing_needs_a_claim_and_reverting_needs_a_finish(store: Store, incident: str) -> None:
    store.record_decision(decision())
    with pytest.raises(Conflict, match="decided, not executing"):
        store.finish_action("INC-0001/cordon/1", ok=True)
    with pytest.raises(NotFound):
        store.finish_action("unknown", ok=True)
    store.claim_for_execution("INC-0001/cordon/1")
    store.finish_action("INC-0001/cordon/1", ok=False, result={"error": "timeout"})
    with pytest.raises(Conflict):
        store.finish_action("INC-0001/cordon/1", ok=True)
    reverted = store.mark_reverted("INC-0001/cordon/1", {"uncordoned": True})
    assert (reverted.status, reverted.result) == ("reverted", {"uncordoned": True})


def test_recent_actions_on_a_target_within_a_window(store: Store, incident: str, clock: FakeClock) -> None:
    store.record_decision(decision("old"))
    store.claim_for_execution("old")
    clock.advance(minutes=20)
    store.record_decision(decision("new-executed"))
    store.claim_for_execution("new-executed")
    store.record_decision(decision("new-denied", "deny"))
    store.record_decision(decision("other-target", target="node/gpu-node-3"))
    clock.advance(minutes=5)
    window = timedelta(minutes=10)
    assert [a.idempotency_key for a in store.recent_actions("node/gpu-node-2", window)] == [
        "new-executed",
        "new-denied",
    ]
    executed = store.recent_actions("node/gpu-node-2", window, statuses=EXECUTED_STATUSES)
    assert [a.idempotency_key for a in executed] == ["new-executed"]
    assert store.recent_actions("node/gpu-node-2", window, kinds=["drain_node"]) == []
    assert len(store.recent_actions("node/gpu-node-2", timedelta(hours=1))) == 3


def test_action_counts_per_incident(store: Store, incident: str) -> None:
    for key in ("a", "b", "c"):
        store.record_decision(decision(key))
    store.record_decision(decision("d", "deny"))
    store.claim_for_execution("a")
    store.finish_action("a", ok=True)
    store.claim_for_execution("b")
    assert store.action_counts(incident) == {"succeeded": 1, "executing": 1, "decided": 1, "denied": 1}
    assert store.action_counts("INC-0099") == {}


def test_incident_detail_lists_its_actions_with_their_approvals(store: Store, incident: str) -> None:
    store.record_decision(decision("a", "require_approval"))
    store.decide_approval("ACT-0001", True, decided_by="alice")
    detail = store.get_incident(incident)
    assert [(a.id, a.status, a.approval.decided_by if a.approval else None) for a in detail.actions] == [
        ("ACT-0001", "approved", "alice")
    ]
    assert [e.kind for e in detail.timeline] == ["status", "decision", "approval"]


def test_the_database_itself_refuses_a_second_active_incident_per_group(store: Store) -> None:
    store.open_incident({"slo": "availability", "model": "llama-70b", "title": "5xx", "detected_by": "watcher"})
    row = {"g": "availability/llama-70b", "t": datetime(2026, 3, 1, tzinfo=UTC)}
    insert = text(
        "INSERT INTO incidents (group_key, slo, model, severity, status, title, detected_by, opened_at, updated_at)"
        " VALUES (:g, 'availability', 'llama-70b', 'page', :status, 'dup', 'watcher', :t, :t)"
    )
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(insert, {**row, "status": "investigating"})
    with store.engine.begin() as connection:
        connection.execute(insert, {**row, "status": "resolved"})  # closed incidents of the group may be many


def test_every_action_status_has_its_place_in_the_transitions() -> None:
    statuses = set(get_args(ActionStatus))
    assert set(TRANSITIONS) == statuses
    assert {s for followers in TRANSITIONS.values() for s in followers} | set(START.values()) == statuses
    assert set(START) == set(get_args(Verdict))
    assert may_follow("executing") == ("decided", "approved"), "only a decision to act, or an approval, is claimed"


# --- concurrency ------------------------------------------------------------------------------------------


def test_threads_sharing_one_store_claim_a_decision_once(store: Store, incident: str) -> None:
    store.record_decision(decision())
    results = claim_in_parallel([lambda: store.claim_for_execution("INC-0001/cordon/1")] * 8)
    assert sorted(results) == [False] * 7 + [True]


def test_separate_stores_on_one_database_claim_a_decision_once(
    open_store: Callable[[], Store], incident: str, store: Store
) -> None:
    store.record_decision(decision())
    others = [open_store() for _ in range(4)]
    results = claim_in_parallel([lambda s=s: s.claim_for_execution("INC-0001/cordon/1") for s in others])
    assert sorted(results) == [False, False, False, True]
    assert store.verify_chain() is None


def test_separate_processes_claim_a_decision_once(store: Store, incident: str, db_url: str) -> None:
    store.record_decision(decision())
    claim = "import sys; from agent.store import Store; print(Store.open(sys.argv[1]).claim_for_execution(sys.argv[2]))"
    processes = [
        subprocess.Popen([sys.executable, "-c", claim, db_url, "INC-0001/cordon/1"], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = sorted(p.communicate(timeout=60)[0].strip() for p in processes)
    assert outputs == ["False", "False", "True"]
    claimed = store.get_action("INC-0001/cordon/1")
    assert claimed is not None and claimed.status == "executing"


def test_concurrent_alerts_of_one_group_open_one_incident(
    open_store: Callable[[], Store], make_alert: AlertFactory
) -> None:
    stores = [open_store() for _ in range(4)]
    claimers = [lambda s=s, i=i: bool(s.ingest_alerts([make_alert(f"fp-{i}")])) for i, s in enumerate(stores)]
    claim_in_parallel(claimers)
    [incident] = stores[0].list_incidents()
    assert len(stores[0].get_incident(incident.id).alerts) == 4
    assert stores[0].verify_chain() is None
