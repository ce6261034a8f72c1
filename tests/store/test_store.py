"""The store's incidents, alerts and schema, on SQLite and on PostgreSQL alike (the `db_url` fixture runs each
test on both)."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import inspect

import agent.store.incidents as incidents_module
from agent.store import AlertIn, Conflict, NotFound, Store
from agent.store.models import Base

from .conftest import HEAD, FakeClock
from .decisions import claim_in_parallel, decision

AlertFactory = Callable[..., dict[str, object]]


# --- schema -----------------------------------------------------------------------------------------------


def test_opening_an_empty_database_migrates_it_to_exactly_the_models_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() == HEAD
        assert compare_metadata(context, Base.metadata) == []
    assert set(inspect(store.engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}


def test_opening_a_migrated_database_again_changes_nothing(open_store: Callable[[], Store]) -> None:
    first = open_store()
    first.open_incident({"slo": "latency", "model": "qwen-7b", "title": "slow", "detected_by": "watcher"})
    second = open_store()
    assert [i.id for i in second.list_incidents()] == ["INC-0001"]


# --- alerts and incidents ---------------------------------------------------------------------------------


def test_firing_alerts_of_one_slo_and_model_share_an_incident(store: Store, make_alert: AlertFactory) -> None:
    outcomes = store.ingest_alerts(
        [
            make_alert("fp-1", severity="page"),
            make_alert("fp-2", severity="ticket"),
            make_alert("fp-3", model="qwen-7b"),
        ]
    )
    assert [(o.outcome, o.incident_id) for o in outcomes] == [
        ("opened", "INC-0001"),
        ("joined", "INC-0001"),
        ("opened", "INC-0002"),
    ]
    llama = store.get_incident("INC-0001")
    assert llama.incident.group_key == "availability/llama-70b"
    assert (llama.incident.slo, llama.incident.model, llama.incident.service) == (
        "availability",
        "llama-70b",
        "inference-gateway",
    )
    assert llama.incident.status == "open" and llama.incident.detected_by == "alertmanager"
    assert [a.fingerprint for a in llama.alerts] == ["fp-1", "fp-2"]


def test_repeated_notifications_are_stored_once(store: Store, make_alert: AlertFactory) -> None:
    store.ingest_alerts([make_alert("fp-1")])
    audit_before = len(store.audit_log())
    again = store.ingest_alerts([make_alert("fp-1"), make_alert("fp-1")])
    assert [o.outcome for o in again] == ["duplicate", "duplicate"]
    detail = store.get_incident("INC-0001")
    assert len(detail.alerts) == 1
    assert len(store.audit_log()) == audit_before, "a duplicate changes nothing, so it is not audited"


def test_alertmanagers_zero_end_time_means_no_end(store: Store, make_alert: AlertFactory) -> None:
    store.ingest_alerts([make_alert("fp-1")])
    stored = store.get_incident("INC-0001").alerts[0]
    assert stored.ends_at is None
    assert stored.starts_at.isoformat() == "2026-03-01T11:58:00.123456+00:00"


def test_a_resolved_notification_closes_the_alert_but_not_the_incident(store: Store, make_alert: AlertFactory) -> None:
    store.ingest_alerts([make_alert("fp-1")])
    [outcome] = store.ingest_alerts([make_alert("fp-1", status="resolved", ends_at="2026-03-01T12:05:00Z")])
    assert (outcome.outcome, outcome.incident_id) == ("resolved", "INC-0001")
    detail = store.get_incident("INC-0001")
    assert detail.alerts[0].status == "resolved"
    assert detail.alerts[0].ends_at is not None and detail.alerts[0].ends_at.minute == 5
    assert detail.incident.status == "open", "only the agent's verification resolves an incident"
    assert [e.message for e in detail.timeline if e.kind == "alert"][-1].startswith(
        "ModelAvailabilityBudgetBurn resolved"
    )


def test_a_new_firing_episode_after_resolution_opens_a_new_incident(store: Store, make_alert: AlertFactory) -> None:
    store.ingest_alerts([make_alert("fp-1")])
    store.set_status("INC-0001", "resolved", reason="burn rate under 1 for the verification period")
    [outcome] = store.ingest_alerts([make_alert("fp-1", starts_at="2026-03-01T13:00:00Z")])
    assert (outcome.outcome, outcome.incident_id) == ("opened", "INC-0002")


def test_alerts_keep_joining_an_escalated_incident(store: Store, make_alert: AlertFactory) -> None:
    store.ingest_alerts([make_alert("fp-1")])
    store.set_status("INC-0001", "escalated", reason="no runbook explains it")
    [outcome] = store.ingest_alerts([make_alert("fp-2")])
    assert (outcome.outcome, outcome.incident_id) == ("joined", "INC-0001")


def test_a_page_joining_a_ticket_incident_raises_its_severity(store: Store, make_alert: AlertFactory) -> None:
    store.ingest_alerts([make_alert("fp-ticket", severity="ticket")])
    store.ingest_alerts([make_alert("fp-page", severity="page")])
    store.ingest_alerts([make_alert("fp-ticket-2", severity="ticket")])
    assert store.get_incident("INC-0001").incident.severity == "page"


def test_the_watcher_joins_the_incident_alertmanager_opened(store: Store, make_alert: AlertFactory) -> None:
    store.ingest_alerts([make_alert("fp-1")])
    joined = store.open_incident(
        {"slo": "availability", "model": "llama-70b", "title": "burn 20x", "detected_by": "watcher"}
    )
    assert (joined.created, joined.incident.id) == (False, "INC-0001")
    opened = store.open_incident({"slo": "latency", "model": "llama-70b", "title": "ttft", "detected_by": "watcher"})
    assert (opened.created, opened.incident.id, opened.incident.detected_by) == (True, "INC-0002", "watcher")
    assert store.active_incident("latency", "llama-70b") == opened.incident
    assert store.active_incident("latency", "mistral-7b") is None


def test_a_batch_with_one_invalid_alert_stores_nothing(store: Store, make_alert: AlertFactory) -> None:
    broken = make_alert("fp-2")
    del broken["startsAt"]
    with pytest.raises(ValidationError) as error:
        store.ingest_alerts([make_alert("fp-1"), broken, make_alert("fp-3", model="qwen-7b")])
    assert error.value.errors()[0]["loc"][:2] == (1, "startsAt")
    assert store.list_incidents() == []
    assert store.audit_log() == []


def test_a_failure_part_way_through_a_batch_rolls_all_of_it_back(
    store: Store, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_message = incidents_module._alert_message
    calls = 0

    def fail_on_the_second_alert(alert: AlertIn) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        return real_message(alert)

    monkeypatch.setattr(incidents_module, "_alert_message", fail_on_the_second_alert)
    with pytest.raises(RuntimeError, match="disk full"):
        store.ingest_alerts([make_alert("fp-1"), make_alert("fp-2", model="qwen-7b")])
    assert calls == 2, "the first alert was fully written inside the transaction before the failure"
    assert store.list_incidents() == []
    assert store.audit_log() == []
    monkeypatch.undo()
    assert [o.outcome for o in store.ingest_alerts([make_alert("fp-1")])] == ["opened"]


def test_alerts_without_an_slo_label_group_by_alert_name(store: Store, make_alert: AlertFactory) -> None:
    raw = make_alert("fp-1")
    raw["labels"] = {"alertname": "GatewayDown", "severity": "page"}
    [outcome] = store.ingest_alerts([raw])
    assert store.get_incident(outcome.incident_id or "").incident.group_key == "GatewayDown"


# --- incident state ---------------------------------------------------------------------------------------


def test_resolved_is_final(store: Store, clock: FakeClock) -> None:
    store.open_incident({"slo": "availability", "model": "qwen-7b", "title": "5xx", "detected_by": "chat"})
    store.set_status("INC-0001", "investigating")
    clock.advance(minutes=3)
    resolved = store.set_status("INC-0001", "resolved", reason="verified")
    assert resolved.resolved_at == clock.now
    with pytest.raises(Conflict, match="resolved"):
        store.set_status("INC-0001", "investigating")
    statuses = [e.data.get("new") for e in store.get_incident("INC-0001").timeline if e.kind == "status"]
    assert statuses == [None, "investigating", "resolved"]


def test_diagnosis_and_summary_are_kept_validated(store: Store) -> None:
    store.open_incident({"slo": "availability", "model": "llama-70b", "title": "5xx", "detected_by": "watcher"})
    diagnosis = {
        "root_cause": "gpu_xid",
        "component": "node/gpu-node-2",
        "confidence": 0.93,
        "evidence": ['DCGM_FI_DEV_XID_ERRORS{gpu="1"}=79 on gpu-node-2'],
    }
    store.set_diagnosis("INC-0001", diagnosis)
    store.set_summary("INC-0001", "Xid 79 on gpu-node-2; cordoned.")
    incident = store.get_incident("INC-0001").incident
    assert incident.diagnosis is not None and incident.diagnosis.model_dump(exclude={"runbook"}) == diagnosis
    assert incident.summary == "Xid 79 on gpu-node-2; cordoned."
    with pytest.raises(ValidationError):
        store.set_diagnosis("INC-0001", {**diagnosis, "confidence": 1.5})


def test_list_incidents_is_newest_first_and_filters_by_status(store: Store, clock: FakeClock) -> None:
    for model in ("llama-70b", "qwen-7b", "mistral-7b"):
        store.open_incident({"slo": "availability", "model": model, "title": model, "detected_by": "watcher"})
        clock.advance(seconds=10)
    store.set_status("INC-0002", "resolved")
    assert [i.id for i in store.list_incidents()] == ["INC-0003", "INC-0002", "INC-0001"]
    assert [i.id for i in store.list_incidents(limit=1)] == ["INC-0003"]
    assert [i.id for i in store.list_incidents(status="resolved")] == ["INC-0002"]
    assert [i.id for i in store.list_incidents(status=["open", "escalated"])] == ["INC-0003", "INC-0001"]


def test_unknown_incidents_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="INC-0042"):
        store.get_incident("INC-42")
    with pytest.raises(NotFound):
        store.add_timeline("not-an-id", "note", "hello")


def test_timeline_entries_keep_their_order_and_data(store: Store) -> None:
    store.open_incident({"slo": "availability", "model": "llama-70b", "title": "5xx", "detected_by": "watcher"})
    store.add_timeline("INC-0001", "evidence", "Xid 79 on gpu-node-2 GPU 1", {"node": "gpu-node-2", "gpu": 1})
    store.add_timeline("inc-1", "hypothesis", "gpu_xid (0.93)")
    entries = store.get_incident("INC-0001").timeline
    assert [(e.kind, e.message) for e in entries][1:] == [
        ("evidence", "Xid 79 on gpu-node-2 GPU 1"),
        ("hypothesis", "gpu_xid (0.93)"),
    ]
    assert entries[1].data == {"node": "gpu-node-2", "gpu": 1}
    with pytest.raises(ValidationError):
        store.add_timeline("INC-0001", "gossip", "not a timeline kind")


# --- SQLite specifics ---------------------------------------------------------------------------------------


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_in_memory_store_works_from_several_threads() -> None:
    with Store.open("sqlite://") as store:
        store.open_incident({"slo": "availability", "model": "llama-70b", "title": "5xx", "detected_by": "watcher"})
        store.record_decision(decision())
        results = claim_in_parallel([lambda: store.claim_for_execution("INC-0001/cordon/1")] * 4)
        assert sorted(results) == [False, False, False, True]
