"""Policy: the Rego gate decides on the planned step, and the decision is stored before anything runs.

Every decision, the plan's steps, their undoing and the pages, is recorded once under its idempotency key
(`decide_once`), so a resumed graph finds the decision it already recorded instead of asking twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from langgraph.runtime import Runtime

from agent.act.idempotency import step_key
from agent.act.registry import facts_for_policy
from agent.context import AgentContext
from agent.nodes.plan import current_step
from agent.policy.gate import PolicyRuling
from agent.policy.input import IncidentFacts, PolicyInput, ProposedAction, RecentAction
from agent.state import DecidedAction, IncidentState
from agent.store import EXECUTED_STATUSES, ActionView
from agent.vocabulary import ActionKind

RECENT = timedelta(hours=1)


async def policy(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    step = current_step(state)
    action, target, params = step.action, str(step.target), dict(step.params)
    namespace = str(params.pop("namespace", state["namespace"]))
    recorded = await decide_once(ctx, step_key(state["incident_id"], state["attempt"], state["step_index"]),
                                 state["incident_id"], action, target, {**params, "namespace": namespace},
                                 lambda: _decide(ctx, state, action, target, namespace, params))
    decision: DecidedAction = {"key": recorded.idempotency_key, "action": recorded.kind, "target": recorded.target,
                          "params": dict(recorded.params), "decision": recorded.decision,
                          "reasons": list(recorded.reasons)}
    if recorded.decision == "deny":  # the fix for the diagnosed cause is not allowed: a person decides, not a
        # weaker hypothesis whose fix happens to pass the policy
        return {"decision": decision, "escalation": f"the policy denied {recorded.kind} {recorded.target}: "
                + "; ".join(recorded.reasons)}
    return {"decision": decision}


async def decide_once(ctx: AgentContext, key: str, incident_id: str, kind: ActionKind, target: str,
                      params: dict[str, Any], decide: Callable[[], Awaitable[PolicyRuling]]) -> ActionView:
    """The decision recorded under `key`; `decide` is asked (and its answer stored) only when none is yet."""
    recorded = await ctx.store.get_action(key)
    if recorded is None:
        ruling = await decide()
        recorded = await ctx.store.record_decision({
            "incident_id": incident_id, "idempotency_key": key, "kind": kind, "target": target, "params": params,
            "decision": ruling.verdict, "reasons": ruling.reasons})
    return recorded


async def _decide(ctx: AgentContext, state: IncidentState, action: ActionKind, target: str, namespace: str,
                  params: dict[str, Any]) -> PolicyRuling:
    recent = [RecentAction(kind=a.kind, target=a.target, at=a.decided_at.timestamp(), status=a.status)
              for a in await ctx.store.recent_actions(target, RECENT, statuses=EXECUTED_STATUSES)]
    return ctx.gate.decide(PolicyInput(
        action=ProposedAction(kind=action, target=target, namespace=namespace, params=params),
        incident=incident_facts(state), recent_actions=recent,
        fleet=await facts_for_policy(ctx.tools, action, target, namespace), now=ctx.clock()))


def incident_facts(state: IncidentState) -> IncidentFacts:
    return IncidentFacts(id=state["incident_id"], slo=state.get("slo") or "", model=state.get("model") or "",
                         actions_taken=state.get("actions_taken", 0))
