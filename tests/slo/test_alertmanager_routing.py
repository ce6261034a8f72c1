"""Firebreak's own alerts reach on-call, never the agent: amtool's route tests and the real Alertmanager.

The live test starts Alertmanager with the sandbox's supervisor (Prometheus comes along, with no rules and
no targets), pushes alerts to its v2 API as the agent will, and watches two local webhook servers: the
agent's receiver and the on-call one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from agent.slo.alertmanager import ESCALATION_ALERT, ONCALL_RECEIVER, RECEIVER, render_alertmanager_config
from agent.slo.rules import DOWN_ALERT
from sandbox.supervisor import Monitoring
from tests.http_receiver import Receiver

from .promtool import REPO, require, run

TIME_SCALE = 60  # group_wait 1s: a page goes out within a couple of seconds
SLO = {"slo": "availability", "model": "llama-70b"}
ESCALATION = {"alertname": ESCALATION_ALERT, "incident": "inc-42", **SLO, "severity": "ticket"}
SLO_PAGE = {"alertname": "ModelAvailabilityBudgetBurn", "service": "inference-gateway", **SLO, "severity": "page"}
SLO_TICKET = {**SLO_PAGE, "severity": "ticket"}
DOWN = {"alertname": DOWN_ALERT, "job": "firebreak", "service": "firebreak", "severity": "page"}


def amtool_receiver(config: Path, labels: dict[str, str]) -> str:
    result = run(require("amtool"), "config", "routes", "test", f"--config.file={config}",
                 *(f"{k}={v}" for k, v in labels.items()))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [(ESCALATION, ONCALL_RECEIVER), ({**ESCALATION, "severity": "page"}, ONCALL_RECEIVER),
     (DOWN, ONCALL_RECEIVER), (SLO_PAGE, RECEIVER), (SLO_TICKET, RECEIVER),
     # The matcher is anchored: a look-alike name stays with the agent.
     ({"alertname": f"{ESCALATION_ALERT}Test"}, RECEIVER)],
)
@pytest.mark.parametrize("config", ["committed", "webhook"])
def test_firebreak_alerts_route_to_on_call(tmp_path: Path, config: str, labels: dict[str, str],
                                           receiver: str) -> None:
    if config == "committed":
        path = REPO / "deploy/alertmanager/alertmanager.yml"
    else:
        path = tmp_path / "alertmanager.yml"
        path.write_text(render_alertmanager_config("http://127.0.0.1:9/webhook", "t", TIME_SCALE,
                                                   oncall_webhook_url="http://127.0.0.1:9/page"))
        result = run(require("amtool"), "check-config", path)
        assert result.returncode == 0, result.stdout + result.stderr
    assert amtool_receiver(path, labels) == receiver


def test_on_call_route_and_receiver() -> None:
    plain = yaml.safe_load(render_alertmanager_config("http://127.0.0.1:9/webhook", None, 1))
    assert plain["receivers"][1] == {"name": ONCALL_RECEIVER}  # for the team to fill in
    (route,) = plain["route"]["routes"]
    assert route["matchers"] == [f'alertname=~"{ESCALATION_ALERT}|{DOWN_ALERT}"']
    assert route["group_by"] == ["alertname", "incident"] and route["continue"] is False
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")
    (inhibit,) = plain["inhibit_rules"]
    assert all(f'alertname!~"{ESCALATION_ALERT}|{DOWN_ALERT}"' in inhibit[k]
               for k in ("source_matchers", "target_matchers"))
    fast = yaml.safe_load(render_alertmanager_config("http://127.0.0.1:9/webhook", None, TIME_SCALE,
                                                     oncall_webhook_url="http://127.0.0.1:9/page"))
    (route,) = fast["route"]["routes"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("1s", "5s", "4m")
    assert fast["receivers"][1]["webhook_configs"] == [{"url": "http://127.0.0.1:9/page", "send_resolved": True}]


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    agent, oncall = Receiver(), Receiver()
    yield agent, oncall
    agent.close()
    oncall.close()


def alert(labels: dict[str, str], summary: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"labels": labels, "annotations": {"summary": summary},
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat()}


async def until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return check()


@pytest.mark.slow
def test_escalation_pages_on_call_and_never_the_agent(tmp_path: Path,
                                                      receivers: tuple[Receiver, Receiver]) -> None:
    agent, oncall = receivers
    config = render_alertmanager_config(f"{agent.url}/webhook", None, TIME_SCALE,
                                        oncall_webhook_url=f"{oncall.url}/page")

    async def scenario() -> list[dict[str, Any]]:
        async with Monitoring(tmp_path / "state", f"{agent.url}/sd", [], config) as m, \
                httpx.AsyncClient(trust_env=False, timeout=10) as client:
            # The SLO page of the same slo/model fires too: it would inhibit a ticket-severity escalation
            # if the inhibit rule let it, and the SLO alerts show the agent's receiver does get alerts.
            alerts = [alert(ESCALATION, "inc-42: handed to a person"), alert(DOWN, "Firebreak is down"),
                      alert(SLO_PAGE, "burning"), alert(SLO_TICKET, "burning slowly")]
            response = await client.post(f"{m.alertmanager_url}/api/v2/alerts", json=alerts)
            assert response.status_code == 200, response.text
            posted = time.monotonic()
            paged = await until(lambda: {ESCALATION_ALERT, DOWN_ALERT} <= oncall.alertnames(), 15)
            assert paged, f"on-call got: {oncall.payloads}"
            assert time.monotonic() - posted < 10
            assert await until(lambda: SLO_PAGE["alertname"] in agent.alertnames(), 15), agent.payloads
            await asyncio.sleep(2)  # a group_wait and more: anything misrouted would have arrived by now
            response = await client.get(f"{m.alertmanager_url}/api/v2/alerts")
            return response.json()

    states = asyncio.run(scenario())
    assert not agent.alertnames() & {ESCALATION_ALERT, DOWN_ALERT}, agent.payloads
    assert oncall.alertnames() == {ESCALATION_ALERT, DOWN_ALERT}, oncall.payloads
    page = next(p for p in oncall.payloads if p["groupLabels"].get("alertname") == ESCALATION_ALERT)
    assert page["version"] == "4" and page["receiver"] == ONCALL_RECEIVER and page["status"] == "firing"
    assert page["groupLabels"] == {"alertname": ESCALATION_ALERT, "incident": "inc-42"}
    (escalation,) = page["alerts"]
    assert escalation["labels"] == ESCALATION
    assert escalation["annotations"]["summary"] == "inc-42: handed to a person"
    # The inhibit rule still does its job among SLO alerts, and only there.
    inhibited = {a["labels"]["alertname"] + "/" + a["labels"]["severity"]: a["status"]["inhibitedBy"]
                 for a in states}
    assert inhibited[f"{ESCALATION_ALERT}/ticket"] == [] and inhibited[f"{DOWN_ALERT}/page"] == []
    assert inhibited["ModelAvailabilityBudgetBurn/ticket"], states
