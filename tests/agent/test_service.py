"""The service's edges: Alertmanager's webhook (authenticated, validated, nothing half-stored) and the
burn-rate watcher that opens incidents on its own."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from agent.service import AgentService
from sandbox.processes import free_ports
from tests.agent.conftest import running_agent
from tests.agent.scripted_tools import ScriptedTools

pytestmark = pytest.mark.anyio

TOKEN = "hook-token"


def _alert(fingerprint: str = "abc123", **labels: str) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "ModelAvailabilityBudgetBurn", "slo": "availability",
                                           "model": "llama-70b", "severity": "page", **labels},
            "annotations": {"summary": "burning"}, "startsAt": "2026-11-24T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus", "fingerprint": fingerprint}


def _payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "firebreak", "groupKey": "{}:{slo}",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
            "truncatedAlerts": 0, "alerts": list(alerts)}


async def test_the_webhook_stores_alerts_as_one_incident_and_starts_the_agent(tmp_path: Path,
                                                                              runbook_dir: Path) -> None:
    async with running_agent(tmp_path, runbook_dir, ScriptedTools()) as agent:
        service = AgentService(agent.runner, TOKEN)
        started: list[str] = []
        agent.runner.start = lambda incident: started.append(incident.id)  # type: ignore[method-assign]
        client = TestClient(service.app())
        auth = {"Authorization": f"Bearer {TOKEN}"}
        first = client.post("/webhook/alertmanager", json=_payload(_alert("a1")), headers=auth)
        again = client.post("/webhook/alertmanager", json=_payload(_alert("a1"), _alert("a2", severity="ticket")),
                            headers=auth)
        incidents = agent.store.list_incidents()
    assert first.status_code == 200 and again.status_code == 200
    assert [o["outcome"] for o in again.json()["stored"]] == ["duplicate", "joined"]
    assert len(incidents) == 1 and started == [incidents[0].id, incidents[0].id]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_the_webhook_refuses_requests_without_the_token(tmp_path: Path, runbook_dir: Path,
                                                              headers: dict[str, str]) -> None:
    async with running_agent(tmp_path, runbook_dir, ScriptedTools()) as agent:
        response = TestClient(AgentService(agent.runner, TOKEN).app()).post(
            "/webhook/alertmanager", json=_payload(_alert()), headers=headers)
        assert response.status_code == 401
        assert agent.store.list_incidents() == []


async def test_a_malformed_payload_gets_a_clear_400_and_stores_nothing(tmp_path: Path, runbook_dir: Path) -> None:
    broken = _payload(_alert("good"), {**_alert("bad"), "startsAt": "yesterday"})
    async with running_agent(tmp_path, runbook_dir, ScriptedTools()) as agent:
        client = TestClient(AgentService(agent.runner, TOKEN).app())
        response = client.post("/webhook/alertmanager", json=broken, headers={"Authorization": f"Bearer {TOKEN}"})
        not_json = client.post("/webhook/alertmanager", content=b"{", headers={"Authorization": f"Bearer {TOKEN}"})
        assert agent.store.list_incidents() == []
    assert response.status_code == 400
    assert any("startsAt" in line for line in response.json()["detail"])
    assert not_json.status_code == 400


async def test_an_alert_without_an_alertname_is_refused_at_the_edge(tmp_path: Path, runbook_dir: Path) -> None:
    nameless = _alert()
    del nameless["labels"]["alertname"]
    async with running_agent(tmp_path, runbook_dir, ScriptedTools()) as agent:
        client = TestClient(AgentService(agent.runner, TOKEN).app())
        response = client.post("/webhook/alertmanager", json=_payload(nameless),
                               headers={"Authorization": f"Bearer {TOKEN}"})
        assert agent.store.list_incidents() == []
    assert response.status_code == 400
    assert response.json()["detail"] == ["alerts.0.labels: Value error, labels must include alertname"]


def test_the_service_will_not_run_an_open_webhook() -> None:
    with pytest.raises(ValueError, match="bearer token"):
        AgentService(runner=None, webhook_token="")  # type: ignore[arg-type]


async def test_the_watcher_opens_an_incident_alertmanager_has_not_sent(tmp_path: Path, runbook_dir: Path) -> None:
    async with running_agent(tmp_path, runbook_dir, ScriptedTools(burn=20.0)) as agent:
        service = AgentService(agent.runner, TOKEN)
        opened = await service.watcher.check()
        again = await service.watcher.check()
    assert [(i.slo, i.model, i.detected_by) for i in opened] == [("availability", "llama-70b", "watcher")]
    assert again == []


async def test_the_watcher_says_when_it_is_blind(tmp_path: Path, runbook_dir: Path) -> None:
    async with running_agent(tmp_path, runbook_dir, ScriptedTools(slo_failure="unreachable")) as agent:
        service = AgentService(agent.runner, TOKEN)
        assert await service.watcher.check() == []
        assert "unreachable" in service.watcher.blind


async def test_stopping_lets_a_watch_in_flight_finish_and_logs_no_failure(tmp_path: Path, runbook_dir: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    async with running_agent(tmp_path, runbook_dir, ScriptedTools(burn=0.0)) as agent:
        agent.context.config.webhook.port = free_ports(1)[0]
        service = AgentService(agent.runner, TOKEN)
        in_flight, finished = asyncio.Event(), asyncio.Event()

        async def slow_check() -> list[Any]:
            in_flight.set()
            await asyncio.sleep(0.5)
            finished.set()
            return []

        service.watcher.check = slow_check  # type: ignore[method-assign]
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        await asyncio.wait_for(in_flight.wait(), timeout=10)
        stop.set()
        await asyncio.wait_for(running, timeout=10)
    assert finished.is_set()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
