"""Policy: the Rego gate decides on the planned step, and the decision is stored before anything runs.

The decision's idempotency key names the incident, hypothesis and step, so a resumed graph finds the
decision it already recorded instead of asking twice.
"""

from __future__ import annotations

from datetime import timedelta

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.facts import fleet_facts
from agent.nodes.plan import current_step
from agent.policy_input import Action, IncidentFacts, PolicyInput, RecentAction
from agent.state import Decision, IncidentState
from agent.store import EXECUTED_STATUSES, ActionView

RECENT = timedelta(hours=1)


async def policy(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    step = current_step(state)
    key = f"{state['incident_id']}/h{state['attempt']}/s{state['step_index']}"
    recorded = ctx.store.get_action(key)
    if recorded is None:
        recorded = await _decide(ctx, state, step, key)
    decision: Decision = {"key": key, "action": recorded.kind, "target": recorded.target,
                          "params": dict(recorded.params), "decision": recorded.decision,
                          "reasons": list(recorded.reasons)}
    if recorded.decision == "deny":  # the fix for the diagnosed cause is not allowed: a person decides, not a
        # weaker hypothesis whose fix happens to pass the policy
        return {"decision": decision, "escalation": f"the policy denied {recorded.kind} {recorded.target}: "
                + "; ".join(recorded.reasons)}
    return {"decision": decision}


async def _decide(ctx: AgentContext, state: IncidentState, step: dict[str, object], key: str) -> ActionView:
    action, target = str(step["action"]), str(step["target"])
    params = dict(step.get("params") or {})  # type: ignore[call-overload]
    namespace = str(params.pop("namespace", state["namespace"]))
    recent = [RecentAction(kind=a.kind, target=a.target, at=a.decided_at.timestamp(), status=a.status)
              for a in ctx.store.recent_actions(target, RECENT, statuses=EXECUTED_STATUSES)]
    request = PolicyInput(
        action=Action(kind=action, target=target, namespace=namespace, params=params),  # type: ignore[arg-type]
        incident=incident_facts(state), recent_actions=recent,
        fleet=await fleet_facts(ctx.tools, action, target, namespace), now=ctx.clock())
    verdict = ctx.gate.decide(request)
    recorded = ctx.store.record_decision({
        "incident_id": state["incident_id"], "idempotency_key": key, "kind": action, "target": target,
        "params": {**params, "namespace": namespace}, "decision": verdict.decision, "reasons": verdict.reasons})
    return recorded


def incident_facts(state: IncidentState) -> IncidentFacts:
    return IncidentFacts(id=state["incident_id"], slo=state.get("slo") or "", model=state.get("model") or "",
                         actions_taken=state.get("actions_taken", 0))
