"""Act: carry out an allowed (or approved) decision through its MCP write tool, exactly once.

Two locks keep it to once, also across a crash: the store lets only one caller claim a decision, and the
write tool records the decision's idempotency key on the object it changes. A graph resumed after dying
mid-call finds the claim taken and the action still `executing`: it repeats the call with the same key,
which the tool answers as a replay instead of acting again.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.act.registry import tool_call
from agent.context import AgentContext
from agent.state import IncidentState, hypothesis_tried


async def act(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    decision = state["decision"]
    assert decision is not None
    hypothesis = hypothesis_tried(state)
    reason = f"{state['incident_id']}: {hypothesis.root_cause} on {hypothesis.component} (runbook " \
             f"{hypothesis.runbook})"
    ran, ok = await execute_once(runtime.context, decision["key"], reason)
    taken = state.get("actions_taken", 0) + (1 if ran else 0)
    if not ok:  # a failed step fails its hypothesis
        return {"actions_taken": taken, "action_ok": False, "attempt": state["attempt"] + 1, "step_index": 0}
    return {"actions_taken": taken, "action_ok": True, "step_index": state["step_index"] + 1}


async def execute_once(ctx: AgentContext, key: str, reason: str) -> tuple[bool, bool]:
    """Carries out the decision recorded under `key`: (whether it ran now, whether it succeeded).

    It runs when this caller claims it, or when a caller that died mid-call left it `executing` (the repeated
    call carries the same key, which the tool answers as a replay). A decision carried out before reports its
    stored outcome without running; one not allowed (denied, awaiting approval) reports (False, False).
    """
    claimed = await ctx.store.claim_for_execution(key)
    recorded = await ctx.store.get_action(key)
    if recorded is None:
        return False, False
    if not claimed and recorded.status != "executing":
        return False, recorded.status == "succeeded"
    await ctx.store.set_status(recorded.incident_id, "mitigating", reason=f"{recorded.kind} {recorded.target}")
    tool, args = tool_call(recorded.kind, recorded.target, dict(recorded.params), key, reason)
    result = await ctx.tools.call(tool, args)
    await ctx.store.finish_action(key, result.ok, result.data if result.ok else {"error": result.error})
    if not result.ok or result.data.get("replayed"):  # the store notes plain success itself
        why = result.error if not result.ok else "the tool had applied this key already (a replay)"
        await ctx.store.add_timeline(recorded.incident_id, "action", f"{recorded.kind} {recorded.target}: {why}")
    return True, result.ok


def more_steps(state: IncidentState) -> bool:
    return any(step.ready for step in hypothesis_tried(state).remediation[state["step_index"]:])
