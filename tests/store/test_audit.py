"""The audit log: every change is appended to a hash chain that shows any later edit (both backends)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import text

from agent.store import Store
from agent.store.audit import GENESIS_HASH, canonical_json, entry_hash

AlertFactory = Callable[..., dict[str, object]]


def run_an_incident(store: Store, make_alert: AlertFactory) -> None:
    """An incident from alert to resolution, touching every kind of change."""
    store.ingest_alerts([make_alert("fp-1")])
    store.set_status("INC-0001", "investigating")
    store.add_timeline("INC-0001", "evidence", "Xid 79 on gpu-node-2")
    store.set_diagnosis(
        "INC-0001", {"root_cause": "gpu_xid", "component": "node/gpu-node-2", "confidence": 0.9, "evidence": []}
    )
    store.record_decision(
        {
            "incident_id": "INC-0001",
            "idempotency_key": "k1",
            "kind": "cordon_node",
            "target": "node/gpu-node-2",
            "decision": "require_approval",
            "reasons": ["cordoning needs a person"],
        }
    )
    store.decide_approval("ACT-0001", True, decided_by="alice", via="cli")
    store.claim_for_execution("k1")
    store.finish_action("k1", ok=True, result={"cordoned": True})
    store.set_status("INC-0001", "resolved")


def execute(store: Store, sql: str, **params: object) -> None:
    with store.engine.begin() as connection:
        connection.execute(text(sql), params)


def test_every_change_is_audited_in_order_with_its_actor(store: Store, make_alert: AlertFactory) -> None:
    run_an_incident(store, make_alert)
    entries = store.audit_log()
    assert [(e.event, e.actor) for e in entries] == [
        ("incident.opened", "alertmanager"),
        ("alert.received", "alertmanager"),
        ("incident.status", "agent"),
        ("timeline.added", "agent"),
        ("incident.diagnosis", "agent"),
        ("action.decided", "policy"),
        ("approval.approve", "alice"),
        ("action.executing", "agent"),
        ("action.succeeded", "agent"),
        ("incident.status", "agent"),
    ]
    assert [e.seq for e in entries] == list(range(1, 11))
    assert {e.incident_id for e in entries} == {"INC-0001"}
    assert entries[6].data["via"] == "cli"
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:], strict=False))
    assert store.verify_chain() is None


def test_the_log_of_one_incident(store: Store, make_alert: AlertFactory) -> None:
    run_an_incident(store, make_alert)
    store.open_incident({"slo": "latency", "model": "qwen-7b", "title": "ttft", "detected_by": "watcher"})
    assert [e.event for e in store.audit_log("INC-0002")] == ["incident.opened"]
    assert [e.seq for e in store.audit_log(limit=2)] == [10, 11], "the newest entries, oldest first"


def test_a_changed_entry_is_found(store: Store, make_alert: AlertFactory) -> None:
    run_an_incident(store, make_alert)
    execute(store, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 7")
    assert store.verify_chain() == 7


def test_changed_data_is_found(store: Store, make_alert: AlertFactory) -> None:
    run_an_incident(store, make_alert)
    execute(store, """UPDATE audit_log SET data = '{"decision": "allow"}' WHERE seq = 6""")
    assert store.verify_chain() == 6


def test_a_deleted_entry_is_found_at_the_one_after_it(store: Store, make_alert: AlertFactory) -> None:
    run_an_incident(store, make_alert)
    execute(store, "DELETE FROM audit_log WHERE seq = 4")
    assert store.verify_chain() == 5


def test_an_entry_rewritten_with_a_fresh_hash_breaks_the_link_to_the_next(
    store: Store, make_alert: AlertFactory
) -> None:
    run_an_incident(store, make_alert)
    forged = store.audit_log()[2]
    new_hash = entry_hash(
        seq=forged.seq,
        at=forged.at,
        actor="mallory",
        event=forged.event,
        incident_id=forged.incident_id,
        data=forged.data,
        prev_hash=forged.prev_hash,
    )
    execute(store, "UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = 3", h=new_hash)
    assert store.verify_chain() == 4


def test_removing_the_newest_entries_is_found_only_against_a_kept_head(store: Store, make_alert: AlertFactory) -> None:
    run_an_incident(store, make_alert)
    kept = store.audit_head()
    execute(store, "DELETE FROM audit_log WHERE seq = 10")
    assert store.verify_chain() is None, "a shorter chain is still a valid chain"
    assert store.audit_head() != kept


def test_the_chain_stays_verifiable_whatever_zone_the_clock_uses(db_url: str, make_alert: AlertFactory) -> None:
    tokyo = timezone(timedelta(hours=9))
    with Store.open(db_url, clock=lambda: datetime(2026, 3, 1, 21, 0, 0, 123456, tzinfo=tokyo)) as store:
        run_an_incident(store, make_alert)
        assert store.verify_chain() is None
        assert store.audit_log()[0].at == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_the_store_offers_no_way_to_change_the_log() -> None:
    public = {name for name in dir(Store) if not name.startswith("_")}
    assert {name for name in public if "audit" in name or "chain" in name} == {
        "audit_log",
        "audit_head",
        "verify_chain",
    }
    assert not any(name.startswith(("delete", "remove", "truncate", "purge")) for name in public)


def test_the_hash_covers_canonical_json_of_the_entry_and_the_previous_hash() -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    fields = {"seq": 1, "at": at, "actor": "a", "event": "e", "incident_id": None, "data": {"b": 1, "a": [2]}}
    expected_body = (
        '{"actor":"a","at":"2026-03-01T12:00:00+00:00","data":{"a":[2],"b":1},"event":"e",'
        f'"incident_id":null,"prev_hash":"{GENESIS_HASH}","seq":1}}'
    )
    assert canonical_json({**fields, "at": at.isoformat(), "prev_hash": GENESIS_HASH}) == expected_body
    assert entry_hash(**fields, prev_hash=GENESIS_HASH) == hashlib.sha256(expected_body.encode()).hexdigest()
    assert entry_hash(**fields, prev_hash="1" * 64) != entry_hash(**fields, prev_hash=GENESIS_HASH)
