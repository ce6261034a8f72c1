"""Escalate: hand the incident to a person with what the agent knows. Paging is an action like any other:
decided by the policy (which always allows it) and recorded, so the result lists it."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.policy_input import Action, IncidentFacts, PolicyInput
from agent.state import IncidentState


async def escalate(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    incident_id = state["incident_id"]
    why = state.get("escalation") or state.get("blind") or _why(state)
    key, target = f"{incident_id}/escalate", f"incident/{incident_id}"
    if ctx.store.get_action(key) is None:
        verdict = ctx.gate.decide(PolicyInput(action=Action(kind="escalate", target=target),
                                              incident=IncidentFacts(id=incident_id), now=ctx.clock()))
        ctx.store.record_decision({"incident_id": incident_id, "idempotency_key": key, "kind": "escalate",
                                   "target": target, "params": {"why": why}, "decision": verdict.decision,
                                   "reasons": verdict.reasons})
    if ctx.store.claim_for_execution(key):
        ctx.store.finish_action(key, True, {"paged": "on-call", "why": why})
    ctx.store.add_timeline(incident_id, "escalation", f"escalated to on-call: {why}")
    ctx.store.set_status(incident_id, "escalated", reason=why)
    return {"outcome": "escalated", "escalation": why}


def _why(state: IncidentState) -> str:
    if state.get("diagnosis") == "unexplained":
        return "no runbook explains the evidence"
    return "the agent could not mitigate the incident"
