"""What only PostgreSQL exercises: concurrent migration, many writers on one audit chain, writers that do
not wait on each other, native types.

The core behaviour runs on PostgreSQL too, through the `db_url` fixture of the other store tests.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import inspect, text
from sqlalchemy.dialects import postgresql

from agent.store import Store
from tests.store.conftest import HEAD, alert


def test_stores_opening_one_empty_schema_at_once_migrate_it_once(postgres_url: str) -> None:
    barrier = threading.Barrier(4)

    def open_and_count() -> int:
        barrier.wait()
        with Store.open(postgres_url) as store:
            return len(store.list_incidents())

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: open_and_count(), range(4))) == [0, 0, 0, 0]
    with Store.open(postgres_url) as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [HEAD]


def test_many_writers_append_to_one_gapless_chain(postgres_url: str) -> None:
    stores = [Store.open(postgres_url) for _ in range(4)]
    opened = stores[0].open_incident(
        {"slo": "availability", "model": "llama-70b", "title": "5xx", "detected_by": "watcher"}
    )
    barrier = threading.Barrier(len(stores))

    def write(store: Store) -> None:
        barrier.wait()
        for n in range(10):
            store.add_timeline(opened.incident.id, "note", f"note {n}")

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(write, stores))
    entries = stores[0].audit_log(limit=1000)
    assert [e.seq for e in entries] == list(range(1, 42))
    assert stores[0].verify_chain() is None
    for store in stores:
        store.close()


def test_times_are_timestamptz_and_documents_json(postgres_url: str) -> None:
    with Store.open(postgres_url) as store:
        columns = {c["name"]: c["type"] for c in inspect(store.engine).get_columns("actions")}
    assert isinstance(columns["decided_at"], postgresql.TIMESTAMP) and columns["decided_at"].timezone
    assert isinstance(columns["params"], postgresql.JSON)


def test_an_approval_waiting_on_its_action_does_not_hold_up_the_webhook(postgres_url: str) -> None:
    """Writers lock what they change, not the database: an approval stuck on its action's row (held here by
    another transaction) leaves the webhook free to store the alerts of another incident meanwhile."""
    with Store.open(postgres_url) as store, Store.open(postgres_url) as cli:
        store.open_incident({"slo": "availability", "model": "llama-70b", "title": "5xx", "detected_by": "watcher"})
        action = store.record_decision({
            "incident_id": "INC-0001", "idempotency_key": "INC-0001/drain/1", "kind": "drain_node",
            "target": "node/gpu-node-2", "decision": "require_approval",
        })
        with store.engine.connect() as holder, ThreadPoolExecutor(2) as pool:
            holder.execute(text("SELECT id FROM actions FOR UPDATE"))
            try:
                approving = pool.submit(cli.decide_approval, action.id, True, decided_by="alice")
                time.sleep(0.5)  # the approval is now waiting on the row
                storing = pool.submit(store.ingest_alerts, [alert("fp-qwen", model="qwen-7b")])
                [outcome] = storing.result(timeout=10)  # a TimeoutError if the webhook waits on the approval
                assert not approving.done(), "the approval was waiting all along"
            finally:
                holder.rollback()
            assert approving.result(timeout=30).status == "approved"
    assert outcome.outcome == "opened"
