"""`firebreak incidents`, `approve|deny` and `resolve` on the agent's database, as on-call uses them."""

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


@pytest.fixture
def paged(tmp_path: Path) -> tuple[str, str]:
    """A database with one escalated incident whose page Alertmanager took, and one nobody was paged for."""
    url = f"sqlite:///{tmp_path / 'paged.db'}"
    with Store.open(url) as store:
        ids = []
        for model in ("llama-70b", "qwen-7b"):
            incident = store.open_incident(IncidentOpen(slo="availability", model=model, title=f"{model} burning",
                                                        detected_by="watcher")).incident
            key = f"{incident.id}/escalate"
            store.record_decision({"incident_id": incident.id, "idempotency_key": key, "kind": "escalate",
                                   "target": f"incident/{incident.id}", "decision": "allow"})
            assert store.claim_for_execution(key)
            ids.append(incident.id)
            store.set_status(incident.id, "escalated", reason="no runbook explains the evidence")
        [page] = store.queue_page(ids[0], {"incident": ids[0], "reason": "unexplained"}, ["alertmanager"],
                                  action_key=f"{ids[0]}/escalate")
        store.notification_delivered(page.id, "Alertmanager at http://am:9093")
        store.finish_action(f"{ids[1]}/escalate", False, {"error": "nobody was paged"})
    return url, ids[0]


def test_the_table_says_who_was_paged_and_resolve_owes_them_the_resolution(
        paged: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    url, incident = paged
    assert main(["incidents", "--db", url]) == 0
    table = capsys.readouterr().out
    assert "paged via alertmanager" in table and "NOBODY PAGED (no notifier)" in table
    assert main(["resolve", incident, "--db", url, "--by", "carol", "--comment", "rebooted gpu-node-2"]) == 0
    assert f"{incident} resolved by carol" in capsys.readouterr().out
    with Store.open(url) as store:
        detail = store.get_incident(incident)
    assert detail.incident.status == "resolved"
    [resolution] = [n for n in detail.notifications if n.event == "resolved"]
    assert (resolution.channel, resolution.status) == ("alertmanager", "pending")
    assert resolution.message["reason"] == "closed by carol: rebooted gpu-node-2"


def test_resolving_an_unknown_incident_says_so(paged: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = paged
    assert main(["resolve", "INC-0099", "--db", url]) == 1
    assert "no incident INC-0099" in capsys.readouterr().err
