"""Plan: the next remediation step to carry out, from the best hypothesis not yet tried.

Steps whose preconditions did not hold (`ready` false) are skipped with a note; a hypothesis with nothing
left to do gives way to the next. A hypothesis whose runbook plans no step at all (no safe automatic fix),
none left, or the incident's action cap reached: the agent escalates.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.diagnose.diagnosis import PlannedAction
from agent.state import IncidentState, hypotheses_of, hypothesis_tried


async def plan(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    hypotheses = hypotheses_of(state)
    attempt, index = state.get("attempt", 0), state.get("step_index", 0)
    if state.get("actions_taken", 0) >= ctx.config.max_actions_per_incident:
        return {"escalation": f"the cap of {ctx.config.max_actions_per_incident} actions per incident is reached"}
    while attempt < len(hypotheses):
        hypothesis = hypotheses[attempt]
        steps = hypothesis.remediation
        if not steps:  # the runbook's answer to this cause is a person (no safe automatic fix)
            return {"attempt": attempt, "step_index": 0, "escalation": hypothesis.escalation.message
                    or f"runbook {hypothesis.runbook} has no safe automatic fix"}
        while index < len(steps) and not steps[index].ready:
            await ctx.store.add_timeline(state["incident_id"], "note", f"skipped {steps[index].action} of runbook "
                                         f"{hypothesis.runbook}: {'; '.join(steps[index].blocked_by)}")
            index += 1
        if index < len(steps):
            return {"attempt": attempt, "step_index": index, "decision": None}
        attempt, index = attempt + 1, 0
    tried = ", ".join(h.runbook for h in hypotheses) or "none"
    return {"attempt": attempt, "step_index": 0, "escalation": f"no remediation left to try (runbooks tried: {tried})"}


def current_step(state: IncidentState) -> PlannedAction:
    return hypothesis_tried(state).remediation[state["step_index"]]
