"""`firebreak incidents` and `firebreak approve|deny` on the agent's database, as on-call uses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.store import IncidentOpen, Store
from harness.cli import main


@pytest.fixture
def waiting(tmp_path: Path) -> tuple[str, str]:
    """A database with one incident whose drain waits for a person."""
    url = f"sqlite:///{tmp_path / 'firebreak.db'}"
    with Store.open(url) as store:
        incident = store.open_incident(IncidentOpen(slo="availability", model="llama-70b", title="llama burning",
                                                    detected_by="watcher")).incident
        store.record_decision({"incident_id": incident.id, "idempotency_key": f"{incident.id}/h0/s0",
                               "kind": "drain_node", "target": "node/gpu-node-2", "decision": "require_approval",
                               "reasons": ["drain_node always needs a person"]})
    return url, incident.id


def test_approve_records_who_decided_and_the_incident_shows_it(waiting: tuple[str, str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    url, incident = waiting
    assert main(["approve", incident, "--db", url, "--by", "alice", "--comment", "go"]) == 0
    assert "drain_node node/gpu-node-2: approved by alice" in capsys.readouterr().out
    assert main(["incidents", incident, "--db", url]) == 0
    shown = capsys.readouterr().out
    assert "drain_node node/gpu-node-2: require_approval -> approved (by alice via cli)" in shown
    with Store.open(url) as store:
        assert [entry.event for entry in store.audit_log(incident)][-1].startswith("approval")


def test_deny_and_the_incident_table(waiting: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    url, incident = waiting
    assert main(["deny", incident, "--db", url, "--by", "bob"]) == 0
    assert main(["incidents", "--db", url]) == 0
    table = capsys.readouterr().out
    assert "denied by bob" in table and incident in table and "llama-70b" in table


def test_deciding_twice_is_refused_with_a_message(waiting: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    url, incident = waiting
    assert main(["approve", incident, "--db", url]) == 0
    assert main(["deny", incident, "--db", url]) == 1
    assert "firebreak:" in capsys.readouterr().err
