"""Intake: the incident is the agent's now; say so and start from a clean slate of attempts."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.state import IncidentState


async def intake(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    await ctx.store.set_status(state["incident_id"], "investigating", reason="the agent took the incident")
    return {"namespace": state.get("namespace") or ctx.config.namespace, "attempt": 0, "step_index": 0,
            "actions_taken": 0, "blind": "", "decision": None, "escalation": "", "investigations": 0}
