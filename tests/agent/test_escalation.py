"""Handing over to people, as a safety net: the page goes out whatever the policy says, an incident a person
has is never acted on again, one bad message never holds back the others, Alertmanager hears again of an
open escalation until it closes, a crash between claiming a page and owing it loses nothing, and a check the
agent cannot read while verifying is blindness too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import AlertmanagerNotify, WebhookNotify
from agent.nodes.escalate import hand_over
from agent.notify import AlertmanagerChannel, Notifier, WebhookChannel
from agent.policy.gate import PolicyGate
from agent.service import AgentService
from tests.agent.conftest import running_agent
from tests.agent.scripted_tools import CHECKED_RUNBOOK, ScriptedTools
from tests.http_receiver import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def alertmanager_at(receiver: Receiver) -> Notifier:
    """A notifier whose Alertmanager is the receiver: it answers POST /api/v2/alerts with 200, as one does."""
    return Notifier([AlertmanagerChannel(AlertmanagerNotify(url=receiver.url, resend_s=1))])


def alerts_posted(receiver: Receiver) -> list[dict[str, object]]:
    return [alert for r in receiver.received if r.path == "/api/v2/alerts" for alert in r.json]


async def test_a_policy_that_denies_everything_still_lets_the_page_out(tmp_path: Path, runbook_dir: Path,
                                                                       receiver: Receiver) -> None:
    broken = tmp_path / "broken-policy"
    broken.mkdir()
    (broken / "remediation.rego").write_text("package firebreak.remediation\nthis is not rego\n")
    async with running_agent(tmp_path, runbook_dir, ScriptedTools(slo_failure="no_rules"),
                             notifier=alertmanager_at(receiver)) as agent:
        agent.context.gate = PolicyGate.load(broken)
        assert agent.context.gate.error is not None
        incident = agent.open_incident()
        await agent.runner.advance(incident)
        [page] = agent.store.get_incident(incident.id).actions
    assert (page.kind, page.decision, page.status) == ("escalate", "allow", "succeeded")
    assert "paging a person is never held back (the policy answered deny" in page.reasons[0]
    assert [a["labels"]["incident"] for a in alerts_posted(receiver)] == [incident.id]


async def test_an_incident_a_person_has_is_never_resumed_by_the_agent(tmp_path: Path, runbook_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async def exploding_plan(state: object, runtime: object) -> None:
        raise RuntimeError("plan exploded")

    fleet = ScriptedTools()
    with monkeypatch.context() as patched:
        patched.setattr("agent.graph.plan", exploding_plan)
        async with running_agent(tmp_path, runbook_dir, fleet) as agent:
            incident = agent.open_incident()
            await agent.run_as_the_service_does(incident)
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:  # a new process, with a plan that works
        # as an alert joining the incident would start it
        detail = await agent.run_as_the_service_does(agent.store.get_incident(incident.id).incident)
    assert detail.incident.status == "escalated"
    assert fleet.applied == []
    assert [a.kind for a in detail.actions] == ["escalate"]


async def test_one_message_that_cannot_go_out_holds_back_no_other(tmp_path: Path, runbook_dir: Path,
                                                                  receiver: Receiver) -> None:
    broken_hook = WebhookChannel(WebhookNotify(url="http://[::1/hook"))  # httpx refuses the URL itself
    notifier = Notifier([broken_hook, AlertmanagerChannel(AlertmanagerNotify(url=receiver.url))])
    async with running_agent(tmp_path, runbook_dir, ScriptedTools(slo_failure="timeout"), notifier=notifier) as agent:
        first = agent.open_incident()
        await agent.runner.advance(first)
        await notifier.deliver_due(agent.context.store)  # not due again before its back-off: no second try yet
        detail = agent.store.get_incident(first.id)
    await notifier.aclose()
    status = {n.channel: (n.status, n.attempts) for n in detail.notifications}
    assert status == {"webhook": ("pending", 1), "alertmanager": ("delivered", 1)}
    [hook] = [n for n in detail.notifications if n.channel == "webhook"]
    assert hook.last_error is not None and "InvalidURL" in hook.last_error
    assert [(a.kind, a.status) for a in detail.actions] == [("escalate", "succeeded")]


async def test_alertmanager_hears_of_an_open_escalation_again_until_it_closes(tmp_path: Path, runbook_dir: Path,
                                                                            receiver: Receiver) -> None:
    notifier = alertmanager_at(receiver)
    async with running_agent(tmp_path, runbook_dir, ScriptedTools(slo_failure="crashes"), notifier=notifier) as agent:
        incident = agent.open_incident()
        await agent.runner.advance(incident)
        await notifier.resend_open(agent.context.store)
        agent.store.set_status(incident.id, "resolved", actor="alice", reason="closed by alice")
        await notifier.deliver_due(agent.context.store)
        await notifier.resend_open(agent.context.store)  # nothing open any more: nothing sent
    await notifier.aclose()
    posted = alerts_posted(receiver)
    assert len(posted) == 3 and {a["labels"]["incident"] for a in posted} == {incident.id}
    first, again, resolution = posted
    assert again["startsAt"] == first["startsAt"] and again["endsAt"] > first["endsAt"]
    assert resolution["endsAt"] < again["endsAt"]
    assert resolution["annotations"]["description"].startswith("closed by alice")


async def test_a_page_claimed_but_never_owed_before_a_crash_is_owed_after_it(tmp_path: Path, runbook_dir: Path,
                                                                            receiver: Receiver) -> None:
    async with running_agent(tmp_path, runbook_dir, ScriptedTools(), notifier=alertmanager_at(receiver)) as agent:
        incident = agent.open_incident()
        key = f"{incident.id}/escalate"
        agent.store.record_decision({"incident_id": incident.id, "idempotency_key": key, "kind": "escalate",
                                     "target": f"incident/{incident.id}", "decision": "allow"})
        assert agent.store.claim_for_execution(key)  # ... and the process died here
        await hand_over(agent.context, incident.id, "no runbook explains the evidence")
        action = agent.store.get_action(key)
    assert action is not None and action.status == "succeeded"
    assert len(alerts_posted(receiver)) == 1


async def test_a_check_it_cannot_read_while_verifying_is_blindness(tmp_path: Path) -> None:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "test-xid.md").write_text(CHECKED_RUNBOOK)
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbooks, fleet, interrupt_after=["act"]) as agent:
        incident = agent.open_incident()
        await agent.runner.advance(incident)  # cordoned; the burn stops
    fleet.gpus_unreadable = True
    async with running_agent(tmp_path, runbooks, fleet) as agent:
        state = await agent.runner.advance(incident)
        detail = agent.store.get_incident(incident.id)
    assert state["outcome"] == "escalated"
    assert "could not read a runbook check while verifying: unhealthy_gpus failed (unreachable)" in \
        state["escalation"]
    assert [a.kind for a in detail.actions] == ["cordon_node", "escalate"]  # no revert, no next fix


async def test_the_watcher_keeps_an_escalated_incident_while_its_burn_is_unknown_or_the_agent_changed_the_fleet(
        tmp_path: Path, runbook_dir: Path) -> None:
    fleet = ScriptedTools(slo_failure="no_rules")
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        watcher = AgentService(agent.runner, "token").watcher
        blind = agent.open_incident()
        await agent.runner.advance(blind)
        fleet.slo_failure = "no_burn"  # Prometheus is back, without a 5m burn for the model: not calm
        await watcher.check()
        still_escalated = agent.store.get_incident(blind.id).incident.status
        fleet.slo_failure, fleet.burn = "", 0.2
        await watcher.check()
        closed = agent.store.get_incident(blind.id).incident.status
    assert (still_escalated, closed) == ("escalated", "resolved")

    fleet = ScriptedTools(cordon_heals=False)
    async with running_agent(tmp_path / "acted", runbook_dir, fleet,
                             database_url=f"sqlite:///{tmp_path}/acted.db") as agent:
        acted = agent.open_incident()
        await agent.runner.advance(acted)  # cordoned, still burning: escalated with the node cordoned
        fleet.burn = 0.2
        await AgentService(agent.runner, "token").watcher.check()
        kept = agent.store.get_incident(acted.id).incident.status
    assert kept == "escalated"  # a person looks at the cordoned node and closes it: `firebreak resolve`
