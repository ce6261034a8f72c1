"""Nodes and pieces of the graph alone: routing, planning, the action-to-tool mapping, reading burn rates."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from langgraph.runtime import Runtime

from agent.act.registry import UnknownAction, tool_call
from agent.config import AgentConfig
from agent.detect.burn import readings
from agent.diagnose.diagnosis import Hypothesis, PlannedAction, PlannedEscalation, PlannedVerification
from agent.graph import after_act, after_diagnose, after_policy, after_verify
from agent.nodes.plan import plan
from agent.nodes.verify import _stayed_calm
from tests.agent.conftest import running_agent
from tests.agent.scripted_tools import ScriptedTools

pytestmark = pytest.mark.anyio


def _step(action: str, ready: bool = True) -> dict[str, Any]:
    return {"action": action, "target": "node/gpu-node-2", "params": {}, "reversible": False, "revert": None,
            "ready": ready, "blocked_by": [] if ready else ["the node is cordoned already"]}


def _hypothesis(runbook: str, *steps: dict[str, Any], escalation: str = "") -> dict[str, Any]:
    """A hypothesis as the diagnosis leaves it in the graph's state (a dumped `Hypothesis`)."""
    return Hypothesis(runbook=runbook, title=runbook, root_cause="gpu_xid", component="node/gpu-node-2",
                      confidence=0.9, evidence=[], counter_evidence=[], missing_evidence=[], signals=[],
                      remediation=[PlannedAction.model_validate(step) for step in steps],
                      verification=PlannedVerification(slo_burn_below=1.0, window_s=60, checks=[]),
                      escalation=PlannedEscalation(to="on-call", message=escalation)).model_dump(mode="json")


def test_routing_after_diagnosis() -> None:
    runtime = Runtime(context=SimpleNamespace(config=AgentConfig(investigation_rounds=2)))
    assert after_diagnose({"blind": "Prometheus unreachable", "hypotheses": [{}]}, runtime) == "escalate"
    assert after_diagnose({"diagnosis": "none", "investigations": 1}, runtime) == "investigate"  # a dip, or calm?
    assert after_diagnose({"diagnosis": "none", "investigations": 2}, runtime) == "resolve"
    assert after_diagnose({"diagnosis": "unexplained", "hypotheses": [], "investigations": 1}, runtime) == \
        "investigate"  # symptoms often lead their causes' evidence: look again before paging
    assert after_diagnose({"diagnosis": "unexplained", "hypotheses": [], "investigations": 2}, runtime) == "escalate"
    assert after_diagnose({"diagnosis": "diagnosed", "hypotheses": [{}]}, runtime) == "plan"


def test_routing_after_policy_act_and_verify() -> None:
    decision = {"key": "k", "action": "cordon_node", "target": "node/x", "params": {}, "reasons": []}
    assert after_policy({"decision": {**decision, "decision": "allow"}}) == "act"
    assert after_policy({"decision": {**decision, "decision": "require_approval"}}) == "approval"
    assert after_policy({"decision": {**decision, "decision": "deny"}}) == "escalate"
    two_steps = [_hypothesis("r", _step("cordon_node"), _step("delete_pod"))]
    assert after_act({"action_ok": True, "hypotheses": two_steps, "attempt": 0, "step_index": 1}) == "plan"
    assert after_act({"action_ok": True, "hypotheses": two_steps, "attempt": 0, "step_index": 2}) == "verify"
    assert after_act({"action_ok": False}) == "plan"
    assert after_verify({"verified": True}) == "resolve"
    assert after_verify({"verified": False, "escalation": "blind"}) == "escalate"
    assert after_verify({"verified": False}) == "revert"


async def test_plan_skips_steps_whose_preconditions_failed_and_moves_to_the_next_hypothesis(
        tmp_path: Path, runbook_dir: Path) -> None:
    hypotheses = [_hypothesis("first", _step("cordon_node", ready=False)),
                  _hypothesis("second", _step("cordon_node", ready=False), _step("delete_pod"))]
    async with running_agent(tmp_path, runbook_dir, ScriptedTools()) as agent:
        incident = agent.open_incident()
        state = {"incident_id": incident.id, "hypotheses": hypotheses, "attempt": 0, "step_index": 0}
        changes = await plan(state, Runtime(context=agent.context))
        notes = [e.message for e in agent.store.get_incident(incident.id).timeline if e.kind == "note"]
    assert (changes["attempt"], changes["step_index"]) == (1, 1)
    assert not changes.get("escalation")
    assert len(notes) == 2 and all("the node is cordoned already" in n for n in notes)


