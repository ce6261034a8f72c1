"""Revert: a remediation whose verification failed is undone before the next hypothesis is tried, so one
wrong guess does not leave the fleet worse (a cordoned node, traffic on a provider). Each undo is an action
like any other: decided by the policy, recorded, carried out once through its MCP write tool."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.act.idempotency import step_of, undo_key
from agent.act.registry import revert_of
from agent.context import AgentContext
from agent.nodes.act import execute_once
from agent.nodes.policy import decide_once, incident_facts
from agent.policy.gate import PolicyRuling
from agent.policy.input import PolicyInput, ProposedAction
from agent.state import IncidentState, hypothesis_tried
from agent.store import ActionView


async def revert(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    attempt = state["attempt"]
    steps = hypothesis_tried(state).remediation
    for action in reversed((await ctx.store.get_incident(state["incident_id"])).actions):
        index = step_of(action.idempotency_key, state["incident_id"], attempt)
        if index is not None and action.status == "succeeded" and steps[index].reversible:
            await _undo(ctx, state, action)
    return {"attempt": attempt + 1, "step_index": 0}


async def _undo(ctx: AgentContext, state: IncidentState, done: ActionView) -> None:
    undo = revert_of(done.kind, done.target, dict(done.params), dict(done.result or {}))
    if undo is None:
        await ctx.store.add_timeline(state["incident_id"], "note", f"{done.kind} {done.target} is not undone by the "
                                     "agent: a person decides")
        return
    kind, target, params = undo
    key = undo_key(done.idempotency_key)

    async def decide() -> PolicyRuling:
        return ctx.gate.decide(PolicyInput(
            action=ProposedAction(kind=kind, target=target, namespace=params.get("namespace", ""),
                          params={k: v for k, v in params.items() if k != "namespace"}),
            incident=incident_facts(state), now=ctx.clock()))

    await decide_once(ctx, key, state["incident_id"], kind, target, params, decide)
    _, undone = await execute_once(ctx, key, f"{state['incident_id']}: undo {done.kind} {done.target}, whose "
                                   "verification failed")
    if undone:  # also when the undo ran before a restart and only this mark was missing
        await ctx.store.mark_reverted(done.idempotency_key, {"reverted_by": key})
