"""The incident graph end to end on a scripted fleet: it diagnoses from evidence, acts once per decision
(also across restarts), verifies through the burn rate, pauses for people, and escalates when blind: a burn
it could not read, however the read failed, never closes an incident nor verifies a fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from agent.act.registry import revert_of, tool_call
from agent.nodes.plan import plan
from agent.tools import ToolClient
from tests.agent.conftest import running_agent
from tests.agent.scripted_tools import SLO_FAILURES, WRONG_FIX_RUNBOOK, ScriptedTools

SLO_READ_FAILURES = [*SLO_FAILURES, "no_burn"]

pytestmark = pytest.mark.anyio


async def test_a_diagnosed_incident_is_remediated_verified_and_resolved(tmp_path: Path, runbook_dir: Path) -> None:
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
        detail = agent.store.get_incident(incident.id)
    assert state["outcome"] == "resolved"
    assert fleet.applied == [("cordon_node", f"{incident.id}/h0/s0")]
    assert detail.incident.status == "resolved"
    assert detail.incident.diagnosis is not None and detail.incident.diagnosis.root_cause == "gpu_xid"
    assert detail.incident.diagnosis.component == "node/gpu-node-2"
    [action] = detail.actions
    assert (action.kind, action.target, action.decision, action.status) == (
        "cordon_node", "node/gpu-node-2", "allow", "succeeded")
    kinds = [entry.kind for entry in detail.timeline]
    assert kinds.index("decision") < kinds.index("action") < kinds.index("verification")


async def test_nothing_burning_means_nothing_is_done(tmp_path: Path, runbook_dir: Path) -> None:
    fleet = ScriptedTools(burn=0.2)
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
        detail = agent.store.get_incident(incident.id)
    assert state["outcome"] == "nothing-to-do"
    assert state["investigations"] == 3  # the calm was confirmed before closing
    assert fleet.applied == [] and detail.actions == []
    assert detail.incident.status == "resolved"


async def test_a_burn_that_dips_at_the_first_look_is_looked_at_again(tmp_path: Path, runbook_dir: Path) -> None:
    fleet = ScriptedTools(first_burns=[0.3])
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
        detail = agent.store.get_incident(incident.id)
    assert state["outcome"] == "resolved" and state["investigations"] == 2
    assert fleet.applied == [("cordon_node", f"{incident.id}/h0/s0")]
    assert detail.incident.diagnosis is not None and detail.incident.diagnosis.root_cause == "gpu_xid"


async def test_an_incident_no_runbook_explains_is_escalated_with_its_evidence(tmp_path: Path,
                                                                              runbook_dir: Path) -> None:
    fleet = ScriptedTools(bad_gpu=False)
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
        detail = agent.store.get_incident(incident.id)
    assert state["outcome"] == "escalated"
    assert state["investigations"] == 3  # it looked again before paging
    assert fleet.applied == []
    assert [a.kind for a in detail.actions] == ["escalate"]
    assert detail.incident.status == "escalated"
    assert detail.incident.diagnosis is not None and detail.incident.diagnosis.root_cause == "unknown"


@pytest.mark.parametrize("failure", SLO_READ_FAILURES)
async def test_a_burn_it_cannot_read_escalates_instead_of_acting_or_closing(tmp_path: Path, runbook_dir: Path,
                                                                            failure: str) -> None:
    fleet = ScriptedTools(slo_failure=failure)
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
        detail = agent.store.get_incident(incident.id)
    assert state["outcome"] == "escalated"
    assert state["escalation"].startswith("cannot read the SLOs' burn rates")
    assert fleet.applied == []
    assert [a.kind for a in detail.actions] == ["escalate"]
    assert detail.incident.status == "escalated"
    assert not any("nothing to do" in entry.message for entry in detail.timeline)


async def test_a_broken_mcp_session_is_blindness_too(tmp_path: Path, runbook_dir: Path) -> None:
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        agent.context.tools = ToolClient(Client(fleet.server()))  # a session that is not (any more) connected
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
    assert state["outcome"] == "escalated"
    assert "the MCP session failed" in state["escalation"]
    assert fleet.applied == []


@pytest.mark.parametrize("failure", SLO_READ_FAILURES)
async def test_a_burn_lost_while_verifying_escalates_and_is_never_verified(tmp_path: Path, runbook_dir: Path,
                                                                           failure: str) -> None:
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet, interrupt_after=["act"]) as agent:
        incident = agent.open_incident()
        await agent.runner.advance(incident)  # stops after acting
    fleet.slo_failure = failure
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        state = await agent.runner.advance(incident)
        detail = agent.store.get_incident(incident.id)
    assert state["outcome"] == "escalated"
    assert "lost sight of the SLOs" in state["escalation"]
    assert not state.get("verified")
    assert not any(entry.message.startswith("verified") for entry in detail.timeline)
    assert detail.incident.status == "escalated"


@pytest.mark.parametrize("stopped_after", ["policy", "act"])
async def test_a_restart_resumes_without_acting_twice(tmp_path: Path, runbook_dir: Path, stopped_after: str) -> None:
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet, interrupt_after=[stopped_after]) as agent:
        incident = agent.open_incident()
        await agent.runner.advance(incident)
        assert agent.store.get_incident(incident.id).incident.status != "resolved"
    applied_before_restart = list(fleet.applied)
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:  # a new process on the same database
        state = await agent.runner.advance(incident)
        actions = agent.store.get_incident(incident.id).actions
    assert state["outcome"] == "resolved"
    assert len(fleet.applied) == 1
    assert applied_before_restart == ([] if stopped_after == "policy" else fleet.applied)
    assert [a.status for a in actions] == ["succeeded"]


async def test_dying_mid_call_replays_the_write_with_the_same_key(tmp_path: Path, runbook_dir: Path) -> None:
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet, interrupt_after=["policy"]) as agent:
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
        key = state["decision"]["key"]
        # The process claimed the decision and the tool applied it, then the process died before recording it.
        assert agent.store.claim_for_execution(key)
        await agent.context.tools.call("cordon_node", {"node": "gpu-node-2", "reason": "x", "idempotency_key": key})
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        state = await agent.runner.advance(incident)
        action = agent.store.get_action(key)
    assert state["outcome"] == "resolved"
    assert fleet.applied == [("cordon_node", key)]
    assert action is not None and action.status == "succeeded" and action.result["replayed"] is True


async def test_an_action_needing_approval_waits_for_a_person(tmp_path: Path, runbook_dir: Path) -> None:
    fleet = ScriptedTools()
    needs_approval = {"kinds": {"auto_allowed": ["scale_deployment", "escalate"], "require_approval": ["cordon_node"]}}
    async with running_agent(tmp_path, runbook_dir, fleet, policy=needs_approval) as agent:
        incident = agent.open_incident()
        await agent.runner.advance(incident)
        [pending] = agent.store.pending_approvals(incident.id)
        assert fleet.applied == []
        assert agent.store.get_incident(incident.id).incident.status == "awaiting_approval"
        agent.store.decide_approval(pending.id, True, decided_by="alice", via="cli")
        state = await agent.runner.advance(incident)
        action = agent.store.get_action(pending.idempotency_key)
    assert state["outcome"] == "resolved"
    assert len(fleet.applied) == 1
    assert action is not None and action.approval is not None and action.approval.decided_by == "alice"


@pytest.mark.parametrize(("verdict", "expected"), [("deny", "escalated"), ("timeout", "escalated")])
async def test_a_denied_or_expired_approval_does_nothing_and_escalates(tmp_path: Path, runbook_dir: Path,
                                                                     verdict: str, expected: str) -> None:
    fleet = ScriptedTools()
    needs_approval = {"kinds": {"auto_allowed": ["scale_deployment", "escalate"], "require_approval": ["cordon_node"]}}
    async with running_agent(tmp_path, runbook_dir, fleet, policy=needs_approval) as agent:
        incident = agent.open_incident()
        await agent.runner.advance(incident)
        [pending] = agent.store.pending_approvals(incident.id)
        if verdict == "deny":
            agent.store.decide_approval(pending.id, False, decided_by="bob", via="cli")
        else:
            agent.store.expire_approval(pending.id)
        state = await agent.runner.advance(incident)
    assert state["outcome"] == expected
    assert fleet.applied == []


async def test_on_postgresql_a_restart_resumes_from_the_same_database(tmp_path: Path, runbook_dir: Path,
                                                                       postgres_url: str) -> None:
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet, interrupt_after=["policy"],
                             database_url=postgres_url) as agent:
        incident = agent.open_incident()
        await agent.runner.advance(incident)
    async with running_agent(tmp_path, runbook_dir, fleet, database_url=postgres_url) as agent:
        state = await agent.runner.advance(incident)
        actions = agent.store.get_incident(incident.id).actions
    assert state["outcome"] == "resolved"
    assert len(fleet.applied) == 1
    assert [a.status for a in actions] == ["succeeded"]


async def test_a_denied_fix_is_escalated_not_replaced_by_a_weaker_hypothesis(tmp_path: Path,
                                                                             runbook_dir: Path) -> None:
    fleet = ScriptedTools()
    nobody_may_cordon = {"kinds": {"auto_allowed": ["scale_deployment"], "require_approval": ["drain_node"]}}
    async with running_agent(tmp_path, runbook_dir, fleet, policy=nobody_may_cordon) as agent:
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
        actions = agent.store.get_incident(incident.id).actions
    assert state["outcome"] == "escalated"
    assert state["escalation"].startswith("the policy denied cordon_node node/gpu-node-2")
    assert fleet.applied == []
    assert [(a.kind, a.decision) for a in actions] == [("cordon_node", "deny"), ("escalate", "allow")]


async def test_a_fix_that_does_not_stop_the_burn_is_undone_before_escalating(tmp_path: Path,
                                                                            runbook_dir: Path) -> None:
    (runbook_dir / "test-xid.md").write_text(WRONG_FIX_RUNBOOK)
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
        scale_out, scale_back = [a for a in agent.store.get_incident(incident.id).actions
                                 if a.kind == "scale_deployment"]
    assert state["outcome"] == "escalated"
    assert [tool for tool, _ in fleet.applied] == ["scale_deployment", "scale_deployment"]
    assert fleet.replicas == 4
    assert scale_out.status == "reverted" and scale_out.params["replicas"] == 6
    assert (scale_back.decision, scale_back.status, scale_back.params["replicas"]) == ("allow", "succeeded", 4)


async def test_dying_mid_undo_finishes_the_undo_once_after_a_restart(tmp_path: Path, runbook_dir: Path) -> None:
    (runbook_dir / "test-xid.md").write_text(WRONG_FIX_RUNBOOK)
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet, interrupt_after=["verify"]) as agent:
        incident = agent.open_incident()
        await agent.runner.advance(incident)
        [scale_out] = agent.store.get_incident(incident.id).actions
        # The process decided the undo, claimed it and the tool applied it, then the process died.
        kind, target, params = revert_of(scale_out.kind, scale_out.target, scale_out.params, scale_out.result or {})
        key = f"{scale_out.idempotency_key}/revert"
        agent.store.record_decision({"incident_id": incident.id, "idempotency_key": key, "kind": kind,
                                     "target": target, "params": params, "decision": "allow", "reasons": []})
        assert agent.store.claim_for_execution(key)
        await agent.context.tools.call(*tool_call(kind, target, params, key, "undo"))
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        state = await agent.runner.advance(incident)
        scale_out, scale_back = agent.store.get_incident(incident.id).actions[:2]
    assert state["outcome"] == "escalated"
    assert [tool for tool, _ in fleet.applied] == ["scale_deployment", "scale_deployment"] and fleet.replicas == 4
    assert scale_out.status == "reverted"
    assert scale_back.status == "succeeded" and scale_back.result is not None and scale_back.result["replayed"]


async def test_a_cordon_that_did_not_help_stays_for_a_person(tmp_path: Path, runbook_dir: Path) -> None:
    fleet = ScriptedTools(cordon_heals=False)
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        incident = agent.open_incident()
        state = await agent.runner.advance(incident)
        detail = agent.store.get_incident(incident.id)
    assert state["outcome"] == "escalated"
    assert fleet.cordoned == {"gpu-node-2"}
    cordon, page = detail.actions
    assert (cordon.kind, cordon.status) == ("cordon_node", "succeeded")
    # no notifier in this agent: the page is recorded as the failure it is, never as a page sent
    assert (page.kind, page.status) == ("escalate", "failed")
    assert page.result is not None and "nobody was paged" in page.result["error"]


async def test_a_graph_that_raises_twice_hands_its_incident_to_a_person(tmp_path: Path, runbook_dir: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    async def exploding_plan(state: object, runtime: object) -> None:
        raise RuntimeError("plan exploded")

    monkeypatch.setattr("agent.graph.plan", exploding_plan)
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        incident = agent.open_incident()
        detail = await agent.run_as_the_service_does(incident)
    assert detail.incident.status == "escalated"
    assert [a.kind for a in detail.actions] == ["escalate"]
    assert "the agent's graph failed twice: RuntimeError: plan exploded" in detail.actions[0].params["why"]
    assert len([e for e in detail.timeline if e.kind == "note" and "graph failed (attempt" in e.message]) == 2
    assert fleet.applied == []


async def test_a_graph_that_raises_once_is_resumed_and_carries_on(tmp_path: Path, runbook_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def plan_failing_once(state: Any, runtime: Any) -> Any:
        calls.append("plan")
        if len(calls) == 1:
            raise RuntimeError("a passing hiccup")
        return await plan(state, runtime)

    monkeypatch.setattr("agent.graph.plan", plan_failing_once)
    fleet = ScriptedTools()
    async with running_agent(tmp_path, runbook_dir, fleet) as agent:
        incident = agent.open_incident()
        detail = await agent.run_as_the_service_does(incident)
    assert detail.incident.status == "resolved"
    assert fleet.applied == [("cordon_node", f"{incident.id}/h0/s0")]
