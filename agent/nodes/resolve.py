"""Resolve: the burn stopped after a verified remediation, or nothing burned in the first place."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.state import IncidentState, Outcome, hypothesis_tried


async def resolve(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    outcome: Outcome
    if state.get("verified"):
        hypothesis = hypothesis_tried(state)
        outcome, summary = "resolved", (f"mitigated: {hypothesis.root_cause} on {hypothesis.component} "
                                        f"(runbook {hypothesis.runbook}), verified by the SLO burn")
    else:
        outcome, summary = "nothing-to-do", "no SLO burns any more: nothing to do"
    await ctx.store.set_summary(state["incident_id"], summary)
    await ctx.store.set_status(state["incident_id"], "resolved", reason=summary)
    return {"outcome": outcome}
