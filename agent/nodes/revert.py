"""Revert: a remediation whose verification failed is undone before the next hypothesis is tried, so one
wrong guess does not leave the fleet worse (a cordoned node, traffic on a provider). Each undo is an action
like any other: decided by the policy, recorded, carried out once through its MCP write tool."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.actions import revert_of
from agent.context import AgentContext
from agent.nodes.act import execute_once
from agent.nodes.policy import incident_facts
from agent.policy_input import Action, PolicyInput
from agent.state import IncidentState
from agent.store import ActionView


async def revert(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    attempt = state["attempt"]
    steps = state["hypotheses"][attempt]["remediation"]
    prefix = f"{state['incident_id']}/h{attempt}/s"
    for action in reversed(ctx.store.get_incident(state["incident_id"]).actions):
        index = action.idempotency_key.removeprefix(prefix)
        if action.idempotency_key.startswith(prefix) and index.isdigit() and action.status == "succeeded" \
                and steps[int(index)].get("reversible"):
            await _undo(ctx, state, action)
    return {"attempt": attempt + 1, "step_index": 0}


async def _undo(ctx: AgentContext, state: IncidentState, done: ActionView) -> None:
    undo = revert_of(done.kind, done.target, dict(done.params), dict(done.result or {}))
    if undo is None:
        ctx.store.add_timeline(state["incident_id"], "note", f"{done.kind} {done.target} is not undone by the "
                               "agent: a person decides")
        return
    kind, target, params = undo
    key = f"{done.idempotency_key}/revert"
    if ctx.store.get_action(key) is None:
        verdict = ctx.gate.decide(PolicyInput(
            action=Action(kind=kind, target=target, namespace=params.get("namespace", ""),  # type: ignore[arg-type]
                          params={k: v for k, v in params.items() if k != "namespace"}),
            incident=incident_facts(state), now=ctx.clock()))
        ctx.store.record_decision({"incident_id": state["incident_id"], "idempotency_key": key, "kind": kind,
                                   "target": target, "params": params, "decision": verdict.decision,
                                   "reasons": verdict.reasons})
    _, undone = await execute_once(ctx, key, f"{state['incident_id']}: undo {done.kind} {done.target}, whose "
                                   "verification failed")
    if undone:  # also when the undo ran before a restart and only this mark was missing
        ctx.store.mark_reverted(done.idempotency_key, {"reverted_by": key})
