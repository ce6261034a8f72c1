"""Approval: the graph pauses (LangGraph `interrupt`) until a person approves or denies, or the wait expires.

The store is the source of truth: `firebreak approve|deny`, Slack and the timeout write the verdict there,
and the service resumes the graph, which reads it back. Who decided and when is in the audit log.
"""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.context import AgentContext
from agent.state import IncidentState


async def approval(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    decision = state["decision"]
    assert decision is not None
    action = await ctx.store.get_action(decision["key"])
    if action is not None and action.status == "awaiting_approval":
        await ctx.store.set_status(state["incident_id"], "awaiting_approval",
                                   reason=f"{action.id} {decision['action']} {decision['target']} needs a person")
        interrupt({"action": action.id, "kind": decision["action"], "target": decision["target"],
                   "reasons": decision["reasons"]})
        action = await ctx.store.get_action(decision["key"])
    verdict = action.status if action is not None else "missing"
    if verdict == "approved":
        await ctx.store.set_status(state["incident_id"], "mitigating", reason=f"{decision['key']} approved")
        return {"approved": True}
    if verdict == "expired":
        return {"approved": False, "escalation": f"nobody approved {decision['action']} {decision['target']} "
                "in time"}
    return {"approved": False, "attempt": state["attempt"] + 1, "step_index": 0}
