"""Act: carry out an allowed (or approved) decision through its MCP write tool, exactly once.

Two locks keep it to once, also across a crash: the store lets only one caller claim a decision, and the
write tool records the decision's idempotency key on the object it changes. A graph resumed after dying
mid-call finds the claim taken and the action still `executing`: it repeats the call with the same key,
which the tool answers as a replay instead of acting again.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.actions import tool_call
from agent.context import AgentContext
from agent.state import Decision, IncidentState


async def act(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    decision = state["decision"]
    assert decision is not None
    key = decision["key"]
    claimed = ctx.store.claim_for_execution(key)
    recorded = ctx.store.get_action(key)
    resumed = not claimed and recorded is not None and recorded.status == "executing"
    if claimed or resumed:
        ctx.store.set_status(state["incident_id"], "mitigating", reason=f"{decision['action']} {decision['target']}")
        ok = await _execute(ctx, state, decision)
    else:  # carried out before the graph last stopped: its outcome is in the store
        ok = recorded is not None and recorded.status == "succeeded"
    taken = state.get("actions_taken", 0) + (1 if claimed or resumed else 0)
    if not ok:  # a failed step fails its hypothesis
        return {"actions_taken": taken, "action_ok": False, "attempt": state["attempt"] + 1, "step_index": 0}
    return {"actions_taken": taken, "action_ok": True, "step_index": state["step_index"] + 1}


async def _execute(ctx: AgentContext, state: IncidentState, decision: Decision) -> bool:
    hypothesis = state["hypotheses"][state["attempt"]]
    reason = f"{state['incident_id']}: {hypothesis['root_cause']} on {hypothesis['component']} (runbook " \
             f"{hypothesis['runbook']})"
    tool, args = tool_call(decision["action"], decision["target"], decision["params"], decision["key"], reason)
    result = await ctx.tools.call(tool, args)
    outcome = result.data if result.ok else {"error": result.error}
    ctx.store.finish_action(decision["key"], result.ok, outcome)
    if not result.ok or result.data.get("replayed"):  # the store notes plain success itself
        why = result.error if not result.ok else "the tool had applied this key already (a replay)"
        ctx.store.add_timeline(state["incident_id"], "action", f"{decision['action']} {decision['target']}: {why}")
    return result.ok


def more_steps(state: IncidentState) -> bool:
    hypothesis = state["hypotheses"][state["attempt"]]
    return any(step["ready"] for step in hypothesis["remediation"][state["step_index"]:])
