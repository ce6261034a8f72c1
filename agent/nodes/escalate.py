"""Escalate: hand the incident to a person with what the agent knows. Paging is recorded as an action, so
the result lists it, but no policy can stop it: the gate decides what the agent may change in the fleet, and a
page changes nothing there (a gate that failed to load denies everything, which is exactly when people must
hear). It succeeds only once a channel (Alertmanager, a webhook) accepted the page; until then the notifier
keeps trying, and with no channel configured it fails, saying that nobody was paged."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.act.idempotency import escalation_key
from agent.context import AgentContext
from agent.nodes.policy import decide_once
from agent.policy.gate import PolicyRuling
from agent.policy.input import IncidentFacts, PolicyInput, ProposedAction
from agent.state import IncidentState

NOBODY = "no notifier is configured (`notify:` in the agent's configuration): nobody was paged"


async def escalate(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    why = state.get("escalation") or state.get("blind") or _why(state)
    await hand_over(runtime.context, state["incident_id"], why)
    return {"outcome": "escalated", "escalation": why}


async def hand_over(ctx: AgentContext, incident_id: str, why: str) -> None:
    """Records the escalation, pages through the notifier and marks the incident escalated. Safe to repeat
    after a crash: the decision is recorded once, and the page is owed once."""
    key, target = escalation_key(incident_id), f"incident/{incident_id}"

    async def never_held_back() -> PolicyRuling:
        ruling = ctx.gate.decide(PolicyInput(action=ProposedAction(kind="escalate", target=target),
                                             incident=IncidentFacts(id=incident_id), now=ctx.clock()))
        if ruling.verdict == "allow":
            return ruling
        return ruling.model_copy(update={"verdict": "allow", "reasons": [
            f"paging a person is never held back (the policy answered {ruling.verdict}: "
            f"{'; '.join(ruling.reasons) or '-'})"]})

    await decide_once(ctx, key, incident_id, "escalate", target, {"why": why}, never_held_back)
    claimed = await ctx.store.claim_for_execution(key)
    if claimed and not ctx.notifier.configured:
        await ctx.store.finish_action(key, False, {"error": NOBODY, "why": why})
    elif claimed or await _owed_but_not_queued(ctx, incident_id, key):
        await ctx.notifier.escalate(ctx.store, incident_id, why, key)
    await ctx.store.add_timeline(incident_id, "escalation", f"escalated: {why}")
    await ctx.store.set_status(incident_id, "escalated", reason=why)


async def _owed_but_not_queued(ctx: AgentContext, incident_id: str, key: str) -> bool:
    """A process that died between claiming the page and queueing it left it `executing` with nothing owed."""
    action = await ctx.store.get_action(key)
    detail = await ctx.store.get_incident(incident_id)
    return action is not None and action.status == "executing" and \
        not any(n.action_key == key for n in detail.notifications)


def _why(state: IncidentState) -> str:
    if state.get("diagnosis") == "unexplained":
        return "no runbook explains the evidence"
    return "the agent could not mitigate the incident"