async def test_plan_escalates_when_nothing_is_left_or_the_action_cap_is_reached(tmp_path: Path,
                                                                                 runbook_dir: Path) -> None:
    async with running_agent(tmp_path, runbook_dir, ScriptedTools()) as agent:
        incident = agent.open_incident()
        runtime = Runtime(context=agent.context)
        exhausted = await plan({"incident_id": incident.id, "hypotheses": [_hypothesis("only", _step("cordon_node"))],
                                "attempt": 1, "step_index": 0}, runtime)
        capped = await plan({"incident_id": incident.id, "hypotheses": [_hypothesis("only", _step("cordon_node"))],
                             "attempt": 0, "step_index": 0, "actions_taken": 3}, runtime)
    assert "no remediation left" in exhausted["escalation"]
    assert "cap of 3 actions" in capped["escalation"]


async def test_plan_escalates_when_the_best_explanation_has_no_safe_automatic_fix(tmp_path: Path,
                                                                                   runbook_dir: Path) -> None:
    no_fix = _hypothesis("dependency-latency", escalation="auth is slow")
    async with running_agent(tmp_path, runbook_dir, ScriptedTools()) as agent:
        incident = agent.open_incident()
        hypotheses = [no_fix, _hypothesis("other", _step("cordon_node"))]
        changes = await plan({"incident_id": incident.id, "hypotheses": hypotheses, "attempt": 0, "step_index": 0},
                             Runtime(context=agent.context))
    assert changes["escalation"] == "auth is slow"


@pytest.mark.parametrize(("kind", "target", "params", "tool", "expected"), [
    ("scale_deployment", "deployment/qwen-7b", {"replicas": 5, "namespace": "inference"}, "scale_deployment",
     {"deployment": "qwen-7b", "replicas": 5, "namespace": "inference"}),
    ("rollback_deployment", "deployment/qwen-7b", {}, "rollback_deployment", {"deployment": "qwen-7b"}),
    ("delete_pod", "pod/llama-70b-abc-1", {"namespace": "inference"}, "delete_pod",
     {"pod": "llama-70b-abc-1", "namespace": "inference"}),
    ("cordon_node", "node/gpu-node-2", {}, "cordon_node", {"node": "gpu-node-2"}),
    ("failover_provider", "provider/self-hosted", {"model": "qwen-7b", "to": "openai"}, "failover_provider",
     {"model": "qwen-7b", "from_backend": "self-hosted", "to_backend": "openai"}),
    ("set_route_weights", "model/qwen-7b", {"weights": {"self-hosted": 50, "openai": 50}}, "set_route_weights",
     {"model": "qwen-7b", "weights": {"self-hosted": 50, "openai": 50}}),
])
def test_each_action_kind_maps_to_its_mcp_write_tool_with_the_decision_key(
        kind: str, target: str, params: dict[str, Any], tool: str, expected: dict[str, Any]) -> None:
    name, args = tool_call(kind, target, params, "INC-0001/h0/s0", "why")
    assert name == tool
    assert args == {**expected, "reason": "why", "idempotency_key": "INC-0001/h0/s0"}


def test_an_action_without_a_tool_is_refused() -> None:
    with pytest.raises(UnknownAction):
        tool_call("escalate", "incident/INC-0001", {}, "k", "why")


def test_burn_readings_from_slo_status() -> None:
    report = {"slos": {"items": [
        {"slo": "availability", "model": "qwen-7b", "status": "ok", "windows": [{"window": "5m", "burn_rate": 3.0}]},
        {"slo": "latency", "model": "qwen-7b", "status": "ok", "windows": [{"window": "5m", "burn_rate": None}]},
        {"slo": "latency", "model": "llama-70b", "status": "burning-page", "windows": []}]}}
    burning = {(r.model, r.slo): (r.burning, r.burning_now) for r in readings(report)}
    assert burning == {("qwen-7b", "availability"): (True, True), ("qwen-7b", "latency"): (False, False),
                       ("llama-70b", "latency"): (True, False)}  # its alert's long window outlives the burn


def test_verification_judges_the_burn_over_the_whole_window_not_one_sample() -> None:
    spike = deque([(0.0, 0.2), (1.0, 1.8), (2.0, 0.1), (3.0, 0.2), (4.0, 0.3), (5.0, 0.2)])
    sustained = deque([(0.0, 1.5), (1.0, 1.2), (2.0, 1.1), (3.0, 0.9), (4.0, 1.3), (5.0, 1.0)])
    assert _stayed_calm(spike, now=5.0, window=5.0, threshold=1.0)
    assert not _stayed_calm(sustained, now=5.0, window=5.0, threshold=1.0)
    assert not _stayed_calm(deque([(3.0, 0.0), (5.0, 0.0)]), now=5.0, window=5.0, threshold=1.0)  # too short a look
