"""People hear of what the agent cannot close: a page goes out through the real Alertmanager to the team's
on-call receiver (a local server here) with the incident's labels, is recorded as paged only once a channel
accepted it, is retried while Alertmanager is down, and is resolved when the incident closes. The webhook
channel signs what it sends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastmcp import Client

from agent.boot import open_agent
from agent.config import AgentConfig, AlertmanagerNotify, NotifyConfig, WebhookNotify
from agent.notify import DeliveryFailed, Notifier, Page, WebhookChannel, retry_delay
from agent.service import AgentService
from agent.slo.alertmanager import ESCALATION_ALERT, render_alertmanager_config
from harness.views import paging
from sandbox.processes import free_ports
from sandbox.supervisor import Monitoring
from tests.agent.conftest import running_agent
from tests.agent.scripted_tools import ScriptedTools
from tests.http_receiver import Receiver

pytestmark = pytest.mark.anyio

TIME_SCALE = 60  # Alertmanager's group_wait 1 s, group_interval 5 s: pages and resolutions come in seconds


@pytest.fixture
def oncall() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def alertmanager(tmp_path: Path, oncall: Receiver, port: int | None = None) -> Monitoring:
    """The real Alertmanager (with a Prometheus that scrapes nothing), on-call routed to the local receiver."""
    config = render_alertmanager_config("http://127.0.0.1:9/webhook/alertmanager", None, TIME_SCALE,
                                        oncall_webhook_url=f"{oncall.url}/page")
    return Monitoring(tmp_path / "monitoring", f"{oncall.url}/sd", [], config, alertmanager_port=port)


def notifier_for(url: str) -> Notifier:
    return Notifier.from_config(NotifyConfig(alertmanager=AlertmanagerNotify(url=url, resend_s=1)))


async def until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return check()


def pages(receiver: Receiver, status: str) -> list[dict[str, object]]:
    return [alert for payload in receiver.payloads for alert in payload["alerts"]
            if alert["labels"]["alertname"] == ESCALATION_ALERT and alert["status"] == status]


@pytest.mark.slow
async def test_a_page_reaches_on_call_through_alertmanager_and_is_resolved_when_the_incident_closes(
        tmp_path: Path, runbook_dir: Path, oncall: Receiver) -> None:
    fleet = ScriptedTools(slo_failure="answers_503")  # blind: the agent hands the incident over at once
    async with alertmanager(tmp_path, oncall) as monitoring:
        notifier = notifier_for(monitoring.alertmanager_url)
        async with running_agent(tmp_path, runbook_dir, fleet, notifier=notifier) as agent:
            incident = agent.open_incident()
            state = await agent.runner.advance(incident)
            [page] = agent.store.get_incident(incident.id).actions
            assert await until(lambda: bool(pages(oncall, "firing")), 20), oncall.payloads

            fleet.slo_failure, fleet.burn = "", 0.2  # Prometheus is back, and the burn has stopped
            await AgentService(agent.runner, "token").watcher.check()
            assert await until(lambda: bool(pages(oncall, "resolved")), 20), oncall.payloads
            detail = agent.store.get_incident(incident.id)
        await notifier.aclose()
    assert state["outcome"] == "escalated"
    assert (page.kind, page.status) == ("escalate", "succeeded")
    assert page.result is not None and page.result["paged"] == "alertmanager"
    [firing] = pages(oncall, "firing")[:1]
    assert firing["labels"] == {"alertname": ESCALATION_ALERT, "incident": incident.id, "model": "llama-70b",
                                "slo": "availability", "severity": "page", "service": "firebreak"}
    assert "cannot read the SLOs' burn rates" in firing["annotations"]["description"]
    assert f"firebreak incidents {incident.id}" in firing["annotations"]["description"]
    assert detail.incident.status == "resolved"
    assert [(n.event, n.status) for n in detail.notifications] == [("escalated", "delivered"),
                                                                   ("resolved", "delivered")]


@pytest.mark.slow
async def test_with_alertmanager_down_the_page_is_retried_and_shown_as_not_delivered(
        tmp_path: Path, runbook_dir: Path, oncall: Receiver) -> None:
    (port,) = free_ports(1)
    notifier = notifier_for(f"http://127.0.0.1:{port}")
    fleet = ScriptedTools(slo_failure="no_rules")
    async with running_agent(tmp_path, runbook_dir, fleet, notifier=notifier) as agent:
        incident = agent.open_incident()
        await agent.runner.advance(incident)
        down = agent.store.get_incident(incident.id)
        async with alertmanager(tmp_path, oncall, port):  # Alertmanager comes (back) on that port
            await asyncio.sleep(retry_delay(1))
            await notifier.deliver_due(agent.context.store)
            assert await until(lambda: bool(pages(oncall, "firing")), 20), oncall.payloads
            up = agent.store.get_incident(incident.id)
    await notifier.aclose()
    assert down.incident.status == "escalated"
    assert [(a.kind, a.status) for a in down.actions] == [("escalate", "executing")]  # not paged: not recorded so
    [owed] = down.notifications
    assert (owed.status, owed.attempts) == ("pending", 1) and "unreachable" in (owed.last_error or "")
    assert paging(down) == "NOT DELIVERED to alertmanager (1 tries)"
    assert any("NOT delivered to alertmanager" in entry.message for entry in down.timeline)
    assert [(a.kind, a.status) for a in up.actions] == [("escalate", "succeeded")]
    assert paging(up) == "paged via alertmanager"


PAGE = Page(incident="INC-0007", title="qwen-7b latency", model="qwen-7b", slo="latency", severity="page",
            reason="no runbook explains the evidence", evidence=["TTFT p95 4.1 s"],
            escalated_at="2026-12-03T10:00:00Z")  # type: ignore[arg-type]


def test_the_webhook_signature_is_the_documented_hmac() -> None:
    channel = WebhookChannel(WebhookNotify(url="http://127.0.0.1:9/hook"), secret="s3cret")
    # `printf 'v1:1700000000:{"incident":"INC-0007"}' | openssl dgst -sha256 -hmac s3cret`
    assert channel.signed(b'{"incident":"INC-0007"}', 1700000000) == {
        "X-Firebreak-Timestamp": "1700000000",
        "X-Firebreak-Signature": "v1=824ef63231560cc542d755512667fcb5871da4cd9de89c348aee1b742870c377"}
    assert WebhookChannel(WebhookNotify(url="http://127.0.0.1:9/hook")).signed(b"{}", 1700000000) == {}


async def test_the_webhook_channel_posts_the_page_signed_with_a_bearer_token(oncall: Receiver) -> None:
    channel = WebhookChannel(WebhookNotify(url=f"{oncall.url}/hook"), token="t0k", secret="s3cret")
    accepted_by = await channel.send("escalated", PAGE, 41)
    oncall.status = 500
    with pytest.raises(DeliveryFailed, match="answered HTTP 500"):
        await channel.send("escalated", PAGE, 42)
    await channel.aclose()
    first = oncall.received[0]
    assert channel.signed(first.body, int(first.headers["x-firebreak-timestamp"]))["X-Firebreak-Signature"] == \
        first.headers["x-firebreak-signature"]
    assert first.headers["authorization"] == "Bearer t0k"
    assert (first.json["id"], first.json["event"], first.json["incident"]) == (41, "escalated", "INC-0007")
    assert first.json["evidence"] == ["TTFT p95 4.1 s"]
    assert accepted_by == f"webhook {oncall.url}/hook (HTTP 200)"


def test_retries_back_off_from_two_seconds_to_a_minute() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4, 5, 6, 20)] == [2, 4, 8, 16, 32, 60, 60]


async def test_serve_says_at_start_when_escalations_reach_nobody(tmp_path: Path, runbook_dir: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    config = AgentConfig(database_url=f"sqlite:///{tmp_path}/firebreak.db", runbooks=runbook_dir)
    with caplog.at_level(logging.WARNING, logger="firebreak.agent"):
        async with open_agent(config, Client(ScriptedTools().server()), webhook_token="t"):
            pass
    assert any("escalations will reach nobody" in r.getMessage() for r in caplog.records)
